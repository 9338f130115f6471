"""INSERT ... ON CONFLICT for both dialects (SQLite and PostgreSQL share the syntax).

A read-then-insert races under concurrency (two first saves of the same key); a single
statement does not. The statements are built once per table and shape (`Prepared`: run
straight on the inline SQLite driver), and the values go in as parameters: building and
cache-keying a statement costs more than running it.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from loyaltybot.db.prepared import Prepared


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _insert(dialect: str, table: Any) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """An INSERT of the session's dialect (a table or a mapped class), which has ON CONFLICT."""
    return _insert(_dialect(session), table)


@lru_cache(maxsize=64)
def _ignore_statement(dialect: str, table: Table, columns: tuple[str, ...], keys: tuple[str, ...]) -> Prepared:
    statement = _insert(dialect, table).values({column: bindparam(column) for column in columns})
    return Prepared(statement.on_conflict_do_nothing(index_elements=list(keys)))


@lru_cache(maxsize=64)
def _update_statement(
    dialect: str, table: Table, columns: tuple[str, ...], keys: tuple[str, ...], update: tuple[str, ...]
) -> Prepared:
    statement = _insert(dialect, table).values({column: bindparam(column) for column in columns})
    return Prepared(
        statement.on_conflict_do_update(
            index_elements=list(keys), set_={column: statement.excluded[column] for column in update}
        )
    )


async def insert_or_ignore(session: AsyncSession, table: Table, values: dict[str, Any], keys: Sequence[str]) -> None:
    statement = _ignore_statement(_dialect(session), table, tuple(values), tuple(keys))
    await statement.run(session, values)


async def insert_or_update(
    session: AsyncSession, table: Table, values: dict[str, Any], keys: Sequence[str], update: Sequence[str]
) -> None:
    statement = _update_statement(_dialect(session), table, tuple(values), tuple(keys), tuple(update))
    await statement.run(session, values)
