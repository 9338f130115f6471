"""Time the owner's dashboard (/stats) over a large program: 100,000 customers, 2,000,000 ledger rows.

    .venv/bin/python benchmarks/bench_stats.py [--customers 100000] [--ledger 2000000]
        [--database-url URL] [--repeat 3]

Seeds a fresh, migrated database inside the database engine itself (INSERT ... SELECT over
a recursive CTE: no Python loop per row), spread over 24 months: customers join evenly,
ledger rows are mostly purchases and stamps with some survey, bonus, redeem and expire rows,
plus 20,000 survey answers. Then times `DashboardService.compute(months=2, cohorts=False)` —
the call `/stats` makes after its role check — and, once, the twelve months with cohorts that
the charts and the CSV export use. Default database: a SQLite
file in a temporary directory. For PostgreSQL pass an empty database's URL.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from loyaltybot.config import Program
from loyaltybot.db.engine import create_database
from loyaltybot.db.migrate import upgrade_database
from loyaltybot.db.uow import uow_factories
from loyaltybot.services.dashboard import DashboardService, monthly_csv
from loyaltybot.services.staff import StaffService

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
SPAN_SECONDS = 730 * 86400  # two years of history before NOW


def _seed_statements(dialect: str, customers: int, ledger: int) -> list[str]:
    start = int(NOW.timestamp()) - SPAN_SECONDS
    if dialect == "sqlite":
        ts = lambda seconds: f"datetime({seconds}, 'unixepoch')"  # noqa: E731
        series = lambda n: f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) "  # noqa: E731
        rand = "abs(random())"
        true = "1"
    else:
        ts = lambda seconds: f"to_timestamp({seconds}) AT TIME ZONE 'UTC'"  # noqa: E731
        series = lambda n: f"WITH s(i) AS (SELECT generate_series(1, {n})) "  # noqa: E731
        rand = "(floor(random() * 2147483647))::bigint"
        true = "true"
    joined = f"{start} + (i * {SPAN_SECONDS // customers})"
    statements = [
        series(customers)
        + "INSERT INTO customers (id, telegram_id, phone, first_name, language, status, balance, stamps, member_key,"
        " marketing_opt_in, joined_at, last_visit_at) "
        f"SELECT i, 100000000 + i, '+601' || (10000000 + i), 'C' || i, 'en', "
        f"CASE WHEN i % 50 = 0 THEN 'unreachable' ELSE 'active' END, i % 300, 0, 'k' || i, {true}, "
        f"{ts(joined)}, NULL FROM s",
        # Ledger row i belongs to customer (i % customers) + 1, at a time after that customer joined.
        series(ledger)
        + "INSERT INTO ledger (id, customer_id, delta, kind, idempotency_key, spend_sen, stamps_delta, balance_after,"
        " created_at) "
        f"SELECT i, (i % {customers}) + 1, "
        "CASE WHEN i % 20 = 0 THEN -(i % 50) WHEN i % 20 = 1 THEN 0 ELSE (i % 40) END, "
        "CASE WHEN i % 20 = 0 THEN 'redeem' WHEN i % 20 = 1 THEN 'stamp' WHEN i % 97 = 2 THEN 'survey' "
        "WHEN i % 101 = 3 THEN 'bonus' WHEN i % 103 = 4 THEN 'expire' ELSE 'purchase' END, "
        "'seed:' || i, (i % 40) * 100, 0, 0, "
        f"{ts(f'{start} + (((i % {customers}) + 1) * {SPAN_SECONDS // customers}) + ({rand} % ({SPAN_SECONDS} - (((i % {customers}) + 1) * {SPAN_SECONDS // customers}) + 1))')} "
        "FROM s",
        "UPDATE customers SET last_visit_at = (SELECT max(created_at) FROM ledger WHERE ledger.customer_id = customers.id"
        " AND ledger.kind IN ('purchase', 'stamp'))",
        "INSERT INTO surveys (id, title_en, title_ms, reward_points, audience, recent_days, recurrence, starts_at,"
        f" created_at) VALUES (1, 'Bench', 'Bench', 5, 'all', 30, 'monthly', {ts(start)}, {ts(start)})",
        "INSERT INTO survey_questions (id, survey_id, position, kind, text_en, text_ms, optional)"
        " VALUES (1, 1, 0, 'rating', 'q', 'q', false), (2, 1, 1, 'nps', 'q', 'q', false)",
        series(10_000)
        + "INSERT INTO survey_responses (id, survey_id, customer_id, period, started_at, completed_at) "
        f"SELECT i, 1, i, 'once', {ts(f'{start} + i * 7000')}, {ts(f'{start} + i * 7000')} FROM s",
        series(10_000)
        + "INSERT INTO survey_answers (response_id, question_id, kind, score, answered_at) "
        f"SELECT i, 1, 'rating', 1 + (i % 5), {ts(f'{start} + i * 7000')} FROM s "
        f"UNION ALL SELECT i, 2, 'nps', i % 11, {ts(f'{start} + i * 7000')} FROM s",
    ]
    return statements


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--ledger", type=int, default=2_000_000)
    parser.add_argument("--database-url")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        db = create_database(url)
        try:
            await upgrade_database(db)
            dialect = db.write_engine.dialect.name
            started = time.perf_counter()
            async with db.write_engine.begin() as connection:
                for statement in _seed_statements(dialect, args.customers, args.ledger):
                    await connection.execute(text(statement))
                await connection.execute(text("ANALYZE"))
            print(f"{dialect}: seeded {args.customers:,} customers and {args.ledger:,} ledger rows "
                  f"in {time.perf_counter() - started:.1f} s")
            writer, reader = uow_factories(db)
            clock = lambda: NOW  # noqa: E731
            staff = StaffService(writer=writer, reader=reader, owner_ids=frozenset(), clock=clock)
            service = DashboardService(reader=reader, staff=staff, program=Program(), clock=clock)
            timings = []
            board = None
            for _ in range(args.repeat):
                started = time.perf_counter()
                board = await service.compute(months=2, cohorts=False)  # what /stats shows
                timings.append(time.perf_counter() - started)
            assert board is not None
            now = board.current
            print(
                f"dashboard: members {board.members_now:,}, active 30 d {board.snapshot.active_30:,}, "
                f"retention {now.retention}, churn {board.snapshot.churn}, issued {now.issued:,}, csat {now.csat}"
            )
            print(
                f"/stats ({args.repeat} runs): min {min(timings):.2f} s, median {statistics.median(timings):.2f} s, "
                f"max {max(timings):.2f} s"
            )
            started = time.perf_counter()
            year = await service.compute()  # charts and CSV: twelve months and the cohorts
            year_time = time.perf_counter() - started
            started = time.perf_counter()
            monthly_csv(year)
            print(f"charts/CSV data (12 months + cohorts): {year_time:.2f} s; CSV {1000 * (time.perf_counter() - started):.1f} ms")
        finally:
            await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
