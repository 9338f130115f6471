"""Last in line: group chats, anything not understood, stale buttons, and errors."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, ErrorEvent, Message
from aiogram.utils.i18n import gettext as _

from loyaltybot.services.staff import Identity

log = logging.getLogger(__name__)


def build_group_router(*, bot_username: str) -> Router:
    """The bot works in private chats only: personal data never goes into a group."""
    router = Router(name="groups")
    router.message.filter(F.chat.type != "private")
    router.callback_query.filter(F.message.chat.type != "private")

    @router.message()
    async def group_message(message: Message) -> None:
        await message.reply(_("Please message me privately: @{bot}").format(bot=bot_username))

    @router.callback_query()
    async def group_button(query: CallbackQuery) -> None:
        await query.answer(_("Please message me privately: @{bot}").format(bot=bot_username), show_alert=True)

    return router


def build_fallback_router() -> Router:
    router = Router(name="fallback")

    @router.message()
    async def not_understood(message: Message, identity: Identity | None = None) -> None:
        if identity is None or not identity.registered:
            await message.answer(_("Hello! Send /start to join the loyalty programme."))
            return
        await message.answer(_("Sorry, I didn't understand that. Use the menu buttons below, or send /help."))

    @router.callback_query()
    async def stale_button(query: CallbackQuery) -> None:
        await query.answer(_("This button is no longer active. Please use the menu or send /start."))

    @router.errors()
    async def on_error(event: ErrorEvent, bot: Bot) -> bool:
        update = event.update
        log.error(
            "update %s failed: %s",
            update.update_id,
            type(event.exception).__name__,
            exc_info=event.exception,
        )
        chat_id = None
        if update.message is not None:
            chat_id = update.message.chat.id
        elif update.callback_query is not None:
            try:
                await update.callback_query.answer()
            except TelegramAPIError:
                pass
            if update.callback_query.message is not None:
                chat_id = update.callback_query.message.chat.id
        if chat_id is not None:
            try:
                await bot.send_message(chat_id, _("Sorry, something went wrong on our side. Please try again."))
            except TelegramAPIError:
                log.warning("could not send the apology for update %s", update.update_id)
        return True

    return router
