"""Writers of several processes take turns at SQLite's write lock (db/write_turns.py): a
waiting writer is woken as soon as the turn is free, never freezes its event loop, and is
not overtaken by a writer that comes back for another turn."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from loyaltybot.db import write_turns
from loyaltybot.db.engine import Database, create_database
from loyaltybot.db.migrate import upgrade_database
from loyaltybot.db.models import AppSetting
from loyaltybot.db.uow import uow_factories

pytestmark = pytest.mark.skipif(not write_turns.available(), reason="needs flock (not on Windows)")

# Another process that takes the turn, says so on stdout, and holds it until killed or for
# the seconds given.
_HOLDER = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1] + "-writer", os.O_RDWR | os.O_CREAT, 0o600)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _hold_in_another_process(database: Path, seconds: float) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(database), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "held"
    return process


async def test_a_free_turn_is_taken_at_once_and_given_back(tmp_path: Path) -> None:
    turns = write_turns.WriteTurns(str(tmp_path / "x.db"))
    try:
        await turns.take(1.0)
        assert turns.held and turns.waits == 0
        turns.release()
        assert not turns.held
        await turns.take(1.0)  # again, still without waiting
        assert turns.waits == 0
    finally:
        turns.close()


async def test_a_taken_turn_is_waited_for_without_freezing_the_loop(tmp_path: Path) -> None:
    first = write_turns.WriteTurns(str(tmp_path / "x.db"))
    second = write_turns.WriteTurns(str(tmp_path / "x.db"))  # another open file: another writer
    try:
        await first.take(1.0)
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.005)

        ticking = asyncio.create_task(ticker())
        waiting = asyncio.create_task(second.take(5.0))
        await asyncio.sleep(0.2)
        assert not waiting.done() and not second.held
        released_at = time.monotonic()
        first.release()
        await waiting
        woken_after = time.monotonic() - released_at
        ticking.cancel()
        assert second.held and second.waits == 1
        assert ticks >= 20  # the loop ran all along (about 40 ticks in 0.2 s)
        assert woken_after < 0.1  # woken by the release, not by a poll (it is ~0.1 ms)
    finally:
        first.close()
        second.close()


async def test_a_writer_coming_back_queues_behind_the_one_waiting(tmp_path: Path) -> None:
    """A writer that lets go and wants another turn at once does not take the free lock in
    passing while another writer waits: the other one goes first."""
    first = write_turns.WriteTurns(str(tmp_path / "x.db"))
    second = write_turns.WriteTurns(str(tmp_path / "x.db"))
    order: list[str] = []
    try:
        await first.take(1.0)
        waiting = asyncio.create_task(second.take(5.0))
        await asyncio.sleep(0.1)  # second is queued in the kernel by now
        first.release()
        coming_back = asyncio.create_task(first.take(5.0))
        await asyncio.wait([waiting, coming_back], return_when=asyncio.FIRST_COMPLETED)
        order.append("second" if waiting.done() else "first")
        await waiting
        await asyncio.sleep(0.05)
        assert not coming_back.done()  # still waiting: second holds the turn
        second.release()
        await coming_back
        order.append("first")
        assert order == ["second", "first"]
        assert first.held and first.waits == 1
    finally:
        first.close()
        second.close()


async def test_a_free_turn_is_not_taken_in_passing_while_someone_is_queued(tmp_path: Path) -> None:
    """The rule behind the order above, without the race: with a writer marked as waiting
    (a shared lock on the queue file), a free turn is queued for, not taken at once."""
    import fcntl

    database = tmp_path / "x.db"
    turns = write_turns.WriteTurns(str(database))
    queued = os.open(f"{database}-writer-queue", os.O_RDWR)
    try:
        fcntl.flock(queued, fcntl.LOCK_SH)
        await asyncio.wait_for(turns.take(5.0), 5.0)  # the turn is free: the thread gets it
        assert turns.held and turns.waits == 1
        turns.release()
        fcntl.flock(queued, fcntl.LOCK_UN)
        await turns.take(5.0)
        assert turns.waits == 1  # nobody queued: taken at once
    finally:
        os.close(queued)
        turns.close()


async def test_a_wait_that_times_out_holds_nothing_and_the_turn_is_given_back_later(tmp_path: Path) -> None:
    database = tmp_path / "x.db"
    holder = _hold_in_another_process(database, 0.5)
    turns = write_turns.WriteTurns(str(database))
    other = write_turns.WriteTurns(str(database))
    try:
        with pytest.raises(TimeoutError):
            await turns.take(0.1)
        assert not turns.held
        holder.wait(timeout=10)
        # The thread got the turn once the holder exited and handed it straight back: a
        # third writer takes it without waiting for ever, and so does the one that gave up.
        await asyncio.wait_for(other.take(5.0), 5.0)
        other.release()
        await asyncio.wait_for(turns.take(5.0), 5.0)
        assert turns.held
    finally:
        holder.kill()
        turns.close()
        other.close()


async def test_the_turn_of_a_killed_process_passes_on(tmp_path: Path) -> None:
    """The kernel drops a process's locks however it ends: a writer killed in the middle of
    its turn never blocks the others."""
    database = tmp_path / "x.db"
    holder = _hold_in_another_process(database, 60)
    turns = write_turns.WriteTurns(str(database))
    try:
        waiting = asyncio.create_task(turns.take(10.0))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        os.kill(holder.pid, signal.SIGKILL)
        await asyncio.wait_for(waiting, 10.0)
        assert turns.held
    finally:
        holder.kill()
        holder.wait(timeout=10)
        turns.close()


# ------------------------------------------------------------------ through the engine
@pytest.fixture
async def two_databases(tmp_path: Path) -> Any:
    """Two `Database`s on one file: two writers, as two update workers have."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}"
    first = create_database(url)
    await upgrade_database(first)
    second = create_database(url)
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


async def _driver(db: Database) -> Any:
    async with db.write_engine.connect() as connection:
        raw = await connection.get_raw_connection()
        return raw.driver_connection


async def test_the_write_engine_takes_turns_and_reads_do_not(two_databases: tuple[Database, Database]) -> None:
    first, _ = two_databases
    writer = await _driver(first)
    assert writer.turns is not None and not writer.turns.held
    async with first.read_engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert raw.driver_connection.turns is None


async def test_commit_and_rollback_end_the_turn(two_databases: tuple[Database, Database]) -> None:
    first, _ = two_databases
    writer, _reader = uow_factories(first)
    async with writer() as uow:
        await uow.settings.put_if_absent("kept", "1")
        driver = (await uow.session.connection()).sync_connection.connection.driver_connection
        assert driver.turns.held
        await uow.commit()
    assert not driver.turns.held
    with pytest.raises(RuntimeError):
        async with writer() as uow:
            await uow.settings.put_if_absent("dropped", "1")
            assert driver.turns.held
            raise RuntimeError("the service failed half-way")
    assert not driver.turns.held
    async with writer() as uow:
        assert await uow.settings.get("kept") == "1"
        assert await uow.settings.get("dropped") is None


async def test_two_writers_interleave_and_lose_nothing(two_databases: tuple[Database, Database]) -> None:
    """Many small transactions from two writers at once, as with two update workers: every
    one commits, and the writer that met the turn taken waited for it (not SQLite's lock)."""
    first, second = two_databases
    factories = [uow_factories(first)[0], uow_factories(second)[0]]

    async def write(n: int) -> None:
        async with factories[n % 2]() as uow:
            await uow.settings.put_if_absent(f"k{n}", str(n))
            await asyncio.sleep(0)  # hold the turn across a loop iteration, so the other waits
            await uow.commit()

    await asyncio.gather(*(write(n) for n in range(200)))
    async with first.read_sessions() as session:
        count = (await session.execute(select(func.count()).select_from(AppSetting).where(AppSetting.key.like("k%")))).scalar_one()
    assert count == 200
    waits = (await _driver(first)).turns.waits + (await _driver(second)).turns.waits
    assert waits > 0
