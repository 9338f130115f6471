"""Maintenance jobs by name: what `loyaltybot jobs run NAME` and the scheduler call.

Each job is a coroutine taking the process's services and the instant to act as of, and
returns a one-line summary. Every job is idempotent: running it twice for the same
instant changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from loyaltybot.services.container import Services

JobFunction = Callable[[Services, datetime], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    description: str
    run: JobFunction


async def _expire_points(services: Services, as_of: datetime) -> str:
    customers, points = await services.loyalty.expire_points(as_of)
    return f"expired {points} points of {customers} customers"


async def _expire_redemptions(services: Services, as_of: datetime) -> str:
    released = await services.rewards.expire_due(as_of)
    return f"released {released} expired redemptions"


async def _review_tiers(services: Services, as_of: datetime) -> str:
    review = await services.loyalty.review_tiers(as_of)
    return f"tiers changed for {review.customers} customers ({review.upgraded} up, {review.downgraded} down)"


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("expire-points", "remove points past their expiry (oldest lots first) with ledger entries", _expire_points),
        Job("expire-redemptions", "release reserved rewards not confirmed in time; points go back", _expire_redemptions),
        Job("review-tiers", "recompute tiers from spend in the rolling window (daily downgrades)", _review_tiers),
    )
}


def as_of_for(day: date | None, now: datetime, tz: ZoneInfo) -> datetime:
    """The instant a job acts as of: now, or the end of `day` in the shop's time zone."""
    if day is None:
        return now
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


async def run_job(name: str, services: Services, as_of: datetime) -> str:
    try:
        job = JOBS[name]
    except KeyError:
        raise KeyError(f"unknown job {name!r}; known: {', '.join(JOBS)}") from None
    return await job.run(services, as_of)
