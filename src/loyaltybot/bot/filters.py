"""Role filters, evaluated on the server for every message and button press."""

from __future__ import annotations

from typing import Any

from aiogram.filters import Filter
from aiogram.types import TelegramObject

from loyaltybot.services.staff import Identity


class IsStaff(Filter):
    async def __call__(self, event: TelegramObject, identity: Identity | None = None, **_: Any) -> bool:
        return identity is not None and identity.role.is_staff


class IsOwner(Filter):
    async def __call__(self, event: TelegramObject, identity: Identity | None = None, **_: Any) -> bool:
        return identity is not None and identity.role.is_owner


class IsRegistered(Filter):
    async def __call__(self, event: TelegramObject, identity: Identity | None = None, **_: Any) -> bool:
        return identity is not None and identity.registered
