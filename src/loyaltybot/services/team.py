"""The owner's team: one-time staff invites, the staff list, removing staff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from loyaltybot.db.models import StaffMember, Token
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.roles import Role
from loyaltybot.domain.tokens import TokenKind, encode_payload, new_token_id
from loyaltybot.services.access import require_owner, role_in
from loyaltybot.services.base import ShopService
from loyaltybot.services.counter import CodeExpired, CodeUsed
from loyaltybot.services.errors import StaffNotFound
from loyaltybot.services.scans import CodeNotValid
from loyaltybot.services.staff import StaffEntry

INVITE = "invite"


class AlreadyStaff(DomainError):
    code = "already_staff"


class InviteExpired(CodeExpired):
    """Only an owner can make a new invite, so the message says whom to ask."""

    code = "invite_expired"


class CannotRemoveOwner(DomainError):
    """Owners come from OWNER_IDS (the deployment), not from the bot."""

    code = "cannot_remove_owner"


@dataclass(frozen=True, slots=True)
class Invite:
    payload: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Joined:
    telegram_id: int
    display_name: str
    invited_by: int | None


class TeamService(ShopService):
    async def create_invite(self, actor: int) -> Invite:
        now = self._clock()
        expires_at = now + self._program.staff.invite_validity
        token_id = new_token_id()
        async with self._writer() as uow:
            await require_owner(uow, self._owner_ids, actor)
            await uow.tokens.add(Token(id=token_id, kind=INVITE, created_by=actor, created_at=now, expires_at=expires_at))
            await uow.audit.record(actor=actor, action="staff.invited", now=now, details={"token": token_id})
            await uow.commit()
        return Invite(payload=encode_payload(TokenKind.INVITE, token_id, self._key), expires_at=expires_at)

    async def check_invite(self, token_id: str, opener: int) -> None:
        """Whether the invite can be accepted by `opener`; raises the reason it cannot."""
        now = self._clock()
        async with self._reader() as uow:
            token = await uow.tokens.get(token_id)
            if token is None or token.kind != INVITE:
                raise CodeNotValid()
            if (await role_in(uow, self._owner_ids, opener)).is_staff:
                raise AlreadyStaff()
            if token.used_at is not None:
                raise CodeUsed()
            if token.expires_at <= now:
                raise InviteExpired()

    async def accept_invite(self, token_id: str, opener: int, display_name: str) -> Joined:
        """The invite's opener confirmed: they become staff, and the invite is spent."""
        now = self._clock()
        async with self._writer() as uow:
            token = await uow.tokens.get(token_id)
            if token is None or token.kind != INVITE:
                raise CodeNotValid()
            if (await role_in(uow, self._owner_ids, opener)).is_staff:
                raise AlreadyStaff()
            if not await uow.tokens.mark_used(token_id, used_by=opener, now=now):
                raise InviteExpired() if token.used_at is None and token.expires_at <= now else CodeUsed()
            member = await uow.staff.by_telegram_id(opener)
            if member is None:
                await uow.staff.add(
                    StaffMember(
                        telegram_id=opener,
                        role=Role.STAFF.value,
                        display_name=display_name[:128],
                        added_by=token.created_by,
                        added_at=now,
                        active=True,
                    )
                )
            else:
                member.role, member.active, member.removed_at = Role.STAFF.value, True, None
                member.added_by, member.added_at, member.display_name = token.created_by, now, display_name[:128]
            await uow.audit.record(
                actor=opener, action="staff.joined", now=now, details={"token": token_id, "invited_by": token.created_by}
            )
            await uow.commit()
        return Joined(telegram_id=opener, display_name=display_name, invited_by=token.created_by)

    async def list(self, actor: int) -> list[StaffEntry]:
        async with self._reader() as uow:
            await require_owner(uow, self._owner_ids, actor)
            rows = await uow.staff.list_active()
        return [
            StaffEntry(row.telegram_id, Role(row.role), row.display_name, row.added_at)
            for row in rows
            if row.telegram_id not in self._owner_ids
        ]

    async def remove(self, actor: int, telegram_id: int) -> StaffEntry:
        """Deactivate a staff member: their very next update is handled as a customer's."""
        if telegram_id in self._owner_ids:
            raise CannotRemoveOwner()
        now = self._clock()
        async with self._writer() as uow:
            await require_owner(uow, self._owner_ids, actor)
            member = await uow.staff.by_telegram_id(telegram_id)
            if member is None or not member.active:
                raise StaffNotFound()
            member.active = False
            member.removed_at = now
            await uow.audit.record(actor=actor, action="staff.removed", now=now, details={"staff": telegram_id})
            await uow.commit()
            return StaffEntry(member.telegram_id, Role(member.role), member.display_name, member.added_at)
