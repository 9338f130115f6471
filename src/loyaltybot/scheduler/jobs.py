"""The process's clock (APScheduler 3). Jobs only call services; the database is the source of
truth for what is due, so a job that runs late, twice, or after a restart does the right thing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from loyaltybot.services.container import Services
from loyaltybot.services.jobs import JOBS, Job

log = logging.getLogger(__name__)



def build_scheduler(services: Services, *, interval_seconds: float) -> AsyncIOScheduler:
    """Not started: `start()` it inside the running event loop, `shutdown(wait=False)` to stop."""
    scheduler = AsyncIOScheduler(timezone=UTC)

    async def start_due_campaigns() -> None:
        await services.outbox.start_due()

    # First run at once: scheduled campaigns whose time passed while the bot was down go now.
    scheduler.add_job(
        start_due_campaigns,
        IntervalTrigger(seconds=interval_seconds, timezone=UTC),
        id="start-due-campaigns",
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    for job in JOBS.values():
        add_job(scheduler, services, job)
    return scheduler


def add_job(scheduler: AsyncIOScheduler, services: Services, job: Job) -> None:
    """A daily job at its shop-time hour, or an interval job; both also run once at start-up (catch-up:
    the service decides what is due as of now, so a restart after the hour sends today's offers and
    a restart before it sends nothing yet)."""

    async def run() -> None:
        try:
            summary = await job.run(services, services.clock())
        except Exception:
            log.exception("job %s failed; it runs again at its next time", job.name)
            return
        log.info("job %s: %s", job.name, summary)

    program = services.program
    trigger: CronTrigger | IntervalTrigger
    if job.hour is not None:
        trigger = CronTrigger(hour=job.hour(program), minute=0, timezone=program.shop.tz)
    else:
        trigger = IntervalTrigger(minutes=job.every_minutes or 1, timezone=UTC)
    scheduler.add_job(
        run,
        trigger,
        id=f"job:{job.name}",
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
