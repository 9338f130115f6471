"""Middlewares get their dependencies through constructors, never from globals."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Message, TelegramObject

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


class MenuLeavesPromptMiddleware(BaseMiddleware):
    """A main-menu button pressed while the bot waits for typed input (a sale amount, a survey
    answer, a new birthday...) leaves that prompt and does what the button says, instead of
    being read as the answer ("I could not read that amount").

    On the dispatcher's messages, so the routers' state filters see the prompt already left.
    States named in `keep` (registration, where the menu is not shown) are left alone.
    """

    def __init__(self, texts: frozenset[str], keep: frozenset[str]) -> None:
        self._texts = texts
        self._keep = keep

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        raw_state = data.get("raw_state")
        if (
            raw_state is not None
            and raw_state not in self._keep
            and isinstance(event, Message)
            and event.text in self._texts
        ):
            await data["state"].clear()
            data["raw_state"] = None
        return await handler(event, data)
