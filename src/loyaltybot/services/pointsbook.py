"""Points lots and tiers inside a use case's transaction (no commit here).

Every positive ledger entry opens a lot; a redemption drains the oldest lots (domain
`lots.consume`) and remembers what it took so a release puts the points back exactly
(`lots.restore`); the expiry sweep writes explicit "expire" entries. All of it runs
under the customer's row lock (PostgreSQL) or the single SQLite writer, so the cached
balance, the ledger sum and the lots' sum move together.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from loyaltybot.config import LocalizedText, Program
from loyaltybot.db.models import Customer, LedgerEntry, PointLot
from loyaltybot.db.uow import UnitOfWork
from loyaltybot.domain import lots as fifo
from loyaltybot.domain.lots import LotMovement, add_months
from loyaltybot.domain.tiers import rolling_window_start

_BATCH = 64

# A lot that never expires (points.expiry_months = 0) sorts after every dated lot.
NEVER = datetime(9999, 12, 31, tzinfo=UTC)


def lot_expiry(program: Program, earned_at: datetime) -> datetime | None:
    months = program.points.expiry_months
    return add_months(earned_at, months) if months else None


async def record_credit(
    uow: UnitOfWork,
    program: Program,
    customer_id: int,
    points: int,
    *,
    balance: int,
    kind: str,
    key: str,
    now: datetime,
    spend_sen: int | None = None,
    stamps: int = 0,
    staff_id: int | None = None,
    note: str | None = None,
) -> int:
    """Append the ledger entry of a credit the balance already holds (`balance` after it),
    under the unique `key`; points > 0 also open their lot, expiring per the program. Plain
    INSERTs, no ORM object: this is inside every sale claim. Returns the entry's id."""
    expires_at = lot_expiry(program, now) if points > 0 else None
    entry_id = await uow.ledger.append(
        customer_id=customer_id,
        delta=points,
        kind=kind,
        idempotency_key=key,
        spend_sen=spend_sen,
        stamps_delta=stamps,
        staff_telegram_id=staff_id,
        balance_after=balance,
        note=note,
        created_at=now,
        expires_at=expires_at,
    )
    if points > 0:
        await uow.lots.append(
            customer_id=customer_id,
            ledger_id=entry_id,
            points=points,
            remaining=points,
            earned_at=now,
            expires_at=expires_at,
        )
    return entry_id


async def award_points(
    uow: UnitOfWork,
    program: Program,
    customer_id: int,
    points: int,
    *,
    kind: str,
    key: str,
    now: datetime,
    note: str | None = None,
    staff_id: int | None = None,
) -> int:
    """Credit points that come with no purchase (a survey reward, a bonus): the cached balance,
    one ledger entry under the unique `key` and its lot, so they are spent and expire like any
    points. Returns the new balance."""
    balance = await uow.customers.apply_points(customer_id, points)
    assert balance is not None
    await record_credit(
        uow, program, customer_id, points, balance=balance, kind=kind, key=key, now=now, staff_id=staff_id, note=note
    )
    return balance


def _domain(rows: Sequence[PointLot]) -> list[fifo.Lot]:
    return [fifo.Lot(id=row.id, remaining=row.remaining, expires_at=row.expires_at or NEVER) for row in rows]


async def take_points(uow: UnitOfWork, customer_id: int, points: int, now: datetime) -> list[LotMovement]:
    """Drain `points` from the oldest unexpired lots; raises `InsufficientPoints`, changing nothing.

    Lots are read soonest-expiry first in small batches, only as many as the points need, so
    a customer with a long history costs no more than one with a short one.
    """
    rows: list[PointLot] = []
    held = 0
    while held < points:
        batch = await uow.lots.spendable_for_customer(customer_id, now, offset=len(rows), limit=_BATCH)
        rows.extend(batch)
        held += sum(row.remaining for row in batch)
        if len(batch) < _BATCH:
            break
    updated, movements = fifo.consume(_domain(rows), points, now)
    for row, lot in zip(rows, updated, strict=True):
        row.remaining = lot.remaining
    await uow.session.flush()
    return movements


async def put_back(uow: UnitOfWork, movements: Sequence[tuple[int, int]]) -> None:
    """Return released points to the very lots they came from (their expiry unchanged)."""
    rows = await uow.lots.by_ids([lot_id for lot_id, _amount in movements])
    updated = fifo.restore(_domain(rows), movements)
    for row, lot in zip(rows, updated, strict=True):
        row.remaining = lot.remaining
    await uow.session.flush()


def movements_json(movements: Sequence[LotMovement]) -> str:
    return json.dumps([[int(m.lot_id), m.amount] for m in movements])  # type: ignore[call-overload]


def movements_from_json(text: str) -> list[tuple[int, int]]:
    return [(int(lot_id), int(amount)) for lot_id, amount in json.loads(text or "[]")]


async def expire_customer(uow: UnitOfWork, customer: Customer, *, as_of: datetime, now: datetime) -> int:
    """Zero the customer's lots expired at `as_of` and write one "expire" entry; the points removed."""
    rows = await uow.lots.expired_for_customer(customer.id, as_of)
    updated, expired = fifo.expire(_domain(rows), as_of)
    total = sum(movement.amount for movement in expired)
    if total == 0:
        return 0
    for row, lot in zip(rows, updated, strict=True):
        row.remaining = lot.remaining
    # Unique and repeatable: nothing can expire twice after the same last entry.
    key = f"expire:{customer.id}:{await uow.ledger.last_id_for_customer(customer.id)}"
    balance = await uow.customers.apply_points(customer.id, -total)
    if balance is None:  # the lots and the balance disagree: a bug, never paper over it
        raise RuntimeError("expiring more points than the balance holds")
    await uow.ledger.add(
        LedgerEntry(
            customer_id=customer.id,
            delta=-total,
            kind="expire",
            idempotency_key=key,
            balance_after=balance,
            note=f"expired as of {as_of.isoformat()}",
            created_at=now,
        )
    )
    return total


@dataclass(frozen=True, slots=True)
class TierUp:
    """A tier just reached, with what to tell the customer (both languages)."""

    code: str
    name: LocalizedText
    perks: LocalizedText


def tier_multiplier(program: Program, tier: str | None) -> Decimal:
    """The points multiplier of a stored tier code (None: the first tier)."""
    return program.tiers.level(tier).multiplier


async def raise_tier(
    uow: UnitOfWork, program: Program, customer_id: int, tier: str | None, now: datetime
) -> TierUp | None:
    """After a purchase: move the customer up from their stored `tier` if their rolling
    spend crossed a threshold (call with the customer's row locked).

    Returns the tier reached on an upgrade, else None. Downgrades wait for the daily review.
    """
    tiers = program.tiers
    spend = await uow.ledger.spend_since(customer_id, rolling_window_start(now, tiers.window_months))
    reached = tiers.ladder.tier_for(spend).code
    if tiers.rank(reached) > tiers.rank(tier) and await uow.customers.set_tier(customer_id, reached, expected=tier):
        level = tiers.level(reached)
        return TierUp(code=reached, name=level.name, perks=level.perks)
    return None
