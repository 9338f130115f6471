"""The owner's /admin → Automations: birthday, win-back and festival offers with their planned
send dates, switched on and off, their texts and vouchers edited in both languages, previewed
exactly as customers receive them."""

from __future__ import annotations

from datetime import date
from html import escape

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from loyaltybot.bot.callbacks import AdminCb, AutomationCb
from loyaltybot.bot.filters import IsOwner
from loyaltybot.bot.promotions import offer_caption, stop_keyboard
from loyaltybot.bot.texts import error_text
from loyaltybot.config import LANGUAGES
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.tokens import deep_link
from loyaltybot.render.qr import qr_png
from loyaltybot.services.container import Services
from loyaltybot.services.offers import (
    BIRTHDAY,
    FESTIVAL,
    WINBACK,
    Automations,
    OfferTexts,
    switch_key_of,
)
from loyaltybot.services.staff import Identity

# Festivals listed at once (the next twelve months rarely hold more).
SHOWN = 12


def day_text(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def state_mark(on: bool) -> str:
    return "✅" if on else "⏸"


def automations_view(view: Automations, language: str) -> tuple[str, InlineKeyboardMarkup]:
    lines = [
        _("⏰ <b>Automations</b>: offers with a voucher, sent at {hour:02d}:00 shop time to customers who accept "
          "promotions.").format(hour=view.hour),
        "",
        _("{mark} Birthday: on the customer's birthday").format(mark=state_mark(view.birthday_on)),
        _("{mark} Win-back: after {days} days without a visit").format(mark=state_mark(view.winback_on),
                                                                    days=view.winback_days),
        "",
        _("<b>Festivals</b> (send date → festival):"),
    ]
    rows: list[list[InlineKeyboardButton]] = []

    def buttons(key: str, label: str, on: bool) -> None:
        rows.append(
            [
                InlineKeyboardButton(
                    text=(_("⏸ Switch off: {name}") if on else _("▶️ Switch on: {name}")).format(name=label),
                    callback_data=AutomationCb(action="off" if on else "on", key=packed(key)).pack(),
                ),
                InlineKeyboardButton(text=_("👁 Preview"), callback_data=AutomationCb(action="preview", key=packed(key)).pack()),
            ]
        )

    rows.append(
        [
            InlineKeyboardButton(text=_("✏️ Texts: birthday"), callback_data=AutomationCb(action="edit", key=BIRTHDAY).pack()),
            InlineKeyboardButton(text=_("✏️ festivals"), callback_data=AutomationCb(action="edit", key=FESTIVAL).pack()),
            InlineKeyboardButton(text=_("✏️ win-back"), callback_data=AutomationCb(action="edit", key=WINBACK).pack()),
        ]
    )
    buttons(BIRTHDAY, _("Birthday"), view.birthday_on)
    buttons(WINBACK, _("Win-back"), view.winback_on)
    if not view.festivals:
        lines.append(_("No festivals in the next twelve months."))
    for festival, on in view.festivals[:SHOWN]:
        lines.append(
            _("{mark} {send} → {name} ({day})").format(
                mark=state_mark(on), send=day_text(festival.send_day), name=festival.name(language),
                day=day_text(festival.day),
            )
        )
        buttons(switch_key_of(festival), festival.name(language), on)
    lines += ["", _("✏️ changes the message and the voucher of an offer, in English and in Malay.")]
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def packed(key: str) -> str:
    """Callback data cannot hold ':' (aiogram's separator): `festival:raya` travels as `festival/raya`."""
    return key.replace(":", "/")


def unpacked(value: str) -> str:
    return value.replace("/", ":")


class AutomationForm(StatesGroup):
    message_en = State()
    message_ms = State()
    voucher_en = State()
    voucher_ms = State()


# Each step of the texts editor: the state, the field it fills, and what to ask next.
STEPS = (
    (AutomationForm.message_en, "message_en"),
    (AutomationForm.message_ms, "message_ms"),
    (AutomationForm.voucher_en, "voucher_en"),
    (AutomationForm.voucher_ms, "voucher_ms"),
)


def step_prompt(field: str, current: str) -> str:
    prompts = {
        "message_en": _(
            "Send the <b>English</b> message (bold, italic and links allowed). Placeholders: {{shop}}, "
            "{{festival}} (the festival's name) and {{days}} (how long the voucher is valid)."
        ),
        "message_ms": _("Now the <b>Malay</b> message, with the same placeholders."),
        "voucher_en": _("What does the voucher give? Send it in <b>English</b> (plain text, e.g. 10% off)."),
        "voucher_ms": _("And the voucher in <b>Malay</b>."),
    }
    return prompts[field] + "\n\n" + _("Now: {text}").format(text=f"<code>{escape(current)}</code>") + "\n" + _(
        "/cancel to stop without changes."
    )


def build_owner_router(*, i18n: I18n, bot_username: str) -> Router:
    router = Router(name="automations")
    router.message.filter(IsOwner())
    router.callback_query.filter(IsOwner())

    @router.callback_query(AutomationCb.filter(F.action == "edit"))
    async def edit(query: CallbackQuery, callback_data: AutomationCb, state: FSMContext, identity: Identity,
                   services: Services) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        try:
            current = await services.offers.texts(identity.telegram_id, callback_data.key)
        except DomainError as error:
            await query.message.answer(error_text(error))
            return
        await state.set_state(AutomationForm.message_en)
        await state.set_data({"kind": callback_data.key, "current": {
            "message_en": current.message_en, "message_ms": current.message_ms,
            "voucher_en": current.voucher_en, "voucher_ms": current.voucher_ms,
        }})
        await query.message.answer(step_prompt("message_en", current.message_en))

    @router.message(StateFilter(AutomationForm), Command("cancel"))
    async def cancel(message: Message, state: FSMContext) -> None:
        await state.clear()
        await message.answer(_("Stopped: the texts are unchanged."))

    @router.message(StateFilter(AutomationForm), F.text & ~F.text.startswith("/"))
    async def got_text(message: Message, state: FSMContext, bot: Bot, identity: Identity, services: Services) -> None:
        current_state = await state.get_state()
        index = next(i for i, (step, _field) in enumerate(STEPS) if step.state == current_state)
        field = STEPS[index][1]
        is_message = field.startswith("message")
        value = (message.html_text if message.entities else message.text or "") if is_message else (message.text or "")
        try:
            sample = services.offers.check_text(value)
        except DomainError as error:
            await message.answer(error_text(error))
            return
        if is_message:
            # Telegram is the judge of the HTML: a text it refuses is asked for again.
            try:
                await bot.send_message(message.chat.id, sample)
            except TelegramBadRequest as error:
                reason = escape(error.message.removeprefix("Telegram server says - "), quote=False)
                await message.answer(
                    _("⚠️ Telegram cannot show this text: {reason}\nPlease send it again.").format(reason=reason)
                )
                return
        data = await state.get_data()
        data[field] = value
        await state.set_data(data)
        if index + 1 < len(STEPS):
            next_state, next_field = STEPS[index + 1]
            await state.set_state(next_state)
            await message.answer(step_prompt(next_field, data["current"][next_field]))
            return
        await state.clear()
        texts = OfferTexts(data["message_en"], data["message_ms"], data["voucher_en"], data["voucher_ms"])
        try:
            await services.offers.set_texts(identity.telegram_id, data["kind"], texts)
        except DomainError as error:
            await message.answer(error_text(error))
            return
        await message.answer(_("✅ Saved. Offers queued from now on use the new texts."))

    async def show(message: Message, identity: Identity, services: Services, *, edit: bool) -> None:
        try:
            view = await services.offers.automations(identity.telegram_id)
        except DomainError as error:
            await message.answer(error_text(error))
            return
        text, markup = automations_view(view, i18n.current_locale)
        if edit:
            await message.edit_text(text, reply_markup=markup)
        else:
            await message.answer(text, reply_markup=markup)

    @router.callback_query(AdminCb.filter(F.section == "automations"))
    async def section(query: CallbackQuery, identity: Identity, services: Services) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await show(query.message, identity, services, edit=False)

    @router.callback_query(AutomationCb.filter(F.action.in_({"on", "off"})))
    async def switch(query: CallbackQuery, callback_data: AutomationCb, identity: Identity, services: Services) -> None:
        if not isinstance(query.message, Message):
            await query.answer()
            return
        try:
            await services.offers.switch(identity.telegram_id, unpacked(callback_data.key), callback_data.action == "on")
        except DomainError as error:
            await query.answer(error_text(error), show_alert=True)
            return
        await query.answer(_("Switched on.") if callback_data.action == "on" else _("Switched off."))
        await show(query.message, identity, services, edit=True)

    @router.callback_query(AutomationCb.filter(F.action == "preview"))
    async def preview(
        query: CallbackQuery, callback_data: AutomationCb, identity: Identity, services: Services, bot: Bot
    ) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        # A sample QR: the real one carries each customer's own voucher code.
        sample = qr_png(deep_link(bot_username, "preview"))
        for language in LANGUAGES:
            try:
                offer = await services.offers.preview(identity.telegram_id, unpacked(callback_data.key), language)
            except DomainError as error:
                await query.message.answer(error_text(error))
                return
            await bot.send_photo(
                query.message.chat.id,
                BufferedInputFile(sample, filename="voucher.png"),
                caption=offer_caption(offer.text, offer.voucher_title),
                reply_markup=stop_keyboard(i18n, language),
            )

    return router
