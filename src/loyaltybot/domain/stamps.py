"""Stamp-card rules: when a stamp may be given, and what a full card means.

Anti-abuse limits protect the shop from a friendly cashier (or a customer
with a screenshot of the QR code) stamping a card ten times in one visit:
a minimum interval between stamps and a cap per *local* day. The shop's
day is what matters to staff and customers ("three stamps a day"), so day
boundaries are computed in the shop's time zone, while every instant stays
timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from enum import StrEnum

__all__ = [
    "FILLED",
    "EMPTY",
    "StampDecision",
    "StampPolicy",
    "StampReason",
    "StampResult",
    "add_stamps",
    "decide_stamp",
    "local_day_bounds",
    "render_stamps",
]

FILLED = "●"
EMPTY = "○"


class StampReason(StrEnum):
    """Why a stamp was granted or refused (string values double as i18n keys)."""

    OK = "ok"
    INTERVAL = "interval"
    DAILY_CAP = "daily_cap"


@dataclass(frozen=True, slots=True)
class StampPolicy:
    """A shop's stamp card configuration.

    ``daily_cap`` is the maximum number of stamps per customer per local
    day (``None`` = unlimited); ``min_interval`` the minimum time between two
    stamps (``timedelta(0)`` = no limit).
    """

    card_size: int = 10
    min_interval: timedelta = field(default_factory=lambda: timedelta(hours=4))
    daily_cap: int | None = 3
    stamps_per_claim: int = 1

    def __post_init__(self) -> None:
        if self.card_size < 1:
            raise ValueError(f"card_size must be >= 1, got {self.card_size}")
        if self.min_interval < timedelta(0):
            raise ValueError("min_interval must not be negative")
        if self.daily_cap is not None and self.daily_cap < 1:
            raise ValueError(f"daily_cap must be >= 1 or None, got {self.daily_cap}")
        if self.stamps_per_claim < 1:
            raise ValueError(f"stamps_per_claim must be >= 1, got {self.stamps_per_claim}")


@dataclass(frozen=True, slots=True)
class StampDecision:
    """Outcome of a stamp request.

    ``stamps`` is how many stamps to add (0 when refused; fewer than
    ``stamps_per_claim`` when the daily cap only leaves room for part of a
    claim). ``next_allowed_at`` is the earliest instant the *next* claim
    could be granted: for a refusal, when to come back; for a grant, when the
    following stamp becomes possible (assuming no other stamps meanwhile) --
    handy for "next stamp from 14:00" in the reply. ``None`` means
    immediately.
    """

    granted: bool
    reason: StampReason
    stamps: int
    next_allowed_at: datetime | None


@dataclass(frozen=True, slots=True)
class StampResult:
    """Card state after adding stamps.

    ``cards_completed`` full cards were filled (the caller issues one voucher
    each); ``new_count`` stamps carry over onto the fresh card.
    """

    new_count: int
    cards_completed: int


def local_day_bounds(now: datetime, tz: tzinfo) -> tuple[datetime, datetime]:
    """The shop-local calendar day containing ``now``, as ``[start, end)`` in UTC.

    Use these bounds to count ``stamps_today``. On DST days the span is 23 or
    25 hours; if local midnight does not exist the day starts at the first
    valid local instant.
    """
    _require_aware(now, "now")
    local_date = now.astimezone(tz).date()
    start = _local_midnight_utc(local_date, tz)
    end = _local_midnight_utc(local_date + timedelta(days=1), tz)
    return start, end


def decide_stamp(
    policy: StampPolicy,
    now: datetime,
    last_stamp_at: datetime | None,
    stamps_today: int,
    *,
    tz: tzinfo = timezone.utc,
) -> StampDecision:
    """Decide whether a stamp claim at ``now`` is allowed.

    ``stamps_today`` is the number of stamps already given in the shop's
    local day (see :func:`local_day_bounds`); ``tz`` is the shop's time
    zone, used only to tell when the next local day starts. When both limits
    block, the daily cap is reported, since it is the one the customer must
    wait out; ``next_allowed_at`` always satisfies both limits.
    """
    _require_aware(now, "now")
    if last_stamp_at is not None:
        _require_aware(last_stamp_at, "last_stamp_at")
    if stamps_today < 0:
        raise ValueError(f"stamps_today must be >= 0, got {stamps_today}")

    interval_ok_at = (
        last_stamp_at + policy.min_interval
        if last_stamp_at is not None and policy.min_interval > timedelta(0)
        else None
    )
    interval_blocks = interval_ok_at is not None and now < interval_ok_at
    cap = policy.daily_cap
    cap_blocks = cap is not None and stamps_today >= cap
    tomorrow = local_day_bounds(now, tz)[1]

    if cap_blocks or interval_blocks:
        wait: list[datetime] = []
        if interval_ok_at is not None:
            wait.append(interval_ok_at)
        if cap_blocks:
            wait.append(tomorrow)
        return StampDecision(
            granted=False,
            reason=StampReason.DAILY_CAP if cap_blocks else StampReason.INTERVAL,
            stamps=0,
            next_allowed_at=max(wait),
        )

    stamps = policy.stamps_per_claim
    if cap is not None:
        stamps = min(stamps, cap - stamps_today)
    # When may the following claim succeed, given the stamp granted now?
    following: list[datetime] = []
    if policy.min_interval > timedelta(0):
        following.append(now + policy.min_interval)
    if cap is not None and stamps_today + stamps >= cap:
        following.append(tomorrow)
    return StampDecision(
        granted=True,
        reason=StampReason.OK,
        stamps=stamps,
        next_allowed_at=max(following) if following else None,
    )


def add_stamps(card_count: int, added: int, card_size: int) -> StampResult:
    """Add stamps to a card; every full card completes and the count restarts.

    Overflow carries over: 9 stamps + 3 on a 10-card completes one card and
    leaves 2. The stored count is therefore always ``< card_size``.
    """
    if card_size < 1:
        raise ValueError(f"card_size must be >= 1, got {card_size}")
    if not 0 <= card_count < card_size:
        raise ValueError(f"card_count must be in [0, {card_size}), got {card_count}")
    if added < 0:
        raise ValueError(f"added must be >= 0, got {added}")
    completed, new_count = divmod(card_count + added, card_size)
    return StampResult(new_count=new_count, cards_completed=completed)


def render_stamps(count: int, size: int) -> str:
    """Text stamp card, e.g. ``"●●●○○○○○○○"`` for 3 of 10."""
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if not 0 <= count <= size:
        raise ValueError(f"count must be in [0, {size}], got {count}")
    return FILLED * count + EMPTY * (size - count)


def _local_midnight_utc(day: date, tz: tzinfo) -> datetime:
    """UTC instant at which local ``day`` starts in ``tz``.

    ``datetime.combine`` with fold=0 maps a non-existent local midnight (DST
    gap) to the instant of the transition, i.e. the first real instant of
    that day, which is what we want.
    """
    local = datetime.combine(day, time(0), tzinfo=tz)
    return local.astimezone(timezone.utc)


def _require_aware(value: datetime, name: str) -> None:
    """Naive datetimes would be silently read as server-local time."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
