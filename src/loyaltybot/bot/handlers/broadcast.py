"""The owner's broadcasts (`/broadcast` composer, `/broadcasts` list) and the customer's side of
promotions (the one-tap opt-out, "Open rewards", blocking and unblocking the bot).

Composer: message (HTML or Telegram formatting, optional photo) → draft menu: Malay version,
button, audience with its live count, preview, send now or schedule, discard. The draft lives
in the conversation state (persisted), so a restart does not lose it.
"""

from __future__ import annotations

import re
from html import escape
from typing import Any

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    ChatMemberUpdated,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from loyaltybot.bot.callbacks import AdminCb, BroadcastCb, PromoCb
from loyaltybot.bot.filters import IsOwner, IsRegistered
from loyaltybot.bot.promotions import (
    audience_label,
    tier_name,
    cancel_keyboard,
    message_keyboard,
    status_label,
    tally_lines,
    when_text,
)
from loyaltybot.config import TiersSection
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.outbox import (
    AUDIENCE_KINDS,
    Audience,
    AudienceInvalid,
    parse_count,
)
from loyaltybot.services.broadcasts import Draft
from loyaltybot.services.container import Services
from loyaltybot.services.outbox import Content
from loyaltybot.services.staff import Identity

DRAFT = "broadcast_draft"
URL_BUTTON = re.compile(r"^\s*(?P<label>[^|]{1,40}?)\s*\|\s*(?P<url>https?://\S{3,500})\s*$")


class BroadcastForm(StatesGroup):
    text = State()
    text_ms = State()
    button = State()
    audience_value = State()
    schedule = State()


def broadcast_error(error: DomainError) -> str:
    code = error.code
    if code == "broadcast_not_found":
        return _("That broadcast does not exist.")
    if code == "broadcast_finished":
        return _("That broadcast has already finished; it can no longer be cancelled.")
    if code == "broadcast_empty":
        return _("No customer matches this audience, so there is nothing to send. Choose another audience.")
    if code == "schedule_invalid":
        reason = error.details.get("reason")
        if reason == "past":
            return _("That time has already passed. Please give a time in the future.")
        if reason == "too_far":
            return _("Please schedule at most one year ahead.")
        return _("I couldn't read that. Please type the date and time like <code>25/12 18:00</code> or <code>25/12/2026 18:00</code>.")
    if code == "not_allowed":
        return _("Sorry, only the shop owner can do that.")
    return _("Sorry, that did not work. Please try again.")


def _owner_html(message: Message) -> str:
    """What the owner wrote, as HTML: Telegram's own formatting if they used it, else their tags."""
    if message.entities or message.caption_entities:
        return message.html_text
    return message.text or message.caption or ""


def _draft_content(draft: dict[str, Any]) -> Content:
    return Content(
        campaign_id=0,
        promotional=True,
        text_en=draft.get("text_en") or "",
        text_ms=draft.get("text_ms"),
        photo=draft.get("photo"),
        button_kind=draft.get("button_kind"),
        button_text=draft.get("button_text"),
        button_url=draft.get("button_url"),
    )


def _to_draft(draft: dict[str, Any]) -> Draft:
    return Draft(
        text_en=draft["text_en"],
        audience=Audience.decode(draft.get("audience") or "all"),
        text_ms=draft.get("text_ms"),
        photo=draft.get("photo"),
        button_kind=draft.get("button_kind"),
        button_text=draft.get("button_text"),
        button_url=draft.get("button_url"),
    )


def _tier_keyboard(tiers: TiersSection) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=tier_name(tiers, level.code), callback_data=BroadcastCb(action="tier_" + level.code).pack())]
            for level in tiers.levels
        ]
    )


def _audience_keyboard() -> InlineKeyboardMarkup:
    def button(text: str, kind: str) -> InlineKeyboardButton:
        return InlineKeyboardButton(text=text, callback_data=BroadcastCb(action="aud_" + kind).pack())

    return InlineKeyboardMarkup(
        inline_keyboard=[
            [button(_("Everyone (opted in)"), "all")],
            [button(_("English"), "en"), button(_("Bahasa Melayu"), "ms")],
            [button(_("Birthday this month"), "birthday")],
            [button(_("Inactive for N days"), "inactive"), button(_("Joined in the last N days"), "joined")],
            [button(_("Balance at least X points"), "balance"), button(_("A tier"), "tier")],
        ]
    )


def build_promotions_router() -> Router:
    """Buttons under promotions, for every registered customer; block/unblock from Telegram."""
    router = Router(name="promotions")

    @router.callback_query(PromoCb.filter(F.action == "stop"), IsRegistered())
    async def stop_promotions(query: CallbackQuery, identity: Identity, services: Services) -> None:
        await services.customers.set_marketing(identity.telegram_id, False)
        await query.answer(
            _("Promotions stopped. You can turn them back on in /settings any time."), show_alert=True
        )
        if isinstance(query.message, Message) and query.message.reply_markup is not None:
            rows = [
                [b for b in row if b.callback_data != PromoCb(action="stop").pack()]
                for row in query.message.reply_markup.inline_keyboard
            ]
            rows = [row for row in rows if row]
            try:
                await query.message.edit_reply_markup(
                    reply_markup=InlineKeyboardMarkup(inline_keyboard=rows) if rows else None
                )
            except TelegramBadRequest:
                pass  # an old message may no longer be editable: the opt-out is what matters

    @router.callback_query(PromoCb.filter(F.action == "rewards"))
    async def open_rewards(query: CallbackQuery) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.answer(_("🎁 The rewards catalogue is coming soon. Keep collecting points!"))

    @router.my_chat_member(F.chat.type == "private")
    async def membership_changed(event: ChatMemberUpdated, services: Services) -> None:
        status = event.new_chat_member.status
        await services.outbox.set_reachable(event.from_user.id, reachable=status not in ("kicked", "left"))

    return router


def build_owner_router(*, i18n: I18n) -> Router:
    router = Router(name="broadcasts")
    router.message.filter(IsOwner())
    router.callback_query.filter(IsOwner())

    async def draft_of(state: FSMContext) -> dict[str, Any] | None:
        draft = (await state.get_data()).get(DRAFT)
        return draft if isinstance(draft, dict) and draft.get("text_en") else None

    async def save(state: FSMContext, draft: dict[str, Any]) -> None:
        await state.update_data({DRAFT: draft})

    async def send_preview(bot: Bot, chat_id: int, draft: dict[str, Any], only: str | None = None) -> str | None:
        """Send the message exactly as customers get it; Telegram's refusal becomes a clear text."""
        content = _draft_content(draft)
        languages = [only] if only else (["en", "ms"] if content.text_ms else ["en"])
        for language in languages:
            text = content.text_for(language)
            markup = message_keyboard(content, i18n, language)
            try:
                if content.photo:
                    await bot.send_photo(chat_id, content.photo, caption=text, reply_markup=markup)
                else:
                    await bot.send_message(chat_id, text, reply_markup=markup)
            except TelegramBadRequest as error:
                reason = escape(error.message.removeprefix("Telegram server says - "), quote=False)
                if "can't parse entities" in error.message.lower():
                    return _(
                        "⚠️ Telegram cannot read the formatting of this text: {reason}\n\n"
                        "Close every tag you open (<code>&lt;b&gt;…&lt;/b&gt;</code>), use only b, i, u, s, a, "
                        "code, pre, blockquote and tg-spoiler, and write <code>&amp;lt;</code> and "
                        "<code>&amp;amp;</code> for the characters &lt; and &amp;. Please send the text again."
                    ).format(reason=reason)
                return _("⚠️ Telegram refused this message: {reason}\nPlease send it again.").format(reason=reason)
        return None

    async def render_menu(
        identity: Identity, services: Services, draft: dict[str, Any]
    ) -> tuple[str, InlineKeyboardMarkup]:
        audience = Audience.decode(draft.get("audience") or "all")
        count = await services.broadcasts.count(identity.telegram_id, audience)
        if draft.get("button_kind") == "url":
            button = _("link “{label}”").format(label=escape(draft.get("button_text") or ""))
        elif draft.get("button_kind") == "rewards":
            button = _("Open rewards")
        else:
            button = _("none")
        text = _(
            "📣 <b>Broadcast draft</b>\n\n"
            "👥 Audience: {audience}\n"
            "📬 Recipients now: <b>{count}</b>\n"
            "🇲🇾 Malay version: {malay}\n"
            "🔘 Button: {button}\n\n"
            "The preview above is exactly what customers will see."
        ).format(
            audience=audience_label(audience, services.program.tiers),
            count=count,
            malay=_("yes") if draft.get("text_ms") else _("no (everyone gets the same text)"),
            button=button,
        )

        def cb(action: str) -> str:
            return BroadcastCb(action=action).pack()

        keyboard = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(text=_("👥 Audience"), callback_data=cb("audience")),
                    InlineKeyboardButton(text=_("🇲🇾 Malay version"), callback_data=cb("ms")),
                ],
                [
                    InlineKeyboardButton(text=_("🔘 Button"), callback_data=cb("button")),
                    InlineKeyboardButton(text=_("👁 Preview"), callback_data=cb("preview")),
                ],
                [
                    InlineKeyboardButton(text=_("🚀 Send now"), callback_data=cb("send")),
                    InlineKeyboardButton(text=_("🗓 Schedule"), callback_data=cb("schedule")),
                ],
                [InlineKeyboardButton(text=_("🗑 Discard"), callback_data=cb("discard"))],
            ]
        )
        return text, keyboard

    async def show_menu(
        message: Message, identity: Identity, services: Services, draft: dict[str, Any], *, edit: bool = False
    ) -> None:
        """The draft menu; menu buttons edit it in place (fewer messages in the owner's chat)."""
        text, keyboard = await render_menu(identity, services, draft)
        if edit:
            try:
                await message.edit_text(text, reply_markup=keyboard)
            except TelegramBadRequest as error:
                if "not modified" not in error.message:
                    raise
            return
        await message.answer(text, reply_markup=keyboard)

    async def no_draft(query: CallbackQuery) -> None:
        await query.answer(_("This draft is no longer available. Send /broadcast to start again."), show_alert=True)

    # ------------------------------------------------------------------ start and the message
    @router.message(Command("broadcast"))
    async def start(message: Message, state: FSMContext) -> None:
        await state.set_state(BroadcastForm.text)
        await state.set_data({DRAFT: {"audience": "all"}})
        await message.answer(
            _(
                "📣 <b>New broadcast</b>\n\n"
                "Send the message as customers should see it: text with <b>bold</b>, <i>italic</i> and links "
                "(Telegram's formatting, or HTML tags such as <code>&lt;b&gt;</code> and "
                "<code>&lt;a href=\"…\"&gt;</code>), or a photo with a caption.\n\n"
                "Only customers who accept promotions receive it, with a button to stop them."
            )
        )

    @router.message(BroadcastForm.text, F.photo | (F.text & ~F.text.startswith("/")))
    async def got_text(message: Message, state: FSMContext, bot: Bot, identity: Identity, services: Services) -> None:
        draft = (await state.get_data()).get(DRAFT) or {"audience": "all"}
        draft["text_en"] = _owner_html(message)
        draft["photo"] = message.photo[-1].file_id if message.photo else None
        if draft["photo"] is None and not draft["text_en"].strip():
            await message.answer(_("Please send some text or a photo."))
            return
        problem = await send_preview(bot, message.chat.id, draft, only="en")
        if problem is not None:
            await message.answer(problem)
            return
        await save(state, draft)
        await state.set_state(None)
        await show_menu(message, identity, services, draft)

    @router.message(BroadcastForm.text_ms, F.text & ~F.text.startswith("/") | F.caption)
    async def got_malay(message: Message, state: FSMContext, bot: Bot, identity: Identity, services: Services) -> None:
        draft = await draft_of(state)
        if draft is None:
            await state.clear()
            return
        draft["text_ms"] = _owner_html(message)
        problem = await send_preview(bot, message.chat.id, draft, only="ms")
        if problem is not None:
            await message.answer(problem)
            return
        await save(state, draft)
        await state.set_state(None)
        await show_menu(message, identity, services, draft)

    # ------------------------------------------------------------------ menu actions
    @router.callback_query(BroadcastCb.filter(F.action == "ms"))
    async def ask_malay(query: CallbackQuery, state: FSMContext) -> None:
        if await draft_of(state) is None:
            return await no_draft(query)
        await query.answer()
        await state.set_state(BroadcastForm.text_ms)
        if isinstance(query.message, Message):
            await query.message.edit_text(
                _("🇲🇾 Send the Bahasa Melayu version. Customers who use Malay get it; everyone else gets the first text.")
            )

    @router.callback_query(BroadcastCb.filter(F.action == "button"))
    async def ask_button(query: CallbackQuery, state: FSMContext) -> None:
        if await draft_of(state) is None:
            return await no_draft(query)
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text(
                _("🔘 Which button goes under the message?"),
                reply_markup=InlineKeyboardMarkup(
                    inline_keyboard=[
                        [InlineKeyboardButton(text=_("🔗 A link"), callback_data=BroadcastCb(action="btn_url").pack())],
                        [InlineKeyboardButton(text=_("🎁 Open rewards"), callback_data=BroadcastCb(action="btn_rewards").pack())],
                        [InlineKeyboardButton(text=_("No button"), callback_data=BroadcastCb(action="btn_none").pack())],
                    ]
                ),
            )

    @router.callback_query(BroadcastCb.filter(F.action.in_({"btn_rewards", "btn_none"})))
    async def set_button(
        query: CallbackQuery, callback_data: BroadcastCb, state: FSMContext, identity: Identity, services: Services
    ) -> None:
        draft = await draft_of(state)
        if draft is None:
            return await no_draft(query)
        await query.answer()
        draft["button_kind"] = "rewards" if callback_data.action == "btn_rewards" else None
        draft["button_text"] = draft["button_url"] = None
        await save(state, draft)
        if isinstance(query.message, Message):
            await show_menu(query.message, identity, services, draft, edit=True)

    @router.callback_query(BroadcastCb.filter(F.action == "btn_url"))
    async def ask_url(query: CallbackQuery, state: FSMContext) -> None:
        if await draft_of(state) is None:
            return await no_draft(query)
        await query.answer()
        await state.set_state(BroadcastForm.button)
        if isinstance(query.message, Message):
            await query.message.edit_text(
                _("🔗 Send the button's label and link separated by a bar, like:\n<code>Order now | https://example.com/menu</code>")
            )

    @router.message(BroadcastForm.button, F.text & ~F.text.startswith("/"))
    async def got_url(message: Message, state: FSMContext, identity: Identity, services: Services) -> None:
        draft = await draft_of(state)
        if draft is None:
            await state.clear()
            return
        match = URL_BUTTON.match(message.text or "")
        if match is None:
            await message.answer(
                _("I couldn't read that. Please send it like <code>Order now | https://example.com/menu</code>.")
            )
            return
        draft["button_kind"], draft["button_text"], draft["button_url"] = "url", match["label"], match["url"]
        await save(state, draft)
        await state.set_state(None)
        await show_menu(message, identity, services, draft)

    @router.callback_query(BroadcastCb.filter(F.action == "audience"))
    async def ask_audience(query: CallbackQuery, state: FSMContext) -> None:
        if await draft_of(state) is None:
            return await no_draft(query)
        await query.answer()
        if isinstance(query.message, Message):
            await query.message.edit_text(_("👥 Who should receive it?"), reply_markup=_audience_keyboard())

    @router.callback_query(BroadcastCb.filter(F.action.startswith("aud_")))
    async def set_audience(
        query: CallbackQuery, callback_data: BroadcastCb, state: FSMContext, identity: Identity, services: Services
    ) -> None:
        draft = await draft_of(state)
        if draft is None:
            return await no_draft(query)
        kind = callback_data.action.removeprefix("aud_")
        if kind not in AUDIENCE_KINDS:
            await query.answer()
            return
        await query.answer()
        if not isinstance(query.message, Message):
            return
        if kind == "tier":
            await query.message.edit_text(_("🏅 Which tier?"), reply_markup=_tier_keyboard(services.program.tiers))
            return
        if AUDIENCE_KINDS[kind]:
            draft["pending_audience"] = kind
            await save(state, draft)
            await state.set_state(BroadcastForm.audience_value)
            prompt = (
                _("How many points at least? Send a number, like <code>100</code>.")
                if kind == "balance"
                else _("How many days? Send a number, like <code>30</code>.")
            )
            await query.message.edit_text(prompt)
            return
        draft["audience"] = Audience(kind).encode()
        await save(state, draft)
        await show_menu(query.message, identity, services, draft, edit=True)

    @router.callback_query(BroadcastCb.filter(F.action.startswith("tier_")))
    async def set_tier_audience(
        query: CallbackQuery, callback_data: BroadcastCb, state: FSMContext, identity: Identity, services: Services
    ) -> None:
        draft = await draft_of(state)
        if draft is None:
            return await no_draft(query)
        code = callback_data.action.removeprefix("tier_")
        await query.answer()
        if code not in {level.code for level in services.program.tiers.levels} or not isinstance(query.message, Message):
            return
        draft["audience"] = Audience("tier", tier=code).encode()
        await save(state, draft)
        await show_menu(query.message, identity, services, draft, edit=True)

    @router.message(BroadcastForm.audience_value, F.text & ~F.text.startswith("/"))
    async def got_audience_value(message: Message, state: FSMContext, identity: Identity, services: Services) -> None:
        draft = await draft_of(state)
        if draft is None:
            await state.clear()
            return
        value = parse_count(message.text or "")
        try:
            audience = Audience(str(draft.get("pending_audience")), value)
        except AudienceInvalid:
            await message.answer(_("Please send a whole number, like <code>30</code>."))
            return
        draft["audience"] = audience.encode()
        draft.pop("pending_audience", None)
        await save(state, draft)
        await state.set_state(None)
        await show_menu(message, identity, services, draft)

    @router.callback_query(BroadcastCb.filter(F.action == "preview"))
    async def preview(query: CallbackQuery, state: FSMContext, bot: Bot) -> None:
        draft = await draft_of(state)
        if draft is None:
            return await no_draft(query)
        await query.answer()
        problem = await send_preview(bot, query.from_user.id, draft)
        if problem is not None and isinstance(query.message, Message):
            await query.message.answer(problem)

    @router.callback_query(BroadcastCb.filter(F.action == "discard"))
    async def discard(query: CallbackQuery, state: FSMContext) -> None:
        await query.answer()
        await state.clear()
        if isinstance(query.message, Message):
            await query.message.edit_text(_("🗑 Draft discarded. Nothing was sent."))

    # ------------------------------------------------------------------ send now
    @router.callback_query(BroadcastCb.filter(F.action == "send"))
    async def confirm_send(query: CallbackQuery, state: FSMContext, identity: Identity, services: Services) -> None:
        draft = await draft_of(state)
        if draft is None:
            return await no_draft(query)
        await query.answer()
        audience = Audience.decode(draft.get("audience") or "all")
        count = await services.broadcasts.count(identity.telegram_id, audience)
        if isinstance(query.message, Message):
            await query.message.edit_text(
                _("🚀 Send this broadcast to <b>{count}</b> customers now?").format(count=count),
                reply_markup=InlineKeyboardMarkup(
                    inline_keyboard=[
                        [
                            InlineKeyboardButton(text=_("Yes, send now"), callback_data=BroadcastCb(action="send_yes").pack()),
                            InlineKeyboardButton(text=_("Not yet"), callback_data=BroadcastCb(action="send_no").pack()),
                        ]
                    ]
                ),
            )

    @router.callback_query(BroadcastCb.filter(F.action == "send_no"))
    async def send_not_yet(query: CallbackQuery, state: FSMContext, identity: Identity, services: Services) -> None:
        draft = await draft_of(state)
        if draft is None:
            return await no_draft(query)
        await query.answer()
        if isinstance(query.message, Message):
            await show_menu(query.message, identity, services, draft, edit=True)

    @router.callback_query(BroadcastCb.filter(F.action == "send_yes"))
    async def send_now(query: CallbackQuery, state: FSMContext, identity: Identity, services: Services) -> None:
        draft = await draft_of(state)
        if draft is None:
            return await no_draft(query)
        await query.answer()
        if not isinstance(query.message, Message):
            return
        try:
            summary = await services.broadcasts.send_now(identity.telegram_id, _to_draft(draft))
        except DomainError as error:
            await query.message.edit_text(broadcast_error(error))
            return
        await state.clear()
        progress = await query.message.edit_text(
            _("📣 <b>Broadcast #{id}</b>: sending to {total} customers…").format(id=summary.id, total=summary.tally.total),
            reply_markup=cancel_keyboard(summary.id),
        )
        if isinstance(progress, Message):
            await services.broadcasts.attach_progress(identity.telegram_id, summary.id, progress.chat.id, progress.message_id)

    # ------------------------------------------------------------------ schedule
    @router.callback_query(BroadcastCb.filter(F.action == "schedule"))
    async def ask_schedule(query: CallbackQuery, state: FSMContext, services: Services) -> None:
        if await draft_of(state) is None:
            return await no_draft(query)
        await query.answer()
        await state.set_state(BroadcastForm.schedule)
        if isinstance(query.message, Message):
            await query.message.edit_text(
                _("🗓 When should it go out? Type the date and time in shop time ({tz}), like <code>25/12 18:00</code>.").format(
                    tz=services.program.shop.timezone
                )
            )

    @router.message(BroadcastForm.schedule, F.text & ~F.text.startswith("/"))
    async def got_schedule(message: Message, state: FSMContext, identity: Identity, services: Services) -> None:
        draft = await draft_of(state)
        if draft is None:
            await state.clear()
            return
        try:
            when = services.broadcasts.parse_when(message.text or "")
            summary = await services.broadcasts.schedule(identity.telegram_id, _to_draft(draft), when)
        except DomainError as error:
            await message.answer(broadcast_error(error))
            return
        await state.clear()
        sent = await message.answer(
            _("🗓 <b>Broadcast #{id}</b> is scheduled for {when}. You will see its progress here.").format(
                id=summary.id, when=when_text(when, services.program.shop.tz)
            ),
            reply_markup=cancel_keyboard(summary.id),
        )
        await services.broadcasts.attach_progress(identity.telegram_id, summary.id, sent.chat.id, sent.message_id)

    # ------------------------------------------------------------------ cancel and list
    @router.callback_query(BroadcastCb.filter(F.action == "cancel"))
    async def cancel(query: CallbackQuery, callback_data: BroadcastCb, identity: Identity, services: Services) -> None:
        try:
            summary = await services.broadcasts.cancel(identity.telegram_id, callback_data.id)
        except DomainError as error:
            await query.answer(broadcast_error(error), show_alert=True)
            return
        await query.answer(
            _("Broadcast #{id} cancelled: {count} messages will not be sent.").format(
                id=summary.id, count=summary.tally.cancelled
            ),
            show_alert=True,
        )

    async def send_list(message: Message, identity: Identity, services: Services) -> None:
        summaries = await services.broadcasts.recent(identity.telegram_id)
        if not summaries:
            await message.answer(_("📣 No broadcasts yet. Send /broadcast to write one."))
            return
        tz = services.program.shop.tz
        blocks = [_("📣 <b>Broadcasts</b> (latest first)")]
        unreachable = await services.broadcasts.unreachable_customers(identity.telegram_id)
        if unreachable:
            blocks.append(
                _("🚫 {count} customers blocked the bot or left Telegram: broadcasts skip them.").format(
                    count=unreachable
                )
            )
        buttons = []
        for item in summaries:
            when = item.scheduled_at if item.status == "scheduled" else (item.started_at or item.created_at)
            head = _("<b>#{id}</b> · {status} · {when}\n👥 {audience}").format(
                id=item.id, status=status_label(item.status), when=when_text(when, tz), audience=audience_label(item.audience, services.program.tiers)
            )
            blocks.append(head if item.status == "scheduled" else head + "\n" + tally_lines(item.tally))
            if item.status in ("scheduled", "sending"):
                buttons.append(
                    [
                        InlineKeyboardButton(
                            text=_("✖️ Cancel #{id}").format(id=item.id),
                            callback_data=BroadcastCb(action="cancel", id=item.id).pack(),
                        )
                    ]
                )
        await message.answer(
            "\n\n".join(blocks), reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons) if buttons else None
        )

    @router.message(Command("broadcasts"))
    async def list_command(message: Message, identity: Identity, services: Services) -> None:
        await send_list(message, identity, services)

    @router.callback_query(AdminCb.filter(F.section == "broadcasts"))
    async def list_from_admin(query: CallbackQuery, identity: Identity, services: Services) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await send_list(query.message, identity, services)

    return router
