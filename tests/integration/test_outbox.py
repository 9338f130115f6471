"""The outbox on a real database (SQLite, and PostgreSQL when TEST_DATABASE_URL is set)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from e2e.seed import seed_customers
from sqlalchemy import func, select, update

from loyaltybot.config import Program
from loyaltybot.db.engine import Database
from loyaltybot.db.models import Campaign, Customer, Delivery
from loyaltybot.db.outbox import audience_filter
from loyaltybot.db.uow import uow_factories
from loyaltybot.domain.outbox import Audience, Outcome
from loyaltybot.services.broadcasts import BroadcastEmpty, BroadcastService, Draft
from loyaltybot.services.errors import NotAllowed
from loyaltybot.services.outbox import OutboxService, Result
from loyaltybot.services.staff import StaffService

NOW = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 in Kuala Lumpur, November
OWNER = 9000


def services(db: Database) -> tuple[OutboxService, BroadcastService]:
    writer, reader = uow_factories(db)
    program = Program()
    outbox = OutboxService(writer=writer, reader=reader, program=program, clock=lambda: NOW)
    staff = StaffService(writer=writer, reader=reader, owner_ids=frozenset({OWNER}), clock=lambda: NOW)
    broadcasts = BroadcastService(
        writer=writer, reader=reader, outbox=outbox, staff=staff, program=program, clock=lambda: NOW
    )
    return outbox, broadcasts


async def scalar(db: Database, statement: Any) -> Any:
    async with db.read_sessions() as session:
        return (await session.execute(statement)).scalar()


async def seed_variety(db: Database) -> None:
    """Customers spread over every filter, plus ones no promotion may reach."""
    await seed_customers(db, list(range(1, 11)), language="en", balance=50, joined_at=NOW - timedelta(days=5))
    await seed_customers(db, list(range(11, 21)), language="ms", balance=500, joined_at=NOW - timedelta(days=100),
                         last_visit_at=NOW - timedelta(days=2))
    await seed_customers(db, list(range(21, 26)), language="ms", balance=100, birthday_month=11, birthday_day=3,
                         joined_at=NOW - timedelta(days=200), last_visit_at=NOW - timedelta(days=90))
    await seed_customers(db, list(range(26, 29)), marketing_opt_in=False, birthday_month=11, balance=1000)
    await seed_customers(db, list(range(29, 31)), status="unreachable", balance=1000)
    # Tiers: NULL (most) and a code the ladder no longer has are the first tier, bronze.
    await seed_customers(db, [31], tier="silver", marketing_opt_in=False)
    async with db.write_sessions() as session:
        await session.execute(update(Customer).where(Customer.telegram_id.between(11, 15)).values(tier="silver"))
        await session.execute(update(Customer).where(Customer.telegram_id.in_((21, 22))).values(tier="gold"))
        await session.execute(update(Customer).where(Customer.telegram_id.in_((1, 2))).values(tier="bronze"))
        await session.execute(update(Customer).where(Customer.telegram_id == 16).values(tier="retired"))
        await session.commit()


TIERS = ["bronze", "silver", "gold"]


EXPECTED = {
    Audience("all"): 25,
    Audience("en"): 10,
    Audience("ms"): 15,
    Audience("birthday"): 5,
    Audience("inactive", 30): 5,  # last visit 90 days ago (the 10 who joined 5 days ago are new)
    Audience("inactive", 3): 15,  # those 5, and the 10 who joined 5 days ago and never came back
    Audience("joined", 7): 10,
    Audience("joined", 150): 20,
    Audience("balance", 100): 15,
    Audience("balance", 501): 0,
    Audience("tier", tier="bronze"): 18,  # NULL, "bronze" and the retired code
    Audience("tier", tier="silver"): 5,
    Audience("tier", tier="gold"): 2,
}


@pytest.mark.parametrize("audience", list(EXPECTED), ids=lambda a: a.encode())
async def test_each_segment_count_matches_the_rows_it_queues(database: Database, audience: Audience) -> None:
    await seed_variety(database)
    _, broadcasts = services(database)
    count = await broadcasts.count(OWNER, audience)
    assert count == EXPECTED[audience]
    # The count is what gets queued, and the queued rows are exactly the filter's rows.
    if count == 0:
        with pytest.raises(BroadcastEmpty):
            await broadcasts.send_now(OWNER, Draft(text_en="hi", audience=audience))
        assert await scalar(database, select(func.count()).select_from(Campaign)) == 0
        return
    summary = await broadcasts.send_now(OWNER, Draft(text_en="hi", audience=audience))
    assert summary.tally.total == count
    queued = set(
        await _all(database, select(Delivery.customer_id).where(Delivery.campaign_id == summary.id))
    )
    where = audience_filter(audience, now=NOW, month=11, tiers=TIERS)
    expected_ids = set(await _all(database, select(Customer.id).where(*where)))
    assert queued == expected_ids
    opted_out_or_unreachable = set(
        await _all(database, select(Customer.id).where((Customer.marketing_opt_in.is_(False)) | (Customer.status != "active")))
    )
    assert not queued & opted_out_or_unreachable


async def _all(db: Database, statement: Any) -> list[Any]:
    async with db.read_sessions() as session:
        return list((await session.execute(statement)).scalars().all())


async def test_only_owners_broadcast(database: Database) -> None:
    _, broadcasts = services(database)
    with pytest.raises(NotAllowed):
        await broadcasts.count(1234, Audience())
    with pytest.raises(NotAllowed):
        await broadcasts.send_now(1234, Draft(text_en="hi", audience=Audience()))


async def test_enqueue_is_set_based_and_idempotent(database: Database) -> None:
    await seed_customers(database, list(range(1, 301)))
    _, broadcasts = services(database)
    summary = await broadcasts.send_now(OWNER, Draft(text_en="hi", audience=Audience()))
    assert summary.tally.total == 300
    # Queueing the same campaign again (a rerun) adds nobody twice.
    writer, _ = uow_factories(database)
    async with writer() as uow:
        campaign = await uow.outbox.campaign(summary.id)
        assert campaign is not None
        again = await uow.outbox.enqueue(campaign.id, audience_filter(Audience(), now=NOW, month=11), NOW)
        await uow.commit()
    assert again == 0
    assert await scalar(database, select(func.count()).select_from(Delivery)) == 300


async def test_claim_send_record_never_twice_and_crash_leaves_unknown(database: Database) -> None:
    await seed_customers(database, list(range(1, 11)))
    outbox, broadcasts = services(database)
    await broadcasts.send_now(OWNER, Draft(text_en="hi", audience=Audience()))
    jobs = await outbox.next_jobs(100)
    assert len(jobs) == 10
    assert await outbox.claim(jobs[0]) is True
    assert await outbox.claim(jobs[0]) is False  # a second claim of the same row loses
    # A claimed row is no longer due: nobody can pick it up again.
    assert jobs[0].delivery_id not in {j.delivery_id for j in await outbox.next_jobs(100)}
    await outbox.claim(jobs[1], [Result(jobs[0], Outcome.SENT, message_id=7)])
    await outbox.claim(jobs[2], [Result(jobs[1], Outcome.BLOCKED, error="Forbidden: bot was blocked by the user")])
    await outbox.claim(jobs[3], [Result(jobs[2], Outcome.RETRY, error="Bad Gateway")])
    await outbox.claim(jobs[4], [Result(jobs[3], Outcome.PAUSE, retry_after=5)])
    # The process dies here: jobs[4] was in flight.
    assert await outbox.recover() == 1
    statuses = dict(await _pairs(database, select(Delivery.id, Delivery.status)))
    assert statuses[jobs[0].delivery_id] == "sent"
    assert statuses[jobs[1].delivery_id] == "blocked"
    assert statuses[jobs[2].delivery_id] == "pending"  # retried later with backoff
    assert statuses[jobs[3].delivery_id] == "pending"  # after the pause
    assert statuses[jobs[4].delivery_id] == "unknown"  # never resent
    blocked_customer = await scalar(database, select(Customer.status).where(Customer.id == jobs[1].customer_id))
    assert blocked_customer == "unreachable"
    # Neither the retry nor the paused row is due yet; the unknown one never is again.
    due = {j.delivery_id for j in await outbox.next_jobs(100)}
    assert due.isdisjoint({jobs[2].delivery_id, jobs[3].delivery_id, jobs[4].delivery_id})
    assert len(due) == 5


async def test_retries_are_bounded(database: Database) -> None:
    await seed_customers(database, [1])
    outbox, broadcasts = services(database)
    await broadcasts.send_now(OWNER, Draft(text_en="hi", audience=Audience()))
    for attempt in range(1, 6):
        async with database.write_sessions() as session:  # make the retry due now
            await session.execute(update(Delivery).values(next_attempt_at=NOW))
            await session.commit()
        [job] = await outbox.next_jobs(10)
        assert job.attempt == attempt
        assert await outbox.claim(job)
        await outbox.record([Result(job, Outcome.RETRY, error="Internal Server Error")])
    assert await scalar(database, select(Delivery.status)) == "failed"
    assert await outbox.next_jobs(10) == []


async def test_opt_out_after_queueing_is_skipped_and_cancel_stops_the_rest(database: Database) -> None:
    await seed_customers(database, list(range(1, 21)))
    outbox, broadcasts = services(database)
    summary = await broadcasts.send_now(OWNER, Draft(text_en="hi", audience=Audience()))
    async with database.write_sessions() as session:
        await session.execute(update(Customer).where(Customer.telegram_id <= 5).values(marketing_opt_in=False))
        await session.commit()
    jobs = await outbox.next_jobs(3)
    assert jobs == []  # the first rows belong to the 5 who opted out: skipped, not sent
    jobs = await outbox.next_jobs(100)
    assert len(jobs) == 15
    await outbox.claim(jobs[0])
    cancelled = await broadcasts.cancel(OWNER, summary.id)
    assert cancelled.status == "cancelled"
    await outbox.record([Result(jobs[0], Outcome.SENT, message_id=1)])
    tally = (await broadcasts.get(OWNER, summary.id)).tally
    assert (tally.skipped, tally.sent, tally.cancelled, tally.total) == (5, 1, 14, 20)
    assert tally.finished


async def test_scheduled_campaign_starts_when_due_even_if_missed(database: Database) -> None:
    await seed_customers(database, list(range(1, 4)))
    outbox, broadcasts = services(database)
    summary = await broadcasts.schedule(OWNER, Draft(text_en="hi", audience=Audience()), NOW + timedelta(hours=1))
    assert await outbox.start_due() == []
    later_writer, later_reader = uow_factories(database)
    later = OutboxService(writer=later_writer, reader=later_reader, program=Program(), clock=lambda: NOW + timedelta(days=1))
    assert await later.start_due() == [summary.id]
    assert await later.start_due() == []  # the database says it has started: never twice
    assert await scalar(database, select(func.count()).select_from(Delivery)) == 3


async def _pairs(db: Database, statement: Any) -> list[tuple[Any, Any]]:
    async with db.read_sessions() as session:
        return [tuple(row) for row in (await session.execute(statement)).all()]


async def test_opt_out_between_reading_and_claiming_is_respected(database: Database) -> None:
    await seed_customers(database, [1, 2])
    outbox, broadcasts = services(database)
    await broadcasts.send_now(OWNER, Draft(text_en="hi", audience=Audience()))
    jobs = await outbox.next_jobs(10)
    assert len(jobs) == 2
    async with database.write_sessions() as session:  # opts out after the batch was read
        await session.execute(update(Customer).where(Customer.telegram_id == 1).values(marketing_opt_in=False))
        await session.commit()
    claimed = await outbox.claim_many(jobs)
    assert [job.customer_id for job in claimed] == [jobs[1].customer_id]
    assert await outbox.next_jobs(10) == []  # the opted-out row is skipped, never sent
    assert await scalar(database, select(func.count()).select_from(Delivery).where(Delivery.status == "skipped")) == 1
