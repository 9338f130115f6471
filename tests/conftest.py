"""Shared fixtures: a migrated database on SQLite (always) and PostgreSQL (when configured).

Set TEST_DATABASE_URL=postgresql+asyncpg://user:pass@host/db to run every database test on
PostgreSQL as well; each test gets a fresh database there (the user needs CREATEDB).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from loyaltybot.config import PROJECT_ROOT, normalize_database_url
from loyaltybot.locales import ensure_compiled

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "").strip()


@pytest.fixture(scope="session", autouse=True)
def _compiled_catalogues() -> None:
    """The .mo files are built from the .po files, never committed: compile before any test."""
    ensure_compiled(PROJECT_ROOT / "locales")


def _backends() -> list[str]:
    return ["sqlite", "postgres"] if TEST_DATABASE_URL else ["sqlite"]


@pytest.fixture(params=_backends())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _pg_dsn(url: str) -> str:
    return re.sub(r"^postgresql\+asyncpg://", "postgresql://", url)


async def _fresh_postgres_database(base_url: str) -> str:
    """Create an empty database next to the configured one and return its URL."""
    import asyncpg  # only needed for PostgreSQL runs
    from sqlalchemy.engine import make_url

    name = "lb_test_" + secrets.token_hex(6)
    connection = await asyncpg.connect(_pg_dsn(base_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


async def _drop_postgres_database(base_url: str, url: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    connection = await asyncpg.connect(_pg_dsn(base_url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@pytest.fixture
async def database_url(backend: str, tmp_path: Path) -> AsyncIterator[str]:
    """A URL to an empty database of the current backend."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'loyaltybot.db'}"
        return
    base = normalize_database_url(TEST_DATABASE_URL)
    url = await _fresh_postgres_database(base)
    try:
        yield url
    finally:
        await _drop_postgres_database(base, url)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[object]:
    """A migrated `Database` (engines + session factories)."""
    from loyaltybot.db.engine import create_database
    from loyaltybot.db.migrate import upgrade_database

    db = create_database(database_url)
    await upgrade_database(db)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def locales_dir() -> Iterator[Path]:
    yield PROJECT_ROOT / "locales"
