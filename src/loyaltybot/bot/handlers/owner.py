"""The owner's hub: `/admin` (activity, staff) and `/staff` (invite, list, remove); joining by invite."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from loyaltybot.bot import commands
from loyaltybot.bot.callbacks import AdminCb, InviteCb, StaffCb
from loyaltybot.bot.earning import notify
from loyaltybot.bot.filters import IsOwner
from loyaltybot.bot.texts import error_text, local_time, name
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.money import format_amount
from loyaltybot.domain.roles import Role
from loyaltybot.domain.tokens import deep_link
from loyaltybot.render.qr import qr_png
from loyaltybot.services.activity import ActivityReport
from loyaltybot.services.container import Services
from loyaltybot.services.staff import Identity, StaffEntry


def staff_label(entry: StaffEntry) -> str:
    return entry.display_name or str(entry.telegram_id)


def staff_view(entries: list[StaffEntry], tz: ZoneInfo) -> tuple[str, InlineKeyboardMarkup]:
    lines = [_("👥 <b>Staff</b>")]
    if not entries:
        lines.append(_("No staff yet. Invite someone with the button below."))
    for entry in entries:
        lines.append(
            _("• {name} (since {date})").format(name=name(staff_label(entry)), date=local_time(entry.added_at, tz))
        )
    rows = [[InlineKeyboardButton(text=_("➕ Invite staff"), callback_data=StaffCb(action="invite").pack())]]
    for entry in entries:
        rows.append(
            [
                InlineKeyboardButton(
                    text=_("🗑 Remove {name}").format(name=staff_label(entry)),
                    callback_data=StaffCb(action="remove", id=entry.telegram_id).pack(),
                )
            ]
        )
    return "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows)


def activity_text(report: ActivityReport, currency: str) -> str:
    lines = [_("📊 <b>Today at the counter</b> ({date})").format(date=report.day.strftime("%d/%m/%Y"))]
    if not report.staff:
        lines.append(_("No sales or credits yet today."))
    for day in report.staff:
        lines.append(
            _(
                "• {name}: {issued} sale QR codes, {claimed} claimed, {member} member-card credits, {amount} in sales"
            ).format(
                name=name(day.name),
                issued=day.sales_issued,
                claimed=day.sales_claimed,
                member=day.member_credits,
                amount=format_amount(day.spend_sen, currency),
            )
        )
    lines.append("")
    lines.append(_("⚠️ <b>Unusual activity</b>"))
    unusual = False
    for customer in report.frequent_customers:
        unusual = True
        lines.append(
            _("• {name} ({phone}): {count} claims today (more than {threshold})").format(
                name=name(customer.name), phone=customer.masked_phone, count=customer.claims, threshold=report.claims_threshold
            )
        )
    for repeated in report.repeated_credits:
        unusual = True
        lines.append(
            _("• {staff} credited {name} {count} times today").format(
                staff=name(repeated.staff_name), name=name(repeated.customer_name), count=repeated.credits
            )
        )
    for failed in report.failed_scans:
        unusual = True
        reasons = [
            text.format(count=count)
            for text, count in (
                (_("{count} forged"), failed.forged),
                (_("{count} unknown"), failed.unknown),
                (_("{count} already used by someone else"), failed.used),
                (_("{count} expired or withdrawn"), failed.expired),
            )
            if count
        ]
        who = name(failed.name) if failed.name else _("Telegram user {id}").format(id=failed.telegram_id)
        lines.append(
            _("• {who} scanned codes that did not work: {reasons}").format(who=who, reasons=", ".join(reasons))
        )
    for attempt in report.self_credits:
        unusual = True
        lines.append(
            _("• {name} tried to credit themselves (refused): {count}").format(
                name=name(attempt.name), count=attempt.attempts
            )
        )
    if not unusual:
        lines.append(_("Nothing unusual today."))
    return "\n".join(lines)


def build_router(*, i18n: I18n, bot_username: str) -> Router:
    router = Router(name="owner")
    router.message.filter(IsOwner())
    router.callback_query.filter(IsOwner())

    @router.message(Command("admin"))
    async def admin(message: Message) -> None:
        await message.answer(
            _("🛠 <b>Admin</b>: what would you like to see?"),
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [InlineKeyboardButton(text=_("📊 Activity today"), callback_data=AdminCb(section="activity").pack())],
                    [InlineKeyboardButton(text=_("👥 Staff"), callback_data=AdminCb(section="staff").pack())],
                    [InlineKeyboardButton(text=_("📣 Broadcasts"), callback_data=AdminCb(section="broadcasts").pack())],
                    [InlineKeyboardButton(text=_("🎁 Rewards"), callback_data=AdminCb(section="rewards").pack())],
                    [
                        InlineKeyboardButton(text=_("📝 Surveys"), callback_data=AdminCb(section="surveys").pack()),
                        InlineKeyboardButton(text=_("💡 Suggestions"), callback_data=AdminCb(section="suggestions").pack()),
                    ],
                    [InlineKeyboardButton(text=_("⏰ Automations"), callback_data=AdminCb(section="automations").pack())],
                ]
            ),
        )

    @router.callback_query(AdminCb.filter(F.section == "activity"))
    async def activity(query: CallbackQuery, identity: Identity, services: Services) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        try:
            report = await services.activity.today(identity.telegram_id)
        except DomainError as error:
            await query.message.answer(error_text(error))
            return
        await query.message.answer(activity_text(report, services.program.shop.currency))

    async def send_staff(message: Message, identity: Identity, services: Services) -> None:
        try:
            entries = await services.team.list(identity.telegram_id)
        except DomainError as error:
            await message.answer(error_text(error))
            return
        text, keyboard = staff_view(entries, services.program.shop.tz)
        await message.answer(text, reply_markup=keyboard)

    @router.message(Command("staff"))
    async def staff(message: Message, identity: Identity, services: Services) -> None:
        await send_staff(message, identity, services)

    @router.callback_query(AdminCb.filter(F.section == "staff"))
    async def staff_section(query: CallbackQuery, identity: Identity, services: Services) -> None:
        await query.answer()
        if isinstance(query.message, Message):
            await send_staff(query.message, identity, services)

    @router.callback_query(StaffCb.filter(F.action == "invite"))
    async def invite(query: CallbackQuery, identity: Identity, services: Services) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        try:
            created = await services.team.create_invite(identity.telegram_id)
        except DomainError as error:
            await query.message.answer(error_text(error))
            return
        link = deep_link(bot_username, created.payload)
        await query.message.answer_photo(
            BufferedInputFile(qr_png(link), filename="staff-invite.png"),
            caption=_(
                "👥 <b>Staff invite</b>\n"
                "Send this link to the new staff member, or let them scan the QR code. "
                "Whoever opens it first becomes staff. It works once, until {time}.\n\n{link}"
            ).format(time=local_time(created.expires_at, services.program.shop.tz), link=link),
        )

    @router.callback_query(StaffCb.filter(F.action == "remove"))
    async def remove_ask(query: CallbackQuery, callback_data: StaffCb, identity: Identity, services: Services) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        try:
            entries = {entry.telegram_id: entry for entry in await services.team.list(identity.telegram_id)}
        except DomainError as error:
            await query.message.answer(error_text(error))
            return
        entry = entries.get(callback_data.id)
        if entry is None:
            await query.message.answer(_("This person is not on the staff any more."))
            return
        await query.message.answer(
            _("Remove {name} from the staff? They lose every staff action at once.").format(name=name(staff_label(entry))),
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(
                            text=_("Yes, remove"), callback_data=StaffCb(action="remove_yes", id=entry.telegram_id).pack()
                        ),
                        InlineKeyboardButton(text=_("Cancel"), callback_data=StaffCb(action="remove_no").pack()),
                    ]
                ]
            ),
        )

    @router.callback_query(StaffCb.filter(F.action.in_({"remove_yes", "remove_no"})))
    async def remove_answer(
        query: CallbackQuery, callback_data: StaffCb, bot: Bot, identity: Identity, services: Services
    ) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        if callback_data.action == "remove_no":
            await query.message.edit_text(_("OK, nobody was removed."))
            return
        try:
            removed = await services.team.remove(identity.telegram_id, callback_data.id)
        except DomainError as error:
            await query.message.edit_text(error_text(error))
            return
        await commands.publish_chat_commands(bot, i18n, removed.telegram_id, Role.CUSTOMER)
        await query.message.edit_text(_("{name} is no longer staff.").format(name=name(staff_label(removed))))

    return router


def build_invite_router(*, i18n: I18n) -> Router:
    """Answering a staff invite: open to anyone, the invite itself is re-checked by the service."""
    router = Router(name="invite")

    @router.callback_query(InviteCb.filter())
    async def answer(query: CallbackQuery, callback_data: InviteCb, bot: Bot, services: Services) -> None:
        await query.answer()
        if not isinstance(query.message, Message):
            return
        if callback_data.action != "yes":
            await query.message.edit_text(_("OK, you did not join the staff."))
            return
        user = query.from_user
        try:
            joined = await services.team.accept_invite(callback_data.token, user.id, user.full_name)
        except DomainError as error:
            await query.message.edit_text(error_text(error))
            return
        await query.message.edit_text(
            _("✅ Welcome to the team! Send /sale to make a sale QR code, or scan a customer's card.")
        )
        await commands.publish_chat_commands(bot, i18n, joined.telegram_id, Role.STAFF)
        if joined.invited_by is not None:
            inviter = await services.staff.identify(joined.invited_by)
            await notify(
                bot,
                i18n,
                joined.invited_by,
                inviter.language or services.program.shop.default_language,
                lambda: _("✅ {name} opened your invite and joined the staff.").format(name=name(joined.display_name)),
            )

    return router
