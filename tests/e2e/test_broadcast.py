"""Broadcasts end to end: the owner's composer, delivery through the emulator, the opt-out."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from loyaltybot.db.models import Campaign, Customer, Delivery
from loyaltybot.sandbox import BotApiEmulator, ChatMessage

from .conftest import OWNER_ID, RunningBot, button_text, expect, picker_buttons
from .seed import open_chats, seed_customers


async def wait_until(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.1)


def promos(emulator: BotApiEmulator, chat_id: int) -> list[ChatMessage]:
    return [m for m in emulator.user(chat_id).messages if m.from_bot and "Stop promotions" in str(m.reply_markup)]


async def test_owner_composes_previews_and_sends(bot: RunningBot, emulator: BotApiEmulator) -> None:
    emulator.enable_rate_limits()
    ids = list(range(20_001, 20_006))
    await seed_customers(bot.app.core.db, ids)  # type: ignore[union-attr]
    await seed_customers(bot.app.core.db, [20_010], marketing_opt_in=False)  # type: ignore[union-attr]
    open_chats(emulator, [*ids, 20_010])
    owner = emulator.user(OWNER_ID, "Owner")

    await owner.send("/broadcast")
    await expect(owner, "New broadcast")
    await owner.send("<b>Teh tarik</b> half price today!")
    preview = await expect(owner, "Teh tarik half price today!")
    assert "🔕 Stop promotions" in picker_buttons(preview)
    menu = await expect(owner, "Broadcast draft", "Recipients now: 5")

    await owner.click(menu, button_text(menu, "🚀"))
    confirm = await owner.wait_for_edit(menu)
    assert "to <b>5</b> customers now?" in (confirm.source or "")
    await owner.click(confirm, "Yes, send now")
    progress = await owner.wait_for_edit(confirm)
    assert "Broadcast #1" in (progress.text or "")

    report = await expect(owner, "report", "5 of 5 delivered", timeout=20)
    assert report
    for tid in ids:
        got = promos(emulator, tid)
        assert len(got) == 1 and got[0].entities[0]["type"] == "bold"
    assert promos(emulator, 20_010) == []
    assert await bot.count(Delivery, Delivery.status == "sent") == 5
    assert (await bot.scalar(select(Campaign.status))) == "done"

    # One tap stops promotions at once.
    customer = emulator.user(20_001)
    answer = await customer.click(promos(emulator, 20_001)[0], "🔕 Stop promotions")
    assert "Promotions stopped" in (await answer.wait_answer()).text  # type: ignore[operator]
    for _ in range(50):
        if not await bot.scalar(select(Customer.marketing_opt_in).where(Customer.telegram_id == 20_001)):
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("opt-out not stored")

    # The list shows the broadcast with its results.
    await owner.send("/broadcasts")
    listing = await expect(owner, "#1", "Sent: 5")
    assert listing


async def test_html_telegram_would_reject_is_caught_at_preview(bot: RunningBot, emulator: BotApiEmulator) -> None:
    owner = emulator.user(OWNER_ID, "Owner")
    await owner.send("/broadcast")
    await expect(owner, "New broadcast")
    await owner.send("<b>Sale for 3 < 5 days")
    await expect(owner, "cannot read the formatting")
    await owner.send("<b>Sale</b> for 3 &lt; 5 days")
    await expect(owner, "Sale for 3 < 5 days")
    await expect(owner, "Broadcast draft")


async def test_malay_version_button_and_languages(bot: RunningBot, emulator: BotApiEmulator) -> None:
    await seed_customers(bot.app.core.db, [20_101])  # type: ignore[union-attr]
    await seed_customers(bot.app.core.db, [20_102], language="ms")  # type: ignore[union-attr]
    open_chats(emulator, [20_101, 20_102])
    owner = emulator.user(OWNER_ID, "Owner")
    await owner.send("/broadcast")
    await expect(owner, "New broadcast")
    await owner.send("Free cake today")
    await expect(owner, "Free cake today")
    menu = await expect(owner, "Broadcast draft", "Malay version: no")

    await owner.click(menu, button_text(menu, "🇲🇾"))
    await owner.wait_for_edit(menu)
    await owner.send("Kek <i>percuma</i> hari ini")
    malay_preview = await expect(owner, "Kek percuma hari ini")
    assert "🔕 Henti promosi" in picker_buttons(malay_preview)
    menu = await expect(owner, "Malay version: yes")

    await owner.click(menu, button_text(menu, "🔘"))
    chooser = await owner.wait_for_edit(menu)
    await owner.click(chooser, "🎁 Open rewards")
    menu = await owner.wait_for_edit(menu)
    assert "Button: Open rewards" in (menu.text or "")

    await owner.click(menu, button_text(menu, "👥"))
    picker = await owner.wait_for_edit(menu)
    await owner.click(picker, "Bahasa Melayu")
    menu = await owner.wait_for_edit(menu)
    assert "Recipients now: 1" in (menu.text or "")
    await owner.click(menu, button_text(menu, "👥"))
    picker = await owner.wait_for_edit(menu)
    await owner.click(picker, "Everyone (opted in)")
    menu = await owner.wait_for_edit(menu)
    assert "Recipients now: 2" in (menu.text or "")

    await owner.click(menu, button_text(menu, "🚀"))
    confirm = await owner.wait_for_edit(menu)
    await owner.click(confirm, "Yes, send now")
    await expect(owner, "2 of 2 delivered", timeout=20)

    [english] = promos(emulator, 20_101)
    assert english.text == "Free cake today"
    assert picker_buttons(english) == ["🎁 Open rewards", "🔕 Stop promotions"]
    malay = [m for m in emulator.user(20_102).messages if m.from_bot]
    assert malay[-1].text == "Kek percuma hari ini"
    assert picker_buttons(malay[-1])[0] == "🎁 Buka ganjaran"

    customer = emulator.user(20_101)
    customer.drain()
    await customer.click(english, "🎁 Open rewards")
    await expect(customer, "rewards catalogue")


async def test_tier_audience(bot: RunningBot, emulator: BotApiEmulator) -> None:
    db = bot.app.core.db  # type: ignore[union-attr]
    await seed_customers(db, [20_201, 20_202])  # no tier yet: the first tier, Bronze
    await seed_customers(db, [20_203], tier="silver")
    await seed_customers(db, [20_204], tier="gold")
    open_chats(emulator, [20_201, 20_202, 20_203, 20_204])
    owner = emulator.user(OWNER_ID, "Owner")
    await owner.send("/broadcast")
    await expect(owner, "New broadcast")
    await owner.send("Silver members: double points")
    await expect(owner, "Silver members: double points")
    menu = await expect(owner, "Broadcast draft", "Recipients now: 4")

    await owner.click(menu, button_text(menu, "👥"))
    picker = await owner.wait_for_edit(menu)
    await owner.click(picker, "A tier")
    tiers = await owner.wait_for_edit(picker)
    assert picker_buttons(tiers) == ["Bronze", "Silver", "Gold"]
    await owner.click(tiers, "Bronze")
    menu = await owner.wait_for_edit(tiers)
    assert "Audience: tier Bronze" in (menu.text or "") and "Recipients now: 2" in (menu.text or "")
    await owner.click(menu, button_text(menu, "👥"))
    picker = await owner.wait_for_edit(menu)
    await owner.click(picker, "A tier")
    tiers = await owner.wait_for_edit(picker)
    await owner.click(tiers, "Silver")
    menu = await owner.wait_for_edit(tiers)
    assert "Recipients now: 1" in (menu.text or "")

    await owner.click(menu, button_text(menu, "🚀"))
    confirm = await owner.wait_for_edit(menu)
    await owner.click(confirm, "Yes, send now")
    await expect(owner, "1 of 1 delivered", timeout=20)
    assert len(promos(emulator, 20_203)) == 1
    assert all(promos(emulator, tid) == [] for tid in (20_201, 20_202, 20_204))


async def test_photo_with_caption_and_link_button(bot: RunningBot, emulator: BotApiEmulator) -> None:
    from loyaltybot.render.qr import qr_png

    await seed_customers(bot.app.core.db, [20_201])  # type: ignore[union-attr]
    open_chats(emulator, [20_201])
    owner = emulator.user(OWNER_ID, "Owner")
    await owner.send("/broadcast")
    await expect(owner, "New broadcast")
    await owner.send_photo(qr_png("https://example.com"), caption="<b>New menu</b>")
    preview = await expect(owner, "New menu")
    assert preview.photo
    menu = await expect(owner, "Broadcast draft")
    await owner.click(menu, button_text(menu, "🔘"))
    chooser = await owner.wait_for_edit(menu)
    await owner.click(chooser, "🔗 A link")
    await owner.wait_for_edit(menu)
    await owner.send("no link here")
    await expect(owner, "couldn't read that")
    await owner.send("See the menu | https://example.com/menu")
    menu = await expect(owner, "Button: link “See the menu”")
    await owner.click(menu, button_text(menu, "🚀"))
    confirm = await owner.wait_for_edit(menu)
    await owner.click(confirm, "Yes, send now")
    await expect(owner, "1 of 1 delivered", timeout=20)
    [received] = promos(emulator, 20_201)
    assert received.photo and received.caption == "New menu"
    assert received.reply_markup["inline_keyboard"][0][0]["url"] == "https://example.com/menu"  # type: ignore[index]


async def test_cancel_while_sending(bot: RunningBot, emulator: BotApiEmulator) -> None:
    ids = list(range(20_301, 20_451))  # 150: five seconds at 30/s
    await seed_customers(bot.app.core.db, ids)  # type: ignore[union-attr]
    open_chats(emulator, ids)
    emulator.enable_rate_limits()
    owner = emulator.user(OWNER_ID, "Owner")
    await owner.send("/broadcast")
    await expect(owner, "New broadcast")
    await owner.send("Big sale")
    await expect(owner, "Big sale")
    menu = await expect(owner, "Recipients now: 150")
    await owner.click(menu, button_text(menu, "🚀"))
    confirm = await owner.wait_for_edit(menu)
    await owner.click(confirm, "Yes, send now")
    progress = await owner.wait_for_edit(confirm)
    for _ in range(100):
        if len([m for m in emulator.bot_messages() if m.chat_id in ids]) >= 20:
            break
        await asyncio.sleep(0.05)
    answer = await owner.click(progress, "✖️ Cancel broadcast")
    assert "cancelled" in ((await answer.wait_answer()).text or "")
    report = await expect(owner, "report", timeout=20)
    delivered = len([m for m in emulator.bot_messages() if m.chat_id in ids])
    await asyncio.sleep(0.5)
    assert len([m for m in emulator.bot_messages() if m.chat_id in ids]) == delivered  # nothing after the end
    assert 20 <= delivered < 150
    assert f"{delivered} of 150 delivered" in (report.text or "")
    final = emulator.user(OWNER_ID).messages
    assert any("cancelled" in (m.text or "") and "Not sent (cancelled)" in (m.text or "") for m in final)


async def test_blocking_and_unblocking_the_bot_is_noticed(bot: RunningBot, emulator: BotApiEmulator) -> None:
    await seed_customers(bot.app.core.db, [20_501])  # type: ignore[union-attr]
    open_chats(emulator, [20_501])
    customer = emulator.user(20_501)

    async def status() -> str:
        return str(await bot.scalar(select(Customer.status).where(Customer.telegram_id == 20_501)))

    customer.block_bot()
    for _ in range(50):
        if await status() == "unreachable":
            break
        await asyncio.sleep(0.05)
    assert await status() == "unreachable"
    customer.unblock_bot()
    for _ in range(50):
        if await status() == "active":
            break
        await asyncio.sleep(0.05)
    assert await status() == "active"
