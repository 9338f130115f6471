"""The process's clock (APScheduler 3). Jobs only call services; the database is the source of
truth for what is due, so a job that runs late, twice, or after a restart does the right thing."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from loyaltybot.services.container import Services

log = logging.getLogger(__name__)

SURVEY_INVITE_INTERVAL_SECONDS = 600.0


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
    async def invite_due_surveys() -> None:
        await services.surveys.invite_due_surveys()

    # Monthly surveys invite once a month: the campaign key per survey and month makes every
    # tick after the first of the month a no-op, and a tick missed while down is caught up.
    scheduler.add_job(
        invite_due_surveys,
        IntervalTrigger(seconds=max(interval_seconds, SURVEY_INVITE_INTERVAL_SECONDS), timezone=UTC),
        id="invite-due-surveys",
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,
        misfire_grace_time=None,
    )
    return scheduler
