"""`loyaltybot jobs run birthday --date …` against the running bot and the emulator: exactly the
expected customers get one birthday message each, in their language, with a voucher QR that
staff can scan."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from loyaltybot.config import PROJECT_ROOT
from loyaltybot.db.models import Campaign, Customer, Delivery, OfferSetting, Voucher
from loyaltybot.domain.tokens import TokenKind, decode_payload, payload_from_link
from loyaltybot.render.qr import decode_qr
from loyaltybot.sandbox import BotApiEmulator

from .conftest import BOT_USERNAME, OWNER_ID, RunningBot, button_text, expect
from .seed import open_chats, seed_customers


def jobs_run(*args: str, bot: RunningBot) -> subprocess.CompletedProcess[str]:
    """The operator's command, as its own process, on the bot's database (no SECRET_KEY: the
    database's key is used)."""
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(PROJECT_ROOT / "src"),
        "DATABASE_URL": bot.settings.database_url,
        "PROGRAM_FILE": str(bot.settings.program_file),
    }
    return subprocess.run(
        [sys.executable, "-m", "loyaltybot", "jobs", "run", *args],
        env=env, cwd=bot.settings.program_file.parent, capture_output=True, text=True, timeout=60, check=False,
    )


async def wait_sent(bot: RunningBot, expected: int, timeout: float = 20) -> None:
    for _ in range(int(timeout * 10)):
        if await bot.count(Delivery, Delivery.status == "sent") >= expected and await bot.count(
            Delivery, Delivery.status.in_(("pending", "sending"))
        ) == 0:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError("the offers were not delivered")


async def test_jobs_run_birthday_delivers_exactly_the_expected_vouchers(
    bot: RunningBot, emulator: BotApiEmulator, tmp_path: Path
) -> None:
    db = bot.app.core.db  # type: ignore[union-attr]
    await seed_customers(db, [501, 502], birthday_month=2, birthday_day=28)
    await seed_customers(db, [503], birthday_month=2, birthday_day=29, language="ms")
    await seed_customers(db, [504], birthday_month=2, birthday_day=28, marketing_opt_in=False)
    await seed_customers(db, [505], birthday_month=3, birthday_day=1)
    open_chats(emulator, [501, 502, 503, 504, 505])

    ran = jobs_run("birthday", "--date", "2027-02-28", bot=bot)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "birthday: birthday:2027: 3 queued\n"
    await wait_sent(bot, 3)

    messages = [m for m in emulator.bot_messages() if m.chat["id"] in {501, 502, 503, 504, 505}]
    assert sorted(m.chat["id"] for m in messages) == [501, 502, 503]
    secret = bot.app.core.services.offers._key  # type: ignore[union-attr]
    for message in messages:
        malay = message.chat["id"] == 503
        assert message.photo, "the voucher QR is a photo"
        assert ("Selamat Hari Jadi" if malay else "Happy birthday") in (message.caption or "")
        assert ("Hadiah hari jadi" if malay else "Birthday treat") in (message.caption or "")
        assert ("Henti promosi" if malay else "Stop promotions") in str(message.reply_markup)
        links = decode_qr(message.photo_bytes or b"")
        assert len(links) == 1
        payload = payload_from_link(links[0], BOT_USERNAME)
        assert payload is not None
        kind, code = decode_payload(payload, secret)
        assert kind is TokenKind.VOUCHER
        owner = await bot.scalar(
            select(Customer.telegram_id).join(Voucher, Voucher.customer_id == Customer.id).where(Voucher.code == code)
        )
        assert owner == message.chat["id"]

    # The operator runs it again (or the scheduler overlaps): nobody gets a second one.
    again = jobs_run("birthday", "--date", "2027-02-28", bot=bot)
    assert again.returncode == 0 and again.stdout == "birthday: nothing due\n"
    await asyncio.sleep(1)
    assert len([m for m in emulator.bot_messages() if m.chat["id"] in {501, 502, 503}]) == 3
    assert await bot.count(Campaign, Campaign.key == "birthday:2027") == 1


async def test_owner_sees_switches_and_previews_automations(bot: RunningBot, emulator: BotApiEmulator) -> None:
    owner = emulator.user(OWNER_ID, "Owner")
    await owner.send("/admin")
    hub = await expect(owner, "Admin")
    await owner.click(hub, "⏰ Automations")
    view = await expect(owner, "Automations", "Birthday", "Win-back", "Festivals")
    upcoming = bot.services.offers.upcoming_festivals()
    first = upcoming[0]
    line = f"✅ {first.send_day:%d/%m/%Y} → {first.name_en} ({first.day:%d/%m/%Y})"
    assert line in (view.text or "")

    # Switch the first festival off: the list shows it paused and the festival run skips it.
    await owner.click(view, f"⏸ Switch off: {first.name_en}")
    edited = await owner.wait_for_edit(view)
    assert f"⏸ {first.send_day:%d/%m/%Y} → {first.name_en}" in (edited.text or "")
    assert first.slug not in [f.slug for f in bot.services.offers.festivals_in(
        first.day.year, {f"festival:{first.slug}": False})]
    assert await bot.scalar(select(OfferSetting.enabled).where(OfferSetting.key == f"festival:{first.slug}")) is False

    # Preview: the birthday offer as customers get it, in English and in Malay, with a QR.
    await owner.click(edited, button_text(edited, "👁"))  # the first preview button is the birthday's
    english = await expect(owner, "Happy birthday", "Birthday treat")
    malay = await expect(owner, "Selamat Hari Jadi", "Hadiah hari jadi")
    for message in (english, malay):
        assert decode_qr(message.photo_bytes or b"") == [f"https://t.me/{BOT_USERNAME}?start=preview"]


async def test_owner_edits_the_birthday_texts_in_both_languages(bot: RunningBot, emulator: BotApiEmulator) -> None:
    owner = emulator.user(OWNER_ID, "Owner")
    await owner.send("/admin")
    hub = await expect(owner, "Admin")
    await owner.click(hub, "⏰ Automations")
    view = await expect(owner, "Automations")
    await owner.click(view, "✏️ Texts: birthday")
    await expect(owner, "English", "Happy birthday!")  # the current text is shown
    await owner.send("Happy <b>birthday</b> from {shop}! Valid {days} days.")
    await expect(owner, "Happy birthday from My Shop! Valid 14 days.")  # Telegram accepted the HTML
    await expect(owner, "Malay")
    await owner.send("Selamat {nama}")
    await expect(owner, "cannot be used")
    await owner.send("<b>Selamat Hari Jadi</b> <i>dari {shop}")
    await expect(owner, "cannot show this text")
    await owner.send("<b>Selamat Hari Jadi</b> dari {shop}!")
    await expect(owner, "Selamat Hari Jadi dari My Shop!")
    await expect(owner, "voucher", "English")
    await owner.send("Free <cake> & tea")
    await expect(owner, "voucher in", "Malay")
    await owner.send("Kek & teh percuma")
    await expect(owner, "Saved")

    preview = await bot.services.offers.preview(OWNER_ID, "birthday", "ms")
    assert preview.text == "<b>Selamat Hari Jadi</b> dari My Shop!"
    assert preview.voucher_title == "Kek & teh percuma"
    english = await bot.services.offers.preview(OWNER_ID, "birthday", "en")
    assert english.text == "Happy <b>birthday</b> from My Shop! Valid 14 days."
    # The voucher title is plain text: shown escaped under the QR.
    await owner.click(view, button_text(view, "👁"))
    shown = await expect(owner, "Happy birthday from My Shop!", "Free <cake> & tea")
    assert shown.photo
