"""Upgrading a database with balances from 0002 to 0005 gives every balance a points lot."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from loyaltybot.db.engine import Database
from loyaltybot.db.migrate import downgrade_database, upgrade_database


async def test_existing_balances_get_one_lot_each(database: Database) -> None:
    await downgrade_database(database, "0002")
    now = datetime.now(UTC).replace(tzinfo=None)
    async with database.write_engine.begin() as connection:
        for cid, balance in ((1, 120), (2, 0)):
            await connection.execute(
                text(
                    "INSERT INTO customers (id, telegram_id, language, marketing_opt_in, status, balance, stamps, "
                    "member_key, joined_at) VALUES (:id, :tid, 'en', true, 'active', :balance, 0, :key, :now)"
                ),
                {"id": cid, "tid": 100 + cid, "balance": balance, "key": f"k{cid}", "now": now},
            )
    await upgrade_database(database)
    async with database.read_engine.connect() as connection:
        rows = (await connection.execute(text("SELECT customer_id, points, remaining, expires_at FROM point_lots"))).all()
    assert [(r[0], r[1], r[2]) for r in rows] == [(1, 120, 120)]
    expires = rows[0][3]
    expires = datetime.fromisoformat(expires) if isinstance(expires, str) else expires
    assert expires.year == now.year + 1 and expires.month == now.month
