"""Scheduled jobs: APScheduler as a clock; each job calls a service."""
