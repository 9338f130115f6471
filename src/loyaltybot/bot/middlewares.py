"""Middlewares get their dependencies through constructors, never from globals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import TelegramObject

from loyaltybot.services.staff import StaffService


class IdentityMiddleware(BaseMiddleware):
    """Resolve the sender's role and stored language from the database for every update.

    Nothing is cached: a removed staff member loses staff actions with their next update.
    """

    def __init__(self, staff: StaffService) -> None:
        self._staff = staff

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        user = data.get("event_from_user")
        if user is not None:
            data["identity"] = await self._staff.identify(user.id)
        return await handler(event, data)
