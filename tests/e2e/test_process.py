"""The real process: `loyaltybot run` and the CLI as an operator uses them, and webhook mode."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from loyaltybot.db.models import Customer
from loyaltybot.sandbox import BotApiEmulator

from .conftest import RunningBot, assert_secret_required, free_port, make_settings, message_update, register

LOYALTYBOT = str(Path(sys.executable).with_name("loyaltybot"))
DEV_PY = Path(__file__).resolve().parents[2] / "dev.py"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a fresh shell: no configuration leaking in from the test runner."""
    keep = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "PYTHONPATH", "SYSTEMROOT"}}
    keep.update(extra)
    return keep


@contextlib.asynccontextmanager
async def started(*args: str, cwd: Path | None = None, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """A process with its output captured; killed on the way out if still running."""
    process = await asyncio.create_subprocess_exec(
        *args, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def stop(process: asyncio.subprocess.Process, sig: signal.Signals = signal.SIGTERM, timeout: float = 20) -> str:
    """Signal the process, wait for it to exit; its standard error."""
    process.send_signal(sig)
    _, stderr = await asyncio.wait_for(process.communicate(), timeout)
    return stderr.decode()


async def run_cli(*args: str, cwd: Path, env: dict[str, str]) -> tuple[int, str, str]:
    async with started(LOYALTYBOT, *args, cwd=cwd, env=env) as process:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def test_run_without_bot_token_says_what_to_do(tmp_path: Path) -> None:
    code, stdout, stderr = await run_cli("run", cwd=tmp_path, env=clean_env())
    assert code == 2
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "BOT_TOKEN" in lines[0] and "@BotFather" in lines[0]
    assert "Traceback" not in stderr
    assert not (tmp_path / "loyaltybot.db").exists()  # nothing created


async def test_bad_program_file_stops_start_up_with_key_and_reason(tmp_path: Path, emulator: BotApiEmulator) -> None:
    (tmp_path / "program.toml").write_text("[stamps]\ncard_size = 0\n")
    code, _, stderr = await run_cli(
        "run", cwd=tmp_path, env=clean_env(BOT_TOKEN=emulator.bot_token, BOT_API_URL=emulator.base_url)
    )
    assert code == 2
    assert "stamps.card_size" in stderr and "Traceback" not in stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_run_polls_on_sqlite_by_default_and_stops_cleanly(
    tmp_path: Path, emulator: BotApiEmulator, sig: signal.Signals
) -> None:
    env = clean_env(BOT_TOKEN=emulator.bot_token, BOT_API_URL=emulator.base_url)
    async with started(LOYALTYBOT, "run", cwd=tmp_path, env=env) as process:
        await emulator.wait_for_call("getUpdates", timeout=20)
        alice = emulator.user(1001, "Alice", phone="+60123456789")
        await register(alice)
        assert (tmp_path / "loyaltybot.db").exists()  # the default database, migrated automatically
        log = await stop(process, sig)
    assert process.returncode == 0, log
    assert "stopped" in log
    assert "Traceback" not in log
    assert "+60123456789" not in log and "Alice" not in log  # no personal data in logs
    # Updates are fetched first; the command menus (and the scheduler's catch-up) follow.
    methods = [call.method for call in emulator.calls]
    assert methods.count("getMe") == 1  # start_polling reuses the bot's own getMe
    assert "setMyCommands" in methods
    assert methods.index("getUpdates") < methods.index("setMyCommands")


@pytest.mark.skipif(os.name != "posix", reason="dev.py replaces itself with the bot on POSIX only")
async def test_readme_run_command_stops_cleanly_on_sigterm(tmp_path: Path, emulator: BotApiEmulator) -> None:
    """`python3 dev.py run` becomes the bot: SIGTERM to the PID that was started (what a service
    manager sends) stops the bot cleanly instead of leaving it running without its parent."""
    database = tmp_path / "shop.db"
    env = clean_env(BOT_TOKEN=emulator.bot_token, BOT_API_URL=emulator.base_url, DATABASE_URL=f"sqlite:///{database}")
    async with started("python3", str(DEV_PY), "run", env=env) as process:
        await emulator.wait_for_call("getUpdates", timeout=60)
        log = await stop(process)
    assert process.returncode == 0, log
    assert "stopped" in log
    polls = len(emulator.calls_to("getUpdates"))
    await asyncio.sleep(1.5)
    assert len(emulator.calls_to("getUpdates")) == polls  # nothing is left polling
    assert database.exists()


async def test_staff_commands_from_the_shell(tmp_path: Path) -> None:
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'shop.db'}", OWNER_IDS="9000")
    code, out, _ = await run_cli("staff", "add", "7001", cwd=tmp_path, env=env)
    assert code == 0 and "7001 is now staff" in out
    code, out, _ = await run_cli("staff", "list", cwd=tmp_path, env=env)
    assert "9000\towner" in out and "7001\tstaff" in out
    code, out, _ = await run_cli("staff", "remove", "7001", cwd=tmp_path, env=env)
    assert code == 0
    code, out, _ = await run_cli("staff", "list", cwd=tmp_path, env=env)
    assert "7001" not in out
    code, _, err = await run_cli("staff", "remove", "7001", cwd=tmp_path, env=env)
    assert code == 1 and "not staff" in err
    code, out, _ = await run_cli("backup", str(tmp_path / "copy.db"), cwd=tmp_path, env=env)
    assert code == 0 and (tmp_path / "copy.db").stat().st_size > 0
    for args in (["--help"], ["staff", "--help"], ["run", "--help"], ["db", "upgrade", "--help"]):
        code, out, _ = await run_cli(*args, cwd=tmp_path, env=env)
        assert code == 0 and "usage:" in out


async def test_webhook_mode_serves_updates_and_rejects_a_wrong_secret(
    database_url: str, emulator: BotApiEmulator, tmp_path: Path
) -> None:
    port = free_port()
    settings = make_settings(
        database_url,
        emulator,
        tmp_path,
        webhook_url=f"http://127.0.0.1:{port}/telegram/webhook",
        webhook_secret="s3cret-token",
        webhook_listen_host="127.0.0.1",
        webhook_listen_port=port,
    )
    running = RunningBot(settings, emulator)
    await running.start()
    try:
        assert emulator.webhook is not None
        assert emulator.webhook["url"] == f"http://127.0.0.1:{port}/telegram/webhook"
        alice = emulator.user(1001, "Alice", phone="+60123456789")
        await register(alice)
        await alice.send("/card")
        card = await alice.wait_for_message()
        assert card.photo_bytes
        assert not emulator.calls_to("getUpdates")

        await assert_secret_required(
            f"http://127.0.0.1:{port}/telegram/webhook", message_update(999_999, 1001, "/privacy", "Alice")
        )
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
        await asyncio.sleep(0.2)
        assert not alice.pending  # the forged updates did nothing
        assert await running.count(Customer) == 1
        customer = await running.scalar(select(Customer))
        assert customer.phone == "+60123456789"
    finally:
        await running.stop()
