"""A registered customer's commands and menu: card, history, settings, privacy, help."""

from __future__ import annotations

import json
from collections import OrderedDict

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardRemove,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from loyaltybot.bot.callbacks import BirthdayCb, CardCb, HistoryCb, LanguageCb, PrivacyCb, SettingsCb, VoucherCb
from loyaltybot.bot.filters import IsRegistered
from loyaltybot.bot.handlers.registration import language_keyboard, privacy_notice
from loyaltybot.bot.menu import (
    MENU_CARD,
    MENU_HELP,
    MENU_HISTORY,
    MENU_SETTINGS,
    MENU_SURVEYS,
    all_translations,
    main_menu,
)
from loyaltybot.bot.texts import error_text, kind_label, language_name, local_time, name, stamp_bar
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.tokens import deep_link
from loyaltybot.render.qr import qr_png
from loyaltybot.domain.money import format_amount
from loyaltybot.services.container import Services
from loyaltybot.services.customers import Card
from loyaltybot.services.staff import Identity


CAPTION_LIMIT = 1000  # Telegram: 1024 characters of caption after entity parsing; keep a margin


def card_status_text(card: Card, services: Services) -> str:
    """Tier, perks, progress to the next tier and the next points expiry, for /card."""
    lines = []
    tz, currency = services.program.shop.tz, services.program.shop.currency
    if card.tier is not None:
        lines.append(_("🏅 Tier: <b>{tier}</b>").format(tier=name(card.tier.name)))
        if card.tier.perks:
            lines.append("   " + name(card.tier.perks))
        if card.tier.next_name is not None:
            lines.append(
                _("📈 Spend {amount} more to reach {tier} ({percent}%)").format(
                    amount=format_amount(card.tier.sen_missing, currency),
                    tier=name(card.tier.next_name),
                    percent=card.tier.percent,
                )
            )
        else:
            lines.append(_("🏆 You are at the top tier."))
    if card.next_expiry is not None:
        points, when = card.next_expiry
        lines.append(
            _("⏳ {points} points expire on {date}").format(points=points, date=when.astimezone(tz).strftime("%d/%m/%Y"))
        )
    return ("\n" + "\n".join(lines)) if lines else ""


def voucher_buttons(card: Card) -> list[list[InlineKeyboardButton]]:
    return [
        [
            InlineKeyboardButton(
                text=_("🎟 Voucher QR: {title}").format(title=title[:40]),
                callback_data=VoucherCb(action="show", code=payload).pack(),
            )
        ]
        for (title, _expires), payload in zip(card.vouchers, card.voucher_payloads)
    ]


class SettingsForm(StatesGroup):
    birthday = State()


class PhotoCache:
    """Telegram file ids of QR images already uploaded, so a card is re-sent without re-uploading."""

    def __init__(self, size: int = 2048) -> None:
        self._ids: OrderedDict[str, str] = OrderedDict()
        self._size = size

    def get(self, key: str) -> str | None:
        file_id = self._ids.get(key)
        if file_id is not None:
            self._ids.move_to_end(key)
        return file_id

    def put(self, key: str, file_id: str) -> None:
        self._ids[key] = file_id
        self._ids.move_to_end(key)
        while len(self._ids) > self._size:
            self._ids.popitem(last=False)


def build_router(*, i18n: I18n, bot_username: str) -> Router:
    router = Router(name="customer")
    router.message.filter(IsRegistered())
    router.callback_query.filter(IsRegistered())
    photos = PhotoCache()

    def menu_button(msgid: str):  # type: ignore[no-untyped-def]
        return F.text.in_(all_translations(i18n, msgid))

    # ------------------------------------------------------------------ card
    async def send_card(message: Message, identity: Identity, services: Services) -> None:
        card = await services.customers.card(identity.telegram_id)
        caption = _(
            "💳 <b>{name}</b> · {shop}\n"
            "⭐ Points: <b>{balance}</b>\n"
            "☕ Stamps: {bar} {stamps}/{size}\n\n"
            "Show this QR code to the staff at the counter."
        ).format(
            name=name(card.first_name),
            shop=name(services.program.shop.name),
            balance=card.balance,
            bar=stamp_bar(card.stamps, card.card_size),
            stamps=min(card.stamps, card.card_size),
            size=card.card_size,
        )
        rest = card_status_text(card, services)
        if card.vouchers:
            rest += "\n\n" + _("🎟 <b>Your vouchers</b>") + "".join(
                "\n• " + name(title)
                + (" " + _("(valid until {date})").format(date=local_time(expires, services.program.shop.tz)) if expires else "")
                for title, expires in card.vouchers
            )
        # A photo caption holds 1024 characters: a long status (perks, many vouchers) follows as a message.
        overflow = ""
        if len(caption) + len(rest) <= CAPTION_LIMIT:
            caption += rest
        else:
            overflow = rest.strip()
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text=_("🔄 New code"), callback_data=CardCb(action="rotate").pack())]]
            + voucher_buttons(card)
        )
        cached = photos.get(card.member_payload)
        if cached is not None:
            await message.answer_photo(cached, caption=caption, reply_markup=keyboard)
        else:
            png = qr_png(deep_link(bot_username, card.member_payload))
            sent = await message.answer_photo(
                BufferedInputFile(png, filename="member-card.png"), caption=caption, reply_markup=keyboard
            )
            if sent.photo:
                photos.put(card.member_payload, sent.photo[-1].file_id)
        if overflow:
            await message.answer(overflow)

    @router.message(Command("card"))
    @router.message(menu_button(MENU_CARD))
    async def card(message: Message, identity: Identity, services: Services) -> None:
        await send_card(message, identity, services)

    @router.callback_query(CardCb.filter(F.action == "rotate"))
    async def rotate_ask(query: CallbackQuery) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(
                _("Get a new member QR code? Your current code will stop working at once."),
                reply_markup=InlineKeyboardMarkup(
                    inline_keyboard=[
                        [
                            InlineKeyboardButton(text=_("Yes, new code"), callback_data=CardCb(action="rotate_yes").pack()),
                            InlineKeyboardButton(text=_("Cancel"), callback_data=CardCb(action="rotate_no").pack()),
                        ]
                    ]
                ),
            )

    @router.callback_query(CardCb.filter(F.action.in_({"rotate_yes", "rotate_no"})))
    async def rotate_answer(
        query: CallbackQuery, callback_data: CardCb, identity: Identity, services: Services
    ) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        if callback_data.action == "rotate_no":
            await query.message.edit_text(_("OK, your code is unchanged."))
            return
        await services.customers.rotate_member_code(identity.telegram_id)
        await query.message.edit_text(_("Done: your old code no longer works. Here is your new card."))
        await send_card(query.message, identity, services)

    # ------------------------------------------------------------------ history
    async def history_page(identity: Identity, services: Services, page: int) -> tuple[str, InlineKeyboardMarkup | None]:
        history = await services.customers.history(identity.telegram_id, page)
        if history.total == 0:
            return _("📜 No activity yet. Scan the shop's QR code at the counter to collect points."), None
        tz = services.program.shop.tz
        lines = [_("📜 <b>Your activity</b> (page {page} of {pages})").format(page=history.page + 1, pages=history.pages)]
        for item in history.items:
            lines.append(
                _("{when} · {kind} · <b>{delta:+d}</b> · balance {balance}").format(
                    when=local_time(item.created_at, tz),
                    kind=kind_label(item.kind),
                    delta=item.delta,
                    balance=item.balance_after,
                )
                + (f" · ☕ +{item.stamps_delta}" if item.stamps_delta else "")
            )
        buttons = []
        if history.page > 0:
            buttons.append(InlineKeyboardButton(text=_("◀ Newer"), callback_data=HistoryCb(page=history.page - 1).pack()))
        if history.page + 1 < history.pages:
            buttons.append(InlineKeyboardButton(text=_("Older ▶"), callback_data=HistoryCb(page=history.page + 1).pack()))
        return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=[buttons]) if buttons else None

    @router.message(Command("history"))
    @router.message(menu_button(MENU_HISTORY))
    async def history(message: Message, identity: Identity, services: Services) -> None:
        text, keyboard = await history_page(identity, services, 0)
        await message.answer(text, reply_markup=keyboard)

    @router.callback_query(HistoryCb.filter())
    async def history_more(query: CallbackQuery, callback_data: HistoryCb, identity: Identity, services: Services) -> None:
        await query.answer()
        text, keyboard = await history_page(identity, services, callback_data.page)
        if isinstance(query.message, Message):
            try:
                await query.message.edit_text(text, reply_markup=keyboard)
            except TelegramBadRequest as error:
                if "message is not modified" not in error.message:
                    raise

    # ------------------------------------------------------------------ settings
    async def settings_view(identity: Identity, services: Services) -> tuple[str, InlineKeyboardMarkup]:
        profile = await services.customers.profile(identity.telegram_id)
        assert profile is not None
        text = _(
            "⚙️ <b>Settings</b>\n\n"
            "🌐 Language: {language}\n"
            "🎂 Birthday: {birthday}\n"
            "🔔 Promotions and offers: {promotions}"
        ).format(
            language=language_name(profile.language),
            birthday=profile.birthday.format() if profile.birthday else _("not set"),
            promotions=_("on") if profile.marketing_opt_in else _("off"),
        )
        promo = (
            InlineKeyboardButton(text=_("🔕 Stop promotions"), callback_data=SettingsCb(action="promo_off").pack())
            if profile.marketing_opt_in
            else InlineKeyboardButton(text=_("🔔 Receive promotions"), callback_data=SettingsCb(action="promo_on").pack())
        )
        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(text=_("🌐 Language"), callback_data=SettingsCb(action="lang").pack()),
                    InlineKeyboardButton(text=_("🎂 Birthday"), callback_data=SettingsCb(action="bday").pack()),
                ],
                [promo],
            ]
        )
        return text, keyboard

    @router.message(Command("settings"))
    @router.message(menu_button(MENU_SETTINGS))
    async def settings(message: Message, state: FSMContext, identity: Identity, services: Services) -> None:
        await state.clear()
        text, keyboard = await settings_view(identity, services)
        await message.answer(text, reply_markup=keyboard)

    @router.callback_query(SettingsCb.filter(F.action == "lang"))
    async def settings_language(query: CallbackQuery, identity: Identity) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text(
                _("Please choose your language:"), reply_markup=language_keyboard(identity.language or "en", "set")
            )

    @router.callback_query(LanguageCb.filter(F.context == "set"))
    async def language_changed(
        query: CallbackQuery, callback_data: LanguageCb, identity: Identity, services: Services
    ) -> None:
        if callback_data.code not in ("en", "ms"):
            await query.answer()
            return
        await services.customers.set_language(identity.telegram_id, callback_data.code)
        with i18n.use_locale(callback_data.code):
            await query.answer()
            if isinstance(query.message, Message):
                text, keyboard = await settings_view(identity, services)
                await query.message.edit_text(text, reply_markup=keyboard)
                await query.message.answer(
                    _("🌐 Language changed to English."), reply_markup=main_menu()
                )

    @router.callback_query(SettingsCb.filter(F.action.in_({"promo_on", "promo_off"})))
    async def settings_promotions(
        query: CallbackQuery, callback_data: SettingsCb, identity: Identity, services: Services
    ) -> None:
        opt_in = callback_data.action == "promo_on"
        await services.customers.set_marketing(identity.telegram_id, opt_in)
        await query.answer(
            _("You will receive promotions and offers.") if opt_in else _("Promotions stopped. You can turn them back on here any time.")
        )
        if isinstance(query.message, Message):
            text, keyboard = await settings_view(identity, services)
            await query.message.edit_text(text, reply_markup=keyboard)

    @router.callback_query(SettingsCb.filter(F.action == "bday"))
    async def settings_birthday(query: CallbackQuery, state: FSMContext) -> None:
        await query.answer()
        await state.set_state(SettingsForm.birthday)
        if isinstance(query.message, Message):
            await query.message.answer(
                _("🎂 Type your birthday like <code>31/12</code> or <code>31/12/1990</code> (the year is optional)."),
                reply_markup=InlineKeyboardMarkup(
                    inline_keyboard=[
                        [InlineKeyboardButton(text=_("Cancel"), callback_data=BirthdayCb(action="cancel").pack())]
                    ]
                ),
            )

    @router.callback_query(SettingsForm.birthday, BirthdayCb.filter(F.action == "cancel"))
    async def settings_birthday_cancel(query: CallbackQuery, state: FSMContext) -> None:
        await query.answer()
        await state.clear()
        if isinstance(query.message, Message):
            await query.message.edit_text(_("OK, your birthday is unchanged."))

    @router.message(SettingsForm.birthday, F.text, ~F.text.startswith("/"))
    async def settings_birthday_given(
        message: Message, state: FSMContext, identity: Identity, services: Services
    ) -> None:
        assert message.text is not None
        try:
            birthday = await services.customers.set_birthday(
                identity.telegram_id, message.text, today=services.clock().astimezone(services.program.shop.tz).date()
            )
        except DomainError as error:
            await message.answer(error_text(error))
            return
        await state.clear()
        await message.answer(_("🎂 Birthday saved: {date}.").format(date=birthday.format()))

    # ------------------------------------------------------------------ privacy
    @router.message(Command("privacy"))
    async def privacy(message: Message, services: Services) -> None:
        await message.answer(
            privacy_notice(services.program.shop.name),
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [InlineKeyboardButton(text=_("📤 Export my data"), callback_data=PrivacyCb(action="export").pack())],
                    [InlineKeyboardButton(text=_("🗑 Delete my account"), callback_data=PrivacyCb(action="delete").pack())],
                ]
            ),
        )

    @router.callback_query(PrivacyCb.filter(F.action == "export"))
    async def privacy_export(query: CallbackQuery, identity: Identity, services: Services) -> None:
        await query.answer()
        data = await services.customers.export_data(identity.telegram_id)
        if isinstance(query.message, Message):
            await query.message.answer_document(
                BufferedInputFile(
                    json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8"), filename="my-loyalty-data.json"
                ),
                caption=_("📤 Here is everything we store about you."),
            )

    @router.callback_query(PrivacyCb.filter(F.action == "delete"))
    async def privacy_delete_ask(query: CallbackQuery, identity: Identity, services: Services) -> None:
        await query.answer()
        profile = await services.customers.profile(identity.telegram_id)
        assert profile is not None
        if isinstance(query.message, Message):
            await query.message.answer(
                _(
                    "⚠️ <b>Delete your account?</b>\n"
                    "This erases your phone number, name and birthday and closes your card. "
                    "Your {balance} points and {stamps} stamps will be lost. This cannot be undone."
                ).format(balance=profile.balance, stamps=profile.stamps),
                reply_markup=InlineKeyboardMarkup(
                    inline_keyboard=[
                        [
                            InlineKeyboardButton(
                                text=_("Yes, delete my account"), callback_data=PrivacyCb(action="delete_yes").pack()
                            )
                        ],
                        [InlineKeyboardButton(text=_("Cancel"), callback_data=PrivacyCb(action="delete_no").pack())],
                    ]
                ),
            )

    @router.callback_query(PrivacyCb.filter(F.action.in_({"delete_yes", "delete_no"})))
    async def privacy_delete_answer(
        query: CallbackQuery, callback_data: PrivacyCb, state: FSMContext, identity: Identity, services: Services
    ) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        if callback_data.action == "delete_no":
            await query.message.edit_text(_("OK, nothing was deleted."))
            return
        await services.customers.delete_account(identity.telegram_id)
        await state.clear()
        await query.message.edit_reply_markup(reply_markup=None)
        await query.message.answer(
            _(
                "Your account has been deleted and your personal data erased. Thank you for being with us. "
                "Send /start if you ever want to join again."
            ),
            reply_markup=ReplyKeyboardRemove(),
        )

    # ------------------------------------------------------------------ not yet available
    @router.message(Command("surveys"))
    @router.message(menu_button(MENU_SURVEYS))
    async def surveys(message: Message) -> None:
        await message.answer(_("📝 Surveys are coming soon: you will earn points for your feedback."))

    return router


def help_text(identity: Identity | None) -> str:
    lines = [
        _("<b>How it works</b>"),
        _(
            "Collect points and stamps every time you buy: scan the QR code the staff shows you, "
            "or show your own card for them to scan."
        ),
        "",
        _("/card — your card, points, stamps and member QR code"),
        _("/rewards — rewards you can get with your points"),
        _("/history — your points activity"),
        _("/surveys — give feedback and earn points"),
        _("/settings — language, birthday, promotions"),
        _("/privacy — your data: see, export or delete it"),
        _("/help — this help"),
    ]
    if identity is not None and identity.role.is_staff:
        lines += ["", _("<b>Staff</b>"), _("/sale — a one-time sale QR code for the customer to scan")]
        lines.append(_("Scan a customer's card with the phone camera, or send me a photo of any of my QR codes."))
    if identity is not None and identity.role.is_owner:
        lines += [_("/admin — today's activity, staff and the rewards catalogue"), _("/staff — invite, list and remove staff")]
    return "\n".join(lines)


def build_help_router(*, i18n: I18n) -> Router:
    router = Router(name="help")

    @router.message(Command("help"))
    @router.message(F.text.in_(all_translations(i18n, MENU_HELP)))
    async def show_help(message: Message, identity: Identity) -> None:
        await message.answer(help_text(identity))

    return router
