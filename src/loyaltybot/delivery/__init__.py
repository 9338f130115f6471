"""Outbound delivery: the outbox sender (rate limits, retries, Telegram error mapping)."""
