"""Engines per dialect.

SQLite: WAL so readers never wait for the writer, foreign keys on, and every write
transaction begun IMMEDIATE so two writers queue instead of one failing with "database is
locked" when it upgrades a read lock. Inside one process, writers share a single
connection, so they wait in asyncio (fair) rather than for SQLite's lock. Reads use a
separate pool of read-only connections in autocommit mode (no snapshot across statements;
none of our reads needs one). The bot's statements run inline on the event loop
(`sqlite_inline`: no thread hand-off per call; a lock held by another process, such as the
CLI or another update worker, is waited for a few ms inside SQLite, then with asyncio
sleeps); the long analytics reads use aiosqlite's thread, with SQLite's own busy timeout.

PostgreSQL (asyncpg): one pool serves both; conditional UPDATEs give the same guarantees.
Reads run in autocommit (under READ COMMITTED each statement takes its own snapshot anyway,
so BEGIN/ROLLBACK round trips around them bought nothing), and a pooled connection is pinged
before use only when it sat idle for a while (`PG_PING_AFTER_IDLE_S`), not at every checkout.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from loyaltybot.db.checkpoint import AUTOCHECKPOINT_PAGES, WalCheckpointer
from loyaltybot.db.prepared import SHARED_READER, WRITE_ENGINE, SharedReader, sqlalchemy_error
from loyaltybot.db.sqlite_inline import inline_dbapi

SQLITE_BUSY_TIMEOUT_MS = 30_000
SQLITE_MMAP_BYTES = 256 * 1024 * 1024  # at most this much of the file is mapped
# The writer waits this long for another process's write lock inside SQLite, on the loop,
# before waiting without blocking it (sqlite_inline.py).
WRITE_LOCK_FIRST_WAIT_MS = 5
# PostgreSQL: a connection back from the pool is checked with a round trip first only when it
# was idle at least this long (a restarted server, a firewall that dropped an idle link).
PG_PING_AFTER_IDLE_S = 10.0


@dataclass(slots=True)
class Database:
    """The engines and session factories of one process."""

    url: str
    write_engine: AsyncEngine
    read_engine: AsyncEngine
    write_sessions: async_sessionmaker[Any]
    read_sessions: async_sessionmaker[Any]
    # Long reads over the whole history (the owner's dashboard): on SQLite they run in
    # aiosqlite's worker thread, so the bot keeps answering meanwhile.
    analytics_engine: AsyncEngine
    analytics_sessions: async_sessionmaker[Any]
    shared_reader: SharedReader | None = None  # SQLite: the read sessions' prepared statements
    # SQLite, when made with a checkpoint interval: WAL checkpoints off the event loop.
    checkpointer: WalCheckpointer | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.write_engine.dialect.name == "sqlite"

    def start(self) -> None:
        """Background work of the database, in the running event loop (the checkpoints)."""
        if self.checkpointer is not None:
            self.checkpointer.start()

    async def dispose(self) -> None:
        if self.checkpointer is not None:
            await self.checkpointer.close()
        if self.shared_reader is not None:
            await self.shared_reader.close()
        await self.write_engine.dispose()
        # On PostgreSQL the read engine is the write engine with other options (same pool).
        if self.read_engine.sync_engine.pool is not self.write_engine.sync_engine.pool:
            await self.read_engine.dispose()
        if self.analytics_engine is not self.write_engine:
            await self.analytics_engine.dispose()


def _sqlite_engine(
    url: str,
    *,
    begin: str,
    pool_size: int,
    read_only: bool = False,
    inline: bool = True,
    first_wait_ms: int = 0,
    default_checkpoint: bool = True,
) -> AsyncEngine:
    extra: dict[str, Any] = (
        {
            "module": inline_dbapi(),
            "connect_args": {"busy_timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "first_wait_ms": first_wait_ms},
        }
        if inline
        else {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}}
    )
    engine = create_async_engine(
        url,
        **extra,
        pool_size=pool_size,
        max_overflow=0,
        pool_timeout=60,
        # Sessions always end their transaction before returning the connection; the pool's
        # extra ROLLBACK would be one more round trip to the driver's thread per transaction.
        pool_reset_on_return=None,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves (pysqlite's implicit BEGIN is DEFERRED).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # SQLite's busy timeout is the driver's `timeout` / `first_wait_ms` (connect_args above);
        # the inline driver waits for other processes' locks itself after that (sqlite_inline.py).
        cursor.execute("PRAGMA foreign_keys=ON")
        # NORMAL in WAL mode: a commit survives a crash of the process or a kill at any
        # moment; only a power cut can lose the last commits (never corrupt the file). FULL
        # would fsync every commit (~5 ms here) and cap writes near 200/s.
        cursor.execute("PRAGMA synchronous=NORMAL")
        if not default_checkpoint:  # a WalCheckpointer copies in its own thread (db/checkpoint.py)
            cursor.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
        # Read pages through a memory map instead of a read() call each. When another
        # connection commits (our writer, or another process's with WORKERS), a connection
        # drops its page cache and reads the pages again: with two update workers this cut the
        # CPU per sale claim by about a fifth (benchmarks/bench_claims.py --workers 2).
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        if read_only:
            cursor.execute("PRAGMA query_only=ON")
        cursor.close()

    if begin:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(connection: Any) -> None:
            if getattr(connection.connection.driver_connection, "in_transaction", False):
                return  # a unit of work's lean transaction, which the session joins (db/prepared.py)
            # On the driver's cursor: SQLAlchemy's execution around one BEGIN cost more than it.
            cursor = connection.connection.cursor()
            try:
                cursor.execute(begin)
            except sqlite3.Error as error:  # "database is locked" after the busy timeout
                raise sqlalchemy_error(begin, (), error, connection.dialect) from error
            finally:
                cursor.close()

    return engine


def ping_when_idle(engine: AsyncEngine, after_s: float) -> None:
    """Check a pooled connection with a round trip when it comes back after `after_s` of
    idleness; a dead one is replaced before anybody uses it.

    SQLAlchemy's `pool_pre_ping` does this at every checkout: on asyncpg BEGIN, an empty
    query and ROLLBACK, three round trips before each unit of work (a sale claim on
    PostgreSQL made 26 round trips, 9 of them pings). A connection in steady use is not
    pinged; if the server goes away meanwhile, the first statement on it fails with a
    disconnect, which makes the pool drop every connection made before it (SQLAlchemy's
    pool invalidation), so one unit of work per process sees the error.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < after_s:
            return  # new, or used a moment ago
        try:
            dbapi_connection.ping()
        except Exception as error:
            # The pool discards this connection and checks out (or makes) another one.
            raise exc.DisconnectionError(f"a pooled connection failed its ping: {error}") from error


def create_database(url: str, *, echo: bool = False, checkpoint_interval: float | None = None) -> Database:
    """`checkpoint_interval` (SQLite; seconds): checkpoint the WAL in a thread that often,
    once `Database.start()` is called, instead of inside a commit (db/checkpoint.py)."""
    parsed = make_url(url)
    checkpointer: WalCheckpointer | None = None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ValueError("an in-memory SQLite database cannot be shared between connections; use a file")
        if checkpoint_interval is not None:
            checkpointer = WalCheckpointer(parsed.database, checkpoint_interval)
        auto = checkpointer is None
        write_engine = _sqlite_engine(
            url, begin="BEGIN IMMEDIATE", pool_size=1, default_checkpoint=auto, first_wait_ms=WRITE_LOCK_FIRST_WAIT_MS
        )
        # Reads run in autocommit: each SELECT sees the latest commit, without BEGIN/ROLLBACK
        # round trips; the connections refuse writes (query_only). One of them is kept for
        # the prepared reads of every read session (db/prepared.py, SharedReader).
        read_engine = _sqlite_engine(url, begin="", pool_size=5, read_only=True, default_checkpoint=auto)
        analytics_engine = _sqlite_engine(
            url, begin="", pool_size=2, read_only=True, inline=False, default_checkpoint=auto
        )
        shared_reader: SharedReader | None = SharedReader(read_engine)
        read_info: dict[str, Any] = {SHARED_READER: shared_reader}
        write_info: dict[str, Any] = {WRITE_ENGINE: write_engine}
    else:
        write_engine = create_async_engine(url, pool_size=10, max_overflow=10, echo=echo)
        ping_when_idle(write_engine, PG_PING_AFTER_IDLE_S)
        # Same pool; the isolation level is the driver adapter's own setting (no round trip).
        read_engine = write_engine.execution_options(isolation_level="AUTOCOMMIT")
        analytics_engine = write_engine
        shared_reader, read_info, write_info = None, {}, {}
    return Database(
        url=url,
        write_engine=write_engine,
        read_engine=read_engine,
        write_sessions=async_sessionmaker(write_engine, expire_on_commit=False, info=write_info),
        read_sessions=async_sessionmaker(read_engine, expire_on_commit=False, info=read_info),
        analytics_engine=analytics_engine,
        analytics_sessions=async_sessionmaker(analytics_engine, expire_on_commit=False),
        shared_reader=shared_reader,
        checkpointer=checkpointer,
    )
