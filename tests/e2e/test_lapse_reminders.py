"""A reserved reward about to lapse, end to end: customers redeem in the bot, the job runs, and the
outbox sender delivers one reminder each, in their language, with a button that shows the same
redemption QR again; a reminder whose redemption closed before it went out is not sent."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from loyaltybot.db.models import Customer, Delivery, Redemption
from loyaltybot.db.offers import OfferRepository
from loyaltybot.domain.offers import redemption_reminder_key
from loyaltybot.domain.tokens import payload_from_link
from loyaltybot.sandbox import BotApiEmulator, SimUser
from loyaltybot.services.jobs import run_job
from loyaltybot.services.offers import LAPSE_REMINDER

from .conftest import BOT_USERNAME, RunningBot, button_text, expect, picker_buttons
from .test_counter import add_staff, customer
from .test_rewards import add_reward, give_points


async def redeem_first(user: SimUser) -> str:
    """Redeem the first affordable reward from /rewards; the redemption QR's link."""
    await user.send("/rewards")
    listing = await user.wait_for_message()
    await user.click(listing, button_text(listing, "🎁"))
    link = user.decode_qr(await user.wait_for_message())
    assert link is not None and "?start=r_" in link
    return link


async def redemption_of(bot: RunningBot, telegram_id: int) -> int:
    return int(
        await bot.scalar(
            select(Redemption.id).join(Customer, Customer.id == Redemption.customer_id).where(
                Customer.telegram_id == telegram_id
            )
        )
    )


async def lapses_in(bot: RunningBot, redemption_id: int, left: timedelta) -> None:
    """Time passes: the reservation now lapses in `left`."""
    async with bot.app.core.db.write_sessions() as session:  # type: ignore[union-attr]
        await session.execute(
            update(Redemption).where(Redemption.id == redemption_id).values(expires_at=bot.services.clock() + left)
        )
        await session.commit()


async def settled(bot: RunningBot, status: str, expected: int, timeout: float = 20) -> None:
    for _ in range(int(timeout * 10)):
        if await bot.count(Delivery, Delivery.status == status) >= expected and await bot.count(
            Delivery, Delivery.status.in_(("pending", "sending"))
        ) == 0:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"expected {expected} deliveries {status}")


def messages_to(emulator: BotApiEmulator, chat_id: int) -> int:
    return len([m for m in emulator.bot_messages() if m.chat["id"] == chat_id])


async def test_reminded_once_in_their_language_with_the_qr_again(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)
    siti = await customer(bot, emulator, 1005, "Siti", "+60198765432", language="Bahasa Melayu")
    await give_points(staff, alice, "100")
    await give_points(staff, siti, "100")
    await add_reward(bot, 60)  # "Free latte" / "Latte percuma"
    alice_link = await redeem_first(alice)
    siti_link = await redeem_first(siti)
    await bot.services.customers.set_marketing(1001, False)  # a service message: sent all the same

    # Just reserved (15 minutes left): nothing due.
    assert await run_job("redemption-reminders", bot.services, bot.services.clock()) == "nothing due"
    for telegram_id in (1001, 1005):
        await lapses_in(bot, await redemption_of(bot, telegram_id), timedelta(minutes=4, seconds=30))
    assert await run_job("redemption-reminders", bot.services, bot.services.clock()) == "reminder:redemption: 2 queued"

    english = await expect(
        alice, "⏰ Free latte is still reserved for you, but only for 4 more min.",
        "Show the QR code at the counter, or it will be released and your points returned.",
    )
    assert picker_buttons(english) == ["📱 Show my QR code"]  # no "Stop promotions": not a promotion
    malay = await expect(
        siti, "⏰ Latte percuma masih ditempah untuk anda, tetapi hanya untuk 4 minit lagi.",
        "Tunjukkan kod QR di kaunter, atau tempahan ini akan dilepaskan dan mata anda dipulangkan.",
    )
    assert picker_buttons(malay) == ["📱 Tunjukkan kod QR saya"]
    await settled(bot, "sent", 2)

    # The button shows the very same redemption QR again.
    await alice.click(english, "📱 Show my QR code")
    assert alice.decode_qr(await expect(alice, "Free latte", "show this QR code at the counter")) == alice_link
    await siti.click(malay, "📱 Tunjukkan kod QR saya")
    assert siti.decode_qr(await expect(siti, "Latte percuma", "tunjukkan kod QR ini di kaunter")) == siti_link

    # Reruns send nothing more.
    before = messages_to(emulator, 1001), messages_to(emulator, 1005)
    assert await run_job("redemption-reminders", bot.services, bot.services.clock()) == "nothing due"
    await asyncio.sleep(1)
    assert (messages_to(emulator, 1001), messages_to(emulator, 1005)) == before

    # Staff confirm it; the button now says the reservation is closed.
    await staff.send(f"/start {payload_from_link(alice_link, BOT_USERNAME)}")
    view = await expect(staff, "Free latte", "Alice")
    await staff.click(view, "✅ Confirm")
    await expect(alice, "Enjoy your")
    await alice.click(english, "📱 Show my QR code")
    await expect(alice, "no longer open")


async def test_not_sent_when_the_redemption_closed_before_the_sender_got_to_it(
    bot: RunningBot, emulator: BotApiEmulator
) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)
    await give_points(staff, alice, "100")
    await add_reward(bot, 60)
    link = await redeem_first(alice)
    await staff.send(f"/start {payload_from_link(link, BOT_USERNAME)}")
    await staff.click(await expect(staff, "Free latte"), "✅ Confirm")
    await expect(alice, "Enjoy your")
    shown = messages_to(emulator, 1001)

    # The race the sender guards: the job queued the reminder just as staff confirmed (on PostgreSQL
    # the confirmation's withdrawal can miss a reminder being queued at the same moment).
    redemption_id = await redemption_of(bot, 1001)
    async with bot.app.core.db.write_sessions() as session:  # type: ignore[union-attr]
        customer_id = (await session.execute(select(Customer.id).where(Customer.telegram_id == 1001))).scalar_one()
        assert await OfferRepository(session).queue_reminder(
            key=redemption_reminder_key(redemption_id), kind=LAPSE_REMINDER, customer_id=customer_id,
            text_en="Free latte", text_ms="Latte percuma", now=bot.services.clock(),
        )
        await session.commit()
    await settled(bot, "cancelled", 1)
    await asyncio.sleep(0.5)
    assert messages_to(emulator, 1001) == shown
    assert await bot.scalar(select(Delivery.error)) == "redemption closed"
