"""INSERT ... ON CONFLICT for both dialects (SQLite and PostgreSQL share the syntax).

A read-then-insert races under concurrency (two first saves of the same key); a single
statement does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def _insert(session: AsyncSession, table: Table) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


async def insert_or_ignore(session: AsyncSession, table: Table, values: dict[str, Any], keys: Sequence[str]) -> None:
    statement = _insert(session, table).values(**values).on_conflict_do_nothing(index_elements=list(keys))
    await session.execute(statement)


async def insert_or_update(
    session: AsyncSession, table: Table, values: dict[str, Any], keys: Sequence[str], update: Sequence[str]
) -> None:
    statement = _insert(session, table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={column: statement.excluded[column] for column in update}
    )
    await session.execute(statement)
