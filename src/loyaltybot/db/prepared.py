"""Hot statements run without SQLAlchemy's per-execution work on the inline SQLite driver.

`session.execute(statement, params)` costs 55–80 µs of CPU here for a statement SQLite runs in
2–4 µs: the cache key, an execution context, parameter and result processing through several
layers, a greenlet per call. The statements of every update and every sale claim are few and
fixed (the identity lookup, the conversation state, the claim's token, credit, ledger and
audit rows), so `Prepared` compiles each of them once per dialect, with the type conversions
SQLAlchemy itself would apply (`bind_processor` / `result_processor` of each column type,
our `UTCDateTime` included), and on the inline SQLite driver (`sqlite_inline`) runs it
straight on the transaction's own DBAPI connection: about 4 µs.

A unit of work on the SQLite write engine whose first statement is a prepared one (a sale
claim, most writes of an update) runs its transaction on the driver itself: a connection
from the pool (`engine.connect()`), BEGIN IMMEDIATE, the statements, COMMIT, back to the
pool (`LeanTransaction`). The session's own transaction, its connection bookkeeping and its
commit cost twice what SQLite does for such a transaction (~450 against ~250 µs of CPU per
transaction of one INSERT here). If the unit of work then also uses the ORM, the session is
bound to that same connection, so everything stays one transaction, committed by the
session.

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
WRITE_ENGINE = "loyaltybot.write_engine"  # key in `Session.info` of the SQLite write sessions
_LEAN = "loyaltybot.lean_transaction"  # a write session's `LeanTransaction`, while one is open
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


class LeanTransaction:
    """A write transaction a unit of work runs on the driver connection (see the module's
    docstring). `UnitOfWork` commits or ends it."""

    __slots__ = ("connection", "driver", "dialect", "_session", "_bind")

    def __init__(
        self, session: AsyncSession, connection: AsyncConnection, found: tuple[sqlite_inline.Connection, Dialect]
    ) -> None:
        self.connection = connection
        self.driver, self.dialect = found
        self._session = session
        self._bind = session.sync_session.bind

    @classmethod
    async def begin(cls, session: AsyncSession, engine: AsyncEngine) -> LeanTransaction:
        connection = await engine.connect()
        try:
            found = _inline_driver(connection)
            if found is None:  # WRITE_ENGINE is set only for the inline SQLite write engine
                raise TypeError("a lean transaction needs the inline SQLite driver")
            driver, dialect = found
            cursor = driver.cursor()
            try:
                await cursor.execute(_BEGIN_WRITE)
            except sqlite3.Error as error:  # "database is locked" after the busy timeout
                raise sqlalchemy_error(_BEGIN_WRITE, (), error, dialect) from error
            finally:
                await cursor.close()
        except BaseException:
            await connection.close()
            raise
        lean = cls(session, connection, found)
        # ORM work of the same unit of work joins this transaction: the session begins its own
        # on this connection (the engine's BEGIN listener sees the driver already in one).
        session.sync_session.bind = connection.sync_connection
        session.info[_LEAN] = lean
        return lean

    async def commit(self) -> None:
        try:
            await self.driver.commit()
        except sqlite3.Error as error:
            raise sqlalchemy_error("COMMIT", (), error, self.dialect) from error

    async def close(self) -> None:
        """Roll back what was not committed, give the connection back to the pool and the
        session its own bind again (for a later transaction of the same unit of work)."""
        self._session.sync_session.bind = self._bind
        try:
            if self.driver.in_transaction:
                await self.driver.rollback()
        finally:
            await self.connection.close()


_BEGIN_WRITE = "BEGIN IMMEDIATE"


def lean_transaction(session: AsyncSession) -> LeanTransaction | None:
    return session.info.get(_LEAN)


async def end_lean_transaction(session: AsyncSession) -> None:
    """Close the session's lean transaction, if it has one (rolled back unless committed)."""
    lean = session.info.pop(_LEAN, None)
    if lean is not None:
        await lean.close()


async def _inline_connection(session: AsyncSession) -> tuple[sqlite_inline.Connection, Dialect] | None:
    """The inline SQLite connection of the session's transaction (begun if need be), or the
    shared one of a read session; None if the session is not on the inline driver."""
    info = session.info
    shared: SharedReader | None = info.get(SHARED_READER)
    if shared is not None:
        return await shared.driver()
    sync = session.sync_session
    pending = sync.autoflush and (sync.new or sync.dirty or sync.deleted)
    lean: LeanTransaction | None = info.get(_LEAN)
    if lean is None and not pending and WRITE_ENGINE in info and not sync.in_transaction():
        lean = await LeanTransaction.begin(session, info[WRITE_ENGINE])
    if pending:
        await session.flush()
    if lean is not None:
        return lean.driver, lean.dialect
    transaction = sync.get_transaction()
    known = session.info.get(_TRANSACTION_DRIVER)
    if known is not None and transaction is not None and known[0] is transaction and transaction.is_active:
        return known[1]  # the same transaction: its connection is still the one (no greenlet hop)
    found = _inline_driver(await session.connection())
    session.info[_TRANSACTION_DRIVER] = (sync.get_transaction(), found)
    return found
