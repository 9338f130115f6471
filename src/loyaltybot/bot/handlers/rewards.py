"""Rewards: the owner's catalogue (/admin → Rewards), customers' /rewards, staff confirming
redemptions and vouchers scanned at the counter. Owner-provided names are escaped everywhere."""

from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from loyaltybot.bot.callbacks import AdminCb, CatalogueCb, RedeemCb, RewardCb, VoucherCb
from loyaltybot.bot.earning import notify
from loyaltybot.bot.filters import IsOwner, IsRegistered, IsStaff
from loyaltybot.bot.menu import MENU_REWARDS, all_translations
from loyaltybot.bot.texts import error_text, local_time, name
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.tokens import TokenKind, deep_link
from loyaltybot.render.qr import qr_png
from loyaltybot.services.container import Services
from loyaltybot.services.rewards import FIELDS, OPTIONAL_FIELDS, Catalogue, RewardAdmin
from loyaltybot.services.staff import Identity


class ShowToStaff(DomainError):
    code = "show_to_staff"


class RewardForm(StatesGroup):
    value = State()


MESSAGE_LIMIT = 4000  # Telegram allows 4096 characters of text after entity parsing; keep a margin
DESCRIPTION_PREVIEW = 120


async def answer_long(message: Message, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> None:
    """Send a long list as several messages split at line ends; the buttons go with the last one."""
    chunks: list[str] = []
    current = ""
    for line in text.split("\n"):
        if current and len(current) + 1 + len(line) > MESSAGE_LIMIT:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    chunks.append(current)
    for chunk in chunks[:-1]:
        await message.answer(chunk)
    await message.answer(chunks[-1], reply_markup=reply_markup)


def preview(text: str) -> str:
    return text if len(text) <= DESCRIPTION_PREVIEW else text[: DESCRIPTION_PREVIEW - 1].rstrip() + "…"


# ---------------------------------------------------------------------------- texts


def field_prompt(field: str) -> str:
    prompts = {
        "name_en": _("Name of the reward in English (for example <i>Free latte</i>):"),
        "name_ms": _("Name of the reward in Malay (for example <i>Latte percuma</i>):"),
        "description_en": _("A short description in English, or tap Skip:"),
        "description_ms": _("A short description in Malay, or tap Skip:"),
        "cost": _("How many points does it cost? Type a whole number, like <code>100</code>:"),
        "photo": _("Send a photo of the reward, or tap Skip:"),
        "stock": _("How many can be redeemed in all (for example <code>50</code>)? Tap Skip for no limit:"),
        "limit": _("How many times may one customer redeem it? Tap Skip for no limit:"),
        "starts": _("First day, like <code>01/12/2026</code>, or tap Skip to start now:"),
        "ends": _("Last day, like <code>31/12/2026</code>, or tap Skip for no end date:"),
        "min_tier": _("Only for members of a tier? Choose the lowest tier that may redeem it, or tap Skip for everyone:"),
    }
    return prompts[field]


def field_label(field: str) -> str:
    labels = {
        "name_en": _("Name (English)"),
        "name_ms": _("Name (Malay)"),
        "description_en": _("Description (English)"),
        "description_ms": _("Description (Malay)"),
        "cost": _("Points"),
        "photo": _("Photo"),
        "stock": _("Stock"),
        "limit": _("Per-customer limit"),
        "starts": _("First day"),
        "ends": _("Last day"),
        "min_tier": _("Minimum tier"),
    }
    return labels[field]


def admin_line(reward: RewardAdmin, services: Services) -> str:
    stock = (
        _("stock {left} of {total}").format(left=reward.stock_left, total=reward.stock)
        if reward.stock is not None
        else _("unlimited stock")
    )
    line = _("• <b>{name}</b> — {cost} points · {redeemed} redeemed, {pending} reserved · {stock}").format(
        name=name(reward.name_en), cost=reward.cost, redeemed=reward.confirmed, pending=reward.pending, stock=stock
    )
    if not reward.active:
        line += " · " + _("⏸ paused")
    return line


def admin_detail(reward: RewardAdmin, services: Services) -> str:
    tz = services.program.shop.tz
    none = _("none")
    lines = [
        _("🎁 <b>{name}</b> / {name_ms}").format(name=name(reward.name_en), name_ms=name(reward.name_ms)),
        name(reward.description_en) or "—",
        name(reward.description_ms) or "—",
        "",
        _("Points: <b>{cost}</b>").format(cost=reward.cost),
        _("Stock: {stock}").format(
            stock=_("{left} left of {total}").format(left=reward.stock_left, total=reward.stock)
            if reward.stock is not None
            else _("unlimited")
        ),
        _("Per-customer limit: {limit}").format(limit=reward.per_customer_limit or none),
        _("From {start} to {end}").format(
            start=local_time(reward.starts_at, tz) if reward.starts_at else "—",
            end=local_time(reward.ends_at, tz) if reward.ends_at else "—",
        ),
        _("Minimum tier: {tier}").format(
            tier=name(services.rewards.tier_name(reward.min_tier).en) if reward.min_tier else none
        ),
        _("Redeemed: {confirmed} · reserved now: {pending}").format(confirmed=reward.confirmed, pending=reward.pending),
        _("Status: {status}").format(status=_("active") if reward.active else _("⏸ paused")),
    ]
    return "\n".join(lines)


def admin_detail_keyboard(reward: RewardAdmin) -> InlineKeyboardMarkup:
    rows = []
    pair: list[InlineKeyboardButton] = []
    for field in FIELDS:
        pair.append(
            InlineKeyboardButton(
                text="✏️ " + field_label(field), callback_data=CatalogueCb(action="edit", id=reward.id, field=field).pack()
            )
        )
        if len(pair) == 2:
            rows.append(pair)
            pair = []
    if pair:
        rows.append(pair)
    rows.append(
        [
            InlineKeyboardButton(text=_("⏸ Pause"), callback_data=CatalogueCb(action="pause", id=reward.id).pack())
            if reward.active
            else InlineKeyboardButton(text=_("▶️ Resume"), callback_data=CatalogueCb(action="resume", id=reward.id).pack()),
            InlineKeyboardButton(text=_("◀ All rewards"), callback_data=CatalogueCb(action="list").pack()),
        ]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def catalogue_text(catalogue: Catalogue, services: Services) -> str:
    language = catalogue.language
    tz = services.program.shop.tz
    lines = [_("🎁 <b>Rewards</b> · you have <b>{points}</b> points").format(points=catalogue.available)]
    if not catalogue.items:
        lines.append(_("No rewards yet. Keep collecting points!"))
    for item in catalogue.items:
        title = name(item.name.get(language))
        if item.state == "available":
            line = _("✅ <b>{name}</b> — {cost} points").format(name=title, cost=item.cost)
        elif item.state == "short":
            line = _("⏳ <b>{name}</b> — {cost} points ({missing} more points)").format(
                name=title, cost=item.cost, missing=item.missing
            )
        elif item.state == "sold_out":
            line = _("❌ <b>{name}</b> — sold out").format(name=title)
        elif item.state == "tier_locked":
            line = _("🔒 <b>{name}</b> — {cost} points, for {tier} members").format(
                name=title, cost=item.cost, tier=name(item.min_tier.get(language) if item.min_tier else "")
            )
        else:
            line = _("☑️ <b>{name}</b> — already redeemed (limit reached)").format(name=title)
        if item.stock_left is not None and item.state not in ("sold_out",):
            line += " · " + _("{left} left").format(left=item.stock_left)
        description = item.description.get(language)
        if description:
            line += "\n   <i>" + name(preview(description)) + "</i>"
        lines.append(line)
    if catalogue.pending:
        lines.append("")
        lines.append(_("🕒 <b>Reserved for you</b>"))
        for pending in catalogue.pending:
            lines.append(
                _("• {name} ({points} points), show the QR code before {time}").format(
                    name=name(pending.name.get(language)), points=pending.points, time=local_time(pending.expires_at, tz)
                )
            )
    return "\n".join(lines)


def catalogue_keyboard(catalogue: Catalogue) -> InlineKeyboardMarkup | None:
    language = catalogue.language
    rows = [
        [
            InlineKeyboardButton(
                text=_("🎁 Redeem: {name} ({cost})").format(name=item.name.get(language)[:40], cost=item.cost),
                callback_data=RewardCb(action="redeem", id=item.id).pack(),
            )
        ]
        for item in catalogue.items
        if item.state == "available"
    ]
    for pending in catalogue.pending:
        rows.append(
            [
                InlineKeyboardButton(
                    text=_("📱 QR: {name}").format(name=pending.name.get(language)[:40]),
                    callback_data=RewardCb(action="show", id=pending.id).pack(),
                ),
                InlineKeyboardButton(text=_("✖ Cancel"), callback_data=RewardCb(action="cancel", id=pending.id).pack()),
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


# ---------------------------------------------------------------------------- owner: catalogue


def build_owner_router(*, i18n: I18n) -> Router:
    router = Router(name="rewards-owner")
    router.message.filter(IsOwner())
    router.callback_query.filter(IsOwner())

    async def send_list(message: Message, identity: Identity, services: Services) -> None:
        try:
            rewards = await services.rewards.list_all(identity.telegram_id)
        except DomainError as error:
            await message.answer(error_text(error))
            return
        lines = [_("🎁 <b>Rewards catalogue</b>")]
        if not rewards:
            lines.append(_("No rewards yet. Add the first one with the button below."))
        lines += [admin_line(reward, services) for reward in rewards]
        rows = [[InlineKeyboardButton(text=_("➕ Add reward"), callback_data=CatalogueCb(action="new").pack())]]
        rows += [
            [
                InlineKeyboardButton(
                    text="✏️ " + reward.name_en[:40], callback_data=CatalogueCb(action="open", id=reward.id).pack()
                )
            ]
            for reward in rewards
        ]
        await answer_long(message, "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows))

    async def send_detail(message: Message, reward: RewardAdmin, services: Services) -> None:
        text, keyboard = admin_detail(reward, services), admin_detail_keyboard(reward)
        if reward.photo_file_id:
            await message.answer_photo(reward.photo_file_id)
        await message.answer(text, reply_markup=keyboard)

    async def ask(message: Message, field: str, services: Services) -> None:
        rows = []
        if field == "min_tier" and len(services.program.tiers.levels) > 1:
            rows.append(
                [
                    InlineKeyboardButton(
                        text=level.name.get("ms" if i18n.current_locale == "ms" else "en"),
                        callback_data=CatalogueCb(action="tier", field=level.code).pack(),
                    )
                    for level in services.program.tiers.levels[1:]
                ]
            )
        if field in OPTIONAL_FIELDS:
            rows.append([InlineKeyboardButton(text=_("Skip"), callback_data=CatalogueCb(action="skip").pack())])
        rows.append([InlineKeyboardButton(text=_("Cancel"), callback_data=CatalogueCb(action="cancel").pack())])
        await message.answer(field_prompt(field), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))

    @router.callback_query(AdminCb.filter(F.section == "rewards"))
    @router.callback_query(CatalogueCb.filter(F.action == "list"))
    async def rewards_section(query: CallbackQuery, state: FSMContext, identity: Identity, services: Services) -> None:
        await query.answer()
        await state.clear()
        if isinstance(query.message, Message):
            await send_list(query.message, identity, services)

    @router.callback_query(CatalogueCb.filter(F.action == "open"))
    async def open_reward(query: CallbackQuery, callback_data: CatalogueCb, identity: Identity, services: Services) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        try:
            reward = await services.rewards.get(identity.telegram_id, callback_data.id)
        except DomainError as error:
            await query.message.answer(error_text(error))
            return
        await send_detail(query.message, reward, services)

    @router.callback_query(CatalogueCb.filter(F.action.in_({"pause", "resume"})))
    async def pause(query: CallbackQuery, callback_data: CatalogueCb, identity: Identity, services: Services) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        try:
            reward = await services.rewards.set_active(identity.telegram_id, callback_data.id, callback_data.action == "resume")
        except DomainError as error:
            await query.message.answer(error_text(error))
            return
        await query.message.edit_text(admin_detail(reward, services), reply_markup=admin_detail_keyboard(reward))

    @router.callback_query(CatalogueCb.filter(F.action == "new"))
    async def new_reward(query: CallbackQuery, state: FSMContext, services: Services) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        await state.set_state(RewardForm.value)
        await state.set_data({"mode": "new", "field": FIELDS[0], "values": {}})
        await query.message.answer(_("➕ <b>New reward</b>. You can cancel at any step."))
        await ask(query.message, FIELDS[0], services)

    @router.callback_query(CatalogueCb.filter(F.action == "edit"))
    async def edit_reward(query: CallbackQuery, callback_data: CatalogueCb, state: FSMContext, services: Services) -> None:
        await query.answer()
        if not isinstance(query.message, Message) or callback_data.field not in FIELDS:
            return
        await state.set_state(RewardForm.value)
        await state.set_data({"mode": "edit", "id": callback_data.id, "field": callback_data.field, "values": {}})
        await ask(query.message, callback_data.field, services)

    @router.callback_query(RewardForm.value, CatalogueCb.filter(F.action == "cancel"))
    async def cancel_form(query: CallbackQuery, state: FSMContext) -> None:
        await query.answer()
        await state.clear()
        if isinstance(query.message, Message):
            await query.message.edit_text(_("OK, nothing was changed."))

    async def accept(message: Message, text: str | None, state: FSMContext, identity: Identity, services: Services) -> None:
        """One answer of the form: check it, then the next question, or save."""
        data = await state.get_data()
        field = str(data.get("field", ""))
        values: dict[str, Any] = dict(data.get("values") or {})
        try:
            services.rewards.parse_field(field, text)
        except DomainError as error:
            await message.answer(error_text(error))
            await ask(message, field, services)
            return
        if data.get("mode") == "edit":
            try:
                reward = await services.rewards.update(
                    identity.telegram_id, int(data["id"]), field, services.rewards.parse_field(field, text)
                )
            except DomainError as error:
                await state.clear()
                await message.answer(error_text(error))
                return
            await state.clear()
            await message.answer(_("✅ Saved."))
            await send_detail(message, reward, services)
            return
        values[field] = text
        position = FIELDS.index(field)
        if position + 1 < len(FIELDS):
            await state.update_data(field=FIELDS[position + 1], values=values)
            await ask(message, FIELDS[position + 1], services)
            return
        parsed = {key: services.rewards.parse_field(key, raw) for key, raw in values.items()}
        try:
            reward = await services.rewards.create(identity.telegram_id, parsed)
        except DomainError as error:
            await message.answer(error_text(error))
            await state.clear()
            return
        await state.clear()
        await message.answer(_("✅ Reward added: <b>{name}</b>.").format(name=name(reward.name_en)))
        await send_detail(message, reward, services)

    @router.callback_query(RewardForm.value, CatalogueCb.filter(F.action == "skip"))
    async def skip(query: CallbackQuery, state: FSMContext, identity: Identity, services: Services) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await accept(query.message, None, state, identity, services)

    @router.callback_query(RewardForm.value, CatalogueCb.filter(F.action == "tier"))
    async def tier(
        query: CallbackQuery, callback_data: CatalogueCb, state: FSMContext, identity: Identity, services: Services
    ) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await accept(query.message, callback_data.field, state, identity, services)

    @router.message(RewardForm.value, F.photo)
    async def photo(message: Message, state: FSMContext, identity: Identity, services: Services) -> None:
        assert message.photo
        if (await state.get_data()).get("field") != "photo":
            await message.answer(_("Please type the answer, or tap Cancel."))
            return
        await accept(message, message.photo[-1].file_id, state, identity, services)

    @router.message(RewardForm.value, F.text, ~F.text.startswith("/"))
    async def typed(message: Message, state: FSMContext, identity: Identity, services: Services) -> None:
        if (await state.get_data()).get("field") == "photo":
            await message.answer(_("Please send a photo, or tap Skip."))
            return
        await accept(message, message.text, state, identity, services)

    return router


# ---------------------------------------------------------------------------- customers


def build_customer_router(*, i18n: I18n, bot_username: str) -> Router:
    router = Router(name="rewards-customer")
    router.message.filter(IsRegistered())
    router.callback_query.filter(IsRegistered())

    async def send_catalogue(message: Message, identity: Identity, services: Services) -> None:
        catalogue = await services.rewards.catalogue(identity.telegram_id)
        await answer_long(message, catalogue_text(catalogue, services), catalogue_keyboard(catalogue))

    async def send_redemption_qr(message: Message, payload: str, caption: str) -> None:
        await message.answer_photo(
            BufferedInputFile(qr_png(deep_link(bot_username, payload)), filename="reward.png"), caption=caption
        )

    @router.message(Command("rewards"))
    @router.message(F.text.in_(all_translations(i18n, MENU_REWARDS)))
    async def rewards(message: Message, identity: Identity, services: Services) -> None:
        await send_catalogue(message, identity, services)

    @router.callback_query(RewardCb.filter(F.action == "redeem"))
    async def redeem(query: CallbackQuery, callback_data: RewardCb, identity: Identity, services: Services) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        try:
            reserved = await services.rewards.redeem(identity.telegram_id, callback_data.id)
        except DomainError as error:
            await query.message.answer(error_text(error))
            return
        tz = services.program.shop.tz
        await query.message.answer_photo(
            BufferedInputFile(qr_png(deep_link(bot_username, reserved.payload)), filename="reward.png"),
            caption=_(
                "🎁 <b>{name}</b> is reserved for you: {points} points taken, balance {balance}.\n"
                "Show this QR code at the counter before {time}. If you don't, the points come back."
            ).format(
                name=name(reserved.name.get(identity.language)),
                points=reserved.points,
                balance=reserved.balance,
                time=local_time(reserved.expires_at, tz),
            ),
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(
                            text=_("✖ Cancel and get my points back"),
                            callback_data=RewardCb(action="cancel", id=reserved.redemption_id).pack(),
                        )
                    ]
                ]
            ),
        )

    @router.callback_query(RewardCb.filter(F.action == "show"))
    async def show(query: CallbackQuery, callback_data: RewardCb, identity: Identity, services: Services) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        catalogue = await services.rewards.catalogue(identity.telegram_id)
        for pending in catalogue.pending:
            if pending.id == callback_data.id:
                await send_redemption_qr(
                    query.message,
                    pending.payload,
                    _("🎁 <b>{name}</b>: show this QR code at the counter before {time}.").format(
                        name=name(pending.name.get(catalogue.language)),
                        time=local_time(pending.expires_at, services.program.shop.tz),
                    ),
                )
                return
        await query.message.answer(_("This reservation is no longer open."))

    @router.callback_query(RewardCb.filter(F.action == "cancel"))
    async def cancel(query: CallbackQuery, callback_data: RewardCb, identity: Identity, services: Services) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        try:
            balance = await services.rewards.cancel(identity.telegram_id, callback_data.id)
        except DomainError as error:
            await query.message.answer(error_text(error))
            return
        await query.message.answer(
            _("✖ Reservation cancelled. Your points are back: balance <b>{balance}</b>.").format(balance=balance)
        )

    @router.callback_query(VoucherCb.filter(F.action == "show"))
    async def show_voucher(query: CallbackQuery, callback_data: VoucherCb, services: Services) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        try:
            kind, _code = services.scans.decode(callback_data.code)
        except DomainError:
            return
        if kind is not TokenKind.VOUCHER:
            return
        await query.message.answer_photo(
            BufferedInputFile(qr_png(deep_link(bot_username, callback_data.code)), filename="voucher.png"),
            caption=_("🎟 Show this voucher QR code at the counter. It works once."),
        )

    return router


# ---------------------------------------------------------------------------- staff at the counter


async def open_redemption(message: Message, token_id: str, identity: Identity, services: Services) -> None:
    """A redemption QR was scanned (link or photo): staff see the reward and the customer."""
    if not identity.role.is_staff:
        raise ShowToStaff()
    view = await services.rewards.open(identity.telegram_id, token_id)
    text = _(
        "🎁 <b>{reward}</b> · {points} points\n"
        "👤 {name} · phone {phone}\n"
        "Reserved until {time}. Hand it over, then confirm."
    ).format(
        reward=name(view.name.get(identity.language)),
        points=view.points,
        name=name(view.first_name),
        phone=view.masked_phone,
        time=local_time(view.expires_at, services.program.shop.tz),
    )
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=_("✅ Confirm"), callback_data=RedeemCb(action="confirm", code=token_id).pack())]
        ]
    )
    if view.photo_file_id:  # staff see what to hand over
        await message.answer_photo(view.photo_file_id, caption=text, reply_markup=keyboard)
    else:
        await message.answer(text, reply_markup=keyboard)


async def open_voucher(message: Message, token_id: str, identity: Identity, services: Services) -> None:
    """A voucher QR was scanned: staff see what it is worth and whose it is."""
    if not identity.role.is_staff:
        raise ShowToStaff()
    view = await services.loyalty.open_voucher(identity.telegram_id, token_id)
    expiry = (
        _("Valid until {time}.").format(time=local_time(view.expires_at, services.program.shop.tz))
        if view.expires_at
        else _("No expiry.")
    )
    await message.answer(
        _("🎟 <b>{title}</b>\n👤 {name} · phone {phone}\n{expiry}").format(
            title=name(view.title(identity.language)), name=name(view.first_name), phone=view.masked_phone, expiry=expiry
        ),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [InlineKeyboardButton(text=_("✅ Use voucher"), callback_data=VoucherCb(action="use", code=token_id).pack())]
            ]
        ),
    )


def build_staff_router(*, i18n: I18n) -> Router:
    router = Router(name="rewards-staff")
    router.callback_query.filter(IsStaff())

    @router.callback_query(RedeemCb.filter(F.action == "confirm"))
    async def confirm(query: CallbackQuery, callback_data: RedeemCb, bot: Bot, identity: Identity, services: Services) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        try:
            view = await services.rewards.confirm(identity.telegram_id, callback_data.code)
        except DomainError as error:
            await query.message.answer(error_text(error, services.program.shop.tz))
            return
        done = _("✅ Confirmed: <b>{reward}</b> for {name}, phone ending {digits}.").format(
            reward=name(view.name.get(identity.language)), name=name(view.first_name), digits=view.masked_phone[-4:]
        )
        if query.message.photo:
            await query.message.edit_caption(caption=done)
        else:
            await query.message.edit_text(done)
        if view.customer_telegram_id is not None:
            await notify(
                bot,
                i18n,
                view.customer_telegram_id,
                view.customer_language,
                lambda: _("🎁 Enjoy your <b>{reward}</b>! The redemption is confirmed.").format(
                    reward=name(view.name.get(view.customer_language))
                ),
            )

    @router.callback_query(VoucherCb.filter(F.action == "use"))
    async def use(query: CallbackQuery, callback_data: VoucherCb, bot: Bot, identity: Identity, services: Services) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        try:
            view = await services.loyalty.use_voucher(identity.telegram_id, callback_data.code)
        except DomainError as error:
            await query.message.answer(error_text(error, services.program.shop.tz))
            return
        await query.message.edit_text(
            _("✅ Voucher used: <b>{title}</b> for {name}, phone ending {digits}.").format(
                title=name(view.title(identity.language)), name=name(view.first_name), digits=view.masked_phone[-4:]
            )
        )
        if view.customer_telegram_id is not None:
            await notify(
                bot,
                i18n,
                view.customer_telegram_id,
                view.customer_language,
                lambda: _("🎟 Your voucher <b>{title}</b> was used. Enjoy!").format(
                    title=name(view.title(view.customer_language))
                ),
            )

    return router
