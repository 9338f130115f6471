"""Unit of work: one transaction per use case. Repositories flush; only `commit()` commits.

Leaving the `async with` block without calling `commit()` rolls everything back, so a
service that raises half-way leaves no partial state.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from loyaltybot.db.engine import Database
from loyaltybot.db.feedback import SuggestionRepository, SurveyRepository
from loyaltybot.db.offers import OfferRepository
from loyaltybot.db.outbox import OutboxRepository
from loyaltybot.db.prepared import end_lean_transaction, lean_transaction
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
        for name in _REPOSITORIES:  # entered again: repositories of the new session
            self.__dict__.pop(name, None)
        return self

    # Repositories are made on first use: most units of work touch one or two of them, and
    # one is opened for almost every update.
    @cached_property
    def customers(self) -> CustomerRepository:
        return CustomerRepository(self.session)

    @cached_property
    def staff(self) -> StaffRepository:
        return StaffRepository(self.session)

    @cached_property
    def ledger(self) -> LedgerRepository:
        return LedgerRepository(self.session)

    @cached_property
    def tokens(self) -> TokenRepository:
        return TokenRepository(self.session)

    @cached_property
    def audit(self) -> AuditRepository:
        return AuditRepository(self.session)

    @cached_property
    def conversations(self) -> ConversationRepository:
        return ConversationRepository(self.session)

    @cached_property
    def settings(self) -> SettingsRepository:
        return SettingsRepository(self.session)

    @cached_property
    def offers(self) -> OfferRepository:
        return OfferRepository(self.session)

    @cached_property
    def vouchers(self) -> VoucherRepository:
        return VoucherRepository(self.session)

    @cached_property
    def outbox(self) -> OutboxRepository:
        return OutboxRepository(self.session)

    @cached_property
    def lots(self) -> LotRepository:
        return LotRepository(self.session)

    @cached_property
    def rewards(self) -> RewardRepository:
        return RewardRepository(self.session)

    @cached_property
    def redemptions(self) -> RedemptionRepository:
        return RedemptionRepository(self.session)

    @cached_property
    def surveys(self) -> SurveyRepository:
        return SurveyRepository(self.session)

    @cached_property
    def suggestions(self) -> SuggestionRepository:
        return SuggestionRepository(self.session)

    async def commit(self) -> None:
        session = self.session
        lean = lean_transaction(session)
        if lean is None:
            await session.commit()
        else:
            sync = session.sync_session
            if sync.in_transaction() or sync.new or sync.dirty or sync.deleted:
                await session.commit()  # its transaction is on the lean one's connection: commits it
            else:
                await lean.commit()
            await end_lean_transaction(session)
        self._committed = True

    async def rollback(self) -> None:
        await self.session.rollback()
        await end_lean_transaction(self.session)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Closing ends the transaction: anything not committed is rolled back. Unlike an
        # explicit rollback it leaves loaded objects readable (detached, not expired).
        # A session that holds no transaction and no object (a read served by prepared
        # statements on the shared reader: most updates) has nothing to close.
        sync = self.session.sync_session
        try:
            if sync.in_transaction() or sync.identity_map or sync.new:
                await self.session.close()
        finally:
            await end_lean_transaction(self.session)


_REPOSITORIES = tuple(name for name, value in vars(UnitOfWork).items() if isinstance(value, cached_property))

UnitOfWorkFactory = Callable[[], UnitOfWork]


def uow_factories(db: Database) -> tuple[UnitOfWorkFactory, UnitOfWorkFactory]:
    """(writer, reader) factories: the writer begins IMMEDIATE on SQLite."""
    return (lambda: UnitOfWork(db.write_sessions)), (lambda: UnitOfWork(db.read_sessions))


def analytics_factory(db: Database) -> UnitOfWorkFactory:
    """Readers for long queries over the whole history (see `Database.analytics_sessions`)."""
    return lambda: UnitOfWork(db.analytics_sessions)
