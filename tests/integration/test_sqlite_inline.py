"""The inline SQLite driver: no thread per call, and a lock held by another process is
waited for without freezing the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from loyaltybot.db import sqlite_inline
from loyaltybot.db.engine import WRITE_LOCK_FIRST_WAIT_MS, Database, create_database
from loyaltybot.db.migrate import upgrade_database
from loyaltybot.db.models import AppSetting
from loyaltybot.db.uow import uow_factories


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> Any:
    db = create_database(f"sqlite+aiosqlite:///{tmp_path / 'inline.db'}")
    await upgrade_database(db)
    try:
        yield db
    finally:
        await db.dispose()


def _path(db: Database) -> str:
    return db.url.split(":///", 1)[1]


async def test_bot_engines_use_the_inline_driver_and_analytics_a_thread(sqlite_db: Database) -> None:
    assert sqlite_db.write_engine.dialect.dbapi.aiosqlite is sqlite_inline
    assert sqlite_db.read_engine.dialect.dbapi.aiosqlite is sqlite_inline
    import aiosqlite

    assert sqlite_db.analytics_engine.dialect.dbapi.aiosqlite is aiosqlite


async def test_statements_run_on_the_event_loop_thread(sqlite_db: Database) -> None:
    import threading

    seen: list[int] = []
    async with sqlite_db.read_engine.connect() as connection:
        raw = await connection.get_raw_connection()
        raw.driver_connection._conn.create_function("thread_id", 0, lambda: seen.append(threading.get_ident()) or 1)
        assert (await connection.exec_driver_sql("SELECT thread_id()")).scalar_one() == 1
    assert seen == [threading.get_ident()]


async def test_write_waits_for_another_process_without_blocking_the_loop(sqlite_db: Database) -> None:
    """Another process (here a plain sqlite3 connection) holds the write lock for 0.5 s: our
    write begins right after it is released, and the event loop ran all along."""
    other = sqlite3.connect(_path(sqlite_db), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO app_settings (key, value) VALUES ('other', 'first')")
    writer, reader = uow_factories(sqlite_db)
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    async def write() -> float:
        async with writer() as uow:
            await uow.settings.put_if_absent("ours", "second")
            await uow.commit()
        return time.monotonic()

    ticking = asyncio.create_task(ticker())
    writing = asyncio.create_task(write())
    await asyncio.sleep(0.5)
    assert not writing.done()
    released_at = time.monotonic()
    other.execute("COMMIT")
    other.close()
    written_at = await asyncio.wait_for(writing, 5)
    stop.set()
    await ticking
    assert written_at >= released_at
    assert ticks >= 20  # ~50 while waiting; a blocked loop would have counted none
    # It first waited inside SQLite, briefly (the usual case: another worker's transaction
    # ends within a few ms), then without SQLite's wait; that is back for the next time.
    async with sqlite_db.write_engine.connect() as connection:
        assert (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar_one() == WRITE_LOCK_FIRST_WAIT_MS > 0
    async with reader() as uow:
        assert await uow.settings.get("other") == "first"
        assert await uow.settings.get("ours") == "second"


async def test_a_lock_held_too_long_fails_cleanly(tmp_path: Path) -> None:
    path = str(tmp_path / "locked.db")
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE t (x INTEGER)")
    setup.execute("BEGIN IMMEDIATE")
    connection = await sqlite_inline.connect(path, busy_timeout=0.2)
    try:
        cursor = connection.cursor()
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await cursor.execute("BEGIN IMMEDIATE")
        assert 0.2 <= time.monotonic() - started < 2
        # Reads are not blocked by the writer (WAL).
        await cursor.execute("SELECT count(*) FROM t")
        assert await cursor.fetchall() == [(0,)]
    finally:
        await connection.close()
        setup.execute("ROLLBACK")
        setup.close()


async def test_errors_surface_as_sqlalchemy_errors(sqlite_db: Database) -> None:
    async with sqlite_db.read_engine.connect() as connection:
        with pytest.raises(OperationalError):
            await connection.exec_driver_sql("SELECT * FROM no_such_table")
    writer, _ = uow_factories(sqlite_db)
    async with writer() as uow:
        uow.session.add(AppSetting(key="k", value="1"))
        await uow.commit()
    async with writer() as uow:
        uow.session.add(AppSetting(key="k", value="2"))
        with pytest.raises(IntegrityError):
            await uow.session.flush()
    # The failed transaction was rolled back; the single writer connection still works.
    async with writer() as uow:
        uow.session.add(AppSetting(key="k2", value="3"))
        await uow.commit()
    async with sqlite_db.read_sessions() as session:
        rows = dict((await session.execute(select(AppSetting.key, AppSetting.value))).all())
    assert rows["k"] == "1" and rows["k2"] == "3"


# --------------------------------------------------------------------------- lean write transactions


def _audit_actors(db: Database) -> list[int]:
    with sqlite3.connect(_path(db)) as raw:
        return [row[0] for row in raw.execute("SELECT actor_telegram_id FROM audit_log ORDER BY id")]


def _setting(db: Database, key: str) -> str | None:
    with sqlite3.connect(_path(db)) as raw:
        row = raw.execute("SELECT value FROM app_settings WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


async def test_a_prepared_write_runs_on_the_driver_and_commits(sqlite_db: Database) -> None:
    writer, _ = uow_factories(sqlite_db)
    pool = sqlite_db.write_engine.sync_engine.pool
    async with writer() as uow:
        await uow.audit.record(actor=1, action="test", now=NOW)
        await uow.audit.record(actor=2, action="test", now=NOW)
        assert not uow.session.sync_session.in_transaction()  # the session's machinery was not used
        assert pool.checkedout() == 1
        assert _audit_actors(sqlite_db) == []  # not visible before COMMIT
        await uow.commit()
        assert pool.checkedout() == 0
    assert _audit_actors(sqlite_db) == [1, 2]


async def test_a_lean_transaction_not_committed_or_failing_leaves_nothing(sqlite_db: Database) -> None:
    writer, _ = uow_factories(sqlite_db)
    async with writer() as uow:
        await uow.audit.record(actor=1, action="test", now=NOW)
    with pytest.raises(RuntimeError):
        async with writer() as uow:
            await uow.audit.record(actor=2, action="test", now=NOW)
            raise RuntimeError("half-way")
    async with writer() as uow:
        await uow.audit.record(actor=3, action="test", now=NOW)
        await uow.rollback()
        await uow.audit.record(actor=4, action="test", now=NOW)  # a new transaction after the rollback
        await uow.commit()
    assert _audit_actors(sqlite_db) == [4]
    assert sqlite_db.write_engine.sync_engine.pool.checkedout() == 0


async def test_orm_work_after_a_prepared_write_is_the_same_transaction(sqlite_db: Database) -> None:
    writer, _ = uow_factories(sqlite_db)
    with pytest.raises(RuntimeError):
        async with writer() as uow:
            await uow.audit.record(actor=1, action="test", now=NOW)
            uow.session.add(AppSetting(key="orm", value="1"))
            await uow.session.flush()
            raise RuntimeError("after both")
    assert _audit_actors(sqlite_db) == [] and _setting(sqlite_db, "orm") is None
    async with writer() as uow:
        await uow.audit.record(actor=1, action="test", now=NOW)
        uow.session.add(AppSetting(key="orm", value="1"))  # flushed by the next prepared statement
        await uow.audit.record(actor=2, action="test", now=NOW)
        assert await uow.settings.get("orm") == "1"
        await uow.commit()
        # After the commit, the unit of work goes on with a transaction of its own.
        uow.session.add(AppSetting(key="orm2", value="2"))
        await uow.commit()
    assert _audit_actors(sqlite_db) == [1, 2]
    assert _setting(sqlite_db, "orm") == "1" and _setting(sqlite_db, "orm2") == "2"
    assert sqlite_db.write_engine.sync_engine.pool.checkedout() == 0


async def test_lean_transactions_of_concurrent_tasks_take_turns(sqlite_db: Database) -> None:
    """One write connection per process: 30 tasks, some failing with a constraint error
    half-way, all end; exactly the committed ones are there."""
    writer, _ = uow_factories(sqlite_db)

    async def write(n: int) -> None:
        async with writer() as uow:
            await uow.audit.record(actor=n, action="test", now=NOW)
            await asyncio.sleep(0)  # others queue for the connection meanwhile
            if n % 3 == 0:
                uow.session.add(AppSetting(key="same", value=str(n)))  # only the first one can
                await uow.session.flush()
            await uow.commit()

    results = await asyncio.gather(*(write(n) for n in range(30)), return_exceptions=True)
    failed = {n for n, result in enumerate(results) if isinstance(result, IntegrityError)}
    assert all(result is None or isinstance(result, IntegrityError) for result in results)
    assert failed == {n for n in range(3, 30, 3)}
    assert _audit_actors(sqlite_db) == [n for n in range(30) if n not in failed]
    assert _setting(sqlite_db, "same") == "0"
    assert sqlite_db.write_engine.sync_engine.pool.checkedout() == 0
