"""Unit of work: one transaction per use case. Repositories flush; only `commit()` commits.

Leaving the `async with` block without calling `commit()` rolls everything back, so a
service that raises half-way leaves no partial state.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from loyaltybot.db.engine import Database
from loyaltybot.db.feedback import SuggestionRepository, SurveyRepository
from loyaltybot.db.offers import OfferRepository
from loyaltybot.db.outbox import OutboxRepository
from loyaltybot.db.repositories import (
    AuditRepository,
    ConversationRepository,
    CustomerRepository,
    LedgerRepository,
    LotRepository,
    RedemptionRepository,
    RewardRepository,
    SettingsRepository,
    StaffRepository,
    TokenRepository,
    VoucherRepository,
)


class UnitOfWork:
    session: AsyncSession

    def __init__(self, sessions: async_sessionmaker[Any]) -> None:
        self._sessions = sessions
        self._committed = False

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._sessions()
        self.customers = CustomerRepository(self.session)
        self.staff = StaffRepository(self.session)
        self.ledger = LedgerRepository(self.session)
        self.tokens = TokenRepository(self.session)
        self.audit = AuditRepository(self.session)
        self.conversations = ConversationRepository(self.session)
        self.settings = SettingsRepository(self.session)
        self.offers = OfferRepository(self.session)
        self.vouchers = VoucherRepository(self.session)
        self.outbox = OutboxRepository(self.session)
        self.lots = LotRepository(self.session)
        self.rewards = RewardRepository(self.session)
        self.redemptions = RedemptionRepository(self.session)
        self.surveys = SurveyRepository(self.session)
        self.suggestions = SuggestionRepository(self.session)
        return self

    async def commit(self) -> None:
        await self.session.commit()
        self._committed = True

    async def rollback(self) -> None:
        await self.session.rollback()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Closing ends the transaction: anything not committed is rolled back. Unlike an
        # explicit rollback it leaves loaded objects readable (detached, not expired).
        await self.session.close()


UnitOfWorkFactory = Callable[[], UnitOfWork]


def uow_factories(db: Database) -> tuple[UnitOfWorkFactory, UnitOfWorkFactory]:
    """(writer, reader) factories: the writer begins IMMEDIATE on SQLite."""
    return (lambda: UnitOfWork(db.write_sessions)), (lambda: UnitOfWork(db.read_sessions))


def analytics_factory(db: Database) -> UnitOfWorkFactory:
    """Readers for long queries over the whole history (see `Database.analytics_sessions`)."""
    return lambda: UnitOfWork(db.analytics_sessions)
