"""The scheduler is a clock: each daily job at its shop-time hour, and once at start-up (catch-up)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from loyaltybot.config import Program
from loyaltybot.scheduler.jobs import build_scheduler
from loyaltybot.services.jobs import JOBS


async def test_every_job_is_scheduled_and_runs_at_start_up() -> None:
    program = Program.model_validate({"offers": {"hour": 8}})
    services: Any = SimpleNamespace(program=program, clock=lambda: datetime.now(UTC))
    scheduler = build_scheduler(services, interval_seconds=30)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"start-due-campaigns"} | {f"job:{name}" for name in JOBS}
    for name in ("birthday", "festivals", "win-back", "reminders"):
        trigger = jobs[f"job:{name}"].trigger
        assert isinstance(trigger, CronTrigger) and str(trigger.timezone) == "Asia/Kuala_Lumpur"
        assert str(trigger.fields[5]) == "8"  # the hour field
    assert isinstance(jobs["job:expire-redemptions"].trigger, IntervalTrigger)
    # A reservation lasts 15 minutes by default: its reminder is looked for every minute.
    lapse = jobs["job:redemption-reminders"].trigger
    assert isinstance(lapse, IntervalTrigger) and lapse.interval == timedelta(minutes=1)
    # Pending jobs of a scheduler not started yet carry the start-up run (catch-up) as their first run.
    assert all(job.next_run_time <= datetime.now(UTC) for job in jobs.values())
