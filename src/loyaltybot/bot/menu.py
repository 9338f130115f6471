"""The customer's main menu (a persistent reply keyboard) and matching its buttons in any language."""

from __future__ import annotations

from aiogram.types import KeyboardButton, ReplyKeyboardMarkup
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from loyaltybot.bot.i18n import LANGUAGES


def N_(message: str) -> str:
    """Mark a text for the catalogue without translating it yet (translated where shown)."""
    return message


MENU_CARD = N_("💳 My card")
MENU_REWARDS = N_("🎁 Rewards")
MENU_HISTORY = N_("📜 History")
MENU_SURVEYS = N_("📝 Surveys")
MENU_SETTINGS = N_("⚙️ Settings")
MENU_HELP = N_("❓ Help")
MENU_BUTTONS = (MENU_CARD, MENU_REWARDS, MENU_HISTORY, MENU_SURVEYS, MENU_SETTINGS, MENU_HELP)


def main_menu() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=_(MENU_CARD)), KeyboardButton(text=_(MENU_REWARDS))],
            [KeyboardButton(text=_(MENU_HISTORY)), KeyboardButton(text=_(MENU_SURVEYS))],
            [KeyboardButton(text=_(MENU_SETTINGS)), KeyboardButton(text=_(MENU_HELP))],
        ],
        resize_keyboard=True,
        is_persistent=True,
        input_field_placeholder=_("Choose from the menu"),
    )


def all_translations(i18n: I18n, msgid: str) -> frozenset[str]:
    """Every language's version of a text, so a button from an older keyboard still works."""
    return frozenset(i18n.gettext(msgid, locale=language) for language in LANGUAGES)


def menu_texts(i18n: I18n) -> frozenset[str]:
    """Every main-menu button, in every language."""
    return frozenset().union(*(all_translations(i18n, msgid) for msgid in MENU_BUTTONS))
