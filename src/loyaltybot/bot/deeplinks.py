"""Acting on a scanned QR code: `/start <payload>` or a photo of the code sent by staff."""

from __future__ import annotations

from aiogram.types import Message
from aiogram.utils.i18n import gettext as _

from loyaltybot.bot.texts import error_text, name, stamp_bar
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.tokens import TokenForged, TokenKind, TokenMalformed
from loyaltybot.services.container import Services
from loyaltybot.services.scans import CodeNotValid
from loyaltybot.services.staff import Identity


class DeepLinks:
    def __init__(self, services: Services) -> None:
        self._services = services

    async def open(self, message: Message, payload: str, identity: Identity) -> None:
        """Route a payload by its kind; every refusal is a localized message and changes nothing."""
        services = self._services
        try:
            try:
                kind, _token_id = services.scans.decode(payload)
            except TokenForged:
                await services.scans.record_failure(identity.telegram_id, payload, "forged")
                raise CodeNotValid() from None
            except TokenMalformed:
                raise CodeNotValid() from None
            if kind is TokenKind.MEMBER:
                await self._open_member(message, payload, identity)
                return
            raise CodeNotValid()
        except DomainError as error:
            await message.answer(error_text(error))

    async def _open_member(self, message: Message, payload: str, identity: Identity) -> None:
        view = await self._services.scans.open_member(payload, actor=identity.telegram_id, role=identity.role)
        await message.answer(
            _(
                "👤 <b>{name}</b> · phone {phone}\n"
                "⭐ Points: <b>{balance}</b>\n"
                "☕ Stamps: {bar} {stamps}/{size}"
            ).format(
                name=name(view.first_name),
                phone=view.masked_phone,
                balance=view.balance,
                bar=stamp_bar(view.stamps, view.card_size),
                stamps=view.stamps,
                size=view.card_size,
            )
        )
