"""Member-card buttons end to end: callback data is user input, the role is re-checked on every press.

Protected: a staff member removed after opening a card cannot use its buttons; a customer
who forges a staff button's callback data (Telegram clients can send any callback data) is
refused; malformed `mem:` callback data neither crashes the bot nor credits anyone. In every
case: the press is answered with the localized refusal, and no ledger row, balance, stamp or
credit audit row appears.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from loyaltybot.bot.callbacks import MemberCb
from loyaltybot.db.models import AuditEntry, Customer, LedgerEntry
from loyaltybot.sandbox import BotApiEmulator, SimUser
from loyaltybot.sandbox.models import ChatMessage

from .conftest import OWNER_ID, STAFF_ID, RunningBot, add_staff, expect, member_payload, register

ALICE_ID = 1001
STALE_EN = "This button is no longer active"
STALE_MS = "Butang ini tidak lagi aktif"
APOLOGY = "something went wrong"


async def alice_and_her_card(bot: RunningBot, emulator: BotApiEmulator) -> tuple[SimUser, str]:
    """Alice registered; returns her and the payload of her member QR code."""
    alice = emulator.user(ALICE_ID, "Alice", phone="+60123454567")
    await register(alice)
    return alice, await member_payload(alice, "Show this QR code")


async def alices_state(bot: RunningBot) -> tuple[int, int, int, int]:
    """(balance, stamps, ledger rows, credit audit rows): everything a credit changes."""
    row = await bot.scalar(select(Customer).where(Customer.telegram_id == ALICE_ID))
    audits = await bot.count(AuditEntry, AuditEntry.action.in_(("member.purchase", "member.stamp")))
    return row.balance, row.stamps, await bot.count(LedgerEntry), audits


async def settle(emulator: BotApiEmulator) -> None:
    """Let the bot finish handling what was queued (handlers run a moment after the answer)."""
    await emulator.wait_for_updates_consumed()
    await asyncio.sleep(0.3)


def texts(messages: list[ChatMessage]) -> list[str]:
    return [m.text or m.caption or "" for m in messages]


def apologies(emulator: BotApiEmulator) -> list[Any]:
    """The error handler's apology in any chat: a handler raised."""
    return [m for m in emulator.bot_messages() if APOLOGY in (m.text or "")]


# --------------------------------------------------------------------------- removed staff


async def test_removed_staff_cannot_use_an_open_card(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice, payload = await alice_and_her_card(bot, emulator)
    await staff.send(f"/start {payload}")
    view = await expect(staff, "Alice", "Points: 0")
    before = await alices_state(bot)
    assert before == (0, 0, 0, 0)

    await bot.services.team.remove(OWNER_ID, STAFF_ID)

    stamp = await staff.click(view, "☕ Add stamp only")  # would be granted: no stamp yet today
    answer = await stamp.wait_answer()
    assert answer.text is not None and STALE_EN in answer.text
    buy = await staff.click(view, "🧾 Add purchase")
    answer = await buy.wait_answer()
    assert answer.text is not None and STALE_EN in answer.text
    await settle(emulator)

    assert not any("Type the purchase amount" in t or "Stamp added" in t for t in texts(staff.pending))
    assert await alices_state(bot) == before
    assert not alice.pending  # Alice was told of no credit
    assert not apologies(emulator)


async def test_staff_removed_while_typing_the_amount_credits_nothing(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice, payload = await alice_and_her_card(bot, emulator)
    await staff.send(f"/start {payload}")
    view = await expect(staff, "Alice")
    await staff.click(view, "🧾 Add purchase")
    await expect(staff, "Type the purchase amount")

    await bot.services.team.remove(OWNER_ID, STAFF_ID)
    await staff.send("30")
    reply = await staff.wait_for_message()
    assert "credited" not in (reply.text or "")
    await settle(emulator)

    assert await alices_state(bot) == (0, 0, 0, 0)
    assert not alice.pending
    assert not apologies(emulator)


# --------------------------------------------------------------------------- forged presses


async def test_customer_forging_staff_card_buttons_is_refused(bot: RunningBot, emulator: BotApiEmulator) -> None:
    await add_staff(bot, emulator)
    alice, _payload = await alice_and_her_card(bot, emulator)
    alice_key = await bot.scalar(select(Customer.member_key).where(Customer.telegram_id == ALICE_ID))
    carol = emulator.user(1003, "Carol", phone="+60127776666")
    await register(carol)
    await carol.send("/card")
    carols_message = await carol.wait_for_message()

    for action in ("stamp", "buy"):
        data = MemberCb(action=action, key=alice_key).pack()  # exactly what the staff card's button holds
        answer = await (await carol.send_callback(carols_message, data)).wait_answer()
        assert answer.text is not None and STALE_EN in answer.text, answer
    await settle(emulator)
    # "buy" did not open the amount form for her: a number is not a purchase.
    await carol.send("30")
    reply = await carol.wait_for_message()
    assert "credited" not in (reply.text or "")
    await settle(emulator)

    assert await alices_state(bot) == (0, 0, 0, 0)
    assert not alice.pending
    assert not any("Stamp added" in t or "purchase amount" in t for t in texts(carol.messages))
    assert not apologies(emulator)


async def test_forged_press_is_refused_in_the_customers_language(bot: RunningBot, emulator: BotApiEmulator) -> None:
    await alice_and_her_card(bot, emulator)
    alice_key = await bot.scalar(select(Customer.member_key).where(Customer.telegram_id == ALICE_ID))
    siti = emulator.user(1005, "Siti", phone="+60198765432", language_code="ms")
    await register(siti, language="Bahasa Melayu")
    await siti.send("/card")
    message = await siti.wait_for_message()

    answer = await (await siti.send_callback(message, MemberCb(action="stamp", key=alice_key).pack())).wait_answer()
    assert answer.text is not None and STALE_MS in answer.text, answer
    await settle(emulator)
    assert await alices_state(bot) == (0, 0, 0, 0)


# --------------------------------------------------------------------------- garbage data


STALE = "stale"  # answered with the "no longer active" toast, no message
NOT_VALID = "This code is not valid"  # well-formed, no such card: the service refuses it in a message

GARBAGE = [
    ("mem:xyz", STALE),  # one part only
    ("mem:stamp", STALE),  # no key
    ("mem:stamp:a:b:c", STALE),  # too many parts
    ("mem:zap:KEY", STALE),  # unknown action on a real key
    ("mme:stamp:KEY", STALE),  # wrong prefix
    ("stamp:KEY", STALE),
    ("", STALE),
    ("mem:" + "x" * 5000, STALE),
    ("mem:stamp:" + "A" * 300, STALE),  # longer than any key (and Telegram's 64 bytes)
    ("mem:stamp:\u202e\u200b", STALE),  # invisible/bidi characters: no key has them
    ("mem:stamp:\u0000", STALE),  # a NUL byte (PostgreSQL refuses it in any statement)
    ("mem:buy:\u0000", STALE),
    ("mem:stamp:no-such-key", NOT_VALID),  # well-formed: the service finds no such card
]


async def test_garbage_member_callback_data_does_not_crash_or_credit(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice, payload = await alice_and_her_card(bot, emulator)
    alice_key = await bot.scalar(select(Customer.member_key).where(Customer.telegram_id == ALICE_ID))
    await staff.send(f"/start {payload}")
    view = await expect(staff, "Alice")

    for data, outcome in GARBAGE:
        handle = await staff.send_callback(view, data.replace("KEY", alice_key))
        answer = await handle.wait_answer()  # always answered: no spinner left, no exception
        await settle(emulator)
        replies = texts(staff.drain())
        if outcome == STALE:
            assert answer.text is not None and STALE_EN in answer.text, (data, answer)
            assert replies == [], (data, replies)
        else:
            assert len(replies) == 1 and outcome in replies[0], (data, replies)
    # "buy" on a key that matches no card opens the amount form; the amount is then refused.
    await staff.send_callback(view, MemberCb(action="buy", key="no-such-key").pack())
    await expect(staff, "Type the purchase amount")
    await staff.send("30")
    await expect(staff, NOT_VALID)
    await settle(emulator)

    assert await alices_state(bot) == (0, 0, 0, 0)
    assert not alice.pending
    assert not apologies(emulator)
    assert not any("Stamp added" in t or "credited" in t for t in texts(staff.messages))
    # The bot is still serving: the real button on the same card works.
    await staff.click(view, "☕ Add stamp only")
    await expect(staff, "Stamp added for Alice", "1/10")
    assert (await alices_state(bot))[:3] == (0, 1, 1)


async def test_codes_outside_the_token_characters_never_reach_a_query(bot: RunningBot, emulator: BotApiEmulator) -> None:
    """Redemption, voucher and invite buttons carry codes too: a NUL byte or a space in them is
    answered as a stale button (on PostgreSQL such a statement would fail), nothing else."""
    staff = await add_staff(bot, emulator)
    _alice, payload = await alice_and_her_card(bot, emulator)
    await staff.send(f"/start {payload}")
    view = await expect(staff, "Alice")
    for data in ("rdm:confirm:\u0000", "vch:use:\u0000", "vch:show:a b", "inv:yes:\u0000", "auto:on:\u0000"):
        answer = await (await staff.send_callback(view, data)).wait_answer()
        await settle(emulator)
        assert answer.text is not None and STALE_EN in answer.text, (data, answer)
        assert texts(staff.drain()) == [], data
    assert not apologies(emulator)
