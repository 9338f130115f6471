"""FIFO points lots, so that points can expire a fixed time after being earned.

Every earn creates a *lot* holding those points until ``expires_at`` (by
default 12 calendar months after the earn). Redemptions drain the oldest
unexpired lots first, so the points closest to expiry are used before they
are lost -- the fairest order for the customer and the easiest to explain.

Invariant maintained by every function here: the sum of ``remaining`` over
all of a customer's lots equals their points balance. Functions are pure:
they take a sequence of lots and return a new list of the *same* lots (same
order, same length; drained lots stay with ``remaining == 0`` so the caller
can persist every row it loaded) plus a record of what moved, which the
caller writes to the ledger.

"Oldest" means earliest ``expires_at``; ties keep the order the caller passed
in, so callers should pass lots in earn order (e.g. ``ORDER BY id``). When
every lot uses the same validity period this is exactly earn order; if the
shop shortens the period later, newer lots that expire sooner are (rightly)
spent first.

A lot is expired from the instant ``now >= expires_at``.
"""

from __future__ import annotations

import calendar
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import NamedTuple, TypeVar

from loyaltybot.domain.errors import DomainError

__all__ = [
    "DEFAULT_VALIDITY_MONTHS",
    "InsufficientPoints",
    "Lot",
    "LotMovement",
    "UpcomingExpiry",
    "add_months",
    "available",
    "balance",
    "consume",
    "expire",
    "new_lot",
    "next_expiry",
    "restore",
]

DEFAULT_VALIDITY_MONTHS = 12

_D = TypeVar("_D", bound=date)


class InsufficientPoints(DomainError):
    """The customer's unexpired points do not cover the redemption.

    ``details`` carries ``available`` and ``requested`` for the message.
    """

    code = "points_insufficient"


@dataclass(frozen=True, slots=True)
class Lot:
    """Points from one earn that are still spendable until ``expires_at``."""

    id: Hashable
    remaining: int
    expires_at: datetime

    def __post_init__(self) -> None:
        if self.remaining < 0:
            raise ValueError(f"lot {self.id!r}: remaining must be >= 0, got {self.remaining}")
        _require_aware(self.expires_at, "expires_at")

    def is_expired(self, now: datetime) -> bool:
        """True from the instant ``now`` reaches ``expires_at``."""
        return now >= self.expires_at


class LotMovement(NamedTuple):
    """Points taken from (consume), removed from (expire) or put back into a lot."""

    lot_id: Hashable
    amount: int


class UpcomingExpiry(NamedTuple):
    """The next batch of points to expire, for reminder messages."""

    points: int
    expires_at: datetime


def add_months(value: _D, months: int) -> _D:
    """Shift a date/datetime by whole calendar months, clamping the day.

    31 May + 1 month = 30 June; 31 May - 3 months = 28 Feb (29 in leap
    years). Time of day and ``tzinfo`` are kept. Calendar months, not 30-day
    blocks, because "valid for 12 months" is what customers read on the card.
    """
    index = value.year * 12 + (value.month - 1) + months
    year, month0 = divmod(index, 12)
    month = month0 + 1
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


def new_lot(
    lot_id: Hashable,
    points: int,
    earned_at: datetime,
    *,
    validity_months: int = DEFAULT_VALIDITY_MONTHS,
) -> Lot:
    """Create the lot for an earn of ``points`` at ``earned_at``."""
    if points < 1:
        raise ValueError(f"an earn must be at least 1 point, got {points}")
    if validity_months < 1:
        raise ValueError(f"validity_months must be >= 1, got {validity_months}")
    _require_aware(earned_at, "earned_at")
    return Lot(id=lot_id, remaining=points, expires_at=add_months(earned_at, validity_months))


def balance(lots: Iterable[Lot]) -> int:
    """Total points held, expired-but-not-yet-swept lots included."""
    return sum(lot.remaining for lot in lots)


def available(lots: Iterable[Lot], now: datetime) -> int:
    """Points that can be spent at ``now`` (unexpired lots only)."""
    _require_aware(now, "now")
    return sum(lot.remaining for lot in lots if not lot.is_expired(now))


def consume(
    lots: Sequence[Lot], points: int, now: datetime
) -> tuple[list[Lot], list[LotMovement]]:
    """Spend ``points`` from the oldest unexpired lots first.

    Returns the updated lots (same order as given) and the movements in the
    order they were taken; keep the movements with the redemption so that
    :func:`restore` can undo it exactly. Expired lots are never touched, even
    if the expiry sweep has not run yet. Raises :class:`InsufficientPoints`
    if unexpired points are short; nothing is consumed in that case.
    """
    if points < 0:
        raise ValueError(f"points must be >= 0, got {points}")
    _check_ids(lots)
    have = available(lots, now)
    if have < points:
        raise InsufficientPoints(available=have, requested=points)

    updated = list(lots)
    movements: list[LotMovement] = []
    to_take = points
    # sorted() is stable, so equal expiries keep the caller's (earn) order.
    order = sorted(range(len(updated)), key=lambda i: updated[i].expires_at)
    for i in order:
        if to_take == 0:
            break
        lot = updated[i]
        if lot.remaining == 0 or lot.is_expired(now):
            continue
        taken = min(lot.remaining, to_take)
        updated[i] = replace(lot, remaining=lot.remaining - taken)
        movements.append(LotMovement(lot.id, taken))
        to_take -= taken
    return updated, movements


def expire(lots: Sequence[Lot], now: datetime) -> tuple[list[Lot], list[LotMovement]]:
    """Zero every lot whose expiry has passed; report what was removed.

    Run by the scheduled expiry sweep. Only lots that still held points are
    reported, so the caller writes one ledger entry per real loss.
    """
    _require_aware(now, "now")
    updated: list[Lot] = []
    expired: list[LotMovement] = []
    for lot in lots:
        if lot.remaining > 0 and lot.is_expired(now):
            expired.append(LotMovement(lot.id, lot.remaining))
            lot = replace(lot, remaining=0)
        updated.append(lot)
    return updated, expired


def restore(lots: Sequence[Lot], consumed: Iterable[tuple[Hashable, int]]) -> list[Lot]:
    """Give the points of a cancelled redemption back to the lots they came from.

    Points go back into the *same* lots so they keep their original expiry:
    cancelling must not extend validity. If such a lot has expired in the
    meantime, the restored points are briefly part of the balance and are
    removed by the next :func:`expire` run (which reports them as expired);
    the customer ends up exactly where they would have been had the
    redemption never happened. Raises ``ValueError`` for an unknown lot id.
    """
    _check_ids(lots)
    updated = list(lots)
    position = {lot.id: i for i, lot in enumerate(updated)}
    for lot_id, amount in consumed:
        if amount < 0:
            raise ValueError(f"cannot restore a negative amount ({amount}) to lot {lot_id!r}")
        if lot_id not in position:
            raise ValueError(f"cannot restore to unknown lot {lot_id!r}")
        i = position[lot_id]
        updated[i] = replace(updated[i], remaining=updated[i].remaining + amount)
    return updated


def next_expiry(lots: Iterable[Lot], now: datetime) -> UpcomingExpiry | None:
    """The earliest upcoming expiry and how many points it will remove.

    Points of all unexpired lots sharing that exact ``expires_at`` are added
    up. ``None`` when nothing is due to expire (no unexpired points left).
    Lots already past expiry are ignored: they are the sweep's business, not
    a reminder's.
    """
    _require_aware(now, "now")
    live = [lot for lot in lots if lot.remaining > 0 and not lot.is_expired(now)]
    if not live:
        return None
    soonest = min(lot.expires_at for lot in live)
    points = sum(lot.remaining for lot in live if lot.expires_at == soonest)
    return UpcomingExpiry(points=points, expires_at=soonest)


def _check_ids(lots: Sequence[Lot]) -> None:
    """Duplicate ids would make :func:`restore` ambiguous; reject them early."""
    if len({lot.id for lot in lots}) != len(lots):
        raise ValueError("lot ids must be unique")


def _require_aware(value: datetime, name: str) -> None:
    """Naive datetimes cannot be compared safely with stored UTC instants."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
