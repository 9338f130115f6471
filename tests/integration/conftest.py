"""Helpers for the integration tests: a controllable clock, row counting, services."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from loyaltybot.config import Program
from loyaltybot.db.engine import Database
from loyaltybot.db.uow import uow_factories
from loyaltybot.services.conversations import ConversationService
from loyaltybot.services.customers import CustomerService
from loyaltybot.services.scans import ScanService
from loyaltybot.services.staff import StaffService

SECRET_KEY = b"test-key"
OWNER_ID = 1000
CONSENT_AT = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


class FakeClock:
    """A clock the test moves by hand; always returns aware UTC datetimes."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 3, 15, 8, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> datetime:
        self.now += timedelta(**kwargs)
        return self.now


@dataclass
class Services:
    database: Database
    clock: FakeClock
    customers: CustomerService
    staff: StaffService
    scans: ScanService
    conversations: ConversationService


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def services(database: Database, clock: FakeClock) -> Services:
    writer, reader = uow_factories(database)
    return Services(
        database=database,
        clock=clock,
        customers=CustomerService(
            writer=writer, reader=reader, program=Program(), secret_key=SECRET_KEY, clock=clock
        ),
        staff=StaffService(writer=writer, reader=reader, owner_ids=frozenset({OWNER_ID}), clock=clock),
        scans=ScanService(writer=writer, reader=reader, secret_key=SECRET_KEY, card_size=10, clock=clock),
        conversations=ConversationService(writer=writer, reader=reader, clock=clock),
    )


@pytest.fixture
def count(database: Database) -> Any:
    """`await count(Model, *where)`: rows as seen by a fresh read session."""

    async def _count(model: Any, *where: Any) -> int:
        return await count_rows(database, model, *where)

    return _count


@pytest.fixture
def fetch(database: Database) -> Any:
    """`await fetch(Model, *where, order_by=...)`: rows as seen by a fresh read session."""

    async def _fetch(model: Any, *where: Any, order_by: Any = None) -> list[Any]:
        return await fetch_all(database, model, *where, order_by=order_by)

    return _fetch


async def count_rows(database: Database, model: Any, *where: Any) -> int:
    """Rows of `model` (matching `where`), read through a fresh session of the read engine."""
    async with database.read_sessions() as session:
        statement = select(func.count()).select_from(model)
        if where:
            statement = statement.where(*where)
        return int((await session.execute(statement)).scalar_one())


async def fetch_all(database: Database, model: Any, *where: Any, order_by: Any = None) -> list[Any]:
    async with database.read_sessions() as session:
        statement = select(model)
        if where:
            statement = statement.where(*where)
        if order_by is not None:
            statement = statement.order_by(order_by)
        return list((await session.execute(statement)).scalars().all())
