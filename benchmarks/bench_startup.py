"""Start-up and shutdown time of the real `loyaltybot run` process.

The Bot API emulator runs in this process; `loyaltybot run` (the venv's console script)
is started as a subprocess pointed at it. Measured from the moment the process is
spawned to the first getUpdates call the emulator receives: once on a fresh database
(migrations run) and once on the existing one; then SIGTERM -> clean exit (code 0).
Repeated --rounds times (default 3); min and median are printed.

    python benchmarks/bench_startup.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from loyaltybot.sandbox import BotApiEmulator

BOT_TOKEN = "123456:BENCH-token"
BOT_USERNAME = "loyalty_bench_bot"
TARGET_STARTUP_S = 2.0
LIMIT_S = 60.0


def console_script() -> str:
    path = Path(sys.executable).with_name("loyaltybot")
    if not path.exists():
        raise SystemExit(f"{path} not found: install the package into this interpreter's environment")
    return str(path)


async def one_run(emu: BotApiEmulator, workdir: Path, database: Path, label: str) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "DATABASE_", "WEBHOOK_", "REDIS_"))}
    env.update(
        BOT_TOKEN=emu.bot_token,
        BOT_API_URL=emu.base_url,
        DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        PROGRAM_FILE=str(workdir / "program.toml"),  # absent: built-in defaults
        PYTHONUNBUFFERED="1",
    )
    stderr_path = workdir / f"{label}.stderr"
    polls_before = len(emu.calls_to("getUpdates"))
    with open(stderr_path, "wb") as stderr:
        began = time.perf_counter()
        # cwd is the temp dir so no stray .env or program.toml is picked up.
        proc = await asyncio.create_subprocess_exec(
            console_script(), "run", cwd=workdir, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=stderr
        )
        try:
            while len(emu.calls_to("getUpdates")) <= polls_before:
                if proc.returncode is not None:
                    raise RuntimeError(f"loyaltybot run exited with {proc.returncode}: {stderr_path.read_text()[-2000:]}")
                if time.perf_counter() - began > LIMIT_S:
                    raise TimeoutError(f"no getUpdates within {LIMIT_S} s: {stderr_path.read_text()[-2000:]}")
                await asyncio.sleep(0.002)
            startup = time.perf_counter() - began
            await asyncio.sleep(0.5)  # let the start-up background work (command menus) settle
            stop_began = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), LIMIT_S)
            shutdown = time.perf_counter() - stop_began
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    log = stderr_path.read_text(errors="replace")
    if code != 0:
        raise RuntimeError(f"loyaltybot run exited with {code} after SIGTERM: {log[-2000:]}")
    if "Traceback" in log:
        raise RuntimeError(f"a traceback was logged: {log[-2000:]}")
    match = re.search(r"polling started in ([0-9.]+) s", log)
    internal = float(match.group(1)) if match else float("nan")
    return {"startup": startup, "internal": internal, "import": startup - internal, "shutdown": shutdown}


def fmt(values: list[float]) -> str:
    return f"min {min(values):6.3f} s   median {statistics.median(values):6.3f} s   " + \
        "(" + ", ".join(f"{v:.3f}" for v in values) + ")"


async def main(rounds: int) -> int:
    emu = BotApiEmulator(bot_token=BOT_TOKEN, bot_username=BOT_USERNAME)
    await emu.start()
    results: dict[str, list[dict[str, float]]] = {"fresh": [], "existing": []}
    try:
        for round_no in range(rounds):
            workdir = Path(tempfile.mkdtemp(prefix="loyaltybot-startup-"))
            database = workdir / "bench.db"
            results["fresh"].append(await one_run(emu, workdir, database, f"fresh{round_no}"))
            results["existing"].append(await one_run(emu, workdir, database, f"existing{round_no}"))
            shutil.rmtree(workdir, ignore_errors=True)
    finally:
        await emu.stop()

    print(f"loyaltybot start-up benchmark  ({os.cpu_count()} CPUs, Python {sys.version.split()[0]}, SQLite, "
          f"{rounds} rounds)")
    worst_median = 0.0
    for kind, runs in results.items():
        startup = [r["startup"] for r in runs]
        worst_median = max(worst_median, statistics.median(startup))
        print(f"  {kind} database")
        print(f"    spawn -> first getUpdates   {fmt(startup)}")
        print(f"      of which before run()     {fmt([r['import'] for r in runs])}  (interpreter, imports, settings)")
        print(f"      of which in run()         {fmt([r['internal'] for r in runs])}  ('polling started in' log line)")
        print(f"    SIGTERM -> exit code 0      {fmt([r['shutdown'] for r in runs])}")
    verdict = "OK" if worst_median <= TARGET_STARTUP_S else "MISSED"
    print(f"  target: start-up to first poll <= {TARGET_STARTUP_S:.0f} s (median)  [{verdict}]")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    sys.exit(asyncio.run(main(parser.parse_args().rounds)))
