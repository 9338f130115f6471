"""The PostgreSQL engine: reads without BEGIN/ROLLBACK, pings only for idle pooled connections.

These run when TEST_DATABASE_URL names a PostgreSQL server (CI starts one).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from loyaltybot.db.engine import Database, create_database, ping_when_idle
from loyaltybot.db.models import Customer


@pytest.fixture
def pg_url(database_url: str, backend: str) -> str:
    if backend != "postgres":
        pytest.skip("PostgreSQL only")
    return database_url


@pytest.fixture
def pg(database: Database, backend: str) -> Database:
    if backend != "postgres":
        pytest.skip("PostgreSQL only")
    return database


async def _backend_pid(session: Any) -> int:
    return int((await session.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_read_sessions_run_without_a_transaction(pg: Database) -> None:
    async with pg.read_sessions() as session:
        await session.execute(select(Customer.id).limit(1))
        driver = (await session.connection()).sync_connection.connection.driver_connection
        assert not driver.is_in_transaction()
    # The write sessions, on the same pool, still run in a transaction.
    async with pg.write_sessions() as session:
        await session.execute(select(Customer.id).limit(1))
        driver = (await session.connection()).sync_connection.connection.driver_connection
        assert driver.is_in_transaction()
        await session.rollback()


async def test_reads_see_writes_committed_by_another_session(pg: Database) -> None:
    async with pg.read_sessions() as session:
        before = (await session.execute(text("SELECT count(*) FROM app_settings"))).scalar_one()
    async with pg.write_sessions() as session:
        await session.execute(text("INSERT INTO app_settings (key, value) VALUES ('probe', 'x')"))
        await session.commit()
    async with pg.read_sessions() as session:
        after = (await session.execute(text("SELECT count(*) FROM app_settings"))).scalar_one()
    assert after == before + 1


async def _kill(url: str, pid: int) -> None:
    """End one server process from a connection of its own (what a server restart does to it)."""
    other = create_database(url)
    try:
        async with other.write_engine.connect() as connection:
            assert (await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})).scalar_one()
    finally:
        await other.dispose()


async def test_an_idle_connection_the_server_dropped_is_replaced_before_use(pg_url: str) -> None:
    db = create_database(pg_url)
    ping_when_idle(db.write_engine, 0.2)  # besides the default: a short idleness for the test
    try:
        async with db.read_sessions() as session:
            first = await _backend_pid(session)
        await _kill(pg_url, first)
        time.sleep(0.3)
        async with db.read_sessions() as session:  # the same pooled connection, pinged: replaced
            second = await _backend_pid(session)
        assert second != first
    finally:
        await db.dispose()


async def test_a_connection_back_in_use_at_once_is_not_pinged(pg_url: str) -> None:
    """Without the idle time there is no ping: a dropped connection is only found by its first
    statement, which fails, and the pool then replaces it (the next unit of work succeeds)."""
    db = create_database(pg_url)
    try:
        async with db.read_sessions() as session:
            first = await _backend_pid(session)
        await _kill(pg_url, first)
        with pytest.raises(DBAPIError) as failed:
            async with db.read_sessions() as session:
                await _backend_pid(session)
        assert failed.value.connection_invalidated
        async with db.read_sessions() as session:
            assert await _backend_pid(session) != first
    finally:
        await db.dispose()
