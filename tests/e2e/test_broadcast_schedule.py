"""Scheduled broadcasts: composed, listed, cancelled; started by the scheduler when due,
including after a restart that missed the time."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from loyaltybot.db.models import Campaign, Delivery
from loyaltybot.domain.outbox import Audience
from loyaltybot.sandbox import BotApiEmulator
from loyaltybot.services.broadcasts import Draft

from .conftest import OWNER_ID, RunningBot, button_text, expect, make_settings
from .seed import open_chats, seed_customers


async def test_schedule_list_and_cancel(bot: RunningBot, emulator: BotApiEmulator) -> None:
    ids = [60_001, 60_002]
    await seed_customers(bot.app.core.db, ids)  # type: ignore[union-attr]
    open_chats(emulator, ids)
    owner = emulator.user(OWNER_ID, "Owner")
    await owner.send("/broadcast")
    await expect(owner, "New broadcast")
    await owner.send("Christmas special")
    await expect(owner, "Christmas special")
    menu = await expect(owner, "Broadcast draft")

    # Audience with a number: balance at least 0 points (everyone).
    await owner.click(menu, button_text(menu, "👥"))
    picker = await owner.wait_for_edit(menu)
    await owner.click(picker, "Balance at least X points")
    await owner.wait_for_edit(menu)
    await owner.send("abc")
    await expect(owner, "whole number")
    await owner.send("0")
    menu = await expect(owner, "at least 0 points", "Recipients now: 2")

    await owner.click(menu, button_text(menu, "🗓"))
    await owner.wait_for_edit(menu)
    await owner.send("31/02 10:00")
    await expect(owner, "couldn't read that")
    await owner.send("25/12/2020 10:00")
    await expect(owner, "already passed")
    when = (bot.services.clock() + timedelta(days=3)).astimezone(bot.services.program.shop.tz)
    await owner.send(when.strftime("%d/%m/%Y %H:%M"))
    scheduled = await expect(owner, "Broadcast #1", "scheduled for")

    await owner.send("/broadcasts")
    listing = await expect(owner, "#1", "scheduled")
    assert "✖️ Cancel #1" in [b["text"] for row in listing.reply_markup["inline_keyboard"] for b in row]  # type: ignore[index]

    answer = await owner.click(scheduled, "✖️ Cancel broadcast")
    assert "cancelled" in ((await answer.wait_answer()).text or "")
    assert await bot.count(Campaign, Campaign.status == "cancelled") == 1
    assert await bot.count(Delivery) == 0
    answer = await owner.click(scheduled, "✖️ Cancel broadcast")
    assert "already finished" in ((await answer.wait_answer()).text or "")
    # The scheduled message becomes the final word: cancelled, no buttons, no empty report.
    final = await owner.wait_for_edit(scheduled, timeout=6)
    assert "Broadcast #1: cancelled." in (final.text or "")
    assert not (final.reply_markup or {}).get("inline_keyboard")
    await asyncio.sleep(2.5)
    assert not [m for m in owner.pending if "report" in (m.text or "")]


async def test_customer_cannot_use_owner_buttons(bot: RunningBot, emulator: BotApiEmulator) -> None:
    mallory = emulator.user(61_000, "Mallory")
    await mallory.send("/broadcast")
    reply = await mallory.wait_for_message()
    assert "Broadcast" not in (reply.text or "")


async def test_due_campaign_starts_and_missed_one_starts_after_restart(
    database_url: str, emulator: BotApiEmulator, tmp_path: Path
) -> None:
    bot = RunningBot(make_settings(database_url, emulator, tmp_path, scheduler_interval=0.5), emulator)
    await bot.start()
    try:
        ids = [62_001, 62_002, 62_003]
        await seed_customers(bot.app.core.db, ids)  # type: ignore[union-attr]
        open_chats(emulator, ids)
        now = bot.services.clock()
        await bot.services.broadcasts.schedule(
            OWNER_ID, Draft(text_en="Soon", audience=Audience()), now + timedelta(seconds=1)
        )
        await _wait_for_sent(bot, 3)
        await bot.stop()

        # Scheduled while the bot is down for a time that passes before it comes back.
        slow = RunningBot(make_settings(database_url, emulator, tmp_path, scheduler_interval=3600), emulator)
        await slow.start()
        await slow.services.broadcasts.schedule(
            OWNER_ID, Draft(text_en="Missed", audience=Audience()), slow.services.clock() + timedelta(seconds=1)
        )
        await slow.stop()
        await asyncio.sleep(1.2)
        await slow.start()  # the scheduler's first run at start-up finds it due
        try:
            await _wait_for_sent(slow, 6)
        finally:
            await slow.stop()
    finally:
        await bot.stop()


async def _wait_for_sent(bot: RunningBot, count: int) -> None:
    for _ in range(100):
        if await bot.count(Delivery, Delivery.status == "sent") == count:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{count} deliveries were not sent")
