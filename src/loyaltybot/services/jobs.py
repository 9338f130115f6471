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

from loyaltybot.config import Program
from loyaltybot.services.container import Services

JobFunction = Callable[[Services, datetime], Awaitable[str]]

# Daily maintenance runs in the quiet of the night (shop time).
MAINTENANCE_HOUR = 3


@dataclass(frozen=True, slots=True)
class Job:
    """A job and when the scheduler runs it: daily at a shop-time hour, or every few minutes.

    Daily jobs also run once at start-up; the service decides from the database what is due
    (an offer before the day's hour is not yet due), so catch-up after downtime is just a run.
    """

    name: str
    description: str
    run: JobFunction
    hour: Callable[[Program], int] | None = None
    every_minutes: int | None = None

    def next_run(self, now: datetime, program: Program) -> datetime:
        """The scheduler's next run after `now`, in the shop's time zone."""
        tz = program.shop.tz
        local = now.astimezone(tz)
        if self.hour is None:
            step = timedelta(minutes=self.every_minutes or 1)
            return (local + step).replace(second=0, microsecond=0)
        at = datetime.combine(local.date(), time(self.hour(program)), tzinfo=tz)
        return at if at > local else datetime.combine(local.date() + timedelta(days=1), time(self.hour(program)), tzinfo=tz)


async def _expire_points(services: Services, as_of: datetime) -> str:
    customers, points = await services.loyalty.expire_points(as_of)
    return f"expired {points} points of {customers} customers"


async def _expire_redemptions(services: Services, as_of: datetime) -> str:
    released = await services.rewards.expire_due(as_of)
    return f"released {released} expired redemptions"


async def _review_tiers(services: Services, as_of: datetime) -> str:
    review = await services.loyalty.review_tiers(as_of)
    return f"tiers changed for {review.customers} customers ({review.upgraded} up, {review.downgraded} down)"


async def _invite_surveys(services: Services, as_of: datetime) -> str:
    queued = await services.surveys.invite_due_surveys(as_of)
    return f"queued {queued} survey invitations"


async def _birthday(services: Services, as_of: datetime) -> str:
    return (await services.offers.send_birthdays(as_of)).summary()


async def _festivals(services: Services, as_of: datetime) -> str:
    return (await services.offers.send_festivals(as_of)).summary()


async def _winback(services: Services, as_of: datetime) -> str:
    return (await services.offers.send_winback(as_of)).summary()


async def _reminders(services: Services, as_of: datetime) -> str:
    return (await services.offers.send_reminders(as_of)).summary()


async def _redemption_reminders(services: Services, as_of: datetime) -> str:
    return (await services.offers.send_lapse_reminders(as_of)).summary()


def _offers_hour(program: Program) -> int:
    return program.offers.hour


def _maintenance_hour(program: Program) -> int:
    return MAINTENANCE_HOUR


JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("expire-points", "remove points past their expiry (oldest lots first) with ledger entries", _expire_points,
            hour=_maintenance_hour),
        Job("expire-redemptions", "release reserved rewards not confirmed in time; points go back", _expire_redemptions,
            every_minutes=5),
        Job("review-tiers", "recompute tiers from spend in the rolling window (daily downgrades)", _review_tiers,
            hour=_maintenance_hour),
        Job("redemption-reminders", "remind customers of a reserved reward about to lapse (once per redemption)",
            _redemption_reminders, every_minutes=1),
        Job("birthday", "birthday offers with a voucher (29 Feb on 28 Feb), once a year", _birthday, hour=_offers_hour),
        Job("festivals", "festival offers with a voucher, N days before each enabled festival", _festivals,
            hour=_offers_hour),
        Job("win-back", "one offer per inactivity period to customers with no visit for N days", _winback,
            hour=_offers_hour),
        Job("reminders", "points expiring within 14 days and unused vouchers about to expire, once each",
            _reminders, hour=_offers_hour),
        Job("invite-surveys", "invite to open monthly surveys not yet invited to this month (once a month)",
            _invite_surveys, every_minutes=10),
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
