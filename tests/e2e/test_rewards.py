"""Rewards end to end: the owner's catalogue, browse, redeem, confirm by QR, cancel, expiry,
vouchers used once, a tier upgrade by a purchase, and the expiry job's effect on /card."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from loyaltybot.db.models import AuditEntry, Customer, LedgerEntry, PointLot, Redemption, Reward, Voucher
from loyaltybot.domain.tokens import payload_from_link
from loyaltybot.render.qr import qr_png
from loyaltybot.sandbox import BotApiEmulator, SimUser
from loyaltybot.services.jobs import run_job

from .conftest import BOT_USERNAME, OWNER_ID, RunningBot, button_text, expect
from .test_counter import add_staff, customer, sale_payload


async def give_points(staff: SimUser, user: SimUser, amount: str) -> None:
    payload = await sale_payload(staff, amount)
    await user.send(f"/start {payload}")
    await expect(user, "RM ")
    await staff.wait_for_message()  # "claimed by ..."


async def add_reward(bot: RunningBot, cost: int, **values: object) -> int:
    data = {"name_en": "Free latte", "name_ms": "Latte percuma", "cost": cost} | values
    return int((await bot.services.rewards.create(OWNER_ID, data)).id)


async def test_owner_manages_the_catalogue(bot: RunningBot, emulator: BotApiEmulator) -> None:
    owner = emulator.user(OWNER_ID, "Olivia", phone="+60100000000")
    await owner.send("/admin")
    hub = await expect(owner, "Admin")
    await owner.click(hub, "🎁 Rewards")
    listing = await expect(owner, "Rewards catalogue", "No rewards yet")
    await owner.click(listing, "➕ Add reward")
    await expect(owner, "New reward")
    await expect(owner, "Name of the reward in English")
    for answer, next_prompt in (
        ("Free <latte>", "Malay"),
        ("Latte percuma", "description in English"),
        ("A hot drink & a smile", "description in Malay"),
    ):
        await owner.send(answer)
        await expect(owner, next_prompt)
    skip = owner.last_message
    assert skip is not None
    await owner.click(skip, "Skip")  # no Malay description
    await expect(owner, "How many points")
    await owner.send("abc")
    await expect(owner, "does not work here")
    await expect(owner, "How many points")
    await owner.send("50")
    await expect(owner, "Send a photo")
    await owner.send_photo(qr_png("just a picture of the latte"))
    await expect(owner, "redeemed in all")
    await owner.send("2")
    prompt = await expect(owner, "one customer")
    await owner.click(prompt, "Skip")
    prompt = await expect(owner, "First day")
    await owner.click(prompt, "Skip")
    prompt = await expect(owner, "Last day")
    await owner.send("31/12/2099")
    prompt = await expect(owner, "lowest tier")
    await owner.click(prompt, "Skip")
    await expect(owner, "Reward added", "Free <latte>")
    await owner.wait_for_message()  # the photo
    detail = await expect(owner, "Points: 50", "2 left of 2", "A hot drink & a smile")

    reward = await bot.scalar(select(Reward))
    assert (reward.name_en, reward.cost, reward.stock, reward.photo_file_id is not None) == ("Free <latte>", 50, 2, True)
    assert reward.ends_at is not None and reward.min_tier is None and reward.description_ms == ""

    await owner.click(detail, "✏️ Points")
    await expect(owner, "How many points")
    await owner.send("40")
    await expect(owner, "Saved")
    await owner.wait_for_message()  # photo
    detail = await expect(owner, "Points: 40")
    await owner.click(detail, "⏸ Pause")
    await owner.wait_for_edit(detail)
    assert await bot.scalar(select(Reward.active)) is False

    alice = await customer(bot, emulator)
    await alice.send("/rewards")
    await expect(alice, "No rewards yet")
    await owner.click(detail, "▶️ Resume")
    await owner.wait_for_edit(detail, predicate=lambda m: "active" in (m.text or ""))
    await alice.send("/rewards")
    await expect(alice, "Free <latte>", "40 more points")

    # Redeemed and scanned: staff (here the owner) see the reward's photo with the customer.
    await give_points(owner, alice, "45")
    await alice.send("/rewards")
    listing = await alice.wait_for_message()
    await alice.click(listing, button_text(listing, "🎁 Redeem"))
    link = alice.decode_qr(await expect(alice, "reserved"))
    await owner.send(f"/start {payload_from_link(link or '', BOT_USERNAME)}")
    scanned = await expect(owner, "Free <latte>", "Alice")
    assert scanned.photo_bytes is not None
    await owner.click(scanned, "✅ Confirm")
    confirmed = await owner.wait_for_edit(scanned)
    assert "Confirmed" in (confirmed.caption or "")
    await expect(alice, "Enjoy your")

    assert await bot.count(AuditEntry, AuditEntry.action == "reward.created", AuditEntry.actor_telegram_id == OWNER_ID) == 1
    assert await bot.count(AuditEntry, AuditEntry.action.in_(("reward.updated", "reward.paused", "reward.resumed"))) == 3


async def test_redeem_show_qr_and_staff_confirm_by_photo(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)
    await give_points(staff, alice, "100")
    await add_reward(bot, 60, stock=5)
    await add_reward(bot, 500, name_en="Mug")

    await alice.send("/rewards")
    listing = await expect(alice, "you have 100 points", "Free latte — 60 points", "5 left", "Mug", "400 more points")
    await alice.click(listing, button_text(listing, "🎁 Redeem: Free latte"))
    qr = await expect(alice, "Free latte", "reserved", "balance 40")
    link = alice.decode_qr(qr)
    assert link is not None and link.startswith(f"https://t.me/{BOT_USERNAME}?start=r_")
    assert await bot.count(LedgerEntry, LedgerEntry.kind == "redeem", LedgerEntry.delta == -60) == 1

    # The customer opening their own code is told to show it at the counter.
    await alice.send(f"/start {payload_from_link(link, BOT_USERNAME)}")
    await expect(alice, "show this code to the staff")

    await staff.send_photo(qr_png(link))
    view = await expect(staff, "Free latte", "Alice", "4567")
    await staff.click(view, "✅ Confirm")
    await staff.wait_for_edit(view)
    await expect(alice, "Enjoy your", "Free latte")
    assert await bot.scalar(select(Redemption.status)) == "confirmed"

    await staff.send(f"/start {payload_from_link(link, BOT_USERNAME)}")
    await expect(staff, "already confirmed")
    await alice.send("/rewards")
    await expect(alice, "4 left")


async def test_cancel_and_expiry_give_the_points_back(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)
    await give_points(staff, alice, "80")
    await add_reward(bot, 50, stock=1)

    await alice.send("/rewards")
    listing = await alice.wait_for_message()
    await alice.click(listing, button_text(listing, "🎁 Redeem"))
    qr = await expect(alice, "balance 30")
    await alice.click(qr, button_text(qr, "✖ Cancel"))
    await expect(alice, "Reservation cancelled", "balance 80")
    assert await bot.scalar(select(Customer.balance)) == 80

    await alice.send("/rewards")
    listing = await alice.wait_for_message()
    await alice.click(listing, button_text(listing, "🎁 Redeem"))
    qr = await expect(alice, "balance 30")
    link = alice.decode_qr(qr)
    await alice.send("/rewards")
    listing = await expect(alice, "Reserved for you", "sold out")
    await alice.click(listing, button_text(listing, "📱 QR"))
    again = await expect(alice, "show this QR code")
    assert alice.decode_qr(again) == link

    later = bot.services.clock() + timedelta(minutes=16)
    assert await run_job("expire-redemptions", bot.services, later) == "released 1 expired redemptions"
    assert await run_job("expire-redemptions", bot.services, later) == "released 0 expired redemptions"
    assert await bot.scalar(select(Customer.balance)) == 80
    assert await bot.scalar(select(Redemption.status).order_by(Redemption.id.desc())) == "expired"
    await staff.send_photo(qr_png(link or ""))
    await expect(staff, "expired")
    await alice.send("/history")
    await expect(alice, "Reversal", "+50")


async def test_sold_out_for_the_second_customer(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)
    bob = await customer(bot, emulator, telegram_id=1002, name="Bob", phone="+60129998888")
    await give_points(staff, alice, "30")
    await give_points(staff, bob, "30")
    await add_reward(bot, 20, stock=1)
    await alice.send("/rewards")
    a_list = await alice.wait_for_message()
    await bob.send("/rewards")
    b_list = await bob.wait_for_message()
    await alice.click(a_list, button_text(a_list, "🎁 Redeem"))
    await expect(alice, "reserved")
    await bob.click(b_list, button_text(b_list, "🎁 Redeem"))
    await expect(bob, "sold out", "not touched")
    assert await bot.scalar(select(Customer.balance).where(Customer.telegram_id == 1002)) == 30


async def test_welcome_voucher_shows_in_card_and_is_used_once(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)
    await alice.send("/card")
    card = await expect(alice, "Your vouchers", "10% off your first purchase", "valid until")
    await alice.click(card, button_text(card, "🎟 Voucher QR"))
    photo = await expect(alice, "voucher QR code")
    link = alice.decode_qr(photo)
    assert link is not None and "?start=v_" in link

    await staff.send(f"/start {payload_from_link(link, BOT_USERNAME)}")
    view = await expect(staff, "10% off your first purchase", "Alice", "Valid until")
    await staff.click(view, "✅ Use voucher")
    await staff.wait_for_edit(view)
    await expect(alice, "was used")
    assert await bot.count(Voucher, Voucher.used_by == 2001) == 1

    await staff.send_photo(qr_png(link))
    await expect(staff, "already been used")
    await alice.send("/card")
    card = await alice.wait_for_message()
    assert "10% off" not in (card.caption or "")


async def test_purchase_crossing_silver_congratulates_and_card_shows_tier(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)
    await alice.send("/card")
    await expect(alice, "Tier: Bronze", "RM 500.00 more to reach Silver")
    payload = await sale_payload(staff, "600")
    await alice.send(f"/start {payload}")
    await expect(alice, "+600 points", "Congratulations", "Silver", "1.25×")
    await expect(staff, "claimed by Alice")
    await alice.send("/card")
    await expect(alice, "Silver", "RM 900.00 more to reach Gold")
    payload = await sale_payload(staff, "100")
    await alice.send(f"/start {payload}")
    await expect(alice, "+125 points")
    assert await bot.scalar(select(Customer.tier)) == "silver"


async def test_expiry_job_removes_old_points_and_card_shows_the_next_expiry(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)
    await give_points(staff, alice, "30")
    await give_points(staff, alice, "20")
    await alice.send("/card")
    await expect(alice, "50 points expire on")

    # Make the first lot old: it expired yesterday.
    first = await bot.scalar(select(PointLot.id).order_by(PointLot.id))
    async with bot.app.core.db.write_sessions() as session:  # type: ignore[union-attr]
        await session.execute(
            update(PointLot).where(PointLot.id == first).values(expires_at=bot.services.clock() - timedelta(days=1))
        )
        await session.commit()
    await alice.send("/card")
    await expect(alice, "20 points expire on")
    assert await run_job("expire-points", bot.services, bot.services.clock()) == "expired 30 points of 1 customers"
    assert await run_job("expire-points", bot.services, bot.services.clock()) == "expired 0 points of 0 customers"
    await alice.send("/card")
    await expect(alice, "Points: 20", "20 points expire on")
    assert await bot.scalar(select(Customer.balance)) == 20
    await alice.send("/history")
    await expect(alice, "Points expired", "-30", "balance 20")


async def test_long_catalogue_and_card_fit_telegram_limits(bot: RunningBot, emulator: BotApiEmulator) -> None:
    staff = await add_staff(bot, emulator)
    alice = await customer(bot, emulator)
    await give_points(staff, alice, "10")
    for n in range(40):
        await add_reward(bot, 5 + n, name_en=f"Reward {n} " + "x" * 100, description_en="A long story. " * 70)
    await alice.send("/rewards")
    first = await expect(alice, "Rewards", "Reward 0")
    assert len(first.text or "") <= 4096
    last = await alice.wait_for_message()
    while not last.reply_markup:
        last = await alice.wait_for_message()
    assert "Reward 39" in (last.text or "")

    # Many vouchers: the card's caption stays within 1024 characters, the rest follows.
    from loyaltybot.db.models import Voucher as VoucherRow

    async with bot.app.core.db.write_sessions() as session:  # type: ignore[union-attr]
        customer_id = await bot.scalar(select(Customer.id))
        for n in range(30):
            session.add(VoucherRow(customer_id=customer_id, kind="festival", title_en=f"Festival treat number {n} " * 2,
                                   title_ms="Hadiah", code=f"code{n:012d}", issued_at=bot.services.clock()))
        await session.commit()
    await alice.send("/card")
    card = await expect(alice, "Points: 10")
    assert len(card.caption or "") <= 1024
    await expect(alice, "Your vouchers", "Festival treat number 29")
