"""Repositories: queries and writes on one session. They flush, never commit."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, case, delete, func, insert, inspect, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from loyaltybot.db.prepared import Prepared
from loyaltybot.db.upsert import insert_or_ignore, insert_or_update
from loyaltybot.db.models import (
    AppSetting,
    AuditEntry,
    ConversationState,
    Customer,
    LedgerEntry,
    PointLot,
    Redemption,
    Reward,
    StaffMember,
    Token,
    Voucher,
)


# Statements run on every update or claim, built once, parameters bound at execution
# (`p_` names: an UPDATE's SET may not reuse a column's name). Building a statement and its
# cache key costs more than running it; Core (table columns) also skips the ORM's
# statement handling where no ORM object is wanted. The hottest are `Prepared`: compiled
# once, and run straight on the inline SQLite driver (`db/prepared.py`).
_customers = Customer.__table__.c
_staff = StaffMember.__table__.c
_conversations = ConversationState.__table__.c
_tokens = Token.__table__.c
_ledger = LedgerEntry.__table__.c
_IDENTITY = select(
    select(_customers.language).where(_customers.telegram_id == bindparam("telegram_id")).scalar_subquery(),
    select(_staff.role)
    .where(_staff.telegram_id == bindparam("telegram_id"), _staff.active.is_(True))
    .scalar_subquery(),
)
_CONVERSATION = select(_conversations.state, _conversations.data).where(_conversations.key == bindparam("key"))
_CONVERSATION_END = delete(ConversationState.__table__).where(_conversations.key == bindparam("key"))
_CUSTOMER_BY_TELEGRAM_ID = select(Customer).where(Customer.telegram_id == bindparam("p_telegram_id"))
_CUSTOMER_BY_TELEGRAM_ID_FOR_UPDATE = _CUSTOMER_BY_TELEGRAM_ID.with_for_update()
_HOLDER_COLUMNS = (
    _customers.id,
    _customers.telegram_id,
    _customers.phone,
    _customers.first_name,
    _customers.language,
    _customers.status,
    _customers.stamps,
    _customers.tier,
)
_HOLDER_BY_TELEGRAM_ID = select(*_HOLDER_COLUMNS).where(_customers.telegram_id == bindparam("p_key")).with_for_update()
_HOLDER_BY_MEMBER_KEY = select(*_HOLDER_COLUMNS).where(_customers.member_key == bindparam("p_key")).with_for_update()
_CREDIT = (
    update(Customer.__table__)
    .where(_customers.id == bindparam("p_id"), _customers.balance + bindparam("p_points") >= 0)
    .values(
        balance=_customers.balance + bindparam("p_points"),
        stamps=bindparam("p_stamps"),
        last_visit_at=bindparam("p_visited_at"),
    )
    .returning(_customers.balance)
)
_CLAIM_TOKEN = (
    update(Token.__table__)
    .where(
        _tokens.id == bindparam("p_id"),
        _tokens.kind == bindparam("p_kind"),
        _tokens.used_at.is_(None),
        _tokens.expires_at > bindparam("p_now"),
        or_(_tokens.created_by.is_(None), _tokens.created_by != bindparam("p_used_by")),
    )
    .values(used_at=bindparam("p_now"), used_by=bindparam("p_used_by"))
    .returning(_tokens.amount_sen, _tokens.created_by, _tokens.data)
)
_in_day = and_(_ledger.created_at >= bindparam("p_day_start"), _ledger.created_at < bindparam("p_day_end"))
_STAMP_STATE = select(
    func.max(_ledger.created_at),
    func.coalesce(func.sum(case((_in_day, _ledger.stamps_delta), else_=0)), 0),
).where(_ledger.customer_id == bindparam("p_customer_id"), _ledger.stamps_delta > 0)
_SPEND_SINCE = select(func.coalesce(func.sum(_ledger.spend_sen), 0)).where(
    _ledger.customer_id == bindparam("p_customer_id"), _ledger.created_at >= bindparam("p_start")
)
_SPEND_BETWEEN = _SPEND_SINCE.where(_ledger.created_at < bindparam("p_end"))
_Row = TypeVar("_Row", LedgerEntry, PointLot)
_P_IDENTITY = Prepared(_IDENTITY)
_P_HOLDER_BY_TELEGRAM_ID = Prepared(_HOLDER_BY_TELEGRAM_ID)
_P_HOLDER_BY_MEMBER_KEY = Prepared(_HOLDER_BY_MEMBER_KEY)
_P_CONVERSATION = Prepared(_CONVERSATION)
_P_CONVERSATION_END = Prepared(_CONVERSATION_END)
_P_CREDIT = Prepared(_CREDIT)
_P_CLAIM_TOKEN = Prepared(_CLAIM_TOKEN)
_P_STAMP_STATE = Prepared(_STAMP_STATE)
_P_SPEND_SINCE = Prepared(_SPEND_SINCE)
_P_SPEND_BETWEEN = Prepared(_SPEND_BETWEEN)


@dataclass(frozen=True, slots=True)
class CardHolder:
    """What a credit needs of a customer's row, read with the row locked until commit.

    Plain values from one prepared SELECT, not an ORM object: the sale claim is the hottest
    write transaction, and loading a `Customer` through the ORM cost more CPU than the rest
    of the statements it holds the write lock for."""

    id: int
    telegram_id: int | None
    phone: str | None
    first_name: str | None
    language: str
    status: str
    stamps: int
    tier: str | None


class _AppendOnlyInsert:
    """INSERT … RETURNING id of every column but the key: the values not given are the
    columns' scalar defaults (as the ORM would fill in), or NULL."""

    def __init__(self, table: Any) -> None:
        columns = [column for column in table.c if not column.primary_key]
        for column in columns:
            if column.server_default is not None or (column.default is not None and not column.default.is_scalar):
                raise ValueError(f"{table.name}.{column.key}: only scalar Python defaults are filled in")
        self.defaults = {c.key: (c.default.arg if c.default is not None else None) for c in columns}
        self.statement = Prepared(insert(table).values({c.key: bindparam(c.key) for c in columns}).returning(table.c.id))


_APPEND_ONLY: dict[Any, _AppendOnlyInsert] = {}


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _insert(self, row: _Row) -> _Row:
        """INSERT a new row at once, without adding it to the session: a Core INSERT …
        RETURNING id costs far less than the unit of work's add + flush. For append-only rows
        (ledger entries, point lots) nothing changes after the insert, so the object stays
        transient, with its id set; what is not set falls back to the column defaults."""
        row.id = await self._append(row.__table__, inspect(row).dict)
        return row

    async def _append(self, table: Any, given: dict[str, Any]) -> int:
        """INSERT a row of an append-only table from `given` (other keys ignored): its id."""
        insert_ = _APPEND_ONLY.get(table)
        if insert_ is None:
            insert_ = _APPEND_ONLY[table] = _AppendOnlyInsert(table)
        values = dict(insert_.defaults)
        values.update((key, value) for key, value in given.items() if key in values)
        return int((await insert_.statement.run(self.session, values))[0][0])


class CustomerRepository(_Repository):
    async def by_telegram_id(self, telegram_id: int) -> Customer | None:
        return (await self.session.execute(_CUSTOMER_BY_TELEGRAM_ID, {"p_telegram_id": telegram_id})).scalar_one_or_none()

    async def by_id(self, customer_id: int) -> Customer | None:
        return await self.session.get(Customer, customer_id)

    async def by_phone(self, phone: str) -> Customer | None:
        return (await self.session.execute(select(Customer).where(Customer.phone == phone))).scalar_one_or_none()

    async def by_member_key(self, member_key: str) -> Customer | None:
        return (
            await self.session.execute(select(Customer).where(Customer.member_key == member_key))
        ).scalar_one_or_none()

    async def language_of(self, telegram_id: int) -> str | None:
        return (
            await self.session.execute(select(Customer.language).where(Customer.telegram_id == telegram_id))
        ).scalar_one_or_none()

    async def add(self, customer: Customer) -> Customer:
        self.session.add(customer)
        await self.session.flush()
        return customer

    async def apply_points(self, customer_id: int, delta: int) -> int | None:
        """Add `delta` to the cached balance unless it would go negative; the new balance or None."""
        result = await self.session.execute(
            update(Customer)
            .where(Customer.id == customer_id, Customer.balance + delta >= 0)
            .values(balance=Customer.balance + delta)
            .returning(Customer.balance)
        )
        return result.scalar_one_or_none()

    async def by_telegram_id_for_update(self, telegram_id: int) -> Customer | None:
        """The customer's row, locked until commit (PostgreSQL; SQLite writers are serialized anyway)."""
        return (
            await self.session.execute(_CUSTOMER_BY_TELEGRAM_ID_FOR_UPDATE, {"p_telegram_id": telegram_id})
        ).scalar_one_or_none()

    async def holder_by_telegram_id(self, telegram_id: int) -> CardHolder | None:
        """The customer's `CardHolder`, the row locked until commit (PostgreSQL; SQLite writers
        are serialized anyway)."""
        rows = await _P_HOLDER_BY_TELEGRAM_ID.run(self.session, {"p_key": telegram_id})
        return CardHolder(*rows[0]) if rows else None

    async def holder_by_member_key(self, member_key: str) -> CardHolder | None:
        rows = await _P_HOLDER_BY_MEMBER_KEY.run(self.session, {"p_key": member_key})
        return CardHolder(*rows[0]) if rows else None

    async def credit(self, customer_id: int, *, points: int, stamps: int, visited_at: datetime) -> int | None:
        """Add points (never below zero) and set the stamp card in one conditional UPDATE; the new balance."""
        rows = await _P_CREDIT.run(
            self.session, {"p_id": customer_id, "p_points": points, "p_stamps": stamps, "p_visited_at": visited_at}
        )
        return rows[0][0] if rows else None

    async def by_id_for_update(self, customer_id: int) -> Customer | None:
        return (
            await self.session.execute(select(Customer).where(Customer.id == customer_id).with_for_update())
        ).scalar_one_or_none()

    async def tiers(self) -> Sequence[tuple[int, str | None]]:
        """(id, stored tier) of every customer not deleted (the daily tier review)."""
        rows = await self.session.execute(select(Customer.id, Customer.tier).where(Customer.status != "deleted"))
        return [(int(r[0]), r[1]) for r in rows.all()]

    async def set_tier(self, customer_id: int, tier: str | None, *, expected: str | None) -> bool:
        """Change the tier only if it is still `expected` (a purchase may have raised it meanwhile)."""
        still = Customer.tier.is_(None) if expected is None else Customer.tier == expected
        result = await self.session.execute(
            update(Customer)
            .where(Customer.id == customer_id, still)
            .values(tier=tier)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def count_active(self) -> int:
        return (
            await self.session.execute(select(func.count()).select_from(Customer).where(Customer.status != "deleted"))
        ).scalar_one()


class StaffRepository(_Repository):
    async def by_telegram_id(self, telegram_id: int) -> StaffMember | None:
        return (
            await self.session.execute(select(StaffMember).where(StaffMember.telegram_id == telegram_id))
        ).scalar_one_or_none()

    async def active_role(self, telegram_id: int) -> str | None:
        return (
            await self.session.execute(
                select(StaffMember.role).where(StaffMember.telegram_id == telegram_id, StaffMember.active.is_(True))
            )
        ).scalar_one_or_none()

    async def identity_of(self, telegram_id: int) -> tuple[str | None, str | None]:
        """(stored customer language, active staff role) of a Telegram user, in one statement."""
        [row] = await _P_IDENTITY.run(self.session, {"telegram_id": telegram_id})
        return row[0], row[1]

    async def list_active(self) -> Sequence[StaffMember]:
        return (
            (
                await self.session.execute(
                    select(StaffMember).where(StaffMember.active.is_(True)).order_by(StaffMember.added_at)
                )
            )
            .scalars()
            .all()
        )

    async def display_names(self) -> dict[int, str]:
        """Every staff member's name, removed ones included (for reports of past days)."""
        rows = await self.session.execute(
            select(StaffMember.telegram_id, StaffMember.display_name).where(StaffMember.display_name.is_not(None))
        )
        return {telegram_id: display_name for telegram_id, display_name in rows}

    async def add(self, member: StaffMember) -> StaffMember:
        self.session.add(member)
        await self.session.flush()
        return member


class LedgerRepository(_Repository):
    async def add(self, entry: LedgerEntry) -> LedgerEntry:
        """Append an entry (the ledger is append-only); a duplicate idempotency key raises IntegrityError."""
        return await self._insert(entry)

    async def append(self, **values: Any) -> int:
        """`add` from column values, without an ORM object: the new entry's id."""
        return await self._append(LedgerEntry.__table__, values)

    async def page_for_customer(self, customer_id: int, *, offset: int, limit: int) -> Sequence[LedgerEntry]:
        return (
            (
                await self.session.execute(
                    select(LedgerEntry)
                    .where(LedgerEntry.customer_id == customer_id)
                    .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
                    .offset(offset)
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )

    async def count_for_customer(self, customer_id: int) -> int:
        return (
            await self.session.execute(
                select(func.count()).select_from(LedgerEntry).where(LedgerEntry.customer_id == customer_id)
            )
        ).scalar_one()

    async def all_for_customer(self, customer_id: int) -> Sequence[LedgerEntry]:
        return (
            (
                await self.session.execute(
                    select(LedgerEntry).where(LedgerEntry.customer_id == customer_id).order_by(LedgerEntry.id)
                )
            )
            .scalars()
            .all()
        )

    async def has_key(self, idempotency_key: str) -> bool:
        return (
            await self.session.execute(select(LedgerEntry.id).where(LedgerEntry.idempotency_key == idempotency_key))
        ).first() is not None

    async def stamp_state(self, customer_id: int, *, day_start: datetime, day_end: datetime) -> tuple[datetime | None, int]:
        """(time of the customer's last stamp, stamps given in the shop day [day_start, day_end))."""
        [row] = await _P_STAMP_STATE.run(
            self.session, {"p_customer_id": customer_id, "p_day_start": day_start, "p_day_end": day_end}
        )
        last = row[0]
        if last is not None and last.tzinfo is None:  # defensive: aggregates may bypass the column type
            last = last.replace(tzinfo=UTC)
        return last, int(row[1])

    async def credits_between(self, start: datetime, end: datetime) -> Sequence[tuple[int, int | None, str, int]]:
        """(customer id, staff id, kind, spend sen or 0) of every purchase or stamp entry in [start, end)."""
        rows = await self.session.execute(
            select(
                LedgerEntry.customer_id,
                LedgerEntry.staff_telegram_id,
                LedgerEntry.kind,
                func.coalesce(LedgerEntry.spend_sen, 0),
            ).where(
                LedgerEntry.created_at >= start,
                LedgerEntry.created_at < end,
                or_(LedgerEntry.kind == "purchase", LedgerEntry.kind == "stamp"),
            )
        )
        return [(r[0], r[1], r[2], int(r[3])) for r in rows.all()]

    async def sum_for_customer(self, customer_id: int) -> int:
        return (
            await self.session.execute(
                select(func.coalesce(func.sum(LedgerEntry.delta), 0)).where(LedgerEntry.customer_id == customer_id)
            )
        ).scalar_one()

    async def spend_since(self, customer_id: int, start: datetime, end: datetime | None = None) -> int:
        """Sen spent in [start, end): an index range read on (customer_id, created_at)."""
        if end is None:
            [row] = await _P_SPEND_SINCE.run(self.session, {"p_customer_id": customer_id, "p_start": start})
        else:
            [row] = await _P_SPEND_BETWEEN.run(
                self.session, {"p_customer_id": customer_id, "p_start": start, "p_end": end}
            )
        return int(row[0])

    async def spend_by_customer(self, start: datetime, end: datetime) -> dict[int, int]:
        """Sen spent per customer in [start, end] (purchases at the review instant count)."""
        rows = await self.session.execute(
            select(LedgerEntry.customer_id, func.coalesce(func.sum(LedgerEntry.spend_sen), 0))
            .where(LedgerEntry.created_at >= start, LedgerEntry.created_at <= end, LedgerEntry.spend_sen.is_not(None))
            .group_by(LedgerEntry.customer_id)
        )
        return {int(r[0]): int(r[1]) for r in rows.all()}

    async def last_id_for_customer(self, customer_id: int) -> int:
        return int(
            (
                await self.session.execute(
                    select(func.coalesce(func.max(LedgerEntry.id), 0)).where(LedgerEntry.customer_id == customer_id)
                )
            ).scalar_one()
        )


class LotRepository(_Repository):
    """FIFO point lots. Rows are loaded and changed under the customer's row lock."""

    async def append(self, **values: Any) -> int:
        """A new lot from column values (no ORM object): its id."""
        return await self._append(PointLot.__table__, values)

    async def spendable_for_customer(self, customer_id: int, now: datetime, *, offset: int, limit: int) -> Sequence[PointLot]:
        """Unexpired lots holding points, soonest expiry first (never-expiring last), earn order on ties."""
        return (
            (
                await self.session.execute(
                    select(PointLot)
                    .where(
                        PointLot.customer_id == customer_id,
                        PointLot.remaining > 0,
                        or_(PointLot.expires_at.is_(None), PointLot.expires_at > now),
                    )
                    .order_by(PointLot.expires_at.is_(None), PointLot.expires_at, PointLot.id)
                    .offset(offset)
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )

    async def by_ids(self, ids: Sequence[int]) -> Sequence[PointLot]:
        if not ids:
            return []
        return (await self.session.execute(select(PointLot).where(PointLot.id.in_(ids)).order_by(PointLot.id))).scalars().all()

    async def expired_for_customer(self, customer_id: int, now: datetime) -> Sequence[PointLot]:
        return (
            (
                await self.session.execute(
                    select(PointLot)
                    .where(
                        PointLot.customer_id == customer_id,
                        PointLot.remaining > 0,
                        PointLot.expires_at.is_not(None),
                        PointLot.expires_at <= now,
                    )
                    .order_by(PointLot.id)
                )
            )
            .scalars()
            .all()
        )

    async def customers_with_expired(self, now: datetime) -> Sequence[int]:
        return (
            (
                await self.session.execute(
                    select(PointLot.customer_id)
                    .where(PointLot.expires_at.is_not(None), PointLot.expires_at <= now, PointLot.remaining > 0)
                    .distinct()
                    .order_by(PointLot.customer_id)
                )
            )
            .scalars()
            .all()
        )

    async def soonest_expiry(self, customer_id: int, now: datetime) -> datetime | None:
        """When the customer's next unexpired points expire: one index range read, no scan in Python."""
        soonest = (
            await self.session.execute(
                select(func.min(PointLot.expires_at)).where(
                    PointLot.customer_id == customer_id, PointLot.expires_at > now, PointLot.remaining > 0
                )
            )
        ).scalar_one_or_none()
        if soonest is not None and soonest.tzinfo is None:  # aggregates bypass the column type
            soonest = soonest.replace(tzinfo=UTC)
        return soonest

    async def expiring_between(self, customer_id: int, start: datetime, end: datetime) -> int:
        """Points of lots expiring in (start, end)."""
        return int(
            (
                await self.session.execute(
                    select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
                        PointLot.customer_id == customer_id,
                        PointLot.expires_at > start,
                        PointLot.expires_at < end,
                    )
                )
            ).scalar_one()
        )

    async def expired_unswept(self, customer_id: int, now: datetime) -> int:
        """Points still held in lots past their expiry (the sweep has not run yet): a short range read.

        Unexpired points = cached balance - this, without summing the whole history.
        """
        return int(
            (
                await self.session.execute(
                    select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
                        PointLot.customer_id == customer_id,
                        PointLot.expires_at <= now,
                        PointLot.remaining > 0,
                    )
                )
            ).scalar_one()
        )


class RewardRepository(_Repository):
    async def add(self, reward: Reward) -> Reward:
        self.session.add(reward)
        await self.session.flush()
        return reward

    async def get(self, reward_id: int) -> Reward | None:
        return await self.session.get(Reward, reward_id)

    async def all(self) -> Sequence[Reward]:
        return (await self.session.execute(select(Reward).order_by(Reward.cost, Reward.id))).scalars().all()

    async def active(self) -> Sequence[Reward]:
        return (
            (await self.session.execute(select(Reward).where(Reward.active.is_(True)).order_by(Reward.cost, Reward.id)))
            .scalars()
            .all()
        )

    async def take_one(self, reward_id: int) -> bool:
        """Reserve one unit unless sold out: one conditional UPDATE, so stock is never oversold."""
        result = await self.session.execute(
            update(Reward)
            .where(
                Reward.id == reward_id,
                Reward.active.is_(True),
                or_(Reward.stock.is_(None), Reward.reserved < Reward.stock),
            )
            .values(reserved=Reward.reserved + 1)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def give_back_one(self, reward_id: int) -> None:
        await self.session.execute(
            update(Reward)
            .where(Reward.id == reward_id, Reward.reserved > 0)
            .values(reserved=Reward.reserved - 1)
            .execution_options(synchronize_session=False)
        )


class RedemptionRepository(_Repository):
    async def add(self, redemption: Redemption) -> Redemption:
        self.session.add(redemption)
        await self.session.flush()
        return redemption

    async def all_for_customer(self, customer_id: int) -> Sequence[Redemption]:
        return (
            (
                await self.session.execute(
                    select(Redemption).where(Redemption.customer_id == customer_id).order_by(Redemption.id)
                )
            )
            .scalars()
            .all()
        )

    async def by_code(self, code: str) -> Redemption | None:
        return (await self.session.execute(select(Redemption).where(Redemption.code == code))).scalar_one_or_none()

    async def get(self, redemption_id: int) -> Redemption | None:
        return await self.session.get(Redemption, redemption_id)

    async def close(self, redemption_id: int, *, status: str, now: datetime, by: int | None = None,
                    require_unexpired: bool = False, require_expired: bool = False) -> bool:
        """Move a pending redemption to `status`: only one caller ever wins (conditional UPDATE)."""
        conditions = [Redemption.id == redemption_id, Redemption.status == "pending"]
        if require_unexpired:
            conditions.append(Redemption.expires_at > now)
        if require_expired:
            conditions.append(Redemption.expires_at <= now)
        result = await self.session.execute(
            update(Redemption)
            .where(*conditions)
            .values(status=status, closed_at=now, confirmed_by=by)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def taken_by_customer(self, customer_id: int) -> dict[int, int]:
        """reward id -> pending and confirmed redemptions of this customer (per-customer limits)."""
        rows = await self.session.execute(
            select(Redemption.reward_id, func.count())
            .where(Redemption.customer_id == customer_id, Redemption.status.in_(("pending", "confirmed")))
            .group_by(Redemption.reward_id)
        )
        return {int(r[0]): int(r[1]) for r in rows.all()}

    async def pending_for_customer(self, customer_id: int, now: datetime) -> Sequence[Redemption]:
        return (
            (
                await self.session.execute(
                    select(Redemption)
                    .where(
                        Redemption.customer_id == customer_id,
                        Redemption.status == "pending",
                        Redemption.expires_at > now,
                    )
                    .order_by(Redemption.id)
                )
            )
            .scalars()
            .all()
        )

    async def expired_pending(self, now: datetime) -> Sequence[tuple[int, int]]:
        """(redemption id, customer id) of pending redemptions past their expiry."""
        rows = await self.session.execute(
            select(Redemption.id, Redemption.customer_id)
            .where(Redemption.status == "pending", Redemption.expires_at <= now)
            .order_by(Redemption.id)
        )
        return [(int(r[0]), int(r[1])) for r in rows.all()]

    async def counts_by_reward(self) -> dict[int, dict[str, int]]:
        rows = await self.session.execute(
            select(Redemption.reward_id, Redemption.status, func.count()).group_by(Redemption.reward_id, Redemption.status)
        )
        counts: dict[int, dict[str, int]] = {}
        for reward_id, status, count in rows.all():
            counts.setdefault(int(reward_id), {})[str(status)] = int(count)
        return counts


class TokenRepository(_Repository):
    async def add(self, token: Token) -> Token:
        self.session.add(token)
        await self.session.flush()
        return token

    async def get(self, token_id: str) -> Token | None:
        return await self.session.get(Token, token_id)

    async def mark_used(self, token_id: str, *, used_by: int, now: datetime) -> bool:
        """Single use: only one caller can move used_at from NULL, whatever the concurrency."""
        result = await self.session.execute(
            update(Token)
            .where(Token.id == token_id, Token.used_at.is_(None), Token.expires_at > now)
            .values(used_at=now, used_by=used_by)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    async def claim(
        self, token_id: str, *, kind: str, used_by: int, now: datetime
    ) -> tuple[int | None, int | None, str | None] | None:
        """Spend a one-time token not issued by `used_by`: (amount_sen, issuer, data), or None if it
        cannot be.

        One conditional UPDATE: of any number of concurrent claims exactly one gets the row.
        """
        rows = await _P_CLAIM_TOKEN.run(
            self.session, {"p_id": token_id, "p_kind": kind, "p_now": now, "p_used_by": used_by}
        )
        return (rows[0][0], rows[0][1], rows[0][2]) if rows else None

    async def issued_between(self, kind: str, start: datetime, end: datetime) -> Sequence[tuple[int | None, bool]]:
        """(issuer, claimed?) of every token of `kind` created in [start, end)."""
        rows = await self.session.execute(
            select(Token.created_by, Token.used_at.is_not(None)).where(
                Token.kind == kind, Token.created_at >= start, Token.created_at < end
            )
        )
        return [(r[0], bool(r[1])) for r in rows.all()]


class VoucherRepository(_Repository):
    async def add(self, voucher: Voucher) -> Voucher:
        self.session.add(voucher)
        await self.session.flush()
        return voucher

    async def active_for_customer(self, customer_id: int, now: datetime) -> Sequence[Voucher]:
        return (
            (
                await self.session.execute(
                    select(Voucher)
                    .where(
                        Voucher.customer_id == customer_id,
                        Voucher.used_at.is_(None),
                        or_(Voucher.expires_at.is_(None), Voucher.expires_at > now),
                    )
                    .order_by(Voucher.issued_at, Voucher.id)
                )
            )
            .scalars()
            .all()
        )


    async def all_for_customer(self, customer_id: int) -> Sequence[Voucher]:
        return (
            (await self.session.execute(select(Voucher).where(Voucher.customer_id == customer_id).order_by(Voucher.id)))
            .scalars()
            .all()
        )

    async def by_code(self, code: str) -> Voucher | None:
        return (await self.session.execute(select(Voucher).where(Voucher.code == code))).scalar_one_or_none()

    async def use(self, voucher_id: int, *, used_by: int, now: datetime) -> bool:
        """Single use: one conditional UPDATE on used_at, whatever the concurrency."""
        result = await self.session.execute(
            update(Voucher)
            .where(
                Voucher.id == voucher_id,
                Voucher.used_at.is_(None),
                or_(Voucher.expires_at.is_(None), Voucher.expires_at > now),
            )
            .values(used_at=now, used_by=used_by)
            .execution_options(synchronize_session=False)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


class AuditRepository(_Repository):
    async def record(
        self,
        *,
        actor: int | None,
        action: str,
        now: datetime,
        customer_id: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        await self._append(
            AuditEntry.__table__,
            {
                "actor_telegram_id": actor,
                "action": action,
                "customer_id": customer_id,
                "details": json.dumps(details, sort_keys=True) if details else None,
                "created_at": now,
            },
        )

    async def between(self, start: datetime, end: datetime, *, prefix: str) -> Sequence[AuditEntry]:
        return (
            (
                await self.session.execute(
                    select(AuditEntry)
                    .where(AuditEntry.created_at >= start, AuditEntry.created_at < end, AuditEntry.action.startswith(prefix))
                    .order_by(AuditEntry.created_at)
                )
            )
            .scalars()
            .all()
        )

    async def for_actor(self, actor: int) -> Sequence[AuditEntry]:
        return (
            (await self.session.execute(select(AuditEntry).where(AuditEntry.actor_telegram_id == actor)))
            .scalars()
            .all()
        )


class ConversationRepository(_Repository):
    async def get(self, key: str) -> tuple[str | None, str] | None:
        """(state, data as JSON) of a conversation, or None when there is none."""
        rows = await _P_CONVERSATION.run(self.session, {"key": key})
        return (rows[0][0], rows[0][1]) if rows else None

    async def put(self, key: str, *, state: str | None, data: str, now: datetime) -> None:
        if state is None and data == "{}":
            await _P_CONVERSATION_END.run(self.session, {"key": key})
            return
        await insert_or_update(
            self.session,
            ConversationState.__table__,  # type: ignore[arg-type]
            {"key": key, "state": state, "data": data, "updated_at": now},
            keys=["key"],
            update=["state", "data", "updated_at"],
        )


class SettingsRepository(_Repository):
    async def get(self, key: str) -> str | None:
        row = await self.session.get(AppSetting, key)
        return None if row is None else row.value

    async def put_if_absent(self, key: str, value: str) -> str:
        """Store `value` unless the key exists; return what is stored (first writer wins)."""
        await insert_or_ignore(self.session, AppSetting.__table__, {"key": key, "value": value}, keys=["key"])  # type: ignore[arg-type]
        stored = (await self.session.execute(select(AppSetting.value).where(AppSetting.key == key))).scalar_one()
        return str(stored)
