"""SQLite engine setup: pragmas on both engines, IMMEDIATE write transactions, WAL readers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from loyaltybot.db.engine import SQLITE_BUSY_TIMEOUT_MS, WRITE_LOCK_FIRST_WAIT_MS, Database, create_database
from loyaltybot.db.migrate import upgrade_database
from loyaltybot.db.models import AppSetting
from loyaltybot.db.uow import uow_factories

# A hung lock would otherwise wait SQLite's whole busy timeout (30 s).
GUARD = 10


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> Any:
    db = create_database(f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}")
    await upgrade_database(db)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
async def second_db(sqlite_db: Database) -> Any:
    """Another process's view of the same file: its own engines and pools."""
    db = create_database(sqlite_db.url)
    try:
        yield db
    finally:
        await db.dispose()


def test_in_memory_sqlite_is_refused() -> None:
    with pytest.raises(ValueError):
        create_database("sqlite+aiosqlite:///:memory:")


def test_write_and_read_engines_are_separate(sqlite_db: Database) -> None:
    assert sqlite_db.is_sqlite
    assert sqlite_db.write_engine is not sqlite_db.read_engine


@pytest.mark.parametrize(
    ("engine_name", "busy_timeout"),
    [
        # The bot's engines run SQLite inline: the writer waits a few ms in SQLite, then with
        # asyncio sleeps; the readers never wait for a lock (WAL).
        ("write_engine", WRITE_LOCK_FIRST_WAIT_MS),
        ("read_engine", 0),
        ("analytics_engine", SQLITE_BUSY_TIMEOUT_MS),
    ],
)
async def test_pragmas_in_effect(sqlite_db: Database, engine_name: str, busy_timeout: int) -> None:
    engine = getattr(sqlite_db, engine_name)
    async with engine.connect() as connection:
        journal = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
        foreign_keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
        busy = (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
        synchronous = (await connection.exec_driver_sql("PRAGMA synchronous")).scalar_one()
    assert str(journal).lower() == "wal"
    assert foreign_keys == 1
    assert busy == busy_timeout
    assert synchronous == 1  # NORMAL (WAL: durable across crashes of the process)


async def test_foreign_keys_are_enforced(sqlite_db: Database) -> None:
    from sqlalchemy.exc import IntegrityError

    async with sqlite_db.write_engine.connect() as connection:
        with pytest.raises(IntegrityError):
            await connection.execute(
                text(
                    "INSERT INTO ledger (customer_id, delta, kind, idempotency_key, stamps_delta, balance_after,"
                    " created_at) VALUES (424242, 1, 'bonus', 'k', 0, 1, '2026-01-01 00:00:00')"
                )
            )
        await connection.rollback()


async def test_write_transaction_holds_the_write_lock_from_begin(sqlite_db: Database, second_db: Database) -> None:
    """BEGIN IMMEDIATE: a write transaction that has only read still blocks another writer at BEGIN."""
    writer_a, _ = uow_factories(sqlite_db)
    writer_b, _ = uow_factories(second_db)
    a_has_begun = asyncio.Event()
    b_began_at: list[float] = []
    a_committed_at: list[float] = []

    async def a() -> None:
        async with writer_a() as uow:
            await uow.settings.get("x")  # a read only: with DEFERRED this takes no write lock
            a_has_begun.set()
            await asyncio.sleep(0.5)
            await uow.settings.put_if_absent("a", "1")
            await uow.commit()
            a_committed_at.append(time.monotonic())

    async def b() -> None:
        await a_has_begun.wait()
        async with writer_b() as uow:
            await uow.settings.get("x")
            b_began_at.append(time.monotonic())
            await uow.settings.put_if_absent("b", "2")
            await uow.commit()

    await asyncio.wait_for(asyncio.gather(a(), b()), GUARD)
    # B could not even begin (its first read) until A had committed.
    assert b_began_at[0] >= a_committed_at[0]
    async with sqlite_db.read_sessions() as session:
        rows = dict((await session.execute(select(AppSetting.key, AppSetting.value))).all())
    assert rows == {"a": "1", "b": "2"}


async def test_two_writers_that_read_then_write_both_succeed(sqlite_db: Database, second_db: Database) -> None:
    """The classic deadlock of DEFERRED transactions (both read, then both write) cannot happen."""
    writers = [uow_factories(sqlite_db)[0], uow_factories(second_db)[0]]
    start = asyncio.Event()

    async def read_then_write(index: int) -> None:
        await start.wait()
        async with writers[index]() as uow:
            await uow.session.execute(select(func.count()).select_from(AppSetting))
            await asyncio.sleep(0.2)  # give the other writer every chance to interleave
            await uow.settings.put_if_absent(f"key{index}", str(index))
            await uow.commit()

    tasks = [asyncio.create_task(read_then_write(i)) for i in range(2)]
    start.set()
    await asyncio.wait_for(asyncio.gather(*tasks), GUARD)
    async with second_db.read_sessions() as session:
        keys = set((await session.execute(select(AppSetting.key))).scalars())
    assert keys == {"key0", "key1"}


async def test_many_concurrent_writers_across_two_databases(sqlite_db: Database, second_db: Database) -> None:
    writers = [uow_factories(sqlite_db)[0], uow_factories(second_db)[0]]

    async def write(index: int) -> None:
        async with writers[index % 2]() as uow:
            await uow.settings.put_if_absent(f"k{index}", "v")
            await uow.commit()

    await asyncio.wait_for(asyncio.gather(*(write(i) for i in range(20))), GUARD)
    async with sqlite_db.read_sessions() as session:
        assert (await session.execute(select(func.count()).select_from(AppSetting))).scalar_one() == 20


@pytest.mark.parametrize("reader_from", ["same", "other"])
async def test_reader_not_blocked_by_open_write_transaction(
    sqlite_db: Database, second_db: Database, reader_from: str
) -> None:
    writer, _ = uow_factories(sqlite_db)
    _, reader = uow_factories(sqlite_db if reader_from == "same" else second_db)
    async with writer() as uow:
        await uow.settings.put_if_absent("committed", "yes")
        await uow.commit()

    async with writer() as write_uow:
        await write_uow.settings.put_if_absent("pending", "not yet")  # flushed, uncommitted, lock held

        async def read() -> tuple[str | None, str | None]:
            async with reader() as read_uow:
                return await read_uow.settings.get("committed"), await read_uow.settings.get("pending")

        started = time.monotonic()
        committed, pending = await asyncio.wait_for(read(), 2)
        assert time.monotonic() - started < 1.0
        assert committed == "yes"
        assert pending is None  # the reader sees the last committed state only
        await write_uow.commit()

    async with reader() as read_uow:
        assert await read_uow.settings.get("pending") == "not yet"
