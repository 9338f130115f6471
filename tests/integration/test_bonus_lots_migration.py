"""Upgrading to 0008 gives survey rewards and suggestion bonuses credited without a lot their lots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from loyaltybot.db.engine import Database
from loyaltybot.db.migrate import downgrade_database, upgrade_database


async def test_unlotted_survey_and_bonus_points_get_lots(database: Database) -> None:
    await downgrade_database(database, "0006")
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    later = now + timedelta(days=365)
    async with database.write_engine.begin() as connection:

        async def run(sql: str, **values: object) -> None:
            await connection.execute(text(sql), values)

        for cid, balance in ((1, 127), (2, 50), (3, 5)):
            await run(
                "INSERT INTO customers (id, telegram_id, language, marketing_opt_in, status, balance, stamps, "
                "member_key, joined_at) VALUES (:id, :tid, 'en', true, 'active', :balance, 0, :key, :now)",
                id=cid, tid=100 + cid, balance=balance, key=f"k{cid}", now=now,
            )
        entries = [
            # id, customer, delta, kind, balance after, lot remaining (None: no lot)
            (1, 1, 100, "purchase", 100, 100),
            (2, 1, 7, "survey", 107, None),
            (3, 1, 20, "bonus", 127, None),
            (4, 2, 80, "purchase", 80, 50),  # 30 of it redeemed (drained from its lot)
            (5, 2, -30, "redeem", 50, None),
            (6, 3, 5, "survey", 5, 5),  # credited after the fix: it has its lot
        ]
        for entry_id, cid, delta, kind, after, remaining in entries:
            await run(
                "INSERT INTO ledger (id, customer_id, delta, kind, idempotency_key, stamps_delta, balance_after, "
                "created_at, expires_at) VALUES (:id, :cid, :delta, :kind, :key, 0, :after, :now, :expires)",
                id=entry_id, cid=cid, delta=delta, kind=kind, key=f"e{entry_id}", after=after, now=now,
                expires=later if delta > 0 else None,
            )
            if remaining is not None:
                await run(
                    "INSERT INTO point_lots (customer_id, ledger_id, points, remaining, earned_at, expires_at) "
                    "VALUES (:cid, :lid, :points, :remaining, :now, :expires)",
                    cid=cid, lid=entry_id, points=delta, remaining=remaining, now=now, expires=later,
                )
    await upgrade_database(database)
    query = "SELECT customer_id, ledger_id, points, remaining, expires_at FROM point_lots ORDER BY customer_id, ledger_id"
    async with database.read_engine.connect() as connection:
        rows = (await connection.execute(text(query))).all()
    assert [tuple(r[:4]) for r in rows] == [(1, 1, 100, 100), (1, 2, 7, 7), (1, 3, 20, 20), (2, 4, 80, 50), (3, 6, 5, 5)]
    for row in rows:
        expires = datetime.fromisoformat(row[4]) if isinstance(row[4], str) else row[4]
        assert expires.replace(tzinfo=None) == later
    # Down and up again: the lots stay and none is added twice.
    await downgrade_database(database, "0006")
    await upgrade_database(database)
    async with database.read_engine.connect() as connection:
        assert len((await connection.execute(text(query))).all()) == 5
