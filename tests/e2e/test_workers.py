"""WORKERS=2: the run process fetches updates and worker processes handle them (real processes,
real database, the emulator over HTTP)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
from sqlalchemy import select

from loyaltybot.db.models import ConversationState, Customer
from loyaltybot.sandbox import BotApiEmulator
from loyaltybot.workers import shard_of

from .conftest import RunningBot, assert_secret_required, free_port, make_settings, message_update, register
from .test_process import LOYALTYBOT, clean_env, started, stop

ALICE, BOB = 1001, 1002  # odd and even: one per worker of two


async def wait_until(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.05)


async def test_each_worker_serves_its_users_and_all_stop_with_the_bot(
    database_url: str, emulator: BotApiEmulator, tmp_path: Path
) -> None:
    assert shard_of(message_update(1, ALICE, "/start"), 2) != shard_of(message_update(2, BOB, "/start"), 2)
    running = RunningBot(make_settings(database_url, emulator, tmp_path, workers=2), emulator)
    app = await running.start()
    try:
        assert app.workers is not None and app.workers.size == 2
        alice = emulator.user(ALICE, "Alice", phone="+60123450001")
        bob = emulator.user(BOB, "Bob", phone="+60123450002", language_code="ms")
        await asyncio.gather(register(alice), register(bob, language="Bahasa Melayu"))
        for user in (alice, bob):
            await user.send("/card")
            card = await user.wait_for_message()
            assert user.decode_qr(card).startswith("https://t.me/loyalty_test_bot?start=")
        assert await running.count(Customer) == 2
        assert {c.language for c in (await running_customers(running))} == {"en", "ms"}
        assert await running.settled_count(ConversationState, expected=0) == 0
        processes = list(app.workers.processes)
    finally:
        await running.stop()
    assert all(process is not None and process.returncode == 0 for process in processes)


async def running_customers(running: RunningBot) -> list[Customer]:
    assert running.app is not None
    async with running.app.core.db.read_sessions() as session:
        return list((await session.execute(select(Customer))).scalars())


async def test_a_worker_that_dies_is_started_again(
    database_url: str, emulator: BotApiEmulator, tmp_path: Path
) -> None:
    running = RunningBot(make_settings(database_url, emulator, tmp_path, workers=2), emulator)
    app = await running.start()
    try:
        assert app.workers is not None
        alice = emulator.user(ALICE, "Alice", phone="+60123450001")
        await register(alice)
        shard = shard_of(message_update(1, ALICE, "/card"), 2)
        victim = app.workers.processes[shard]
        assert victim is not None
        victim.send_signal(signal.SIGKILL)
        await wait_until(lambda: app.workers.processes[shard] is not victim)  # type: ignore[union-attr]
        await alice.send("/card")  # handled by the new worker, which loads her from the database
        card = await alice.wait_for_message(timeout=30)
        assert card.photo_bytes
    finally:
        await running.stop()


async def test_webhook_with_workers_forwards_updates_and_rejects_a_wrong_secret(
    database_url: str, emulator: BotApiEmulator, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/webhook"
    settings = make_settings(
        database_url,
        emulator,
        tmp_path,
        workers=2,
        webhook_url=url,
        webhook_secret="s3cret-token",
        webhook_listen_host="127.0.0.1",
        webhook_listen_port=port,
    )
    running = RunningBot(settings, emulator)
    await running.start()
    try:
        alice = emulator.user(ALICE, "Alice", phone="+60123450001")
        bob = emulator.user(BOB, "Bob", phone="+60123450002")
        await asyncio.gather(register(alice), register(bob))
        assert not emulator.calls_to("getUpdates")
        await assert_secret_required(url, message_update(999_999, ALICE, "/privacy"))
        async with aiohttp.ClientSession() as http:
            headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
            async with http.post(url, data=b"not json", headers=headers) as response:
                assert response.status == 400
        await asyncio.sleep(0.3)
        assert not alice.pending  # nothing reached a worker
        assert await running.count(Customer) == 2
    finally:
        await running.stop()


async def test_run_with_workers_stops_every_process_on_sigterm(tmp_path: Path, emulator: BotApiEmulator) -> None:
    env = clean_env(BOT_TOKEN=emulator.bot_token, BOT_API_URL=emulator.base_url, WORKERS="2")
    async with started(LOYALTYBOT, "run", cwd=tmp_path, env=env) as process:
        await emulator.wait_for_call("getUpdates", timeout=30)
        alice = emulator.user(ALICE, "Alice", phone="+60123450001")
        await register(alice)
        children = child_pids(process.pid)
        assert len(children) == 2
        log = await stop(process, timeout=30)
    assert process.returncode == 0, log
    assert "Traceback" not in log and "+60123450001" not in log
    assert "2 update workers started" in log
    for pid in children:
        assert not pid_alive(pid), f"update worker {pid} is still running"


def child_pids(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_bytes().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_bytes().rsplit(b")", 1)[1].split()[0] != b"Z"


if sys.platform != "linux":  # /proc
    import pytest

    pytestmark = pytest.mark.skip(reason="reads /proc")
