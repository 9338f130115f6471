"""Registration and the customer's basics, end to end through the emulator."""

from __future__ import annotations

import json

from sqlalchemy import select

from loyaltybot.db.models import ConversationState, Customer
from loyaltybot.domain.tokens import payload_from_link
from loyaltybot.sandbox import BotApiEmulator

from .conftest import BOT_USERNAME, OWNER_ID, RunningBot, button_text, expect, picker_buttons, register


async def test_registration_in_english(bot: RunningBot, emulator: BotApiEmulator) -> None:
    alice = emulator.user(1001, "Alice", language_code="en", phone="+60123456789")
    await alice.send("/start")
    picker = await expect(alice, "Welcome", "choose your language")
    assert "✓ English" in picker_buttons(picker)

    await alice.click(picker, "✓ English")
    notice = await alice.wait_for_edit(picker)
    assert "Privacy notice" in (notice.text or "")
    assert "/privacy" in (notice.text or "")
    await alice.click(notice, "✅ I accept")

    prompt = await expect(alice, "Share my phone number")
    button = prompt.reply_markup["keyboard"][0][0]  # type: ignore[index]
    assert button["request_contact"] is True
    await alice.press(button["text"])  # the contact button shares the own contact
    await expect(alice, "verified")
    await expect(alice, "birthday")
    await alice.send("31/12/1990")
    await expect(alice, "Birthday saved: 31/12/1990")
    welcome = await expect(alice, "You're in, Alice")
    keyboard = [b["text"] for row in welcome.reply_markup["keyboard"] for b in row]  # type: ignore[index]
    assert keyboard == ["💳 My card", "🎁 Rewards", "📜 History", "📝 Surveys", "⚙️ Settings", "❓ Help"]

    customer = await bot.scalar(select(Customer).where(Customer.telegram_id == 1001))
    assert customer.phone == "+60123456789"
    assert customer.language == "en"
    assert (customer.birthday_day, customer.birthday_month, customer.birthday_year) == (31, 12, 1990)
    assert customer.consent_version == bot.services.program.privacy.notice_version
    assert customer.consent_at is not None
    assert customer.balance == 0
    # The conversation is finished: no state left behind.
    assert await bot.settled_count(ConversationState, expected=0) == 0


async def test_registration_in_malay_preselected_from_telegram(bot: RunningBot, emulator: BotApiEmulator) -> None:
    siti = emulator.user(1002, "Siti", language_code="ms", phone="+60198765432")
    await siti.send("/start")
    picker = await siti.wait_for_message()
    assert "✓ Bahasa Melayu" in picker_buttons(picker)
    assert "Selamat datang" in (picker.text or "")
    await siti.click(picker, "✓ Bahasa Melayu")
    notice = await siti.wait_for_edit(picker)
    assert "Notis privasi" in (notice.text or "") or "Notis Privasi" in (notice.text or "")
    await siti.click(notice, button_text(notice, "✅"))
    await siti.wait_for_message()
    await siti.share_contact(strip_plus=True)  # Telegram often sends the own number without '+'
    await siti.wait_for_message()
    prompt = await siti.wait_for_message()
    await siti.click(prompt, picker_buttons(prompt)[0])  # skip the birthday
    welcome = await siti.wait_for_message()
    keyboard = [b["text"] for row in welcome.reply_markup["keyboard"] for b in row]  # type: ignore[index]
    assert "💳 My card" not in keyboard  # the menu is in Malay

    customer = await bot.scalar(select(Customer).where(Customer.telegram_id == 1002))
    assert customer.language == "ms"
    assert customer.phone == "+60198765432"
    assert customer.birthday_day is None


async def test_spoofed_and_typed_contacts_are_refused(bot: RunningBot, emulator: BotApiEmulator) -> None:
    mallory = emulator.user(1003, "Mallory", phone="+60121111111")
    await mallory.send("/start")
    picker = await mallory.wait_for_message()
    await mallory.click(picker, "✓ English")
    notice = await mallory.wait_for_edit(picker)
    await mallory.click(notice, "✅ I accept")
    await mallory.wait_for_message()

    await mallory.share_contact(phone="+60122222222", user_id=4242)  # someone else's contact
    await expect(mallory, "not your own contact")
    await mallory.share_contact(phone="+60122222222", user_id=None)  # a contact card without an account
    await expect(mallory, "not your own contact")
    await mallory.send("+60122222222")  # typed
    await expect(mallory, "cannot be verified")
    assert await bot.count(Customer) == 0

    await mallory.share_contact()  # the real own contact still works afterwards
    await expect(mallory, "verified")
    assert await bot.count(Customer) == 1


async def test_phone_registered_to_another_account_is_refused(bot: RunningBot, emulator: BotApiEmulator) -> None:
    alice = emulator.user(1001, "Alice", phone="+60123456789")
    await register(alice)
    impostor = emulator.user(1004, "Alice2", phone="+60 12-345 6789")
    await impostor.send("/start")
    picker = await impostor.wait_for_message()
    await impostor.click(picker, "✓ English")
    notice = await impostor.wait_for_edit(picker)
    await impostor.click(notice, "✅ I accept")
    await impostor.wait_for_message()
    await impostor.share_contact()
    await expect(impostor, "already registered to another Telegram account")
    assert await bot.count(Customer) == 1


async def test_bad_birthdays_get_clear_messages(bot: RunningBot, emulator: BotApiEmulator) -> None:
    bob = emulator.user(1005, "Bob", phone="+60123333333")
    await bob.send("/start")
    picker = await bob.wait_for_message()
    await bob.click(picker, "✓ English")
    notice = await bob.wait_for_edit(picker)
    await bob.click(notice, "✅ I accept")
    await bob.wait_for_message()
    await bob.share_contact()
    await bob.wait_for_message()
    await bob.wait_for_message()
    await bob.send("31/02")
    await expect(bob, "does not exist")
    await bob.send("next tuesday")
    await expect(bob, "couldn't read that date")
    await bob.send("1/1/2999")
    await expect(bob, "in the future")
    customer = await bot.scalar(select(Customer).where(Customer.telegram_id == 1005))
    assert customer.birthday_day is None
    await bob.send("29/02")
    await expect(bob, "Birthday saved: 29/02")


async def test_declining_consent_stores_nothing(bot: RunningBot, emulator: BotApiEmulator) -> None:
    carol = emulator.user(1006, "Carol", phone="+60124444444")
    await carol.send("/start")
    picker = await carol.wait_for_message()
    await carol.click(picker, "✓ English")
    notice = await carol.wait_for_edit(picker)
    await carol.click(notice, "❌ Decline")
    declined = await carol.wait_for_edit(notice)
    assert "nothing has been stored" in (declined.text or "")
    assert await bot.count(Customer) == 0
    assert await bot.settled_count(ConversationState, expected=0) == 0


async def test_start_again_never_registers_twice(bot: RunningBot, emulator: BotApiEmulator) -> None:
    alice = emulator.user(1001, "Alice", phone="+60123456789")
    await register(alice)
    await alice.send("/start")
    await expect(alice, "What would you like to do, Alice?")
    assert await bot.count(Customer) == 1


async def test_card_shows_points_stamps_and_a_decodable_member_qr(bot: RunningBot, emulator: BotApiEmulator) -> None:
    alice = emulator.user(1001, "Alice", phone="+60123456789")
    await register(alice)
    await alice.press("💳 My card")
    card = await alice.wait_for_message()
    assert card.photo_bytes
    assert "Alice" in (card.caption or "")
    assert "Points: <b>0</b>" in (card.source or "") or "Points: 0" in (card.caption or "")
    assert "○○○○○○○○○○ 0/10" in (card.caption or "")
    link = alice.decode_qr(card)
    assert link is not None and link.startswith(f"https://t.me/{BOT_USERNAME}?start=m_")
    payload = payload_from_link(link, BOT_USERNAME)
    assert payload is not None and len(payload) <= 64

    # Customers scanning a member card are told to show it to staff.
    bob = emulator.user(1005, "Bob", phone="+60123333333")
    await register(bob)
    await bob.send(f"/start {payload}")
    await expect(bob, "show it to the staff")

    # Staff scanning it see the customer's card with a masked phone.
    await bot.services.staff.add(7001, added_by=None)
    staff = emulator.user(7001, "Sam")
    await staff.send(f"/start {payload}")
    view = await expect(staff, "Alice", "•••• 6789", "0/10")
    assert "+60123456789" not in (view.text or "")

    # /card again reuses the uploaded photo (same QR), and rotation invalidates the old code.
    await alice.send("/card")
    again = await alice.wait_for_message()
    assert alice.decode_qr(again) == link
    await alice.click(again, "🔄 New code")
    confirm = await alice.wait_for_message()
    await alice.click(confirm, "Yes, new code")
    await alice.wait_for_edit(confirm)
    fresh = await alice.wait_for_message()
    assert alice.decode_qr(fresh) not in (None, link)
    await staff.send(f"/start {payload}")
    await expect(staff, "not valid")


async def test_history_is_empty_at_first(bot: RunningBot, emulator: BotApiEmulator) -> None:
    alice = emulator.user(1001, "Alice", phone="+60123456789")
    await register(alice)
    await alice.send("/history")
    await expect(alice, "No activity yet")


async def test_language_switch_in_settings(bot: RunningBot, emulator: BotApiEmulator) -> None:
    alice = emulator.user(1001, "Alice", phone="+60123456789")
    await register(alice)
    await alice.press("⚙️ Settings")
    settings = await expect(alice, "Language: English", "Promotions and offers: on")
    await alice.click(settings, "🌐 Language")
    chooser = await alice.wait_for_edit(settings)
    await alice.click(chooser, "Bahasa Melayu")
    translated = await alice.wait_for_edit(chooser)
    assert "Bahasa Melayu" in (translated.text or "")
    assert "Settings" not in (translated.text or "")
    changed = await alice.wait_for_message()
    keyboard = [b["text"] for row in changed.reply_markup["keyboard"] for b in row]  # type: ignore[index]
    assert "💳 My card" not in keyboard
    customer = await bot.scalar(select(Customer).where(Customer.telegram_id == 1001))
    assert customer.language == "ms"
    # Buttons of the old (English) keyboard still work after the switch.
    await alice.send("💳 My card")
    card = await alice.wait_for_message()
    assert card.photo_bytes

    # Promotions off and on again.
    await alice.send("/settings")
    settings = await alice.wait_for_message()
    await alice.click(settings, button_text(settings, "🔕"))
    await alice.wait_for_edit(settings)
    customer = await bot.scalar(select(Customer).where(Customer.telegram_id == 1001))
    assert customer.marketing_opt_in is False


async def test_birthday_change_in_settings(bot: RunningBot, emulator: BotApiEmulator) -> None:
    alice = emulator.user(1001, "Alice", phone="+60123456789")
    await register(alice)
    await alice.send("/settings")
    settings = await alice.wait_for_message()
    await alice.click(settings, "🎂 Birthday")
    await alice.wait_for_message()
    await alice.send("32/13")
    await alice.wait_for_message()
    await alice.send("5 Mac 1988")
    await expect(alice, "Birthday saved: 05/03/1988")


async def test_export_and_delete_my_data(bot: RunningBot, emulator: BotApiEmulator) -> None:
    alice = emulator.user(1001, "Alice", phone="+60123456789")
    await register(alice, birthday="31/12")
    await alice.send("/privacy")
    privacy = await expect(alice, "Privacy notice")
    await alice.click(privacy, "📤 Export my data")
    export = await alice.wait_for_message()
    assert export.document_bytes is not None
    data = json.loads(export.document_bytes)
    assert data["customer"]["phone"] == "+60123456789"
    assert data["customer"]["birthday"] == "31/12"
    assert data["ledger"] == []

    await alice.click(privacy, "🗑 Delete my account")
    confirm = await expect(alice, "Delete your account?")
    await alice.click(confirm, "Cancel")
    await alice.wait_for_edit(confirm)
    assert await bot.count(Customer, Customer.telegram_id == 1001) == 1

    await alice.click(privacy, "🗑 Delete my account")
    confirm = await alice.wait_for_message()
    await alice.click(confirm, "Yes, delete my account")
    await expect(alice, "has been deleted")
    row = await bot.scalar(select(Customer))
    assert row.status == "deleted"
    assert (row.telegram_id, row.phone, row.first_name, row.birthday_day) == (None, None, None, None)

    # Deleted means gone: /card asks to register, and the same phone can register afresh.
    await alice.send("/card")
    await expect(alice, "/start")
    await register(alice)
    assert await bot.count(Customer) == 2


async def test_pending_start_payload_is_handled_after_registration(bot: RunningBot, emulator: BotApiEmulator) -> None:
    await bot.services.staff.add(2001, added_by=OWNER_ID, display_name="Sam")
    sale = await bot.services.counter.issue_sale(2001, "9")
    newcomer = emulator.user(1007, "Nina", phone="+60125555555")
    await register(newcomer, start=f"/start {sale.payload}")
    # Right after the welcome, the kept payload is acted on.
    await expect(newcomer, "+9 points")


async def test_another_persons_member_card_is_not_a_reason_to_register(bot: RunningBot, emulator: BotApiEmulator) -> None:
    alice = emulator.user(1001, "Alice", phone="+60123456789")
    await register(alice)
    card = await bot.services.customers.card(1001)
    newcomer = emulator.user(1007, "Nina", phone="+60125555555")
    await newcomer.send(f"/start {card.member_payload}")
    await expect(newcomer, "show it to the staff")
    assert await bot.count(Customer) == 1
    # Nothing of it is kept: a plain /start afterwards is an ordinary registration.
    await register(newcomer)
    assert not newcomer.pending


async def test_restart_keeps_customers_and_half_finished_registrations(
    bot: RunningBot, emulator: BotApiEmulator
) -> None:
    alice = emulator.user(1001, "Alice", phone="+60123456789")
    await register(alice)
    dave = emulator.user(1008, "Dave", phone="+60126666666")
    await dave.send("/start")
    picker = await dave.wait_for_message()
    await dave.click(picker, "✓ English")
    notice = await dave.wait_for_edit(picker)

    await bot.restart()

    await dave.click(notice, "✅ I accept")
    await expect(dave, "Share my phone number")
    await dave.share_contact()
    await expect(dave, "verified")
    await alice.send("/card")
    card = await alice.wait_for_message()
    assert "Alice" in (card.caption or "")
    assert await bot.count(Customer) == 2


async def test_group_chats_unknown_text_and_errors(bot: RunningBot, emulator: BotApiEmulator) -> None:
    alice = emulator.user(1001, "Alice", phone="+60123456789")
    group = emulator.group(-100123, "Shop fans")
    await alice.send_in_group(-100123, "/start")
    reply = await group.wait_for_message()
    assert f"@{BOT_USERNAME}" in (reply.text or "")

    stranger = emulator.user(1009, "Stranger")
    await stranger.send("hello?")
    await expect(stranger, "/start")

    await register(alice)
    await alice.send("what is this")
    await expect(alice, "didn't understand")

    # A Telegram error while answering: the user gets a short apology, never a traceback.
    emulator.inject_faults("sendMessage", [400])
    await alice.send("/help")
    apology = await expect(alice, "something went wrong")
    assert "Traceback" not in (apology.text or "")


async def test_commands_are_published_per_scope_and_language(bot: RunningBot, emulator: BotApiEmulator) -> None:
    for _ in range(200):
        if emulator.commands("default", "ms"):
            break
        await __import__("asyncio").sleep(0.01)
    english = [c["command"] for c in emulator.commands("default")]
    malay = emulator.commands("default", "ms")
    assert english[:1] == ["card"] and "privacy" in english and "help" in english
    assert [c["command"] for c in malay] == english
    assert malay != emulator.commands("default", "en")  # descriptions are translated
