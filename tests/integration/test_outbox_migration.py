"""Migration 0003 (outbox) upgrades, downgrades and upgrades again on each database."""

from __future__ import annotations

from sqlalchemy import inspect

from loyaltybot.db.engine import create_database
from loyaltybot.db.migrate import current_revision, downgrade_database, upgrade_database


async def _tables(db) -> set[str]:  # type: ignore[no-untyped-def]
    async with db.write_engine.connect() as connection:
        return set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))


async def test_outbox_migration_stairway(database_url: str) -> None:
    db = create_database(database_url)
    try:
        await upgrade_database(db)
        assert await current_revision(db) == ("0006",)
        assert {"campaigns", "deliveries"} <= await _tables(db)
        await downgrade_database(db, "0001")
        assert not {"campaigns", "deliveries"} & await _tables(db)
        await upgrade_database(db)
        assert {"campaigns", "deliveries"} <= await _tables(db)
    finally:
        await db.dispose()
