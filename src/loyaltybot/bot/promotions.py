"""How an outbox message looks (the same for the owner's preview and for customers), and the
owner's progress and report texts. Used by the bot's handlers and by the sender (delivery/)."""

from __future__ import annotations

import html
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.i18n import I18n, get_i18n
from aiogram.utils.i18n import gettext as _

from loyaltybot.bot.callbacks import BroadcastCb, PromoCb, RewardCb, SurveyCb
from loyaltybot.bot.menu import N_
from loyaltybot.bot.texts import local_time
from loyaltybot.config import TiersSection
from loyaltybot.domain.outbox import Audience, Tally
from loyaltybot.services.outbox import Content

STOP_PROMOTIONS = N_("🔕 Stop promotions")
OPEN_REWARDS = N_("🎁 Open rewards")
ANSWER_SURVEY = N_("📝 Answer the survey")
SURVEY_INVITATION = N_(
    "📝 <b>{title}</b>\n\nWe would love to hear what you think. The survey takes a minute or two."
)
SURVEY_INVITATION_REWARD = N_(
    "📝 <b>{title}</b>\n\nWe would love to hear what you think. The survey takes a minute or two, "
    "and you earn <b>{points}</b> points for completing it."
)

LAPSE_REMINDER = N_(
    "⏰ <b>{name}</b> is still reserved for you, but only for {minutes} more min. Show the QR code at the "
    "counter, or it will be released and your points returned."
)
SHOW_REDEMPTION_QR = N_("📱 Show my QR code")


def message_text(content: Content, i18n: I18n, language: str) -> str:
    """A campaign's text in the customer's language. A survey invitation wraps the survey's
    title (stored as the campaign's texts, already escaped) in the invitation."""
    text = content.text_for(language)
    if content.survey_id is None:
        return text
    template = SURVEY_INVITATION_REWARD if content.reward_points else SURVEY_INVITATION
    return i18n.gettext(template, locale=language).format(title=text, points=content.reward_points)


def lapse_reminder_text(content: Content, i18n: I18n, language: str, minutes: int) -> str:
    """A reserved reward about to lapse; the campaign's texts are the reward's names (escaped)."""
    return i18n.gettext(LAPSE_REMINDER, locale=language).format(name=content.text_for(language), minutes=minutes)


def lapse_reminder_keyboard(i18n: I18n, language: str, redemption_id: int) -> InlineKeyboardMarkup:
    """Shows the redemption's QR code again (the /rewards "📱 QR" button: only while it is open)."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=i18n.gettext(SHOW_REDEMPTION_QR, locale=language),
                    callback_data=RewardCb(action="show", id=redemption_id).pack(),
                )
            ]
        ]
    )


def message_keyboard(content: Content, i18n: I18n, language: str) -> InlineKeyboardMarkup | None:
    """The buttons under a campaign's message, in the customer's language.

    Every promotion carries the one-tap opt-out; transactional messages do not.
    """
    rows: list[list[InlineKeyboardButton]] = []
    if content.button_kind == "url" and content.button_text and content.button_url:
        rows.append([InlineKeyboardButton(text=content.button_text, url=content.button_url)])
    elif content.button_kind == "survey" and content.survey_id is not None:
        rows.append(
            [
                InlineKeyboardButton(
                    text=i18n.gettext(ANSWER_SURVEY, locale=language),
                    callback_data=SurveyCb(action="open", survey=content.survey_id).pack(),
                )
            ]
        )
    elif content.button_kind == "rewards":
        rows.append(
            [
                InlineKeyboardButton(
                    text=i18n.gettext(OPEN_REWARDS, locale=language), callback_data=PromoCb(action="rewards").pack()
                )
            ]
        )
    if content.promotional:
        rows.append(
            [
                InlineKeyboardButton(
                    text=i18n.gettext(STOP_PROMOTIONS, locale=language), callback_data=PromoCb(action="stop").pack()
                )
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def tier_name(tiers: TiersSection, code: str) -> str:
    """A tier's name in the current (owner's) language."""
    language = "ms" if get_i18n().current_locale == "ms" else "en"
    for level in tiers.levels:
        if level.code == code:
            return level.name.get(language)
    return code


def offer_caption(text: str, voucher_title: str) -> str:
    """An automatic offer's caption under its voucher QR: the message, then what the voucher gives."""
    return f"{text}\n\n🎟 <b>{html.escape(voucher_title)}</b>"


def stop_keyboard(i18n: I18n, language: str) -> InlineKeyboardMarkup:
    """The one-tap opt-out alone (automatic offers carry no other button)."""
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=i18n.gettext(STOP_PROMOTIONS, locale=language), callback_data=PromoCb(action="stop").pack())]
        ]
    )


def audience_label(audience: Audience, tiers: TiersSection | None = None) -> str:
    kind, value = audience.kind, audience.value
    if kind == "tier" and audience.tier is not None:
        name = tier_name(tiers, audience.tier) if tiers is not None else audience.tier
        return _("tier {tier}").format(tier=name)
    if kind == "en":
        return _("customers who use English")
    if kind == "ms":
        return _("customers who use Bahasa Melayu")
    if kind == "birthday":
        return _("birthday this month")
    if kind == "inactive":
        return _("no visit for {days} days").format(days=value)
    if kind == "joined":
        return _("joined in the last {days} days").format(days=value)
    if kind == "balance":
        return _("at least {points} points").format(points=value)
    return _("all customers who accept promotions")


def status_label(status: str) -> str:
    return {
        "scheduled": _("scheduled"),
        "sending": _("sending"),
        "done": _("finished"),
        "cancelled": _("cancelled"),
    }.get(status, status)


def tally_lines(tally: Tally) -> str:
    text = _("✅ Sent: {sent}\n⚠️ Failed: {failed}\n🚫 Blocked: {blocked}\n⏳ Remaining: {remaining}").format(
        sent=tally.sent, failed=tally.failed, blocked=tally.blocked, remaining=tally.remaining
    )
    extras = []
    if tally.skipped:
        extras.append(_("⏭ Skipped (opted out since): {count}").format(count=tally.skipped))
    if tally.cancelled:
        extras.append(_("✖️ Not sent (cancelled): {count}").format(count=tally.cancelled))
    if tally.unknown:
        extras.append(_("❔ Unknown (interrupted while sending): {count}").format(count=tally.unknown))
    return "\n".join([text, *extras])


def progress_text(campaign_id: int, status: str, tally: Tally) -> str:
    if status == "sending" and not tally.finished:
        head = _("📣 <b>Broadcast #{id}</b>: sending to {total} customers…").format(id=campaign_id, total=tally.total)
    elif status == "cancelled":
        head = _("📣 <b>Broadcast #{id}</b>: cancelled.").format(id=campaign_id)
    else:
        head = _("📣 <b>Broadcast #{id}</b>: finished.").format(id=campaign_id)
    return head + "\n\n" + tally_lines(tally)


def report_text(campaign_id: int, tally: Tally) -> str:
    return _(
        "📊 Broadcast #{id} report: {sent} of {total} delivered, {failed} failed, {blocked} blocked the bot."
    ).format(id=campaign_id, sent=tally.sent, total=tally.total, failed=tally.failed, blocked=tally.blocked)


def cancel_keyboard(campaign_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=_("✖️ Cancel broadcast"), callback_data=BroadcastCb(action="cancel", id=campaign_id).pack()
                )
            ]
        ]
    )


def when_text(moment: datetime | None, tz: ZoneInfo) -> str:
    return local_time(moment, tz) if moment else "—"
