"""Run Alembic migrations from the app and the CLI."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from loyaltybot.db.engine import Database

MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    current = MigrationContext.configure(connection).get_current_heads()
    if revision == "head" and set(current) == set(script.get_heads()):
        return  # already current: skip loading every revision (keeps start-up fast)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def upgrade_database(db: Database, revision: str = "head") -> None:
    async with db.write_engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


async def downgrade_database(db: Database, revision: str) -> None:
    async with db.write_engine.begin() as connection:
        await connection.run_sync(_downgrade, revision)


async def current_revision(db: Database) -> tuple[str, ...]:
    async with db.read_engine.connect() as connection:
        return await connection.run_sync(lambda c: MigrationContext.configure(c).get_current_heads())
