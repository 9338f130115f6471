"""APScheduler 3 as a clock: each job calls a service; the database decides what is due."""
