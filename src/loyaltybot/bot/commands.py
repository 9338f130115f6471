"""The command menus Telegram shows, per scope and language (setMyCommands).

Customers get the default list. Staff and owners get theirs per chat, so the extra
commands never show up for customers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault
from aiogram.utils.i18n import I18n

from loyaltybot.bot.i18n import LANGUAGES
from loyaltybot.bot.menu import N_
from loyaltybot.domain.roles import Role

log = logging.getLogger(__name__)

CUSTOMER_COMMANDS = (
    ("card", N_("My card, points and member QR")),
    ("rewards", N_("Rewards")),
    ("history", N_("Points history")),
    ("surveys", N_("Surveys")),
    ("settings", N_("Language, birthday, promotions")),
    ("privacy", N_("My data and privacy")),
    ("help", N_("Help")),
)
STAFF_COMMANDS: tuple[tuple[str, str], ...] = (("sale", N_("New sale QR code")),)
OWNER_COMMANDS: tuple[tuple[str, str], ...] = (
    ("admin", N_("Admin: activity, staff, rewards")),
    ("staff", N_("Staff: invite, list, remove")),
    ("broadcast", N_("New broadcast to customers")),
    ("broadcasts", N_("Broadcasts: scheduled and past, with results")),
)


def commands_for(role: Role, i18n: I18n, language: str) -> list[BotCommand]:
    entries = list(CUSTOMER_COMMANDS)
    if role.is_staff:
        entries = list(STAFF_COMMANDS) + entries
    if role.is_owner:
        entries = list(OWNER_COMMANDS) + entries
    seen: dict[str, str] = {}
    for command, description in entries:
        seen.setdefault(command, description)
    return [BotCommand(command=c, description=i18n.gettext(d, locale=language)) for c, d in seen.items()]


async def publish_default_commands(bot: Bot, i18n: I18n) -> None:
    scope = BotCommandScopeDefault()
    await bot.set_my_commands(commands_for(Role.CUSTOMER, i18n, "en"), scope=scope)
    for language in LANGUAGES:
        await bot.set_my_commands(commands_for(Role.CUSTOMER, i18n, language), scope=scope, language_code=language)


async def publish_chat_commands(bot: Bot, i18n: I18n, telegram_id: int, role: Role) -> None:
    """Per-chat menu for staff and owners; a customer's chat falls back to the default list."""
    scope = BotCommandScopeChat(chat_id=telegram_id)
    try:
        if role is Role.CUSTOMER:
            await bot.delete_my_commands(scope=scope)
            for language in LANGUAGES:
                await bot.delete_my_commands(scope=scope, language_code=language)
            return
        await bot.set_my_commands(commands_for(role, i18n, "en"), scope=scope)
        for language in LANGUAGES:
            await bot.set_my_commands(commands_for(role, i18n, language), scope=scope, language_code=language)
    except TelegramAPIError as error:
        # A staff member who never opened the bot has no chat yet ("chat not found").
        log.info("could not set commands for a %s chat: %s", role.value, error.message)


async def publish_all(bot: Bot, i18n: I18n, roles: Iterable[tuple[int, Role]]) -> None:
    await publish_default_commands(bot, i18n)
    for telegram_id, role in roles:
        await publish_chat_commands(bot, i18n, telegram_id, role)
