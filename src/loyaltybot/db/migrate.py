"""Run Alembic migrations from the app and the CLI.

Alembic (with Mako and Pygments behind it) costs ~0.2 s to import. On a normal start the
database is already current, so `upgrade_database` first compares the stored revision with
the head read straight from the revision files and only loads Alembic when they differ.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from loyaltybot.db.engine import Database

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"
_REVISION_RE = re.compile(r"^revision(?::[^=]*)?=\s*['\"]([^'\"]+)['\"]", re.M)
_DOWN_RE = re.compile(r"^down_revision(?::[^=]*)?=\s*(?:['\"]([^'\"]+)['\"]|None)", re.M)


def alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def script_heads() -> set[str] | None:
    """Head revisions from the files (a revision no other revision names as its parent).

    None when a file does not have the simple shape this reads; Alembic decides then.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION_RE.search(source), _DOWN_RE.search(source)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        if down.group(1):
            parents.add(down.group(1))
    return revisions - parents or None


def _stored_heads(connection: Connection) -> set[str] | None:
    try:
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except DBAPIError:
        return None  # no alembic_version table yet: a new database
    return set(rows)


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = alembic_config()
    script = ScriptDirectory.from_config(config)
    current = MigrationContext.configure(connection).get_current_heads()
    if revision == "head" and set(current) == set(script.get_heads()):
        return
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def _downgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, revision)


async def upgrade_database(db: Database, revision: str = "head") -> None:
    if revision == "head":
        heads = script_heads()
        if heads is not None:
            async with db.read_engine.connect() as connection:
                stored = await connection.run_sync(_stored_heads)
            if stored == heads:
                return  # already current
    async with db.write_engine.begin() as connection:
        await connection.run_sync(_upgrade, revision)


async def downgrade_database(db: Database, revision: str) -> None:
    async with db.write_engine.begin() as connection:
        await connection.run_sync(_downgrade, revision)


async def current_revision(db: Database) -> tuple[str, ...]:
    from alembic.runtime.migration import MigrationContext

    async with db.read_engine.connect() as connection:
        return await connection.run_sync(lambda c: MigrationContext.configure(c).get_current_heads())
