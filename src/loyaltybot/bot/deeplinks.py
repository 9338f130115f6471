"""Acting on a scanned QR code: `/start <payload>` or a photo of the code sent by staff."""

from __future__ import annotations

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from loyaltybot.bot.callbacks import InviteCb, MemberCb
from loyaltybot.bot.earning import credit_text_for_customer, notify, sale_claimed_text
from loyaltybot.bot.handlers.rewards import open_redemption, open_voucher
from loyaltybot.bot.session import results_unused
from loyaltybot.bot.texts import error_text, name, stamp_bar
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.tokens import TokenForged, TokenKind, TokenMalformed
from loyaltybot.services.container import Services
from loyaltybot.services.scans import CodeNotValid
from loyaltybot.services.staff import Identity


class DeepLinks:
    def __init__(self, services: Services, i18n: I18n | None = None) -> None:
        self._services = services
        self._i18n = i18n

    def opens_before_registration(self, payload: str, identity: Identity) -> bool:
        """Staff act on codes without a customer account; a staff invite needs none either, and
        somebody who scanned another person's member card is told at once it is for the staff."""
        if identity.role.is_staff:
            return True
        try:
            kind, _token_id = self._services.scans.decode(payload)
        except DomainError:
            return False
        return kind in (TokenKind.INVITE, TokenKind.MEMBER)

    async def open(self, message: Message, payload: str, identity: Identity) -> None:
        """Route a payload by its kind; every refusal is a localized message and changes nothing."""
        services = self._services
        try:
            try:
                kind, token_id = services.scans.decode(payload)
            except TokenForged:
                await services.scans.record_failure(identity.telegram_id, payload, "forged")
                raise CodeNotValid() from None
            except TokenMalformed:
                raise CodeNotValid() from None
            if kind is TokenKind.MEMBER:
                await self._open_member(message, payload, token_id, identity)
            elif kind is TokenKind.SALE:
                await self._claim_sale(message, token_id, identity)
            elif kind is TokenKind.INVITE:
                await self._open_invite(message, token_id, identity)
            elif kind is TokenKind.REDEEM:
                await open_redemption(message, token_id, identity, services)
            elif kind is TokenKind.VOUCHER:
                await open_voucher(message, token_id, identity, services)
            else:
                raise CodeNotValid()
        except DomainError as error:
            await message.answer(error_text(error, services.program.shop.tz))

    async def _claim_sale(self, message: Message, token_id: str, identity: Identity) -> None:
        services = self._services
        credit = await services.counter.claim_sale(token_id, identity.telegram_id)
        currency, tz = services.program.shop.currency, services.program.shop.tz
        with results_unused():
            await message.answer(credit_text_for_customer(credit, currency=currency, tz=tz))
        staff_id = credit.staff_telegram_id
        if staff_id is not None and self._i18n is not None and message.bot is not None:
            language = credit.staff_language or services.program.shop.default_language
            await notify(
                message.bot, self._i18n, staff_id, language, lambda: sale_claimed_text(credit, currency=currency)
            )

    async def _open_invite(self, message: Message, token_id: str, identity: Identity) -> None:
        services = self._services
        await services.team.check_invite(token_id, identity.telegram_id)
        await message.answer(
            _(
                "👥 <b>{shop}</b> invites you to join the staff.\n"
                "As staff you can issue sale QR codes and scan customers' cards at the counter. Join?"
            ).format(shop=name(services.program.shop.name)),
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(
                            text=_("✅ Join the staff"), callback_data=InviteCb(action="yes", token=token_id).pack()
                        ),
                        InlineKeyboardButton(text=_("Cancel"), callback_data=InviteCb(action="no", token=token_id).pack()),
                    ]
                ]
            ),
        )

    async def _open_member(self, message: Message, payload: str, member_key: str, identity: Identity) -> None:
        services = self._services
        view = await services.scans.open_member(payload, actor=identity.telegram_id, role=identity.role)
        buttons = [
            InlineKeyboardButton(text=_("🧾 Add purchase"), callback_data=MemberCb(action="buy", key=member_key).pack())
        ]
        if services.counter.stamps_enabled:
            buttons.append(
                InlineKeyboardButton(
                    text=_("☕ Add stamp only"), callback_data=MemberCb(action="stamp", key=member_key).pack()
                )
            )
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
            ),
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[buttons]),
        )
