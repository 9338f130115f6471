"""Role checks inside a use case's own transaction: buttons and commands are user input."""

from __future__ import annotations

from loyaltybot.db.uow import UnitOfWork
from loyaltybot.domain.roles import Role
from loyaltybot.services.errors import NotAllowed


async def role_in(uow: UnitOfWork, owner_ids: frozenset[int], telegram_id: int) -> Role:
    if telegram_id in owner_ids:
        return Role.OWNER
    stored = await uow.staff.active_role(telegram_id)
    return Role(stored) if stored else Role.CUSTOMER


async def require_staff(uow: UnitOfWork, owner_ids: frozenset[int], telegram_id: int) -> Role:
    role = await role_in(uow, owner_ids, telegram_id)
    if not role.is_staff:
        raise NotAllowed()
    return role


async def require_owner(uow: UnitOfWork, owner_ids: frozenset[int], telegram_id: int) -> Role:
    role = await role_in(uow, owner_ids, telegram_id)
    if not role.is_owner:
        raise NotAllowed()
    return role
