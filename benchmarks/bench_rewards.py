"""/rewards and /card latency for a customer with a long history (10,000 ledger rows).

The real app (production factory `build_app` + `serve`, long polling) talks to the
project's Bot API emulator over HTTP with the real database, in this process. Set-up, not
timed: one customer with N ledger rows (purchases over the last 11 months, each with its
points lot, some spent by redemptions), a catalogue of 30 rewards. Then the customer sends
`/rewards` and `/card` R times each, one at a time, and we time each from the send until
the bot's reply is visible in the chat (after 5 untimed warm-up rounds). The service calls alone are timed too, and (for
information, no target) a redemption reserved and cancelled for that customer.

Target (issue 4): p99 <= 50 ms for both, which needs index range reads only (no full scans,
no per-row work in Python over the history).

    python benchmarks/bench_rewards.py [--rows N] [--repeat R] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, update

from loyaltybot.app import build_app, serve
from loyaltybot.config import PROJECT_ROOT, Settings
from loyaltybot.db.models import Customer, LedgerEntry, PointLot
from loyaltybot.domain.lots import add_months
from loyaltybot.sandbox import BotApiEmulator

BOT_TOKEN = "123456:BENCH-token"
BOT_USERNAME = "loyalty_bench_bot"
CUSTOMER_ID = 7_000_001
OWNER_ID = 7_000_000
TARGET_P99_MS = 50.0


def percentile(sorted_values: list[float], q: float) -> float:
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


def report(label: str, samples: list[float]) -> float:
    ordered = sorted(samples)
    p50, p99 = percentile(ordered, 50), percentile(ordered, 99)
    print(f"{label:<28} n={len(samples):<5} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   max {ordered[-1]:6.1f} ms")
    return p99


async def seed(app, rows: int) -> None:  # type: ignore[no-untyped-def]
    services = app.services
    await services.customers.register(
        telegram_id=CUSTOMER_ID, contact_user_id=CUSTOMER_ID, phone="+60123456789", first_name="Bench",
        last_name=None, language="en", consent_version="bench", consent_at=datetime.now(UTC),
    )
    now = datetime.now(UTC)
    start = now - timedelta(days=330)
    step = (now - timedelta(minutes=5) - start) / rows
    async with app.core.db.write_sessions() as session:
        customer_id = (await session.execute(select(Customer.id).where(Customer.telegram_id == CUSTOMER_ID))).scalar_one()
        balance = 0
        entries, lots = [], []
        for n in range(rows):
            at = start + step * n
            points = 1 + n % 9
            balance += points
            entries.append(
                {"id": n + 1, "customer_id": customer_id, "delta": points, "kind": "purchase",
                 "idempotency_key": f"bench:{n}", "spend_sen": points * 100, "stamps_delta": 0,
                 "balance_after": balance, "created_at": at, "expires_at": add_months(at, 12)}
            )
            lots.append(
                {"customer_id": customer_id, "ledger_id": n + 1, "points": points, "remaining": points,
                 "earned_at": at, "expires_at": add_months(at, 12)}
            )
        for chunk in range(0, rows, 2000):
            await session.execute(insert(LedgerEntry), entries[chunk:chunk + 2000])
            await session.execute(insert(PointLot), lots[chunk:chunk + 2000])
        await session.execute(update(Customer).where(Customer.id == customer_id).values(balance=balance))
        await session.commit()
    if app.core.db.write_engine.dialect.name == "postgresql":
        async with app.core.db.write_sessions() as session:
            from sqlalchemy import text

            await session.execute(text("SELECT setval(pg_get_serial_sequence('ledger', 'id'), (SELECT max(id) FROM ledger))"))
            await session.commit()
    for n in range(30):
        await services.rewards.create(
            OWNER_ID,
            {"name_en": f"Reward {n}", "name_ms": f"Ganjaran {n}", "cost": 50 * (n + 1), "stock": 100 if n % 3 else None,
             "min_tier": "gold" if n % 10 == 9 else None, "description_en": "Something nice"},
        )
    # Some spending: redemptions drain the oldest lots (and add ledger rows).
    for n in range(20):
        reserved = await services.rewards.redeem(CUSTOMER_ID, (await services.rewards.list_all(OWNER_ID))[n % 5].id)
        if n % 2:
            await services.rewards.cancel(CUSTOMER_ID, reserved.redemption_id)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        emu = BotApiEmulator(bot_token=BOT_TOKEN, bot_username=BOT_USERNAME)
        await emu.start()
        settings = Settings(
            _env_file=None, bot_token=BOT_TOKEN, bot_api_url=emu.base_url, database_url=url,  # type: ignore[call-arg]
            owner_ids=str(OWNER_ID), program_file=Path(tmp) / "program.toml", locales_dir=PROJECT_ROOT / "locales",
            polling_timeout=1,
        )
        app = await build_app(settings)
        stop = asyncio.Event()
        task = asyncio.create_task(serve(app, stop))
        try:
            started = time.perf_counter()
            await seed(app, args.rows)
            async with app.core.db.read_sessions() as session:
                from sqlalchemy import func

                count = (await session.execute(select(func.count()).select_from(LedgerEntry))).scalar_one()
            print(f"database: {app.core.db.write_engine.dialect.name}; customer with {count} ledger rows "
                  f"(seeded in {time.perf_counter() - started:.1f} s)")

            services = app.services
            timings: dict[str, list[float]] = {"service catalogue()": [], "service card()": []}
            for _ in range(5):  # warm-up, not timed
                await services.rewards.catalogue(CUSTOMER_ID)
                await services.customers.card(CUSTOMER_ID)
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                await services.rewards.catalogue(CUSTOMER_ID)
                timings["service catalogue()"].append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                await services.customers.card(CUSTOMER_ID)
                timings["service card()"].append((time.perf_counter() - t0) * 1000)

            reward_id = (await services.rewards.list_all(OWNER_ID))[0].id
            for label in ("service redeem()", "service cancel()"):
                timings[label] = []
            for _ in range(args.repeat // 4):
                t0 = time.perf_counter()
                reserved = await services.rewards.redeem(CUSTOMER_ID, reward_id)
                timings["service redeem()"].append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                await services.rewards.cancel(CUSTOMER_ID, reserved.redemption_id)
                timings["service cancel()"].append((time.perf_counter() - t0) * 1000)

            user = emu.user(CUSTOMER_ID, "Bench", phone="+60123456789")
            await user.send("/card")  # the first /card uploads the QR image; later ones reuse its file id
            await user.wait_for_message(timeout=10)
            for command in ("/rewards", "/card"):
                for _ in range(5):  # warm-up, not timed: first-use statement compilation and caches
                    await user.send(command)
                    await user.wait_for_message(timeout=10)
                samples = timings.setdefault(f"{command} end to end", [])
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    await user.send(command)
                    await user.wait_for_message(timeout=10)
                    samples.append((time.perf_counter() - t0) * 1000)
            worst = max(report(label, samples) for label, samples in timings.items() if "redeem" not in label
                        and "cancel" not in label)
            for label in ("service redeem()", "service cancel()"):
                report(label + " (info)", timings[label])
            print(f"target p99 <= {TARGET_P99_MS:.0f} ms: {'met' if worst <= TARGET_P99_MS else 'NOT met'}")
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
            await app.close()
            await emu.stop()


if __name__ == "__main__":
    asyncio.run(main())
