"""Roles: owners come from OWNER_IDS, staff from the `staff` table. Checked on every update."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError

from loyaltybot.db.models import StaffMember
from loyaltybot.db.uow import UnitOfWorkFactory
from loyaltybot.domain.roles import Role
from loyaltybot.services.clock import Clock
from loyaltybot.services.errors import NotAllowed, StaffNotFound


@dataclass(frozen=True, slots=True)
class Identity:
    """Who sent an update: their role and, if registered, their stored language."""

    telegram_id: int
    role: Role
    registered: bool
    language: str | None


@dataclass(frozen=True, slots=True)
class StaffEntry:
    telegram_id: int
    role: Role
    display_name: str | None
    added_at: datetime


class StaffService:
    def __init__(
        self, *, writer: UnitOfWorkFactory, reader: UnitOfWorkFactory, owner_ids: frozenset[int], clock: Clock
    ) -> None:
        self._writer = writer
        self._reader = reader
        self.owner_ids = owner_ids
        self._clock = clock

    async def identify(self, telegram_id: int) -> Identity:
        async with self._reader() as uow:
            language, stored = await uow.staff.identity_of(telegram_id)
        if telegram_id in self.owner_ids:
            role = Role.OWNER
        else:
            role = Role(stored) if stored else Role.CUSTOMER
        return Identity(telegram_id=telegram_id, role=role, registered=language is not None, language=language)

    async def role_of(self, telegram_id: int) -> Role:
        return (await self.identify(telegram_id)).role

    async def require_owner(self, telegram_id: int) -> None:
        """Raise NotAllowed unless `telegram_id` is an owner (checked on every owner action)."""
        if not (await self.role_of(telegram_id)).is_owner:
            raise NotAllowed()

    async def add(
        self, telegram_id: int, *, role: Role = Role.STAFF, added_by: int | None, display_name: str | None = None
    ) -> StaffEntry:
        if role is Role.CUSTOMER:
            raise ValueError("customers are not staff")
        now = self._clock()
        for attempt in range(3):
            async with self._writer() as uow:
                member = await uow.staff.by_telegram_id(telegram_id)
                if member is None:
                    member = StaffMember(
                        telegram_id=telegram_id,
                        role=role.value,
                        display_name=display_name,
                        added_by=added_by,
                        added_at=now,
                        active=True,
                    )
                    try:
                        await uow.staff.add(member)
                    except IntegrityError:
                        if attempt == 2:
                            raise
                        continue  # added concurrently: update that row instead
                else:
                    member.role, member.active, member.removed_at = role.value, True, None
                    member.added_by, member.added_at = added_by, now
                    if display_name:
                        member.display_name = display_name
                await uow.audit.record(
                    actor=added_by, action=f"staff.added.{role.value}", now=now, details={"staff": telegram_id}
                )
                await uow.commit()
                return StaffEntry(telegram_id, role, member.display_name, member.added_at)
        raise AssertionError("unreachable")

    async def remove(self, telegram_id: int, *, removed_by: int | None) -> None:
        now = self._clock()
        async with self._writer() as uow:
            member = await uow.staff.by_telegram_id(telegram_id)
            if member is None or not member.active:
                raise StaffNotFound()
            member.active = False
            member.removed_at = now
            await uow.audit.record(actor=removed_by, action="staff.removed", now=now, details={"staff": telegram_id})
            await uow.commit()

    async def list(self) -> list[StaffEntry]:
        async with self._reader() as uow:
            rows = await uow.staff.list_active()
        entries = [
            StaffEntry(row.telegram_id, Role(row.role), row.display_name, row.added_at)
            for row in rows
            if row.telegram_id not in self.owner_ids
        ]
        return entries
