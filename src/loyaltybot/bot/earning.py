"""Texts of earning at the counter (claims, credits, sale QR codes) and notifying the other side."""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _

from loyaltybot.bot.promotions import tier_name
from loyaltybot.bot.session import results_unused
from loyaltybot.config import TiersSection
from loyaltybot.bot.texts import local_time, name, stamp_bar
from loyaltybot.domain.money import format_amount
from loyaltybot.domain.stamps import StampReason
from loyaltybot.services.counter import Credit, IssuedSale

log = logging.getLogger(__name__)


def clock_time(moment: datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M")


def sale_caption(
    sale: IssuedSale, link: str, *, currency: str, tz: ZoneInfo, minutes: int, tiers: TiersSection
) -> str:
    caption = _(
        "🧾 <b>Sale {amount}</b> · {points} points\n"
        "Ask the customer to scan this QR code with their phone camera.\n"
        "Valid until {time} ({minutes} min), one use only.\n\n"
        "{link}"
    ).format(
        amount=format_amount(sale.amount_sen, currency),
        points=sale.points,
        time=clock_time(sale.expires_at, tz),
        minutes=minutes,
        link=link,
    )
    if not sale.tier_points:
        return caption
    # The points depend on the customer's tier: say what the higher tiers get, under the first line.
    first, rest = caption.split("\n", 1)
    bonus = _("Higher tiers: {tiers}").format(
        tiers=", ".join(f"{html.escape(tier_name(tiers, code))} {points}" for code, points in sale.tier_points)
    )
    return f"{first}\n{bonus}\n{rest}"


def credit_text_for_customer(credit: Credit, *, currency: str, tz: ZoneInfo) -> str:
    """What the customer reads after a claim or a member-card credit (in their language)."""
    if credit.amount_sen is not None:
        lines = [
            _("✅ <b>+{points} points</b> for your purchase of {amount}").format(
                points=credit.points, amount=format_amount(credit.amount_sen, currency)
            )
        ]
    else:
        lines = [_("✅ <b>+1 stamp</b> on your card")] if credit.stamps_added else []
    lines.append(_("⭐ Balance: <b>{balance}</b> points").format(balance=credit.balance))
    lines.append(
        _("☕ Stamps: {bar} {stamps}/{size}").format(
            bar=stamp_bar(credit.stamps, credit.card_size), stamps=credit.stamps, size=credit.card_size
        )
    )
    if credit.stamp_refused is StampReason.INTERVAL and credit.next_stamp_at is not None:
        lines.append(
            _("No stamp this time: one stamp per visit. Next stamp from {time}.").format(
                time=local_time(credit.next_stamp_at, tz)
            )
        )
    elif credit.stamp_refused is StampReason.DAILY_CAP and credit.next_stamp_at is not None:
        lines.append(
            _("No stamp this time: today's stamp limit is reached. Next stamp from {time}.").format(
                time=local_time(credit.next_stamp_at, tz)
            )
        )
    for voucher in credit.vouchers:
        lines.append(
            _("🎉 Your stamp card is full! You get a voucher: <b>{reward}</b>. See it in /card.").format(
                reward=name(voucher.title(credit.customer_language))
            )
        )
    if credit.tier_up is not None:
        perks = credit.tier_up.perks.get(credit.customer_language)
        lines.append(
            _("🏅 Congratulations, you are now <b>{tier}</b>!").format(
                tier=name(credit.tier_up.name.get(credit.customer_language))
            )
            + (" " + name(perks) if perks else "")
        )
    return "\n".join(lines)


def credit_text_for_staff(credit: Credit, *, currency: str) -> str:
    """What staff read: who was credited (first name, last digits of the phone) and with what."""
    who = {"name": name(credit.first_name), "digits": credit.masked_phone[-4:]}
    if credit.amount_sen is None:
        text = _("✅ Stamp added for {name}, phone ending {digits}: stamps {stamps}/{size}.").format(
            stamps=credit.stamps, size=credit.card_size, **who
        )
    else:
        text = _("✅ {amount} credited to {name}, phone ending {digits}: +{points} points, stamps {stamps}/{size}.").format(
            amount=format_amount(credit.amount_sen, currency),
            points=credit.points,
            stamps=credit.stamps,
            size=credit.card_size,
            **who,
        )
    if credit.stamp_refused is not None:
        text += "\n" + _("No stamp this time (stamp limit).")
    if credit.vouchers:
        text += "\n" + _("🎉 Their stamp card is full: a voucher was issued.")
    return text


def sale_claimed_text(credit: Credit, *, currency: str) -> str:
    assert credit.amount_sen is not None
    return _(
        "✅ Sale {amount} claimed by {name}, phone ending {digits}: +{points} points, stamps {stamps}/{size}."
    ).format(
        amount=format_amount(credit.amount_sen, currency),
        name=name(credit.first_name),
        digits=credit.masked_phone[-4:],
        points=credit.points,
        stamps=credit.stamps,
        size=credit.card_size,
    ) + ("\n" + _("🎉 Their stamp card is full: a voucher was issued.") if credit.vouchers else "")


async def notify(bot: Bot, i18n: I18n, chat_id: int, language: str, render: Callable[[], str]) -> None:
    """Tell someone else (in their language) what just happened; a blocked chat is not an error."""
    with i18n.use_locale(language):
        text = render()
    try:
        with results_unused():
            await bot.send_message(chat_id, text)
    except TelegramAPIError as error:
        log.info("could not notify a chat: %s", error.message)
