"""Every revision upgrades, downgrades and upgrades again, and the result matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from loyaltybot.db.base import metadata
from loyaltybot.db.engine import Database
from loyaltybot.db.migrate import current_revision, downgrade_database, upgrade_database


def _differences(connection) -> list[object]:  # type: ignore[no-untyped-def]
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    return list(compare_metadata(context, metadata))


async def test_stairway_and_models_match(database: Database) -> None:
    assert await current_revision(database) == ("0006",)
    async with database.write_engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
    await downgrade_database(database, "0001")
    async with database.write_engine.connect() as connection:
        tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
    assert "vouchers" not in tables and "ledger" in tables
    await downgrade_database(database, "base")
    await upgrade_database(database)
    assert await current_revision(database) == ("0006",)
    async with database.write_engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
