"""`db.prepared`: the hot statements run straight on the inline SQLite driver must store and
return exactly what SQLAlchemy's own execution does (on PostgreSQL they are `session.execute`)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, text

from loyaltybot.db import prepared as prepared_module
from loyaltybot.db.engine import Database
from loyaltybot.db.models import AuditEntry, Customer, LedgerEntry
from loyaltybot.db.prepared import Prepared
from loyaltybot.db.repositories import _STAMP_STATE, LedgerRepository
from loyaltybot.db.uow import uow_factories

WHOLE_SECOND = datetime(2026, 11, 23, 2, 0, 0, tzinfo=UTC)  # no microseconds: the format must keep them
WITH_MICROS = datetime(2026, 11, 23, 2, 0, 0, 250, tzinfo=UTC)


async def _customer(db: Database) -> int:
    writer, _ = uow_factories(db)
    async with writer() as uow:
        customer = await uow.customers.add(
            Customer(
                telegram_id=42, phone="+60123456789", first_name="Aminah", language="ms", member_key="k42", joined_at=WHOLE_SECOND
            )
        )
        await uow.commit()
        return customer.id


def _entry(customer_id: int, key: str, created_at: datetime, **extra: Any) -> LedgerEntry:
    return LedgerEntry(
        customer_id=customer_id,
        delta=5,
        kind="purchase",
        idempotency_key=key,
        spend_sen=1250,
        balance_after=5,
        created_at=created_at,
        **extra,
    )


async def test_rows_written_fast_are_stored_as_sqlalchemy_stores_them(database: Database) -> None:
    customer_id = await _customer(database)
    writer, _ = uow_factories(database)
    async with writer() as uow:
        for n, moment in enumerate((WHOLE_SECOND, WITH_MICROS)):
            await uow.ledger.add(_entry(customer_id, f"fast:{n}", moment))  # the prepared INSERT … RETURNING
            # The same row through SQLAlchemy's own execution, for comparison.
            values = {
                c.key: getattr(_entry(customer_id, f"orm:{n}", moment), c.key) for c in LedgerEntry.__table__.c if c.key != "id"
            }
            values["stamps_delta"] = 0
            await uow.session.execute(insert(LedgerEntry.__table__).values(**values))
        await uow.audit.record(actor=7, action="test.fast", now=WITH_MICROS, customer_id=customer_id, details={"b": 1, "a": 2})
        await uow.commit()

    async with database.read_sessions() as session:
        entries = (await session.execute(select(LedgerEntry).order_by(LedgerEntry.id))).scalars().all()
        assert [e.idempotency_key for e in entries] == ["fast:0", "orm:0", "fast:1", "orm:1"]
        fast, orm = entries[0::2], entries[1::2]
        for a, b in zip(fast, orm, strict=True):
            assert (a.created_at, a.stamps_delta, a.spend_sen, a.expires_at, a.note) == (
                b.created_at,
                b.stamps_delta,
                b.spend_sen,
                b.expires_at,
                b.note,
            )
        assert [e.created_at for e in fast] == [WHOLE_SECOND, WITH_MICROS]
        assert fast[0].stamps_delta == 0  # the column's default, filled in as the ORM would
        [audit] = (await session.execute(select(AuditEntry))).scalars().all()
        assert (audit.actor_telegram_id, audit.action, audit.customer_id, audit.details, audit.created_at) == (
            7,
            "test.fast",
            customer_id,
            '{"a": 2, "b": 1}',
            WITH_MICROS,
        )
        if database.is_sqlite:  # byte for byte: range comparisons on the text depend on it
            raw = (await session.execute(text("SELECT idempotency_key, created_at FROM ledger ORDER BY id"))).all()
            stored = dict(raw)
            assert stored["fast:0"] == stored["orm:0"] == "2026-11-23 02:00:00.000000"
            assert stored["fast:1"] == stored["orm:1"]


async def test_results_match_sqlalchemys_and_datetimes_come_back_aware(database: Database) -> None:
    customer_id = await _customer(database)
    writer, _ = uow_factories(database)
    async with writer() as uow:
        await uow.ledger.add(_entry(customer_id, "s1", WHOLE_SECOND, stamps_delta=1))
        await uow.ledger.add(_entry(customer_id, "s2", WITH_MICROS, stamps_delta=2))
        await uow.commit()
    params = {"p_customer_id": customer_id, "p_day_start": WHOLE_SECOND, "p_day_end": WHOLE_SECOND + timedelta(days=1)}
    async with database.read_sessions() as session:
        fast = await Prepared(_STAMP_STATE).run(session, params)
        slow = [tuple(row) for row in (await session.execute(_STAMP_STATE, params)).all()]
        assert fast == slow
        last, stamps = await LedgerRepository(session).stamp_state(
            customer_id, day_start=params["p_day_start"], day_end=params["p_day_end"]
        )
        assert (last, stamps) == (WITH_MICROS, 3)
        assert last.tzinfo is UTC
        none = await Prepared(_STAMP_STATE).run(session, {**params, "p_customer_id": customer_id + 1})
        assert none == [(None, 0)]


async def test_pending_orm_changes_are_flushed_first(database: Database) -> None:
    """As the session's autoflush would: a prepared read sees what was added but not flushed."""
    customer_id = await _customer(database)
    writer, _ = uow_factories(database)
    count = Prepared(select(LedgerEntry.__table__.c.idempotency_key).where(LedgerEntry.__table__.c.customer_id == bindparam("c")))
    async with writer() as uow:
        uow.session.add(_entry(customer_id, "pending", WITH_MICROS))
        assert await count.run(uow.session, {"c": customer_id}) == [("pending",)]
        await uow.rollback()
    async with database.read_sessions() as session:
        assert await count.run(session, {"c": customer_id}) == []  # the rollback took it back


async def test_fast_path_only_on_the_inline_driver(database: Database) -> None:
    async with database.read_sessions() as session:
        inline = await prepared_module._inline_connection(session)
    assert (inline is not None) == database.is_sqlite
    async with database.analytics_sessions() as session:  # aiosqlite's thread on SQLite: never inline
        assert await prepared_module._inline_connection(session) is None


def test_statements_that_cannot_be_prepared_are_refused(database: Database) -> None:
    from sqlalchemy.dialects import sqlite

    expanding = select(LedgerEntry.__table__.c.id).where(LedgerEntry.__table__.c.id.in_(bindparam("ids", expanding=True)))
    with pytest.raises(ValueError, match="positional"):
        prepared_module._Compiled(expanding, sqlite.dialect())
    assert sqlite3.sqlite_version_info >= (3, 35)  # RETURNING


async def test_errors_are_sqlalchemys(database: Database) -> None:
    """Services catch `sqlalchemy.exc.IntegrityError` (a ledger key used twice) whichever path ran."""
    from sqlalchemy.exc import IntegrityError

    customer_id = await _customer(database)
    writer, _ = uow_factories(database)
    async with writer() as uow:
        await uow.ledger.add(_entry(customer_id, "same-key", WITH_MICROS))
        with pytest.raises(IntegrityError):
            await uow.ledger.add(_entry(customer_id, "same-key", WITH_MICROS))
        await uow.rollback()
    async with database.read_sessions() as session:
        assert (await session.execute(select(LedgerEntry))).first() is None


async def test_read_sessions_share_one_connection_and_see_every_commit(database: Database) -> None:
    """On SQLite a read session's prepared statements run on the shared read connection: no
    connection of its own, and (autocommit) each statement sees the latest commit."""
    from loyaltybot.db.repositories import _P_IDENTITY

    writer, reader = uow_factories(database)
    async with reader() as uow:
        assert await uow.staff.identity_of(42) == (None, None)
        if database.is_sqlite:
            assert uow.session.sync_session.get_transaction() is None  # it never took a connection
            assert database.read_engine.pool.checkedout() == 1  # the shared one
        await _customer(database)  # committed by the writer meanwhile
        assert await _P_IDENTITY.run(uow.session, {"telegram_id": 42}) == [("ms", None)]
    if database.is_sqlite:
        assert database.shared_reader is not None
        await database.dispose()
        assert database.read_engine.pool.checkedout() == 0  # closed with the database
