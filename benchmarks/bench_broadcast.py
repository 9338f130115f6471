"""Broadcast pipeline: enqueue speed, delivery rate at Telegram's limit, the sender's memory.

1. Enqueue: N customers (default 100,000) on SQLite, then time `broadcasts.send_now`, which
   queues every recipient with one INSERT … SELECT (target ≤ 10 s).
2. Delivery: the real app (`build_app` + `serve`, the production factory) sends a broadcast to
   R customers (default 10,000) through the project's Bot API emulator with its Telegram limits
   on (30/s overall, 1/s per chat). Prints the average delivery rate from the first to the last
   message (target ≥ 28 msg/s), the 429s the emulator returned against the sender's pauses
   (target: no more 429s than pauses), and the memory the app's own code holds over time
   (tracemalloc, loyaltybot's modules without the emulator: flat means streaming in batches).

    python benchmarks/bench_broadcast.py [--enqueue N] [--recipients R] [--database-url URL]

The emulator shares the process and the event loop with the bot, as in the e2e tests.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

from loyaltybot.app import build_app, build_core, serve
from loyaltybot.config import PROJECT_ROOT, Settings
from loyaltybot.db.engine import Database
from loyaltybot.db.models import Customer, Delivery
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


def app_memory(snapshot: tracemalloc.Snapshot) -> int:
    own = snapshot.filter_traces(
        [
            tracemalloc.Filter(True, "*loyaltybot/delivery/*"),
            tracemalloc.Filter(True, "*loyaltybot/services/*"),
            tracemalloc.Filter(True, "*loyaltybot/db/*"),
            tracemalloc.Filter(True, "*loyaltybot/bot/*"),
        ]
    )
    return sum(stat.size for stat in own.statistics("filename"))


async def bench_delivery(recipients: int, tmp: Path, database_url: str | None) -> None:
    emulator = BotApiEmulator(bot_token=BOT_TOKEN, bot_username=BOT_USERNAME)
    await emulator.start()
    url = database_url or f"sqlite+aiosqlite:///{tmp / 'delivery.db'}"
    app = await build_app(settings(url, emulator, tmp))
    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, stop))
    try:
        ids = await seed(app.core.db, recipients)
        for tid in ids:
            emulator.user(tid)
            emulator._chats[tid].started = True  # they have talked to the bot before
        emulator.enable_rate_limits()
        tracemalloc.start()
        samples: list[tuple[float, int]] = []
        started = time.perf_counter()
        summary = await app.services.broadcasts.send_now(OWNER_ID, Draft(text_en="<b>Promo</b> today", audience=Audience()))
        next_sample = started
        while True:
            async with app.core.db.read_sessions() as session:
                left = (
                    await session.execute(
                        select(func.count()).select_from(Delivery).where(Delivery.status.in_(("pending", "sending")))
                    )
                ).scalar_one()
            now = time.perf_counter()
            if now >= next_sample:
                samples.append((now - started, app_memory(tracemalloc.take_snapshot())))
                next_sample = now + 30
            if left == 0:
                break
            await asyncio.sleep(1)
        tracemalloc.stop()
        sends = [c for c in emulator.calls_to("sendMessage") if int(c.params.get("chat_id", 0)) >= FIRST_ID]
        ok = [c for c in sends if c.status == 200]
        span = ok[-1].time - ok[0].time if len(ok) > 1 else 0.0
        rate = (len(ok) - 1) / span if span else 0.0
        tally = (await app.services.broadcasts.get(OWNER_ID, summary.id)).tally
        print(f"DELIVERY {len(ok):,} of {recipients:,} delivered in {span:.1f} s: {rate:.2f} msg/s "
              f"(limit 30/s, target ≥ 28); report sent={tally.sent} failed={tally.failed} "
              f"blocked={tally.blocked} unknown={tally.unknown}")
        print(f"429 returned by the emulator: {emulator.stats.too_many_requests}; "
              f"sender pauses: {app.sender.limiter.pauses} (target: 429s ≤ pauses)")
        duplicates = len(ok) - len({c.params.get("chat_id") for c in ok})
        print(f"duplicate deliveries: {duplicates}")
        print("MEMORY held by loyaltybot's own modules (tracemalloc), over time:")
        for at, size in samples:
            print(f"  t={at:6.0f} s  {size / 1024:8.1f} KiB")
    finally:
        stop.set()
        await asyncio.wait_for(server, 30)
        await app.close()
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
