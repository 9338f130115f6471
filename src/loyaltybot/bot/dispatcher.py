"""Assemble the aiogram Dispatcher: storage, middlewares, and routers in order (fallback last)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Dispatcher, Router
from aiogram.fsm.storage.base import BaseStorage
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.utils.i18n import I18n

from loyaltybot.bot.deeplinks import DeepLinks
from loyaltybot.bot.handlers import (
    automations,
    broadcast,
    counter,
    customer,
    fallback,
    owner,
    owner_feedback,
    registration,
    rewards,
    surveys,
)
from loyaltybot.bot.i18n import LocaleMiddleware
from loyaltybot.bot.menu import menu_texts
from loyaltybot.bot.middlewares import IdentityMiddleware, MenuLeavesPromptMiddleware
from loyaltybot.bot.storage import ConversationFlushMiddleware, ServiceStorage
from loyaltybot.services.container import Services


def build_dispatcher(*, services: Services, i18n: I18n, storage: BaseStorage, bot_username: str) -> Dispatcher:
    # One update at a time per user: a double tap cannot run two flows over each other.
    dispatcher = Dispatcher(storage=storage, events_isolation=SimpleEventIsolation(), services=services)
    if isinstance(storage, ServiceStorage):
        dispatcher.update.outer_middleware(ConversationFlushMiddleware(storage))
    dispatcher.update.outer_middleware(IdentityMiddleware(services.staff))
    LocaleMiddleware(i18n).setup(dispatcher)
    dispatcher.message.outer_middleware(
        MenuLeavesPromptMiddleware(menu_texts(i18n), keep=frozenset(registration.Registration.__all_states_names__))
    )

    links = DeepLinks(services, i18n=i18n)
    dispatcher.include_routers(
        fallback.build_group_router(bot_username=bot_username),
        broadcast.build_owner_router(i18n=i18n),
        broadcast.build_promotions_router(),
        automations.build_owner_router(i18n=i18n, bot_username=bot_username),
        registration.build_router(i18n=i18n, links=links),
        owner.build_router(i18n=i18n, bot_username=bot_username),
        owner.build_invite_router(i18n=i18n),
        rewards.build_owner_router(i18n=i18n),  # before counter: a reward's photo is not a QR to decode
        rewards.build_staff_router(i18n=i18n),
        counter.build_router(i18n=i18n, links=links, bot_username=bot_username),
        customer.build_help_router(i18n=i18n),
        rewards.build_customer_router(i18n=i18n, bot_username=bot_username),
        customer.build_router(i18n=i18n, bot_username=bot_username),
        surveys.build_router(i18n=i18n),
        owner_feedback.build_router(i18n=i18n),
        fallback.build_fallback_router(),
    )
    run_sync_filters_inline(dispatcher)
    return dispatcher


def run_sync_filters_inline(root: Router) -> int:
    """Make aiogram evaluate plain (non-coroutine) filters on the event loop.

    aiogram calls every filter that is not a coroutine through `asyncio.to_thread`: for
    each handler tried, a hand-off to a worker thread and back, a tenth of the bot's CPU per
    update. Our plain filters are magic filters (`F.text`, `F.photo`, ...) and FSM states
    (`Registration.phone`): they only read the update and the state, so they run inline.
    Returns how many filters were changed.
    """
    changed = 0
    for router in root.chain_tail:
        for observer in router.observers.values():
            for handler in [*observer.handlers, observer._handler]:  # noqa: SLF001 - the router-level filters
                for item in handler.filters or ():
                    if not item.awaitable:
                        item.callback = _awaitable(item.callback)
                        item.awaitable = True
                        changed += 1
    return changed


def _awaitable(check: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def call(*args: Any, **kwargs: Any) -> Any:
        return check(*args, **kwargs)

    return call
