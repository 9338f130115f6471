"""WAL checkpoints off the event loop (db/checkpoint.py): commits no longer checkpoint, a
thread does it every interval, and a failing checkpoint neither stops the bot nor floods the log."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from loyaltybot.app import build_core
from loyaltybot.config import PROJECT_ROOT, Settings
from loyaltybot.db import engine as engine_module
from loyaltybot.db.checkpoint import AUTOCHECKPOINT_PAGES, CHECKPOINT_INTERVAL_S, CheckpointResult, WalCheckpointer
from loyaltybot.db.engine import Database, create_database

PAGE = 4096
BATCHES, ROWS = 6, 400  # 2,400 pages of rows, committed 400 at a time: past SQLite's 1,000-page autocheckpoint


async def _fill(db: Database, batches: int = BATCHES) -> None:
    async with db.write_sessions() as session, session.begin():
        await session.execute(text("CREATE TABLE IF NOT EXISTS scratch (payload BLOB)"))
    for _ in range(batches):
        async with db.write_sessions() as session, session.begin():
            for _ in range(ROWS):
                await session.execute(text("INSERT INTO scratch (payload) VALUES (zeroblob(:size))"), {"size": PAGE - 200})


def _passive_checkpoint(path: Path) -> CheckpointResult:
    connection = sqlite3.connect(path)
    try:
        busy, wal_pages, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    finally:
        connection.close()
    return CheckpointResult(bool(busy), wal_pages, copied)


async def _pragma(db: Database, engine: str, name: str) -> Any:
    async with getattr(db, engine).connect() as connection:
        return (await connection.execute(text(f"PRAGMA {name}"))).scalar_one()


@pytest.mark.parametrize("engine", ["write_engine", "read_engine", "analytics_engine"])
async def test_connections_leave_checkpoints_to_the_checkpointer(tmp_path: Path, engine: str) -> None:
    db = create_database(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", checkpoint_interval=60)
    plain = create_database(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    try:
        assert await _pragma(db, engine, "wal_autocheckpoint") == AUTOCHECKPOINT_PAGES
        assert await _pragma(plain, engine, "wal_autocheckpoint") == 1000  # SQLite's default, unchanged
        assert plain.checkpointer is None
    finally:
        await db.dispose()
        await plain.dispose()


async def test_commits_do_not_checkpoint_the_checkpointer_does(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    db = create_database(f"sqlite+aiosqlite:///{path}", checkpoint_interval=3600)  # no periodic one in this test
    try:
        await _fill(db)
        assert db.checkpointer is not None
        result = await db.checkpointer.checkpoint()
        # Every page written is still in the WAL: no commit copied any back.
        assert not result.busy
        assert result.wal_pages >= BATCHES * ROWS
        assert result.copied_pages == result.wal_pages
        # Once all of it is copied back, the next commit starts the WAL again from its
        # beginning: the file does not grow any more.
        wal_size = Path(f"{path}-wal").stat().st_size
        for _ in range(3):
            await _fill(db, batches=1)
            again = await db.checkpointer.checkpoint()
            assert again.wal_pages < 2 * ROWS, again
        assert Path(f"{path}-wal").stat().st_size == wal_size
    finally:
        await db.dispose()


async def test_without_a_checkpointer_commits_checkpoint_as_sqlite_does(tmp_path: Path) -> None:
    """The control for the test above: the same writes with SQLite's own checkpoints."""
    path = tmp_path / "cli.db"
    db = create_database(f"sqlite+aiosqlite:///{path}")
    try:
        await _fill(db)
        assert _passive_checkpoint(path).wal_pages < BATCHES * ROWS
    finally:
        await db.dispose()


async def test_checkpoints_run_periodically_in_their_own_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: set[str] = set()
    original = WalCheckpointer._checkpoint

    def spy(self: WalCheckpointer) -> CheckpointResult:
        threads.add(threading.current_thread().name)
        return original(self)

    monkeypatch.setattr(WalCheckpointer, "_checkpoint", spy)
    path = tmp_path / "bot.db"
    db = create_database(f"sqlite+aiosqlite:///{path}", checkpoint_interval=0.02)
    try:
        db.start()
        await _fill(db)
        checkpointer = db.checkpointer
        assert checkpointer is not None and checkpointer.running
        async with asyncio.timeout(10):
            while checkpointer.last is None or checkpointer.last.wal_pages == 0 or (
                checkpointer.last.copied_pages < checkpointer.last.wal_pages
            ):
                await asyncio.sleep(0.02)
        assert _passive_checkpoint(path).copied_pages == _passive_checkpoint(path).wal_pages
    finally:
        await db.dispose()
    assert threads and all(name.startswith("wal-checkpoint") for name in threads)
    assert threading.main_thread().name not in threads
    assert not checkpointer.running


async def test_dispose_stops_the_checkpoints_and_sqlite_folds_the_wal_back(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    db = create_database(f"sqlite+aiosqlite:///{path}", checkpoint_interval=0.01)
    db.start()
    await _fill(db)
    checkpointer = db.checkpointer
    assert checkpointer is not None
    await db.dispose()
    assert not checkpointer.running
    await checkpointer.close()  # twice is harmless
    # The last connection to close checkpointed the rest and removed the WAL.
    assert not Path(f"{path}-wal").exists()
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("SELECT count(*) FROM scratch").fetchone() == (BATCHES * ROWS,)
    finally:
        connection.close()


async def test_a_failing_checkpoint_is_logged_once_and_retried(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    checkpointer = WalCheckpointer(str(tmp_path / "missing" / "bot.db"), interval=0.01)
    caplog.set_level(logging.INFO, logger="loyaltybot.db.checkpoint")
    checkpointer.start()
    try:
        await asyncio.sleep(0.2)
        assert checkpointer.running  # it goes on trying
    finally:
        await checkpointer.close()
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "WAL checkpoint failed" in warnings[0].getMessage()
    assert checkpointer.last is None


async def test_the_bot_checkpoints_in_the_background(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=f"sqlite:///{tmp_path / 'loyaltybot.db'}",
        program_file=tmp_path / "program.toml",
        locales_dir=PROJECT_ROOT / "locales",
    )
    core = await build_core(settings)
    try:
        checkpointer = core.db.checkpointer
        assert checkpointer is not None and checkpointer.running
        assert checkpointer.interval == CHECKPOINT_INTERVAL_S
        assert await _pragma(core.db, "write_engine", "wal_autocheckpoint") == AUTOCHECKPOINT_PAGES
    finally:
        await core.close()
    assert not checkpointer.running


async def test_the_wal_stays_bounded_while_commits_keep_coming(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The thread's checkpoints copy, but never end at a moment no transaction is under way
    while another connection keeps committing, so the WAL never starts over: it grew to
    560 MB in a 20 s benchmark. The commits' own, later checkpoint bounds it."""
    monkeypatch.setattr(engine_module, "AUTOCHECKPOINT_PAGES", 100)
    path = tmp_path / "bot.db"
    db = create_database(f"sqlite+aiosqlite:///{path}", checkpoint_interval=3600)
    checkpointer = db.checkpointer
    assert checkpointer is not None
    target = 6000  # pages to write: far more than the WAL may hold

    async def keep_committing() -> int:
        pages = 0
        while pages < target:
            async with db.write_sessions() as session, session.begin():
                for _ in range(4):
                    await session.execute(text("INSERT INTO scratch (payload) VALUES (zeroblob(:size))"), {"size": PAGE - 200})
            pages += 4
            await asyncio.sleep(0)  # the checkpoint thread copies meanwhile
        return pages

    try:
        await _fill(db, batches=0)
        assert await _pragma(db, "write_engine", "wal_autocheckpoint") == 100
        writer = asyncio.create_task(keep_committing())
        largest = checkpoints = 0
        while not writer.done():
            await checkpointer.checkpoint()
            checkpoints += 1
            largest = max(largest, Path(f"{path}-wal").stat().st_size)
        assert await writer >= target
    finally:
        await db.dispose()
    assert checkpoints >= 5
    # The thread's checkpoints alone (wal_autocheckpoint=0): the WAL holds all of it.
    assert largest < target * PAGE / 4, (largest, checkpoints)
