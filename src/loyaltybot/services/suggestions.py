"""The suggestion box: customers send ideas; the owner adopts one and its author earns bonus points."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from loyaltybot.config import Program
from loyaltybot.db.models import Suggestion
from loyaltybot.db.uow import UnitOfWorkFactory
from loyaltybot.services.clock import Clock
from loyaltybot.services.errors import NotRegistered
from loyaltybot.services.pointsbook import award_points
from loyaltybot.services.feedback_errors import (
    SuggestionAlreadyAdopted,
    SuggestionInvalid,
    SuggestionLimit,
    SuggestionNotFound,
)
from loyaltybot.services.staff import StaffService

MIN_LENGTH = 3
MAX_LENGTH = 1000
PER_DAY = 5


@dataclass(frozen=True, slots=True)
class SuggestionEntry:
    id: int
    text: str  # as sent: escape when shown
    author: str | None
    created_at: datetime
    adopted: bool


@dataclass(frozen=True, slots=True)
class Adoption:
    suggestion_id: int
    points: int
    balance: int
    author_telegram_id: int | None  # None once the author deleted their account
    author_language: str


class SuggestionService:
    def __init__(
        self, *, writer: UnitOfWorkFactory, reader: UnitOfWorkFactory, staff: StaffService, program: Program, clock: Clock
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._staff = staff
        self._program = program
        self._clock = clock

    async def submit(self, telegram_id: int, text: str) -> int:
        text = text.strip()
        if not MIN_LENGTH <= len(text) <= MAX_LENGTH:
            raise SuggestionInvalid(min=MIN_LENGTH, max=MAX_LENGTH)
        now = self._clock()
        async with self._writer() as uow:
            customer = await uow.customers.by_telegram_id(telegram_id)
            if customer is None or customer.status == "deleted":
                raise NotRegistered()
            if await uow.suggestions.count_since(customer.id, now - timedelta(days=1)) >= PER_DAY:
                raise SuggestionLimit(limit=PER_DAY)
            suggestion = await uow.suggestions.add(Suggestion(customer_id=customer.id, text=text, status="new", created_at=now))
            await uow.commit()
            return suggestion.id

    async def newest(self, actor: int, limit: int = 10) -> list[SuggestionEntry]:
        await self._staff.require_owner(actor)
        async with self._reader() as uow:
            rows = await uow.suggestions.newest(limit)
        return [SuggestionEntry(s.id, s.text, author, s.created_at, s.status == "adopted") for s, author in rows]

    async def adopt(self, actor: int, suggestion_id: int) -> Adoption:
        """Mark adopted once and credit the author `feedback.suggestion_bonus_points` (kind "bonus")."""
        await self._staff.require_owner(actor)
        now = self._clock()
        points = self._program.feedback.suggestion_bonus_points
        async with self._writer() as uow:
            suggestion = await uow.suggestions.get(suggestion_id)
            if suggestion is None:
                raise SuggestionNotFound()
            if not await uow.suggestions.adopt(suggestion_id, by=actor, now=now):
                raise SuggestionAlreadyAdopted()
            customer = await uow.customers.by_id(suggestion.customer_id)
            assert customer is not None
            balance = customer.balance
            if points > 0 and customer.status != "deleted":
                balance = await award_points(
                    uow,
                    self._program,
                    customer.id,
                    points,
                    kind="bonus",
                    key=f"suggestion:{suggestion_id}",
                    note=f"suggestion {suggestion_id} adopted",
                    staff_id=actor,
                    now=now,
                )
            else:
                points = 0
            await uow.audit.record(
                actor=actor, action="suggestion.adopted", customer_id=customer.id, now=now, details={"suggestion": suggestion_id}
            )
            await uow.commit()
            return Adoption(suggestion_id, points, balance, customer.telegram_id, customer.language)
