"""`/start` and registration: language → privacy notice → own phone by contact → birthday → menu.

Nothing is stored until the phone number is shared: the chosen language and the consent
wait in the conversation state. A `/start <payload>` from someone not yet registered is
kept there too and handled as soon as registration completes.
"""

from __future__ import annotations

from datetime import datetime

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from loyaltybot.bot.callbacks import BirthdayCb, ConsentCb, LanguageCb
from loyaltybot.bot.deeplinks import DeepLinks
from loyaltybot.bot.i18n import LANGUAGES, telegram_language
from loyaltybot.bot.menu import main_menu
from loyaltybot.bot.texts import error_text, name
from loyaltybot.domain.errors import DomainError
from loyaltybot.services.container import Services
from loyaltybot.services.staff import Identity

PENDING_PAYLOAD = "pending_payload"


class Registration(StatesGroup):
    language = State()
    consent = State()
    phone = State()
    birthday = State()


def language_keyboard(selected: str, context: str) -> InlineKeyboardMarkup:
    def label(code: str, text: str) -> str:
        return f"✓ {text}" if code == selected else text

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=label("en", "English"), callback_data=LanguageCb(code="en", context=context).pack()),
                InlineKeyboardButton(
                    text=label("ms", "Bahasa Melayu"), callback_data=LanguageCb(code="ms", context=context).pack()
                ),
            ]
        ]
    )


def privacy_notice(shop: str) -> str:
    return _(
        "<b>Privacy notice</b>\n\n"
        "To run your loyalty card, {shop} stores:\n"
        "• your Telegram account ID and name\n"
        "• your phone number, to recognise you at the counter\n"
        "• your birthday, if you choose to give it, for a birthday treat\n"
        "• your points, stamps, rewards and visits\n\n"
        "We use this only for the loyalty programme and never sell it. You will also get occasional "
        "offers (birthday, festivals); turn them off any time in /settings or with the button on each offer.\n\n"
        "You can see, export or delete your data at any time with /privacy."
    ).format(shop=name(shop))


def contact_keyboard() -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=_("📱 Share my phone number"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
        input_field_placeholder=_("Tap the button below"),
    )


def birthday_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=_("Skip"), callback_data=BirthdayCb(action="skip").pack())]]
    )


def birthday_prompt() -> str:
    return _(
        "🎂 When is your birthday? We'd like to send you a treat on the day.\n"
        "Type it like <code>31/12</code> or <code>31/12/1990</code> (the year is optional), or tap Skip."
    )


def build_router(*, i18n: I18n, links: DeepLinks) -> Router:
    router = Router(name="registration")

    async def show_menu(message: Message, first_name: str) -> None:
        await message.answer(
            _("What would you like to do, {name}?").format(name=name(first_name)), reply_markup=main_menu()
        )

    @router.message(CommandStart())
    async def start(
        message: Message, command: CommandObject, state: FSMContext, identity: Identity, services: Services
    ) -> None:
        payload = (command.args or "").strip() or None
        if payload and not identity.registered and links.opens_before_registration(payload, identity):
            # Staff scanning at the counter (or opening a staff invite) need no customer account.
            await links.open(message, payload, identity)
            return
        if identity.registered:
            await state.clear()
            if payload:
                await links.open(message, payload, identity)
                return
            profile = await services.customers.profile(identity.telegram_id)
            await show_menu(message, profile.first_name if profile else "")
            return
        data = await state.get_data()
        language = data.get("language") or telegram_language(message.from_user) or i18n.default_locale
        pending = payload or data.get(PENDING_PAYLOAD)
        await state.set_state(Registration.language)
        await state.set_data({"language": language, PENDING_PAYLOAD: pending} if pending else {"language": language})
        with i18n.use_locale(language):
            await message.answer(
                _("👋 Welcome to <b>{shop}</b>!\nPlease choose your language:").format(
                    shop=name(services.program.shop.name)
                ),
                reply_markup=language_keyboard(language, "reg"),
            )

    @router.callback_query(Registration.language, LanguageCb.filter(F.context == "reg"))
    async def language_chosen(
        query: CallbackQuery, callback_data: LanguageCb, state: FSMContext, services: Services
    ) -> None:
        if callback_data.code not in LANGUAGES:
            await query.answer()
            return
        await state.update_data(language=callback_data.code)
        await state.set_state(Registration.consent)
        with i18n.use_locale(callback_data.code):
            await query.answer()
            if isinstance(query.message, Message):
                await query.message.edit_text(
                    privacy_notice(services.program.shop.name),
                    reply_markup=InlineKeyboardMarkup(
                        inline_keyboard=[
                            [
                                InlineKeyboardButton(text=_("✅ I accept"), callback_data=ConsentCb(accept=True).pack()),
                                InlineKeyboardButton(text=_("❌ Decline"), callback_data=ConsentCb(accept=False).pack()),
                            ]
                        ]
                    ),
                )

    @router.callback_query(Registration.consent, ConsentCb.filter())
    async def consent_given(
        query: CallbackQuery, callback_data: ConsentCb, state: FSMContext, services: Services
    ) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        if not callback_data.accept:
            await state.clear()
            await query.message.edit_text(
                _("No problem — nothing has been stored. If you change your mind, just send /start.")
            )
            return
        await state.update_data(
            consent_at=services.clock().isoformat(), consent_version=services.program.privacy.notice_version
        )
        await state.set_state(Registration.phone)
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(
            _(
                "Thank you! Now tap <b>📱 Share my phone number</b> below. "
                "Your number is how the shop recognises you at the counter."
            ),
            reply_markup=contact_keyboard(),
        )

    @router.message(Registration.phone, F.contact)
    async def contact_shared(message: Message, state: FSMContext, services: Services) -> None:
        assert message.contact is not None and message.from_user is not None
        data = await state.get_data()
        try:
            registration = await services.customers.register(
                telegram_id=message.from_user.id,
                contact_user_id=message.contact.user_id,
                phone=message.contact.phone_number,
                first_name=message.from_user.first_name,
                last_name=message.from_user.last_name,
                language=data.get("language", i18n.default_locale),
                consent_version=data.get("consent_version", services.program.privacy.notice_version),
                consent_at=datetime.fromisoformat(data["consent_at"]) if "consent_at" in data else services.clock(),
            )
        except DomainError as error:
            await message.answer(error_text(error), reply_markup=contact_keyboard())
            return
        await state.set_state(Registration.birthday)
        await message.answer(
            _("✅ Thanks, {name}! Your phone number is verified.").format(name=name(registration.profile.first_name)),
            reply_markup=ReplyKeyboardRemove(),
        )
        await message.answer(birthday_prompt(), reply_markup=birthday_keyboard())

    @router.message(Registration.phone)
    async def phone_typed(message: Message) -> None:
        await message.answer(
            _(
                "For your security, please use the <b>📱 Share my phone number</b> button below — "
                "a typed number cannot be verified."
            ),
            reply_markup=contact_keyboard(),
        )

    async def finish(message: Message, state: FSMContext, identity: Identity, services: Services) -> None:
        pending = (await state.get_data()).get(PENDING_PAYLOAD)
        await state.clear()
        profile = await services.customers.profile(identity.telegram_id)
        first_name = profile.first_name if profile else ""
        await message.answer(
            _(
                "🎉 You're in, {name}! Welcome to the {shop} loyalty programme.\n"
                "Scan the shop's QR code at the counter, or show your card (💳 My card), "
                "to collect points and stamps."
            ).format(name=name(first_name), shop=name(services.program.shop.name)),
            reply_markup=main_menu(),
        )
        if pending:
            refreshed = await services.staff.identify(identity.telegram_id)
            await links.open(message, pending, refreshed)

    @router.message(Registration.birthday, F.text, ~F.text.startswith("/"))
    async def birthday_given(message: Message, state: FSMContext, identity: Identity, services: Services) -> None:
        assert message.text is not None
        try:
            birthday = await services.customers.set_birthday(
                identity.telegram_id, message.text, today=services.clock().astimezone(services.program.shop.tz).date()
            )
        except DomainError as error:
            await message.answer(error_text(error), reply_markup=birthday_keyboard())
            return
        await message.answer(_("🎂 Birthday saved: {date}.").format(date=birthday.format()))
        await finish(message, state, identity, services)

    @router.callback_query(Registration.birthday, BirthdayCb.filter(F.action == "skip"))
    async def birthday_skipped(query: CallbackQuery, state: FSMContext, identity: Identity, services: Services) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=None)
            await finish(query.message, state, identity, services)

    return router
