"""A Malay-speaking customer browses and redeems in Bahasa Melayu."""

from __future__ import annotations

from loyaltybot.sandbox import BotApiEmulator

from .conftest import RunningBot, button_text, expect
from .test_counter import add_staff, customer
from .test_rewards import add_reward, give_points


async def test_rewards_and_card_in_malay(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    siti = await customer(bot, emulator, telegram_id=1003, name="Siti", phone="+60127776666", language="Bahasa Melayu")
    await give_points(staff, siti, "40")
    await add_reward(bot, 30, stock=2)
    await add_reward(bot, 100, name_en="Mug", name_ms="Kole")
    await siti.send("/rewards")
    listing = await expect(siti, "Ganjaran", "anda ada 40 mata", "Latte percuma — 30 mata", "tinggal 2", "Kole", "perlu 60 mata lagi")
    await siti.click(listing, button_text(listing, "🎁 Tebus"))
    await expect(siti, "telah ditempah untuk anda", "baki 10")
    await siti.send("/card")
    await expect(siti, "Tahap: Gangsa", "Belanja RM 460.00 lagi untuk mencapai Perak", "Diskaun 10% untuk pembelian pertama")
