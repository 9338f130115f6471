"""Earning at the counter, end to end: sale QR codes, member cards, photos, invites, bad cases."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import select, update

from loyaltybot.db.models import AuditEntry, Customer, LedgerEntry, StaffMember, Token, Voucher
from loyaltybot.domain.tokens import deep_link, payload_from_link
from loyaltybot.render.qr import qr_png
from loyaltybot.sandbox import BotApiEmulator, SimUser
from loyaltybot.services.errors import NotAllowed

from .conftest import (
    BOT_USERNAME,
    OWNER_ID,
    STAFF_ID,
    RunningBot,
    add_staff,
    button_text,
    expect,
    member_payload,
    register,
)

async def customer(bot: RunningBot, emulator: BotApiEmulator, telegram_id: int = 1001, name: str = "Alice",
                   phone: str = "+60123454567", language: str = "English") -> SimUser:
    user = emulator.user(telegram_id, name, phone=phone, language_code="ms" if language != "English" else "en")
    await register(user, language=language)
    return user


async def balance_of(bot: RunningBot, telegram_id: int) -> tuple[int, int]:
    row = await bot.scalar(select(Customer).where(Customer.telegram_id == telegram_id))
    return row.balance, row.stamps


async def sale_payload(staff: SimUser, amount: str) -> str:
    await staff.send(f"/sale {amount}")
    photo = await expect(staff, "Sale")
    link = staff.decode_qr(photo)
    assert link is not None and link in (photo.caption or "")
    payload = payload_from_link(link, BOT_USERNAME)
    assert payload is not None and len(payload) <= 64
    return payload


async def test_whole_sale_flow_from_the_qr_photo(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)

    await staff.send("/sale 25.50")
    # 25 points at the first tier; the default higher tiers multiply by 1.25 and 1.5, rounded down.
    photo = await expect(staff, "RM 25.50", "25 points", "Higher tiers: Silver 31, Gold 37", "10 min")
    link = staff.decode_qr(photo)
    assert link is not None and link.startswith(f"https://t.me/{BOT_USERNAME}?start=s_")
    payload = payload_from_link(link, BOT_USERNAME)

    await alice.send(f"/start {payload}")
    await expect(alice, "+25 points", "RM 25.50", "Balance: 25", "1/10")
    await expect(staff, "claimed by Alice", "phone ending 4567", "+25 points")

    assert await balance_of(bot, 1001) == (25, 1)
    entry = await bot.scalar(select(LedgerEntry))
    token_id = await bot.scalar(select(Token.id).where(Token.kind == "sale"))
    assert (entry.kind, entry.delta, entry.spend_sen, entry.stamps_delta, entry.balance_after) == ("purchase", 25, 2550, 1, 25)
    assert entry.idempotency_key == f"sale:{token_id}"
    assert entry.staff_telegram_id == STAFF_ID
    assert await bot.count(AuditEntry, AuditEntry.action == "sale.issued", AuditEntry.actor_telegram_id == STAFF_ID) == 1

    # Replay: the same code again changes nothing.
    await alice.send(f"/start {payload}")
    await expect(alice, "already been used")
    assert await balance_of(bot, 1001) == (25, 1)
    assert await bot.count(LedgerEntry) == 1

    # History shows the entry, in the shop's time zone.
    await alice.send("/history")
    await expect(alice, "Purchase", "+25", "balance 25")


async def test_sale_menu_prompt_and_amount_errors(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    await staff.send("/help")
    await expect(staff, "/sale —")
    await staff.send("/sale")
    await expect(staff, "Type the sale amount")
    for typed, needle in (("abc", "couldn't read"), ("0", "more than zero"), ("-5", "more than zero"),
                          ("25.505", "2 decimals"), ("10001", "maximum for one sale (RM 10,000.00)")):
        await staff.send(typed)
        await expect(staff, needle)
    assert await bot.count(Token) == 0
    await staff.send("25,50")  # a comma as the decimal separator
    await expect(staff, "RM 25.50", "25 points")
    assert await bot.scalar(select(Token.amount_sen)) == 2550


async def test_a_menu_button_leaves_an_amount_prompt(bot: RunningBot, emulator: BotApiEmulator) -> None:
    """Staff who are customers too: a menu button pressed at an amount prompt does what it says
    (it is not read as a wrong amount), and the prompt is over: a number typed next is no sale."""
    staff = await add_staff(bot, emulator)
    await register(staff)
    await staff.send("/sale")
    await expect(staff, "Type the sale amount")
    await staff.send("💳 My card")
    await expect(staff, "Show this QR code")
    await staff.send("12")
    await expect(staff, "didn't understand")
    assert await bot.count(Token) == 0

    # The same at a member card's amount prompt, with the button in Malay.
    alice = await customer(bot, emulator)
    payload = await member_payload(alice)
    await staff.send(f"/start {payload}")
    view = await expect(staff, "Alice")
    await staff.click(view, "🧾 Add purchase")
    await expect(staff, "Type the purchase amount")
    await staff.send("📜 Sejarah")
    await expect(staff, "No activity yet")
    await staff.send("30")
    await expect(staff, "didn't understand")
    assert await bot.count(LedgerEntry) == 0


async def test_unregistered_customer_registers_then_the_claim_completes(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    payload = await sale_payload(staff, "12")
    bob = emulator.user(1002, "Bob", phone="+60129998888")
    await register(bob, start=f"/start {payload}")
    await expect(bob, "+12 points", "Balance: 12")
    await expect(staff, "claimed by Bob", "8888")
    assert await balance_of(bot, 1002) == (12, 1)


async def test_expired_tampered_and_own_sale_are_refused(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)

    expired = await bot.services.counter.issue_sale(STAFF_ID, "10", valid_for=timedelta(seconds=-1))
    await alice.send(f"/start {expired.payload}")
    await expect(alice, "expired")

    payload = await sale_payload(staff, "10")
    tampered = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    await alice.send(f"/start {tampered}")
    await expect(alice, "not valid")
    assert await bot.count(AuditEntry, AuditEntry.action == "scan.forged") == 1

    await staff.send(f"/start {payload}")  # the staff member scans their own sale
    await expect(staff, "issued this sale yourself")
    assert await bot.count(LedgerEntry) == 0
    assert await balance_of(bot, 1001) == (0, 0)
    # The refused attempts did not spend the code.
    await alice.send(f"/start {payload}")
    await expect(alice, "+10 points")


async def test_restart_between_issuing_and_claiming(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)
    payload = await sale_payload(staff, "7.99")
    await bot.restart()
    await alice.send(f"/start {payload}")
    await expect(alice, "+7 points")
    await expect(staff, "claimed by Alice")


async def test_stamp_limit_still_credits_points_and_a_full_card_issues_a_voucher(
    bot: RunningBot, emulator: BotApiEmulator
) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)
    first = await sale_payload(staff, "5")
    await alice.send(f"/start {first}")
    await expect(alice, "+5 points", "1/10")
    await expect(staff, "claimed by")
    second = await sale_payload(staff, "6")
    await alice.send(f"/start {second}")
    await expect(alice, "+6 points", "Balance: 11", "1/10", "No stamp this time")
    await expect(staff, "claimed by")
    assert await balance_of(bot, 1001) == (11, 1)

    # Nine stamps on the card already: the next allowed stamp fills it.
    assert bot.app is not None
    async with bot.app.core.db.write_sessions() as session:
        await session.execute(Customer.__table__.update().values(stamps=9))
        await session.execute(update(LedgerEntry).values(created_at=datetime.now(UTC) - timedelta(hours=5)))
        await session.commit()
    third = await sale_payload(staff, "1")
    await alice.send(f"/start {third}")
    await expect(alice, "+1 points", "0/10", "card is full", "1 free drink")
    await expect(staff, "voucher was issued")
    assert await bot.count(Voucher, Voucher.kind == "stamp_card") == 1
    await alice.send("/card")
    await expect(alice, "1 free drink")


async def test_member_qr_purchase_and_stamp(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)
    await alice.send("/card")
    card = await expect(alice, "Show this QR code")
    link = alice.decode_qr(card)
    assert link is not None
    payload = payload_from_link(link, BOT_USERNAME)

    # A customer (or anyone not staff) scanning a member card is told to show it to staff.
    carol = await customer(bot, emulator, 1003, "Carol", "+60127776666")
    await carol.send(f"/start {payload}")
    await expect(carol, "show it to the staff")
    # Somebody not registered at all is told the same at once (no registration first).
    stranger = emulator.user(1004, "Dan", phone="+60125554444")
    await stranger.send(f"/start {payload}")
    await expect(stranger, "show it to the staff")

    await staff.send(f"/start {payload}")
    view = await expect(staff, "Alice", "4567", "Points: 0")
    await staff.click(view, "🧾 Add purchase")
    await expect(staff, "Type the purchase amount")
    await staff.send("abc")
    await expect(staff, "couldn't read")
    await staff.send("30")
    await expect(staff, "RM 30.00 credited to Alice", "+30 points", "1/10")
    await expect(alice, "+30 points", "Balance: 30")
    # Pressing the same card's button again cannot record the purchase twice.
    await staff.click(view, "🧾 Add purchase")
    await expect(staff, "Type the purchase amount")
    await staff.send("30")
    await expect(staff, "already recorded")
    assert await balance_of(bot, 1001) == (30, 1)

    # Stamp only: refused by the 4-hour interval, nothing changes.
    await staff.send(f"/start {payload}")
    view2 = await expect(staff, "Points: 30")
    await staff.click(view2, "☕ Add stamp only")
    await expect(staff, "stamp limit", "Next stamp from")
    assert await bot.count(LedgerEntry) == 1
    assert await bot.count(AuditEntry, AuditEntry.action == "member.purchase", AuditEntry.actor_telegram_id == STAFF_ID) == 1
    # Each look at the card is in the audit log; Carol's and Dan's refused scans showed nothing.
    assert await bot.count(AuditEntry, AuditEntry.action == "card.viewed") == 2
    assert await bot.count(AuditEntry, AuditEntry.action == "card.viewed", AuditEntry.actor_telegram_id == STAFF_ID) == 2


async def test_member_stamp_only_and_own_card(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)
    payload = await member_payload(alice)
    await staff.send(f"/start {payload}")
    view = await expect(staff, "Alice")
    await staff.click(view, "☕ Add stamp only")
    await expect(staff, "Stamp added for Alice", "1/10")
    await expect(alice, "+1 stamp", "1/10")
    assert await balance_of(bot, 1001) == (0, 1)

    # Staff who are also customers cannot credit their own card.
    await register(staff)
    own = await member_payload(staff)
    await staff.send(f"/start {own}")
    own_view = await expect(staff, "Sam")
    await staff.click(own_view, "☕ Add stamp only")
    await expect(staff, "cannot credit your own card")
    await staff.click(own_view, "🧾 Add purchase")
    await expect(staff, "Type the purchase amount")
    await staff.send("10")
    await expect(staff, "cannot credit your own card")
    assert await balance_of(bot, STAFF_ID) == (0, 0)


async def test_rotated_member_code_no_longer_works(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)
    old = await member_payload(alice)
    await alice.send("/card")
    card = await alice.wait_for_message()
    await alice.click(card, "🔄 New code")
    confirm = await alice.wait_for_message()
    await alice.click(confirm, button_text(confirm, "Yes"))
    await alice.wait_for_edit(confirm)
    await alice.wait_for_message()
    await staff.send(f"/start {old}")
    await expect(staff, "not valid")


async def test_photo_fallback(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)
    await alice.send("/card")
    card = await alice.wait_for_message()
    link = alice.decode_qr(card)
    assert link is not None
    await staff.send_photo(qr_png(link))
    await expect(staff, "Alice", "Points: 0")

    # A photo of a sale QR claimed by staff is their own sale.
    sale = await bot.services.counter.issue_sale(STAFF_ID, "3")
    await staff.send_photo(qr_png(deep_link(BOT_USERNAME, sale.payload)))
    await expect(staff, "issued this sale yourself")

    await staff.send_photo(qr_png("https://example.com/not-ours"))
    await expect(staff, "could not read")
    blank = io.BytesIO()
    Image.new("RGB", (64, 64), "white").save(blank, format="PNG")
    await staff.send_photo(blank.getvalue())
    await expect(staff, "could not read")


async def test_invite_flow_and_removal(bot: RunningBot, emulator: BotApiEmulator) -> None:
    owner = emulator.user(OWNER_ID, "Olivia", phone="+60100000000")
    await owner.send("/staff")
    view = await expect(owner, "Staff", "No staff yet")
    await owner.click(view, "➕ Invite staff")
    invite = await expect(owner, "Staff invite", "works once")
    link = owner.decode_qr(invite)
    assert link is not None and link in (invite.caption or "")
    payload = payload_from_link(link, BOT_USERNAME)

    dan = emulator.user(3001, "Dan", phone="+60135554444")
    await dan.send(f"/start {payload}")
    prompt = await expect(dan, "invites you to join the staff")
    await dan.click(prompt, "✅ Join the staff")
    await dan.wait_for_edit(prompt)
    assert "Welcome to the team" in (prompt.text or "")
    await expect(owner, "Dan opened your invite")
    assert await bot.scalar(select(StaffMember.active).where(StaffMember.telegram_id == 3001)) is True
    assert "sale" in [c["command"] for c in emulator.effective_commands(3001)]

    # The invite works once.
    eve = emulator.user(3002, "Eve", phone="+60135553333")
    await eve.send(f"/start {payload}")
    await expect(eve, "already been used")

    # Dan can issue a sale; then the owner removes him and he loses every staff action at once.
    await dan.send("/sale 5")
    dans_sale = payload_from_link(dan.decode_qr(await expect(dan, "RM 5.00")) or "", BOT_USERNAME)
    await owner.send("/staff")
    listing = await expect(owner, "Dan")
    await owner.click(listing, "🗑 Remove Dan")
    confirm = await expect(owner, "Remove Dan from the staff?")
    await owner.click(confirm, "Yes, remove")
    await owner.wait_for_edit(confirm)
    assert "no longer staff" in (confirm.text or "")
    assert "sale" not in [c["command"] for c in emulator.effective_commands(3001)]
    await dan.send("/sale 5")
    reply = await dan.wait_for_message()
    assert "RM 5.00" not in (reply.text or reply.caption or "")
    assert await bot.count(Token, Token.kind == "sale") == 1
    # His open sale code stopped working too.
    await register(eve)
    await eve.send(f"/start {dans_sale}")
    await expect(eve, "not valid")
    assert await bot.count(LedgerEntry) == 0


async def test_invite_expired_and_non_owner_cannot_manage_staff(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    await staff.send("/staff")
    reply = await staff.wait_for_message()
    assert "Invite staff" not in str(reply.reply_markup)
    await staff.send("/admin")
    reply = await staff.wait_for_message()
    assert "Activity" not in str(reply.reply_markup)
    # The services re-check the role whatever the bot layer let through.
    with pytest.raises(NotAllowed):
        await bot.services.team.remove(STAFF_ID, STAFF_ID)
    with pytest.raises(NotAllowed):
        await bot.services.team.create_invite(STAFF_ID)
    with pytest.raises(NotAllowed):
        await bot.services.activity.today(STAFF_ID)
    with pytest.raises(NotAllowed):
        await bot.services.counter.issue_sale(1234, "5")
    assert await bot.scalar(select(StaffMember.active).where(StaffMember.telegram_id == STAFF_ID)) is True

    # An invite past its validity is refused and makes nobody staff.
    assert bot.app is not None
    invite = await bot.services.team.create_invite(OWNER_ID)
    async with bot.app.core.db.write_sessions() as session:
        await session.execute(update(Token).values(expires_at=datetime.now(UTC) - timedelta(minutes=1)))
        await session.commit()
    late = emulator.user(3003, "Late", phone="+60135552222")
    await late.send(f"/start {invite.payload}")
    await expect(late, "This staff invite has expired", "ask the shop owner")
    assert await bot.count(StaffMember, StaffMember.telegram_id == 3003) == 0


async def test_admin_activity(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)
    for amount in ("5", "6"):
        payload = await sale_payload(staff, amount)
        await alice.send(f"/start {payload}")
        await alice.wait_for_message()
        await staff.wait_for_message()
    carol = await customer(bot, emulator, 1003, "Carol", "+60127776666")
    await carol.send(f"/start {payload}")  # Alice's code again
    await expect(carol, "already been used")
    await alice.send("/start s_AAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    await alice.wait_for_message()
    own = await sale_payload(staff, "9")
    await staff.send(f"/start {own}")
    await expect(staff, "issued this sale yourself")
    owner = emulator.user(OWNER_ID, "Olivia", phone="+60100000000")
    await owner.send("/admin")
    hub = await expect(owner, "Admin")
    await owner.click(hub, "📊 Activity today")
    report = await expect(
        owner,
        "Today at the counter",
        "Sam: 3 sale QR codes, 2 claimed",
        "RM 11.00",
        "Alice scanned codes that did not work: 1 forged",
        "Carol scanned codes that did not work: 1 already used by someone else",
        "Sam tried to credit themselves (refused): 1",
    )
    assert "Nothing unusual" not in (report.text or "")


async def test_claim_in_malay(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    siti = await customer(bot, emulator, 1005, "Siti", "+60198765432", language="Bahasa Melayu")
    payload = await sale_payload(staff, "25.50")
    await siti.send(f"/start {payload}")
    await expect(siti, "+25 mata", "Baki: 25", "1/10")
    await expect(staff, "claimed by Siti")  # staff read it in their own language (English)
    await siti.send(f"/start {payload}")
    await expect(siti, "telah digunakan")


async def test_staff_without_a_customer_account_are_told_in_the_language_they_issued_in(
    bot: RunningBot, emulator: BotApiEmulator
) -> None:
    """Not registered as a customer, so no stored language: the sale remembers the language its
    QR caption was shown in (Telegram's, here Malay; the shop's default is English)."""
    await bot.services.staff.add(2002, added_by=OWNER_ID, display_name="Siti")
    siti = emulator.user(2002, "Siti", phone="+60124441111", language_code="ms")
    alice = await customer(bot, emulator)
    await siti.send("/sale 8")
    photo = await expect(siti, "Jualan RM 8.00")
    payload = payload_from_link(siti.decode_qr(photo) or "", BOT_USERNAME)
    await alice.send(f"/start {payload}")
    await expect(alice, "+8 points")
    await expect(siti, "dituntut oleh Alice", "4567")


async def test_staff_are_told_in_their_own_language(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    await register(staff, language="Bahasa Melayu")  # the staff member is also a customer, in Malay
    alice = await customer(bot, emulator)
    await staff.send("/sale 8")
    photo = await expect(staff, "Jualan RM 8.00", "Tahap lebih tinggi: Perak 10, Emas 12")
    payload = payload_from_link(staff.decode_qr(photo) or "", BOT_USERNAME)
    await alice.send(f"/start {payload}")
    await expect(alice, "+8 points")  # the customer reads English
    await expect(staff, "dituntut oleh Alice", "4567")
