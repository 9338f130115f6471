"""Reminders of a reserved reward about to lapse, on a real database (SQLite and PostgreSQL) with a
controlled clock: the lead window, once per redemption whatever the reruns, never for a closed
redemption, withdrawn when it closes before the reminder went out."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from loyaltybot.config import Program
from loyaltybot.db.engine import Database
from loyaltybot.db.models import Campaign, Customer, Delivery
from loyaltybot.db.uow import uow_factories
from loyaltybot.domain.tokens import decode_payload
from loyaltybot.services.offers import LAPSE_REMINDER, LapseReminder, OfferService

from .counter_support import OWNER, SECRET, STAFF
from .rewards_support import Shop, build_shop

Row = tuple[str, str, bool, str, int | None, str | None]


async def build(database: Database, program: Program | None = None) -> tuple[Shop, OfferService]:
    program = program or Program()
    shop = await build_shop(database, program)
    writer, reader = uow_factories(database)
    offers = OfferService(
        writer=writer, reader=reader, program=program, secret_key=SECRET, owner_ids=frozenset({OWNER}), clock=shop.clock
    )
    return shop, offers


def program_with(**reminders: Any) -> Program:
    base = Program().model_dump()
    base["offers"]["reminders"].update(reminders)
    return Program.model_validate(base)


async def reminders(database: Database) -> list[Row]:
    """Every lapse reminder campaign with its delivery (key, kind, promotional, campaign status,
    telegram id, delivery status); a campaign without a delivery shows with None."""
    async with database.read_sessions() as session:
        rows = await session.execute(
            select(Campaign.key, Campaign.kind, Campaign.promotional, Campaign.status, Customer.telegram_id,
                   Delivery.status)
            .outerjoin(Delivery, Delivery.campaign_id == Campaign.id)
            .outerjoin(Customer, Customer.id == Delivery.customer_id)
            .where(Campaign.key.like("reminder:redemption:%"))
            .order_by(Campaign.id)
        )
        return [(r[0], r[1], bool(r[2]), r[3], r[4], r[5]) for r in rows.all()]


async def campaign_id(database: Database, redemption_id: int) -> int:
    async with database.read_sessions() as session:
        found = (
            await session.execute(select(Campaign.id).where(Campaign.key == f"reminder:redemption:{redemption_id}"))
        ).scalar_one()
        return int(found)


def key(redemption_id: int) -> str:
    return f"reminder:redemption:{redemption_id}"


def token(payload: str) -> str:
    return decode_payload(payload, SECRET)[1]


async def test_queued_once_inside_the_lead_window_and_written_with_the_minutes_left(database: Database) -> None:
    shop, offers = await build(database)
    await shop.register(101)
    await shop.earn(101, 100)
    reward = await shop.add_reward(30, name_en="Tea & <cake>", name_ms="Teh & kek")
    start = shop.clock()
    reserved = await shop.rewards.redeem(101, reward)
    assert reserved.expires_at == start + timedelta(minutes=15)

    # 5 minutes and a second left: not yet.
    shop.clock.now = start + timedelta(minutes=9, seconds=59)
    assert (await offers.send_lapse_reminders()).summary() == "nothing due"
    assert await reminders(database) == []

    # 5 minutes left: one service message for the customer.
    shop.clock.now = start + timedelta(minutes=10)
    run = await offers.send_lapse_reminders()
    assert run.queued == {"reminder:redemption": 1}
    assert run.summary() == "reminder:redemption: 1 queued"
    assert await reminders(database) == [(key(reserved.redemption_id), LAPSE_REMINDER, False, "sending", 101, "pending")]
    async with database.read_sessions() as session:
        campaign = (await session.execute(select(Campaign).where(Campaign.kind == LAPSE_REMINDER))).scalar_one()
    # The reward's names, escaped for the HTML message the sender writes around them.
    assert (campaign.text_en, campaign.text_ms, campaign.total) == ("Tea &amp; &lt;cake&gt;", "Teh &amp; kek", 1)

    # Reruns at the same instant and later in the window queue nothing more.
    assert (await offers.send_lapse_reminders()).total == 0
    shop.clock.now = start + timedelta(minutes=13)
    assert (await offers.send_lapse_reminders()).summary() == "nothing due"
    assert len(await reminders(database)) == 1

    # What the sender gets right before sending: the redemption and the minutes left then.
    campaign_key = await campaign_id(database, reserved.redemption_id)
    assert await offers.lapse_reminder(campaign_key) == LapseReminder(reserved.redemption_id, 2)
    shop.clock.now = start + timedelta(minutes=14, seconds=30)
    assert await offers.lapse_reminder(campaign_key) == LapseReminder(reserved.redemption_id, 1)
    shop.clock.now = start + timedelta(minutes=15)
    assert await offers.lapse_reminder(campaign_key) is None  # run out: not sent
    await shop.check_invariants()


async def test_nothing_once_the_lapse_is_past(database: Database) -> None:
    shop, offers = await build(database)
    await shop.register(101)
    await shop.earn(101, 100)
    reward = await shop.add_reward(30)
    start = shop.clock()
    await shop.rewards.redeem(101, reward)
    # The job did not run in the window (the bot was down); the redemption is still pending, but
    # its time is up: reminding now would be wrong.
    for late in (timedelta(minutes=15), timedelta(minutes=15, seconds=1), timedelta(hours=2)):
        shop.clock.now = start + late
        assert (await offers.send_lapse_reminders()).total == 0
    # Also when the job is run for an instant (`jobs run` or a late scheduler) rather than now.
    assert (await offers.send_lapse_reminders(start + timedelta(minutes=16))).total == 0
    assert await reminders(database) == []
    # With 30 seconds left it still goes.
    assert (await offers.send_lapse_reminders(start + timedelta(minutes=14, seconds=30))).total == 1


async def test_confirmed_and_cancelled_redemptions_are_not_reminded(database: Database) -> None:
    shop, offers = await build(database)
    await shop.register(101)
    await shop.earn(101, 100)
    start = shop.clock()
    confirmed = await shop.rewards.redeem(101, await shop.add_reward(10))
    cancelled = await shop.rewards.redeem(101, await shop.add_reward(20))
    pending = await shop.rewards.redeem(101, await shop.add_reward(30))
    await shop.rewards.confirm(STAFF, token(confirmed.payload))
    await shop.rewards.cancel(101, cancelled.redemption_id)

    shop.clock.now = start + timedelta(minutes=11)
    assert (await offers.send_lapse_reminders()).total == 1
    assert [row[0] for row in await reminders(database)] == [key(pending.redemption_id)]


async def test_two_redemptions_of_one_customer_get_one_reminder_each(database: Database) -> None:
    shop, offers = await build(database)
    await shop.register(101)
    await shop.earn(101, 100)
    start = shop.clock()
    first = await shop.rewards.redeem(101, await shop.add_reward(10))
    shop.clock.now = start + timedelta(minutes=3)
    second = await shop.rewards.redeem(101, await shop.add_reward(20))

    shop.clock.now = start + timedelta(minutes=10)  # the first is 5 minutes from lapsing, the second 8
    assert (await offers.send_lapse_reminders()).total == 1
    shop.clock.now = start + timedelta(minutes=12)
    assert (await offers.send_lapse_reminders()).total == 0
    shop.clock.now = start + timedelta(minutes=13)
    assert (await offers.send_lapse_reminders()).total == 1
    shop.clock.now = start + timedelta(minutes=14)
    assert (await offers.send_lapse_reminders()).total == 0
    assert await reminders(database) == [
        (key(first.redemption_id), LAPSE_REMINDER, False, "sending", 101, "pending"),
        (key(second.redemption_id), LAPSE_REMINDER, False, "sending", 101, "pending"),
    ]


async def test_overlapping_first_runs_queue_it_once(database: Database) -> None:
    shop, offers = await build(database)
    for telegram_id in (101, 102):
        await shop.register(telegram_id)
        await shop.earn(telegram_id, 100)
    reward = await shop.add_reward(30)
    start = shop.clock()
    await shop.rewards.redeem(101, reward)
    await shop.rewards.redeem(102, reward)

    shop.clock.now = start + timedelta(minutes=10, seconds=30)
    runs = await asyncio.gather(*(offers.send_lapse_reminders() for _ in range(4)))
    assert sum(run.total for run in runs) == 2
    rows = await reminders(database)
    assert sorted(row[4] for row in rows) == [101, 102] and {row[5] for row in rows} == {"pending"}


async def test_a_service_message_opt_out_or_not_but_never_to_blocked_or_erased_customers(database: Database) -> None:
    shop, offers = await build(database)
    reward = await shop.add_reward(30)
    for telegram_id in (101, 102, 103, 104):
        await shop.register(telegram_id)
        await shop.earn(telegram_id, 100)
    start = shop.clock()
    for telegram_id in (101, 102, 103, 104):
        await shop.rewards.redeem(telegram_id, reward)
    await shop.env.customers.set_marketing(102, False)  # no promotions: still told
    async with database.write_sessions() as session:
        await session.execute(update(Customer).where(Customer.telegram_id == 103).values(status="unreachable"))
        await session.commit()
    await shop.env.customers.delete_account(104)

    shop.clock.now = start + timedelta(minutes=10)
    assert (await offers.send_lapse_reminders()).total == 2
    assert sorted(row[4] for row in await reminders(database)) == [101, 102]


async def test_a_reminder_not_sent_yet_is_withdrawn_when_its_redemption_closes(database: Database) -> None:
    shop, offers = await build(database)
    await shop.register(101)
    await shop.earn(101, 100)
    start = shop.clock()
    confirmed = await shop.rewards.redeem(101, await shop.add_reward(10))
    cancelled = await shop.rewards.redeem(101, await shop.add_reward(20))
    expired = await shop.rewards.redeem(101, await shop.add_reward(30))
    shop.clock.now = start + timedelta(minutes=10)
    assert (await offers.send_lapse_reminders()).total == 3

    await shop.rewards.confirm(STAFF, token(confirmed.payload))
    await shop.rewards.cancel(101, cancelled.redemption_id)
    shop.clock.now = start + timedelta(minutes=15)
    assert await shop.rewards.expire_due() == 1
    assert await reminders(database) == [
        (key(redemption.redemption_id), LAPSE_REMINDER, False, "cancelled", 101, "cancelled")
        for redemption in (confirmed, cancelled, expired)
    ]
    for redemption in (confirmed, cancelled, expired):
        assert await offers.lapse_reminder(await campaign_id(database, redemption.redemption_id)) is None
    await shop.check_invariants()


async def test_a_reminder_already_sent_stays_as_it_was(database: Database) -> None:
    shop, offers = await build(database)
    await shop.register(101)
    await shop.earn(101, 100)
    start = shop.clock()
    reserved = await shop.rewards.redeem(101, await shop.add_reward(10))
    shop.clock.now = start + timedelta(minutes=10)
    assert (await offers.send_lapse_reminders()).total == 1
    async with database.write_sessions() as session:  # as the sender records it
        await session.execute(update(Delivery).values(status="sent", finished_at=shop.clock()))
        await session.execute(update(Campaign).values(status="done", finished_at=shop.clock()))
        await session.commit()
    await shop.rewards.confirm(STAFF, token(reserved.payload))
    assert await reminders(database) == [(key(reserved.redemption_id), LAPSE_REMINDER, False, "done", 101, "sent")]


async def test_switched_off_by_zero_minutes_or_by_the_reminders_switch(database: Database) -> None:
    for program in (program_with(redemption_minutes=0), program_with(enabled=False)):
        shop, offers = await build(database, program)
        telegram_id = 101 if program.offers.reminders.enabled else 102
        await shop.register(telegram_id)
        await shop.earn(telegram_id, 100)
        start = shop.clock()
        await shop.rewards.redeem(telegram_id, await shop.add_reward(30))
        shop.clock.now = start + timedelta(minutes=14)
        assert (await offers.send_lapse_reminders()).summary() == "redemption reminders are switched off"
    assert await reminders(database) == []


async def test_a_longer_lead_reminds_earlier(database: Database) -> None:
    shop, offers = await build(database, program_with(redemption_minutes=12))
    await shop.register(103)
    await shop.earn(103, 100)
    start = shop.clock()
    await shop.rewards.redeem(103, await shop.add_reward(40))
    shop.clock.now = start + timedelta(minutes=2, seconds=59)
    assert (await offers.send_lapse_reminders()).total == 0
    shop.clock.now = start + timedelta(minutes=3)
    assert (await offers.send_lapse_reminders()).total == 1
