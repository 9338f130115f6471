"""Staff at the counter: `/sale` QR codes, actions on a scanned member card, photos of QR codes."""

from __future__ import annotations

import asyncio

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from loyaltybot.bot.callbacks import MemberCb, SaleCb
from loyaltybot.bot.deeplinks import DeepLinks
from loyaltybot.bot.earning import credit_text_for_customer, credit_text_for_staff, notify, sale_caption
from loyaltybot.bot.filters import IsStaff
from loyaltybot.bot.texts import error_text
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.money import AmountError
from loyaltybot.domain.tokens import deep_link, payload_from_link
from loyaltybot.render.qr import decode_qr, qr_png
from loyaltybot.services.container import Services
from loyaltybot.services.counter import Credit
from loyaltybot.services.staff import Identity


class SaleForm(StatesGroup):
    amount = State()


class MemberForm(StatesGroup):
    amount = State()


def cancel_keyboard(data: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text=_("Cancel"), callback_data=data)]])


def build_router(*, i18n: I18n, links: DeepLinks, bot_username: str) -> Router:
    router = Router(name="counter")
    router.message.filter(IsStaff())
    router.callback_query.filter(IsStaff())

    # ------------------------------------------------------------------ sale QR
    async def issue_sale(message: Message, amount_text: str, identity: Identity, services: Services) -> bool:
        program = services.program
        try:
            sale = await services.counter.issue_sale(identity.telegram_id, amount_text, language=i18n.current_locale)
        except DomainError as error:
            await message.answer(error_text(error, program.shop.tz))
            return False
        link = deep_link(bot_username, sale.payload)
        await message.answer_photo(
            BufferedInputFile(qr_png(link), filename="sale.png"),
            caption=sale_caption(
                sale,
                link,
                currency=program.shop.currency,
                tz=program.shop.tz,
                minutes=program.sale.validity_minutes,
                tiers=program.tiers,
            ),
        )
        return True

    @router.message(Command("sale"))
    async def sale(
        message: Message, command: CommandObject, state: FSMContext, identity: Identity, services: Services
    ) -> None:
        await state.clear()
        if command.args and command.args.strip():
            await issue_sale(message, command.args.strip(), identity, services)
            return
        await state.set_state(SaleForm.amount)
        await message.answer(
            _("💵 Type the sale amount, like <code>25.50</code>:"), reply_markup=cancel_keyboard(SaleCb(action="cancel").pack())
        )

    @router.message(SaleForm.amount, F.text, ~F.text.startswith("/"))
    async def sale_amount(message: Message, state: FSMContext, identity: Identity, services: Services) -> None:
        assert message.text is not None
        if await issue_sale(message, message.text, identity, services):
            await state.clear()

    @router.callback_query(SaleCb.filter(F.action == "cancel"))
    async def sale_cancel(query: CallbackQuery, state: FSMContext) -> None:
        await query.answer()
        await state.clear()
        if isinstance(query.message, Message):
            await query.message.edit_text(_("OK, no sale QR code was made."))

    # ------------------------------------------------------------------ member card actions
    async def tell_customer(bot: Bot | None, credit: Credit, services: Services) -> None:
        if bot is None:
            return
        shop = services.program.shop
        await notify(
            bot,
            i18n,
            credit.customer_telegram_id,
            credit.customer_language,
            lambda: credit_text_for_customer(credit, currency=shop.currency, tz=shop.tz),
        )

    @router.callback_query(MemberCb.filter(F.action == "buy"))
    async def member_buy(query: CallbackQuery, callback_data: MemberCb, state: FSMContext) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        await state.set_state(MemberForm.amount)
        await state.set_data({"member_key": callback_data.key, "card_message": query.message.message_id})
        await query.message.answer(
            _("🧾 Type the purchase amount, like <code>25.50</code>:"),
            reply_markup=cancel_keyboard(MemberCb(action="cancel", key=callback_data.key).pack()),
        )

    @router.callback_query(MemberCb.filter(F.action == "cancel"))
    async def member_cancel(query: CallbackQuery, state: FSMContext) -> None:
        await query.answer()
        await state.clear()
        if isinstance(query.message, Message):
            await query.message.edit_text(_("OK, nothing was added."))

    @router.message(MemberForm.amount, F.text, ~F.text.startswith("/"))
    async def member_amount(message: Message, state: FSMContext, identity: Identity, services: Services) -> None:
        assert message.text is not None
        data = await state.get_data()
        try:
            credit = await services.counter.credit_member(
                identity.telegram_id,
                str(data.get("member_key", "")),
                amount_text=message.text,
                request_key=f"buy:{data.get('card_message')}",
            )
        except AmountError as error:
            await message.answer(error_text(error))  # stay in the form: type it again
            return
        except DomainError as error:
            await state.clear()
            await message.answer(error_text(error, services.program.shop.tz))
            return
        await state.clear()
        await message.answer(credit_text_for_staff(credit, currency=services.program.shop.currency))
        await tell_customer(message.bot, credit, services)

    @router.callback_query(MemberCb.filter(F.action == "stamp"))
    async def member_stamp(query: CallbackQuery, callback_data: MemberCb, identity: Identity, services: Services) -> None:
        if not isinstance(query.message, Message):
            await query.answer()
            return
        try:
            credit = await services.counter.credit_member(
                identity.telegram_id,
                callback_data.key,
                amount_text=None,
                request_key=f"stamp:{query.message.message_id}",
            )
        except DomainError as error:
            await query.answer()
            await query.message.answer(error_text(error, services.program.shop.tz))
            return
        await query.answer()
        await query.message.answer(credit_text_for_staff(credit, currency=services.program.shop.currency))
        await tell_customer(query.bot, credit, services)

    # ------------------------------------------------------------------ photo of a QR code
    @router.message(F.photo)
    async def photo(message: Message, bot: Bot, state: FSMContext, identity: Identity) -> None:
        assert message.photo
        downloaded = await bot.download(message.photo[-1])
        texts = await asyncio.to_thread(decode_qr, downloaded.read()) if downloaded is not None else []
        payloads = [p for p in (payload_from_link(text, bot_username) for text in texts) if p]
        if not payloads:
            await message.answer(
                _(
                    "🔍 I could not read one of my QR codes in this photo. Hold the phone steady, "
                    "fill the picture with the code and try again, or ask the customer to open the link."
                )
            )
            return
        await state.clear()
        await links.open(message, payloads[0], identity)

    return router
