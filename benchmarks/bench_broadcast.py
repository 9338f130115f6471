"""Broadcast pipeline: enqueue speed, delivery rate at Telegram's limit, the sender's memory.

1. Enqueue: N customers (default 100,000) on SQLite, then time `broadcasts.send_now`, which
   queues every recipient with one INSERT … SELECT (target ≤ 10 s).
2. Delivery: the real app (`build_app` + `serve`, the production factory) sends a broadcast to
   R customers (default 10,000) through the project's Bot API emulator with its Telegram limits
   on (30/s overall, 1/s per chat). Prints the average delivery rate from the first to the last
   message (target ≥ 28 msg/s), the 429s the emulator returned against the sender's pauses
   (the sender pauses on every 429; target: no more 429s than pauses), and the bot process's
   memory (RSS) over time: flat means it streams in batches.

    python benchmarks/bench_broadcast.py [--enqueue N] [--recipients R] [--database-url URL]

The bot runs as its own process (`python -m loyaltybot run`); the emulator runs in this one.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from loyaltybot.app import build_core
from loyaltybot.config import PROJECT_ROOT, Settings
from loyaltybot.db.engine import Database
from loyaltybot.db.models import Customer
from loyaltybot.domain.outbox import Audience
from loyaltybot.sandbox import BotApiEmulator
from loyaltybot.services.broadcasts import Draft

BOT_TOKEN = "123456:BENCH-token"
BOT_USERNAME = "loyalty_bench_bot"
OWNER_ID = 9000
FIRST_ID = 7_000_000


async def seed(db: Database, count: int) -> list[int]:
    now = datetime.now(UTC)
    ids = list(range(FIRST_ID, FIRST_ID + count))
    async with db.write_sessions() as session:
        for start in range(0, count, 5000):
            rows = [
                {
                    "telegram_id": tid,
                    "phone": f"+6011{tid:08d}",
                    "first_name": f"C{tid}",
                    "language": "ms" if tid % 3 == 0 else "en",
                    "marketing_opt_in": True,
                    "status": "active",
                    "balance": tid % 700,
                    "stamps": 0,
                    "member_key": f"k{tid}",
                    "joined_at": now - timedelta(days=tid % 500),
                }
                for tid in ids[start : start + 5000]
            ]
            await session.execute(insert(Customer), rows)
        await session.commit()
    return ids


def settings(database_url: str, emulator: BotApiEmulator | None, tmp: Path) -> Settings:
    values: dict[str, Any] = {
        "bot_token": BOT_TOKEN,
        "database_url": database_url,
        "owner_ids": str(OWNER_ID),
        "program_file": tmp / "program.toml",
        "locales_dir": PROJECT_ROOT / "locales",
        "polling_timeout": 2,
    }
    if emulator is not None:
        values["bot_api_url"] = emulator.base_url
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def bench_enqueue(count: int, tmp: Path, database_url: str | None) -> None:
    url = database_url or f"sqlite+aiosqlite:///{tmp / 'enqueue.db'}"
    core = await build_core(settings(url, None, tmp))
    try:
        started = time.perf_counter()
        await seed(core.db, count)
        print(f"seeded {count:,} customers in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        summary = await core.services.broadcasts.send_now(OWNER_ID, Draft(text_en="Hello", audience=Audience()))
        elapsed = time.perf_counter() - started
        print(f"ENQUEUE {summary.tally.total:,} recipients: {elapsed:.2f} s (target ≤ 10 s) "
              f"on {core.db.write_engine.dialect.name}")
        started = time.perf_counter()
        count_balance = await core.services.broadcasts.count(OWNER_ID, Audience("balance", 350))
        print(f"count of a segment (balance ≥ 350: {count_balance:,}): {(time.perf_counter() - started) * 1000:.0f} ms")
    finally:
        await core.close()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def bench_delivery(recipients: int, tmp: Path, database_url: str | None) -> None:
    """The bot runs as its own process (`python -m loyaltybot run`), as in production, so its
    memory (RSS) is measured alone; the emulator stays in this process."""
    emulator = BotApiEmulator(bot_token=BOT_TOKEN, bot_username=BOT_USERNAME)
    await emulator.start()
    url = database_url or f"sqlite+aiosqlite:///{tmp / 'delivery.db'}"
    core = await build_core(settings(url, emulator, tmp))
    child: subprocess.Popen[bytes] | None = None
    try:
        ids = await seed(core.db, recipients)
        for tid in ids:
            emulator.user(tid)
            emulator._chats[tid].started = True  # they have talked to the bot before
        emulator.enable_rate_limits()
        summary = await core.services.broadcasts.send_now(
            OWNER_ID, Draft(text_en="<b>Promo</b> today", audience=Audience())
        )
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
            "BOT_TOKEN": BOT_TOKEN,
            "BOT_API_URL": emulator.base_url,
            "DATABASE_URL": url,
            "OWNER_IDS": str(OWNER_ID),
            "PROGRAM_FILE": str(tmp / "program.toml"),
            "POLLING_TIMEOUT": "2",
            "LOG_LEVEL": "WARNING",
        }
        log_path = tmp / "bot.log"
        child = subprocess.Popen(  # noqa: ASYNC220 - starts at once; the bot runs beside us
            [sys.executable, "-m", "loyaltybot", "run"], env=env, cwd=tmp,
            stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
        )
        samples: list[tuple[float, int, int]] = []
        started = time.perf_counter()
        next_sample = started
        while True:
            tally = (await core.services.broadcasts.get(OWNER_ID, summary.id)).tally
            now = time.perf_counter()
            if now >= next_sample:
                samples.append((now - started, tally.sent, rss_kib(child.pid)))
                next_sample = now + 30
            if tally.finished:
                break
            if child.poll() is not None:
                raise RuntimeError("the bot process stopped")
            await asyncio.sleep(1)
        samples.append((time.perf_counter() - started, tally.sent, rss_kib(child.pid)))
        sends = [c for c in emulator.calls_to("sendMessage") if int(c.params.get("chat_id", 0)) >= FIRST_ID]
        ok = [c for c in sends if c.status == 200]
        span = ok[-1].time - ok[0].time if len(ok) > 1 else 0.0
        rate = (len(ok) - 1) / span if span else 0.0
        print(f"DELIVERY {len(ok):,} of {recipients:,} delivered in {span:.1f} s: {rate:.2f} msg/s "
              f"(limit 30/s, target ≥ 28); report sent={tally.sent} failed={tally.failed} "
              f"blocked={tally.blocked} unknown={tally.unknown}")
        pauses = log_path.read_text(errors="replace").count("pausing all sends")
        print(f"429 returned by the emulator: {emulator.stats.too_many_requests}; sender pauses: {pauses} "
              f"(target: no more 429s than pauses)")
        duplicates = len(ok) - len({c.params.get("chat_id") for c in ok})
        print(f"duplicate deliveries: {duplicates}")
        print("MEMORY of the bot process (RSS) while sending:")
        for at, sent, rss in samples:
            print(f"  t={at:6.0f} s  sent={sent:6d}  RSS {rss / 1024:7.1f} MiB")
    finally:
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            child.wait(30)
        await core.close()
        await emulator.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enqueue", type=int, default=100_000, help="customers to enqueue (0 to skip)")
    parser.add_argument("--recipients", type=int, default=10_000, help="recipients to deliver to (0 to skip)")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        if args.enqueue:
            await bench_enqueue(args.enqueue, Path(tmp), args.database_url)
        if args.recipients:
            await bench_delivery(args.recipients, Path(tmp), args.database_url)


if __name__ == "__main__":
    asyncio.run(main())
