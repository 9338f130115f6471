"""Localization: gettext catalogues through aiogram's I18n.

The locale of an update is the customer's stored language; before registration it is the
language picked in the flow, then Telegram's `language_code` when it is one we speak,
then the program's default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiogram.types import TelegramObject, User
from aiogram.utils.i18n import I18n, I18nMiddleware

from loyaltybot.locales import ensure_compiled

LANGUAGES = ("en", "ms")
DOMAIN = "messages"


def build_i18n(locales_dir: Path, default_locale: str) -> I18n:
    ensure_compiled(locales_dir)
    return I18n(path=locales_dir, default_locale=default_locale, domain=DOMAIN)


def telegram_language(user: User | None) -> str | None:
    code = (user.language_code or "").split("-")[0].lower() if user else ""
    return code if code in LANGUAGES else None


class LocaleMiddleware(I18nMiddleware):
    def __init__(self, i18n: I18n) -> None:
        super().__init__(i18n)

    async def get_locale(self, event: TelegramObject, data: dict[str, Any]) -> str:
        identity = data.get("identity")
        if identity is not None and identity.language in LANGUAGES:
            return str(identity.language)
        state = data.get("state")
        if state is not None:
            chosen = (await state.get_data()).get("language")
            if chosen in LANGUAGES:
                return str(chosen)
        return telegram_language(data.get("event_from_user")) or self.i18n.default_locale
