"""Automatic offers: a birthday run and a festival run over N customers (default 100,000) on SQLite.

Each run issues one voucher and queues one delivery per customer with two INSERT … SELECT
statements (target ≤ 10 s per run). The worst case is measured: every customer has their
birthday on the day, and every customer is due the festival offer.

    python benchmarks/bench_offers.py [--customers N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select

from loyaltybot.app import build_core
from loyaltybot.config import PROJECT_ROOT, Settings
from loyaltybot.db.engine import Database
from loyaltybot.db.models import Customer, Delivery, Voucher

KL = ZoneInfo("Asia/Kuala_Lumpur")
FIRST_ID = 8_000_000
# 09:00 on 3 February 2027 in Kuala Lumpur: three days before Chinese New Year.
NOW = datetime(2027, 2, 3, 9, 0, tzinfo=KL)


async def seed(db: Database, count: int) -> None:
    joined = NOW.astimezone(UTC) - timedelta(days=400)
    async with db.write_sessions() as session:
        for start in range(FIRST_ID, FIRST_ID + count, 5000):
            rows = [
                {
                    "telegram_id": tid,
                    "phone": f"+6011{tid:08d}",
                    "first_name": f"C{tid}",
                    "language": "ms" if tid % 3 == 0 else "en",
                    "marketing_opt_in": tid % 20 != 0,  # 5 % opted out
                    "status": "active",
                    "balance": 0,
                    "stamps": 0,
                    "member_key": f"k{tid}",
                    "joined_at": joined,
                    "birthday_day": 3,
                    "birthday_month": 2,
                }
                for tid in range(start, min(start + 5000, FIRST_ID + count))
            ]
            await session.execute(insert(Customer), rows)
        await session.commit()


async def count(db: Database, model: Any) -> int:
    async with db.read_sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def main(customers: int, database_url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'offers.db'}"
        values: dict[str, Any] = {
            "database_url": url,
            "program_file": Path(tmp) / "program.toml",
            "locales_dir": PROJECT_ROOT / "locales",
        }
        core = await build_core(Settings(_env_file=None, **values), clock=lambda: NOW.astimezone(UTC))  # type: ignore[call-arg]
        try:
            started = time.perf_counter()
            await seed(core.db, customers)
            print(f"seeded {customers:,} customers in {time.perf_counter() - started:.1f} s "
                  f"on {core.db.write_engine.dialect.name}")
            for name, run in (("birthday", core.services.offers.send_birthdays),
                              ("festival", core.services.offers.send_festivals)):
                started = time.perf_counter()
                result = await run()
                elapsed = time.perf_counter() - started
                print(f"{name.upper()} run: {result.summary()} in {elapsed:.2f} s (target ≤ 10 s)")
                started = time.perf_counter()
                again = await run()
                print(f"  rerun: {again.total} queued in {time.perf_counter() - started:.2f} s")
            print(f"vouchers {await count(core.db, Voucher):,}, deliveries {await count(core.db, Delivery):,}")
        finally:
            await core.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL"))
    arguments = parser.parse_args()
    asyncio.run(main(arguments.customers, arguments.database_url))
