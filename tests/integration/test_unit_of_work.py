"""Unit of work: only commit() commits; leaving the block otherwise rolls back. Repositories flush."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from loyaltybot.db.models import AppSetting, AuditEntry, Customer, StaffMember
from loyaltybot.db.uow import uow_factories

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Boom(Exception):
    pass


def _customer(n: int = 1) -> Customer:
    return Customer(
        telegram_id=500 + n,
        phone=f"+6012345678{n}",
        first_name="Aina",
        language="en",
        marketing_opt_in=True,
        status="active",
        balance=0,
        stamps=0,
        member_key=f"key{n:013d}",
        joined_at=NOW,
    )


async def test_commit_persists(database: Any, count: Any) -> None:
    writer, _ = uow_factories(database)
    async with writer() as uow:
        await uow.customers.add(_customer())
        await uow.audit.record(actor=1, action="x", now=NOW)
        await uow.commit()
    assert await count(Customer) == 1
    assert await count(AuditEntry) == 1


async def test_leaving_without_commit_rolls_back(database: Any, count: Any) -> None:
    writer, _ = uow_factories(database)
    async with writer() as uow:
        customer = await uow.customers.add(_customer())
        assert customer.id is not None  # flushed: the database assigned an id
        await uow.audit.record(actor=1, action="x", now=NOW)
        await uow.settings.put_if_absent("k", "v")
    assert await count(Customer) == 0
    assert await count(AuditEntry) == 0
    assert await count(AppSetting) == 0


async def test_exception_inside_block_leaves_nothing(database: Any, count: Any) -> None:
    writer, _ = uow_factories(database)
    with pytest.raises(Boom):
        async with writer() as uow:
            await uow.customers.add(_customer())
            await uow.staff.add(StaffMember(telegram_id=7, role="staff", added_at=NOW, active=True))
            raise Boom()
    assert await count(Customer) == 0
    assert await count(StaffMember) == 0


async def test_exception_after_commit_keeps_committed_work(database: Any, count: Any) -> None:
    writer, _ = uow_factories(database)
    with pytest.raises(Boom):
        async with writer() as uow:
            await uow.customers.add(_customer())
            await uow.commit()
            raise Boom()
    assert await count(Customer) == 1


async def test_repositories_flush_but_do_not_commit(database: Any, count: Any) -> None:
    """Inside the transaction the rows are visible (flushed); outside they are not (not committed)."""
    writer, reader = uow_factories(database)
    async with writer() as uow:
        customer = await uow.customers.add(_customer())
        await uow.audit.record(actor=1, action="flushed", now=NOW, customer_id=customer.id)
        await uow.conversations.put("chat:1", state="s", data="{}", now=NOW)
        # the same transaction sees them through queries (not only the identity map)
        assert await uow.customers.count_active() == 1
        assert [a.action for a in await uow.audit.for_actor(1)] == ["flushed"]
        assert (await uow.customers.by_phone("+60123456781")) is customer
        # a separate unit of work does not
        async with reader() as other:
            assert await other.customers.count_active() == 0
            assert await other.audit.for_actor(1) == []
            assert await other.conversations.get("chat:1") is None
        assert not uow._committed
    assert await count(Customer) == 0


async def test_second_commit_pattern_is_explicit(database: Any, count: Any) -> None:
    """Work after a commit in the same block is rolled back unless committed again."""
    writer, _ = uow_factories(database)
    async with writer() as uow:
        await uow.customers.add(_customer(1))
        await uow.commit()
        await uow.settings.put_if_absent("late", "write")
        await uow.rollback()
    assert await count(Customer) == 1
    assert await count(AppSetting) == 0


async def test_integrity_error_rolls_back_whole_unit(database: Any, count: Any) -> None:
    from sqlalchemy.exc import IntegrityError

    writer, _ = uow_factories(database)
    async with writer() as uow:
        await uow.customers.add(_customer(1))
        await uow.commit()
    with pytest.raises(IntegrityError):
        async with writer() as uow:
            await uow.audit.record(actor=1, action="before-failure", now=NOW)
            duplicate = _customer(2)
            duplicate.phone = "+60123456781"
            await uow.customers.add(duplicate)
    assert await count(Customer) == 1
    assert await count(AuditEntry) == 0


async def test_apply_points_never_goes_negative(database: Any) -> None:
    writer, _ = uow_factories(database)
    async with writer() as uow:
        customer = await uow.customers.add(_customer())
        assert await uow.customers.apply_points(customer.id, 5) == 5
        assert await uow.customers.apply_points(customer.id, -6) is None
        assert await uow.customers.apply_points(customer.id, -5) == 0
        await uow.commit()


async def test_datetimes_come_back_aware_utc(database: Any) -> None:
    writer, reader = uow_factories(database)
    async with writer() as uow:
        await uow.customers.add(_customer())
        await uow.commit()
    async with reader() as uow:
        customer = await uow.customers.by_telegram_id(501)
        assert customer is not None
        assert customer.joined_at == NOW
        assert customer.joined_at.tzinfo is not None
    async with writer() as uow:
        naive = _customer(2)
        naive.joined_at = datetime(2026, 1, 1)
        with pytest.raises(Exception, match="naive datetime"):
            await uow.customers.add(naive)


async def test_objects_loaded_by_a_reader_stay_readable_after_the_block(database: Any) -> None:
    """Services return rows read in a reader unit of work and read them after it ended."""
    writer, reader = uow_factories(database)
    async with writer() as uow:
        await uow.customers.add(_customer())
        await uow.staff.add(StaffMember(telegram_id=7, role="staff", added_at=NOW, active=True))
        await uow.commit()
    async with reader() as uow:
        customer = await uow.customers.by_telegram_id(501)
        staff = list(await uow.staff.list_active())
    assert customer is not None
    assert (customer.status, customer.telegram_id, customer.first_name) == ("active", 501, "Aina")
    assert [(s.telegram_id, s.role) for s in staff] == [(7, "staff")]
    # and after a failed (rolled back) writer block as well
    with pytest.raises(Boom):
        async with writer() as uow:
            customer = await uow.customers.by_telegram_id(501)
            raise Boom()
    assert customer is not None and customer.phone == "+60123456781"


async def test_repositories_belong_to_the_session_of_each_entry(database: Any) -> None:
    """Repositories are made on first use; a unit of work entered again gets new ones."""
    _, reader = uow_factories(database)
    uow = reader()
    async with uow:
        first = uow.customers
        assert first is uow.customers and first.session is uow.session
    async with uow:
        assert uow.customers is not first and uow.customers.session is uow.session


async def test_no_connection_is_held_after_a_block_and_objects_are_detached(database: Any) -> None:
    """However a block ends (prepared reads only, ORM reads, commit, error), its connections are
    back in the pool, and the objects it loaded or added are detached from its session."""
    from sqlalchemy import inspect

    writer, reader = uow_factories(database)

    def checked_out() -> int:
        """Connections out of the pools, but the one SQLite's read sessions share for good."""
        engines = {id(e): e for e in (database.write_engine, database.read_engine)}.values()
        shared = 1 if database.shared_reader is not None and database.shared_reader._connection is not None else 0
        return sum(engine.sync_engine.pool.checkedout() for engine in engines) - shared

    async with writer() as uow:
        added = await uow.customers.add(_customer())
        await uow.commit()
    assert checked_out() == 0 and inspect(added).detached
    async with reader() as uow:
        assert await uow.staff.identity_of(501) == ("en", None)  # prepared statement only
    assert checked_out() == 0
    async with reader() as uow:
        loaded = await uow.customers.by_telegram_id(501)
    assert loaded is not None and inspect(loaded).detached and checked_out() == 0
    with pytest.raises(Boom):
        async with writer() as uow:
            assert await uow.customers.holder_by_telegram_id(501) is not None  # begins the write transaction
            raise Boom()
    assert checked_out() == 0
    async with writer() as uow:  # the write connection is free again: a new transaction works
        await uow.audit.record(actor=1, action="after", now=NOW)
        await uow.commit()
