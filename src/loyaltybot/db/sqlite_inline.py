"""SQLite for SQLAlchemy's asyncio engine without a thread hop per call.

SQLAlchemy's `sqlite+aiosqlite` dialect drives an aiosqlite connection: every call (open a
cursor, execute, fetch, close it, commit) is handed to aiosqlite's worker thread and its
result handed back through the event loop's self-pipe. With SQLite on a local file the
statements of a bot update take microseconds, so those hand-offs cost far more CPU than
the queries (about a fifth of the bot's CPU per update in `benchmarks/`).

This module is a stand-in for the `aiosqlite` module with the same coroutine API, passed
to the dialect as its DBAPI (`create_async_engine(..., module=inline_dbapi())`): each
coroutine runs its `sqlite3` call at once, on the event loop's thread. Everything else
(the dialect, SQL compilation, type handling) is SQLAlchemy's own aiosqlite support.

The one way SQLite can make a call wait is a lock held by another connection: in WAL
mode only a writer waits, for another process's write transaction (our own process
serialises its writes on one connection). SQLite's busy handler sleeps inside the call and
freezes the event loop, so a connection lets it wait only `first_wait_ms` (the write
engine's: 5 ms; SQLite then retries after 1 and 3 ms); a statement that still fails with
SQLITE_BUSY (it then did nothing) is retried after an `asyncio.sleep`, with SQLite's wait
off, until `busy_timeout` seconds have passed. With update workers, the other process's
write transaction (about 1 ms) is what a writer finds most often: waited for on the loop it
ends in 2 ms on average; polled with sleeps it took 3-5 ms, because the sleeping writer is
resumed only when its busy event loop comes round to it (and meanwhile every other write of
its process waits too).

Long analytics reads (the owner's dashboard over millions of ledger rows, exports) would
hold the loop for their whole run, so those keep using aiosqlite's thread (see
`engine.py`).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from types import SimpleNamespace
from collections.abc import Callable, Generator, Iterable
from typing import Any, TypeVar

from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

T = TypeVar("T")

# The DBAPI attributes SQLAlchemy's adapter copies from the aiosqlite module.
DatabaseError = sqlite3.DatabaseError
Error = sqlite3.Error
IntegrityError = sqlite3.IntegrityError
NotSupportedError = sqlite3.NotSupportedError
OperationalError = sqlite3.OperationalError
ProgrammingError = sqlite3.ProgrammingError
sqlite_version = sqlite3.sqlite_version
sqlite_version_info = sqlite3.sqlite_version_info

_BUSY_CODES = {sqlite3.SQLITE_BUSY, getattr(sqlite3, "SQLITE_BUSY_SNAPSHOT", -1)}
_FIRST_PAUSE = 0.0005
_LONGEST_PAUSE = 0.005  # short: with update workers, writers of two processes take turns all the time


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) in _BUSY_CODES


class _Inline:
    """Stands in for aiosqlite's queue to its thread, which SQLAlchemy's isolation-level
    setter uses directly: runs the function at once and settles the future."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:  # noqa: BLE001 - handed to the awaiting caller
            future.set_exception(error)


class Cursor:
    __slots__ = ("_connection", "_cursor")

    def __init__(self, connection: Connection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor

    async def execute(self, sql: str, parameters: Iterable[Any] = ()) -> Cursor:
        await self._connection._call(self._cursor.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> Cursor:
        await self._connection._call(self._cursor.executemany, sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    async def __aenter__(self) -> Cursor:
        """SQLAlchemy enters what `Connection.cursor()` returns (aiosqlite's is a context manager)."""
        return self

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


class Connection:
    """The subset of `aiosqlite.Connection` SQLAlchemy's dialect uses."""

    _tx = _Inline()

    def __init__(self, connection: sqlite3.Connection, busy_timeout: float, first_wait_ms: int = 0) -> None:
        self._connection: sqlite3.Connection | None = connection
        self._busy_timeout = busy_timeout
        self._first_wait_ms = first_wait_ms

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._connection is None:
            raise ValueError("no active connection")
        return self._connection

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        """Run a statement; while another process holds the write lock, wait without
        blocking the event loop and try again."""
        try:
            return function(*args)
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
        deadline = time.monotonic() + self._busy_timeout
        pause = _FIRST_PAUSE
        blocking = self._first_wait_ms
        if blocking:  # SQLite's own wait did not suffice: the next ones must not block the loop
            self._conn.execute("PRAGMA busy_timeout=0")
        try:
            while True:
                await asyncio.sleep(pause)
                try:
                    return function(*args)
                except sqlite3.OperationalError as error:
                    if not _is_busy(error) or time.monotonic() >= deadline:
                        raise
                pause = min(pause * 2, _LONGEST_PAUSE)
        finally:
            if blocking and self._connection is not None:
                self._connection.execute(f"PRAGMA busy_timeout={blocking}")

    def cursor(self) -> Cursor:
        return Cursor(self, self._conn.cursor())

    async def commit(self) -> None:
        await self._call(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    @property
    def in_transaction(self) -> bool:
        return self._conn.in_transaction

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _Opening:
    """What `connect` returns: awaitable, like aiosqlite's; `_thread` because SQLAlchemy
    marks aiosqlite's worker thread as a daemon (there is none here)."""

    __slots__ = ("_thread", "_database", "_busy_timeout", "_first_wait_ms", "_kwargs")

    def __init__(self, database: str, busy_timeout: float, first_wait_ms: int, kwargs: dict[str, Any]) -> None:
        self._thread = SimpleNamespace(daemon=True)
        self._database = database
        self._busy_timeout = busy_timeout
        self._first_wait_ms = first_wait_ms
        self._kwargs = kwargs

    def __await__(self) -> Generator[Any, None, Connection]:
        # SQLite's own wait only `first_wait_ms` (see the module's docstring); autocommit unless
        # we BEGIN ourselves.
        timeout = self._first_wait_ms / 1000
        kwargs = {**self._kwargs, "timeout": timeout, "isolation_level": None, "check_same_thread": False}
        return Connection(sqlite3.connect(self._database, **kwargs), self._busy_timeout, self._first_wait_ms)
        yield  # a generator, so `await` works


def connect(database: str, *, busy_timeout: float = 30.0, first_wait_ms: int = 0, **kwargs: Any) -> _Opening:
    """Like `aiosqlite.connect`: an awaitable of the connection. `first_wait_ms`: how long
    SQLite itself waits for a lock, on the loop, before `busy_timeout`'s non-blocking waits
    (see the module's docstring)."""
    return _Opening(database, busy_timeout, first_wait_ms, kwargs)


def inline_dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The DBAPI module to give `create_async_engine(module=...)` for a `sqlite+aiosqlite` URL."""
    import sys

    return AsyncAdapt_aiosqlite_dbapi(sys.modules[__name__], sqlite3)
