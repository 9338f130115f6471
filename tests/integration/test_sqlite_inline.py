"""The inline SQLite driver: no thread per call, and a lock held by another process is
waited for without freezing the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from loyaltybot.db import sqlite_inline
from loyaltybot.db.engine import Database, create_database
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
