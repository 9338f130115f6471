"""Shared fixtures: a migrated database on SQLite (always) and PostgreSQL (when configured).

Set TEST_DATABASE_URL=postgresql+asyncpg://user:pass@host/db to run every database test on
PostgreSQL as well; each test gets a fresh database there (the user needs CREATEDB).
"""

from __future__ import annotations

# Before anything imports aiogram: the tests use the same deferred-model import as
# `loyaltybot run` and its workers (see loyaltybot/startup.py).
from loyaltybot import startup

AIOGRAM_IMPORT_DEFERRED = startup.install()

import os  # noqa: E402
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any
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


# --------------------------------------------------------------------------- feedback dashboard data


def _at(text: str) -> Any:
    from datetime import UTC, datetime

    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def _seed_hand_dataset(db: Any) -> None:
    """The dashboard dataset described in tests/integration/test_dashboard_metrics.py."""
    from loyaltybot.db.models import Customer, LedgerEntry, Survey, SurveyAnswer, SurveyQuestion, SurveyResponse

    async with db.write_sessions() as session:
        ids = {}
        # Last visits as the counter keeps them in customers.last_visit_at.
        people = [
            ("A", "2026-01-10T02:00", "active", 17, None, "2026-03-10T03:00"),
            ("B", "2026-01-20T02:00", "active", 25, None, "2026-02-14T03:00"),
            ("C", "2026-02-05T02:00", "active", 30, None, "2026-03-02T03:00"),
            ("D", "2026-03-02T02:00", "unreachable", 0, None, None),
            ("E", "2025-12-01T02:00", "active", 10, None, "2025-12-05T03:00"),
            ("F", "2026-03-05T02:00", "deleted", 99, "2026-03-10T02:00", None),
        ]
        for number, (label, joined, status, balance, deleted, last_visit) in enumerate(people, start=1):
            customer = Customer(
                telegram_id=5000 + number, phone=f"+6012000000{number}", first_name=label, language="en",
                status=status, balance=balance, stamps=0, member_key=f"key-{label}", joined_at=_at(joined),
                deleted_at=_at(deleted) if deleted else None,
                last_visit_at=_at(last_visit) if last_visit else None,
            )
            session.add(customer)
            await session.flush()
            ids[label] = customer.id
        rows = [
            ("A", "purchase", 10, "2026-01-12T03:00"),
            ("A", "purchase", 10, "2026-02-03T03:00"),
            ("A", "stamp", 0, "2026-02-03T05:00"),
            ("A", "purchase", 10, "2026-02-20T03:00"),
            ("A", "purchase", 10, "2026-03-10T03:00"),
            ("A", "survey", 5, "2026-03-11T03:00"),
            ("A", "redeem", -8, "2026-03-12T03:00"),
            ("B", "purchase", 10, "2026-01-21T03:00"),
            ("B", "purchase", 10, "2026-02-14T03:00"),
            ("B", "redeem", -5, "2026-02-15T03:00"),
            ("B", "bonus", 20, "2026-03-03T03:00"),
            ("B", "expire", -3, "2026-03-04T03:00"),
            ("C", "purchase", 10, "2026-02-06T03:00"),
            ("C", "purchase", 10, "2026-02-28T17:00"),
            ("C", "stamp", 0, "2026-03-01T03:00"),
            ("C", "purchase", 10, "2026-03-02T03:00"),
            ("E", "purchase", 10, "2025-12-05T03:00"),
        ]
        for number, (label, kind, delta, when) in enumerate(rows):
            session.add(
                LedgerEntry(
                    customer_id=ids[label], delta=delta, kind=kind, idempotency_key=f"seed:{number}",
                    balance_after=max(delta, 0), created_at=_at(when),
                )
            )
        survey = Survey(
            title_en="t", title_ms="t", reward_points=0, audience="all", recent_days=30, recurrence="monthly",
            starts_at=_at("2026-01-01T00:00"), created_at=_at("2026-01-01T00:00"),
        )
        session.add(survey)
        await session.flush()
        rating = SurveyQuestion(survey_id=survey.id, position=0, kind="rating", text_en="q", text_ms="q")
        promoter = SurveyQuestion(survey_id=survey.id, position=1, kind="nps", text_en="q", text_ms="q")
        session.add_all([rating, promoter])
        await session.flush()
        answers = [
            ("A", "2026-03", [("rating", 5), ("nps", 10)], "2026-03-11T02:00"),
            ("B", "2026-03", [("rating", 4), ("nps", 9)], "2026-03-11T02:00"),
            ("C", "2026-03", [("rating", 2), ("nps", 7)], "2026-03-11T02:00"),
            ("E", "2026-03", [("nps", 3)], "2026-03-11T02:00"),
            ("A", "2026-02", [("rating", 5)], "2026-02-11T02:00"),
        ]
        for label, period, scores, when in answers:
            response = SurveyResponse(
                survey_id=survey.id, customer_id=ids[label], period=period, started_at=_at(when), completed_at=_at(when)
            )
            session.add(response)
            await session.flush()
            for kind, score in scores:
                question = rating if kind == "rating" else promoter
                session.add(
                    SurveyAnswer(response_id=response.id, question_id=question.id, kind=kind, score=score, answered_at=_at(when))
                )
        await session.commit()


@pytest.fixture
def seed_hand_dataset() -> Any:
    """`await seed_hand_dataset(database)`: six customers, their visits, points and survey answers."""
    return _seed_hand_dataset
