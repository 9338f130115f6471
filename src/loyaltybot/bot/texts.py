"""Shared localized texts: error messages by code, labels, and small formatters."""

from __future__ import annotations

from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from aiogram.utils.i18n import gettext as _

from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.money import format_amount
from loyaltybot.domain.stamps import render_stamps


def error_text(error: DomainError, tz: ZoneInfo | None = None) -> str:
    """The customer-facing explanation of a refused action, in the current language."""
    code = error.code
    if code == "contact_not_own":
        return _(
            "That is not your own contact. Please tap “📱 Share my phone number” to share the number "
            "of this Telegram account."
        )
    if code == "phone_invalid":
        return _("That phone number does not look valid. Please share the number of this Telegram account.")
    if code == "phone_taken":
        return _(
            "This phone number is already registered to another Telegram account. "
            "If you changed accounts, please ask the shop staff for help."
        )
    if code == "not_registered":
        return _("You are not registered yet. Send /start to join.")
    if code == "birthday_malformed":
        return _("I couldn't read that date. Please type it like <code>31/12</code> or <code>31/12/1990</code>.")
    if code == "birthday_invalid_date":
        return _("That date does not exist. Please check the day and the month.")
    if code == "birthday_future":
        return _("That date is in the future. Please check the year.")
    if code == "birthday_too_old":
        return _("Please check the year of your birthday.")
    if code == "code_not_valid":
        return _("This code is not valid or no longer works. Please ask the staff for a new one.")
    if code == "member_code_for_staff":
        return _("This is a member card. Please show it to the staff at the counter.")
    if code == "not_allowed":
        return _("Sorry, only the shop's staff can do that.")
    if code == "code_used":
        return _("This QR code has already been used. Each code works only once.")
    if code == "code_expired":
        return _("This QR code has expired. Please ask the staff for a new one.")
    if code == "invite_expired":
        return _("This staff invite has expired. Please ask the shop owner for a new one.")
    if code == "own_sale":
        return _("You issued this sale yourself: the customer must scan it with their own phone.")
    if code == "own_card":
        return _("You cannot credit your own card. Please ask another staff member.")
    if code == "already_recorded":
        return _("This was already recorded. Nothing was added twice.")
    if code == "stamp_not_allowed":
        next_at = error.details.get("next_at")
        if isinstance(next_at, datetime) and tz is not None:
            return _("No stamp now: this customer reached the stamp limit. Next stamp from {time}.").format(
                time=local_time(next_at, tz)
            )
        return _("No stamp now: this customer reached the stamp limit.")
    if code == "already_staff":
        return _("You are already on the staff.")
    if code == "cannot_remove_owner":
        return _("Owners are set in the bot's configuration (OWNER_IDS) and cannot be removed here.")
    if code == "staff_not_found":
        return _("This person is not on the staff any more.")
    if code in ("amount_malformed", "amount_error"):
        return _("I couldn't read that amount. Please type it like <code>25.50</code>.")
    if code == "amount_too_precise":
        return _("Please use at most 2 decimals, like <code>25.50</code>.")
    if code == "amount_not_positive":
        return _("The amount must be more than zero.")
    if code == "amount_too_large":
        max_sen = error.details.get("max_sen")
        return _("That is more than the maximum for one sale ({max}). Please check the amount.").format(
            max=format_amount(max_sen, str(error.details.get("currency") or "MYR")) if isinstance(max_sen, int) else "?"
        )
    reward_text = _reward_error_text(error, tz)
    if reward_text is not None:
        return reward_text
    return _("Sorry, that did not work. Please try again.")


def _reward_error_text(error: DomainError, tz: ZoneInfo | None) -> str | None:
    """Rewards, redemptions and vouchers (issue 4)."""
    code = error.code
    if code == "reward_sold_out":
        return _("Sorry, this reward is sold out. Your points were not touched.")
    if code == "reward_not_enough_points":
        return _("You need {missing} more points for this reward.").format(missing=error.details.get("missing", "?"))
    if code == "reward_tier_locked":
        return _("This reward is for members of a higher tier. Keep collecting!")
    if code == "reward_limit_reached":
        return _("You have already redeemed this reward as many times as allowed.")
    if code == "reward_unavailable":
        return _("This reward is not available right now.")
    if code == "reward_field_invalid":
        return _("That value does not work here. Please check it and try again.")
    if code == "redemption_closed":
        status = error.details.get("status")
        if status == "confirmed":
            return _("This redemption was already confirmed. Each reward is handed over once.")
        if status == "cancelled":
            return _("This redemption was cancelled; the points went back to the customer.")
        return _("This redemption has expired; the points went back to the customer.")
    if code == "voucher_closed":
        if error.details.get("status") == "used":
            return _("This voucher has already been used. Each voucher works once.")
        return _("This voucher has expired.")
    if code == "own_redemption":
        return _("You cannot hand over your own reward or voucher. Please ask another staff member.")
    if code == "show_to_staff":
        return _("Please show this code to the staff at the counter.")
    if code == "offer_text_invalid":
        return _(
            "That text cannot be used: write it again with only the placeholders {{shop}}, {{festival}} and "
            "{{days}} (in curly braces), or without any."
        )
    if code == "unknown_automation":
        return _("That automatic offer is not in the calendar any more. Open Automations again.")
    return None


def kind_label(kind: str) -> str:
    labels = {
        "purchase": _("Purchase"),
        "stamp": _("Stamp"),
        "survey": _("Survey reward"),
        "referral": _("Referral bonus"),
        "bonus": _("Bonus"),
        "redeem": _("Reward redeemed"),
        "expire": _("Points expired"),
        "adjust": _("Adjustment"),
        "reversal": _("Reversal"),
    }
    return labels.get(kind, kind)


def language_name(code: str) -> str:
    return {"en": "English", "ms": "Bahasa Melayu"}.get(code, code)


def local_time(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%d/%m/%Y %H:%M")


def stamp_bar(count: int, size: int) -> str:
    """The stamp card as text; a count above the card size (after a rule change) shows full."""
    return render_stamps(max(0, min(count, size)), size)


def name(text: str | None) -> str:
    """A person's name, safe inside an HTML message."""
    return escape(text or "", quote=False)
