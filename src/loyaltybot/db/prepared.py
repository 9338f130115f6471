"""Hot statements run without SQLAlchemy's per-execution work on the inline SQLite driver.

`session.execute(statement, params)` costs 55–80 µs of CPU here for a statement SQLite runs in
2–4 µs: the cache key, an execution context, parameter and result processing through several
layers, a greenlet per call. The statements of every update and every sale claim are few and
fixed (the identity lookup, the conversation state, the claim's token, credit, ledger and
audit rows), so `Prepared` compiles each of them once per dialect, with the type conversions
SQLAlchemy itself would apply (`bind_processor` / `result_processor` of each column type,
our `UTCDateTime` included), and on the inline SQLite driver (`sqlite_inline`) runs it
straight on the transaction's own DBAPI connection: about 4 µs.

It is the same statement object either way. On any other driver (PostgreSQL, aiosqlite's
thread) `run` is `session.execute`, so the statements stay SQLAlchemy Core, one definition
for both databases. The session's transaction is the one used (it is begun if it was not,
exactly as `session.execute` would), and pending ORM changes are flushed first, as the
session's autoflush would.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql import ClauseElement

from loyaltybot.db import sqlite_inline

_Processor = Callable[[Any], Any] | None


class _Compiled:
    __slots__ = ("sql", "names", "bind", "defaults", "result")

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = statement.compile(dialect=dialect)
        if compiled.positiontup is None or "POSTCOMPILE" in compiled.string:
            raise ValueError("only statements with plain positional parameters can be prepared")
        self.sql: str = compiled.string
        self.names: list[str] = list(compiled.positiontup)
        binds = compiled.binds
        # The dialect's own type (SQLite's DATETIME stores a fixed text format) under our decorators.
        self.bind: list[_Processor] = [binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in self.names]
        self.defaults: dict[str, Any] = {
            name: binds[name].value for name in self.names if not binds[name].required
        }
        columns = getattr(statement, "exported_columns", None) or ()
        self.result: list[_Processor] = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]

    def parameters(self, values: Mapping[str, Any]) -> list[Any]:
        out: list[Any] = []
        defaults = self.defaults
        for name, process in zip(self.names, self.bind, strict=True):
            value = values[name] if name in values else defaults[name]
            out.append(value if process is None or value is None else process(value))
        return out

    def rows(self, raw: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        processors = self.result
        if not raw or not any(processors):
            return raw
        return [
            tuple(value if process is None else process(value) for process, value in zip(processors, row, strict=False))
            for row in raw
        ]


class Prepared:
    """A Core statement with named `bindparam`s, run fast on the inline SQLite driver."""

    __slots__ = ("statement", "_compiled")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        # Per kind of dialect, not per engine: tests make many databases, the compiled form is the same.
        self._compiled: dict[tuple[type, str], _Compiled] = {}

    async def run(self, session: AsyncSession, params: Mapping[str, Any]) -> Sequence[tuple[Any, ...]]:
        """The rows it returns (none for a statement without RETURNING), as tuples."""
        connection = await _inline_connection(session)
        if connection is None:
            result = await session.execute(self.statement, params)
            return [tuple(row) for row in result.all()] if result.returns_rows else []
        driver, dialect = connection
        kind = (type(dialect), dialect.paramstyle)
        compiled = self._compiled.get(kind)
        if compiled is None:
            compiled = self._compiled[kind] = _Compiled(self.statement, dialect)
        cursor = driver.cursor()
        parameters = compiled.parameters(params)
        try:
            await cursor.execute(compiled.sql, parameters)
            return compiled.rows(await cursor.fetchall()) if cursor.description else []
        except sqlite3.Error as error:
            raise sqlalchemy_error(compiled.sql, parameters, error, dialect) from error
        finally:
            await cursor.close()


def sqlalchemy_error(sql: str, parameters: Any, error: sqlite3.Error, dialect: Dialect) -> DBAPIError:
    """A `sqlite3` error raised past SQLAlchemy's execution, as SQLAlchemy would raise it
    (`IntegrityError`, `OperationalError`...), so callers catch one kind of error."""
    return DBAPIError.instance(sql, parameters, error, sqlite3.Error, dialect=dialect)


def _inline_driver(connection: AsyncConnection) -> tuple[sqlite_inline.Connection, Dialect] | None:
    """The inline SQLite driver connection under `connection`, or None (another driver)."""
    dialect = connection.dialect
    driver = connection.sync_connection.connection.driver_connection  # type: ignore[union-attr]
    return (driver, dialect) if dialect.name == "sqlite" and isinstance(driver, sqlite_inline.Connection) else None


SHARED_READER = "loyaltybot.shared_reader"  # key in `Session.info` of the SQLite read sessions
_TRANSACTION_DRIVER = "loyaltybot.transaction_driver"  # (the session's transaction, its inline driver)


class SharedReader:
    """One connection of the SQLite read engine, kept open for the prepared reads of every read
    session (`Database.read_sessions` puts it in their `info`).

    Read connections run in autocommit mode and refuse writes: each statement sees the latest
    commit whichever connection runs it, so a read session's prepared statements lose nothing
    by running on this one, and the session never checks out a connection of its own unless
    it also runs an ORM query. That is most of a read session's cost (about 80 µs of ~110).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._driver: tuple[sqlite_inline.Connection, Dialect] | None = None

    async def driver(self) -> tuple[sqlite_inline.Connection, Dialect] | None:
        if self._driver is None:
            connection = await self._engine.connect()
            if self._driver is not None:  # another task opened it meanwhile
                await connection.close()
                return self._driver
            found = _inline_driver(connection)
            if found is None:
                await connection.close()
                return None
            self._connection, self._driver = connection, found
        return self._driver

    async def close(self) -> None:
        connection, self._connection, self._driver = self._connection, None, None
        if connection is not None:
            await connection.close()


async def _inline_connection(session: AsyncSession) -> tuple[sqlite_inline.Connection, Dialect] | None:
    """The inline SQLite connection of the session's transaction (begun if need be), or the
    shared one of a read session; None if the session is not on the inline driver."""
    shared: SharedReader | None = session.info.get(SHARED_READER)
    if shared is not None:
        return await shared.driver()
    sync = session.sync_session
    if sync.autoflush and (sync.new or sync.dirty or sync.deleted):
        await session.flush()
    transaction = sync.get_transaction()
    known = session.info.get(_TRANSACTION_DRIVER)
    if known is not None and transaction is not None and known[0] is transaction and transaction.is_active:
        return known[1]  # the same transaction: its connection is still the one (no greenlet hop)
    found = _inline_driver(await session.connection())
    session.info[_TRANSACTION_DRIVER] = (sync.get_transaction(), found)
    return found
