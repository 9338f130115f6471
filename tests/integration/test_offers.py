"""Automatic offers on a real database with a controlled clock: birthdays, festivals, win-back."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from e2e.seed import seed_customers
from sqlalchemy import func, select

from loyaltybot.config import CustomEvent, LocalizedText, Program
from loyaltybot.db.engine import Database
from loyaltybot.db.models import Campaign, Customer, Delivery, PointLot, Voucher
from loyaltybot.db.uow import uow_factories
from loyaltybot.domain.tokens import TokenKind, decode_payload
from loyaltybot.services.offers import OfferService

KL = ZoneInfo("Asia/Kuala_Lumpur")
KEY = b"offers-test-secret-key-000000000"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def kl(*args: int) -> datetime:
    return datetime(*args, tzinfo=KL)  # type: ignore[misc]


def offer_service(db: Database, clock: Clock, program: Program | None = None) -> OfferService:
    writer, reader = uow_factories(db)
    return OfferService(writer=writer, reader=reader, program=program or Program(), secret_key=KEY, clock=clock)


def program_with(**offers: Any) -> Program:
    base = Program().model_dump()
    base["offers"].update(offers)
    return Program.model_validate(base)


async def deliveries(db: Database, key: str) -> dict[int, str]:
    """telegram id -> delivery status, for the campaign of `key`."""
    async with db.read_sessions() as session:
        rows = await session.execute(
            select(Customer.telegram_id, Delivery.status)
            .join(Delivery, Delivery.customer_id == Customer.id)
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(Campaign.key == key)
        )
        return {r[0]: r[1] for r in rows}


async def vouchers(db: Database, kind: str) -> list[tuple[int, str, datetime | None]]:
    async with db.read_sessions() as session:
        rows = await session.execute(
            select(Customer.telegram_id, Voucher.source_key, Voucher.expires_at)
            .join(Customer, Customer.id == Voucher.customer_id)
            .where(Voucher.kind == kind)
            .order_by(Customer.telegram_id)
        )
        return [(r[0], r[1], r[2]) for r in rows]


async def count(db: Database, model: Any) -> int:
    async with db.read_sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


# ------------------------------------------------------------------ birthdays
async def test_birthday_on_the_day_at_the_hour_once(database: Database) -> None:
    await seed_customers(database, [1, 2], birthday_month=3, birthday_day=14)
    await seed_customers(database, [3], birthday_month=3, birthday_day=15)
    await seed_customers(database, [4], birthday_month=3, birthday_day=14, marketing_opt_in=False)
    await seed_customers(database, [5], birthday_month=3, birthday_day=14, status="unreachable")
    clock = Clock(kl(2027, 3, 14, 8, 59))
    offers = offer_service(database, clock)

    early = await offers.send_birthdays()
    assert early.total == 0 and "not yet" in early.summary()
    assert await count(database, Delivery) == 0

    clock.now = kl(2027, 3, 14, 9, 0)
    run = await offers.send_birthdays()
    assert run.queued == {"birthday:2027": 2}
    assert await deliveries(database, "birthday:2027") == {1: "pending", 2: "pending"}
    issued = await vouchers(database, "birthday")
    assert [(tid, source.rsplit(":", 1)[0]) for tid, source, _ in issued] == [(1, "birthday:2027"), (2, "birthday:2027")]
    assert all(expires == kl(2027, 3, 28) for _, _, expires in issued)  # valid 14 days

    # Rerun the same day, and an overlapping run: nothing new, not even a second voucher.
    clock.now = kl(2027, 3, 14, 17, 0)
    assert (await offers.send_birthdays()).total == 0
    assert len(await vouchers(database, "birthday")) == 2
    # The campaign's voucher travels with each delivery, as a signed voucher QR payload.
    async with database.read_sessions() as session:
        campaign_id, customer_id = (
            await session.execute(select(Delivery.campaign_id, Delivery.customer_id).order_by(Delivery.id).limit(1))
        ).one()
    voucher = await offers.voucher_for(campaign_id, customer_id)
    assert voucher is not None and voucher.title("ms") == "Hadiah hari jadi: 1 minuman percuma"
    kind, code = decode_payload(voucher.payload, KEY)
    assert kind is TokenKind.VOUCHER and len(code) == 16


async def test_a_day_with_nobody_due_writes_no_campaign(database: Database) -> None:
    """No campaign row is created and dropped again (on PostgreSQL that would use up an id,
    and the owner's broadcasts are numbered by it)."""
    await seed_customers(database, [1], birthday_month=3, birthday_day=15)
    offers = offer_service(database, Clock(kl(2027, 3, 14, 9, 30)))
    assert (await offers.send_birthdays()).total == 0
    assert (await offers.send_winback()).total == 0
    assert (await offers.send_reminders()).total == 0
    assert await count(database, Campaign) == 0
    writer, _ = uow_factories(database)
    async with writer() as uow:
        first = await uow.offers.campaign_for(
            key="broadcast:x", kind="broadcast", text_en="Hi", text_ms="Hai", now=kl(2027, 3, 14, 10)
        )
        await uow.commit()
    assert first.id == 1  # no number was used up by the empty runs


async def test_overlapping_first_runs_queue_once(database: Database) -> None:
    """Two processes running the same offer at once (the scheduler and `jobs run`): on
    PostgreSQL both create the day's campaign concurrently; one wins, neither fails."""
    await seed_customers(database, [1, 2, 3], birthday_month=3, birthday_day=14)
    clock = Clock(kl(2027, 3, 14, 9, 30))
    runs = await asyncio.gather(*(offer_service(database, clock).send_birthdays() for _ in range(4)))
    assert sum(run.total for run in runs) == 3
    assert await deliveries(database, "birthday:2027") == {1: "pending", 2: "pending", 3: "pending"}
    assert len(await vouchers(database, "birthday")) == 3
    assert await count(database, Campaign) == 1


async def test_29_february_is_greeted_on_28_february_in_common_years(database: Database) -> None:
    await seed_customers(database, [1], birthday_month=2, birthday_day=29)
    await seed_customers(database, [2], birthday_month=2, birthday_day=28)
    clock = Clock(kl(2027, 2, 28, 9, 30))
    offers = offer_service(database, clock)
    assert (await offers.send_birthdays()).queued == {"birthday:2027": 2}
    clock.now = kl(2027, 3, 1, 9, 30)
    assert (await offers.send_birthdays()).total == 0
    # In a leap year each on their own day.
    clock.now = kl(2028, 2, 28, 9, 30)
    assert (await offers.send_birthdays()).total == 1
    assert set(await deliveries(database, "birthday:2028")) == {2}
    clock.now = kl(2028, 2, 29, 9, 30)
    assert (await offers.send_birthdays()).total == 1
    assert set(await deliveries(database, "birthday:2028")) == {1, 2}


async def test_dates_are_the_shops_at_23_30_utc(database: Database) -> None:
    """23:30 UTC on 31 December is 07:30 on 1 January in Kuala Lumpur."""
    await seed_customers(database, [1], birthday_month=1, birthday_day=1)
    await seed_customers(database, [2], birthday_month=12, birthday_day=31)
    clock = Clock(datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    offers = offer_service(database, clock, program_with(hour=7))
    assert (await offers.send_birthdays()).queued == {"birthday:2027": 1}
    assert set(await deliveries(database, "birthday:2027")) == {1}
    # With the default 09:00 the same instant is too early for anyone.
    other = offer_service(database, clock)
    assert "not yet" in (await other.send_birthdays()).summary()


async def test_restart_after_the_hour_catches_up_but_never_replays_yesterday(database: Database) -> None:
    await seed_customers(database, [1], birthday_month=6, birthday_day=1)
    await seed_customers(database, [2], birthday_month=6, birthday_day=2)
    await seed_customers(database, [3], birthday_month=6, birthday_day=3)
    # Down all of 1 June; started on 2 June at 15:00: today's birthday goes, yesterday's does not.
    clock = Clock(kl(2027, 6, 2, 15, 0))
    offers = offer_service(database, clock)
    assert (await offers.send_birthdays()).queued == {"birthday:2027": 1}
    assert set(await deliveries(database, "birthday:2027")) == {2}
    # A program that replays missed days greets 2 June's late on 3 June and 3 June's on time, once each.
    clock.now = kl(2027, 6, 3, 9, 0)
    replaying = offer_service(database, clock, program_with(replay_missed=True))
    assert (await replaying.send_birthdays()).queued == {"birthday:2027": 1}
    assert set(await deliveries(database, "birthday:2027")) == {2, 3}
    clock.now = kl(2027, 6, 4, 9, 0)
    assert (await replaying.send_birthdays()).total == 0


async def test_a_birthday_set_or_changed_recently_earns_nothing(database: Database) -> None:
    now = kl(2027, 7, 20, 10, 0)
    await seed_customers(database, [1], birthday_month=7, birthday_day=20, birthday_set_at=now - timedelta(days=10))
    await seed_customers(database, [2], birthday_month=7, birthday_day=20, birthday_set_at=now - timedelta(days=40))
    await seed_customers(database, [3], birthday_month=7, birthday_day=20, birthday_set_at=None)
    offers = offer_service(database, Clock(now))
    assert (await offers.send_birthdays()).total == 2
    assert set(await deliveries(database, "birthday:2027")) == {2, 3}


async def test_opted_out_customers_receive_nothing_promotional(database: Database) -> None:
    await seed_customers(database, [1], birthday_month=8, birthday_day=28, marketing_opt_in=False,
                         last_visit_at=kl(2027, 6, 28, 12, 0))
    clock = Clock(kl(2027, 8, 28, 9, 0))  # also 3 days before Merdeka, and 61 days after a visit
    offers = offer_service(database, clock, program_with(winback_days=61))
    assert (await offers.send_birthdays()).total == 0
    assert (await offers.send_festivals()).total == 0
    assert (await offers.send_winback()).total == 0
    assert await count(database, Delivery) == 0 and await count(database, Voucher) == 0
    assert await count(database, Campaign) == 0  # no empty campaigns left behind


# ------------------------------------------------------------------ festivals
def _first_day(year: int, name: str, language: str = "en_US") -> date:
    calendar = holidays.country_holidays("MY", years=year, language=language)
    return min(day for day, names in calendar.items() if name in names.split("; "))


async def test_festival_calendar_follows_holidays_for_2026_and_2027(database: Database) -> None:
    offers = offer_service(database, Clock(kl(2026, 1, 1, 9, 0)))
    for year in (2026, 2027):
        found = {festival.slug: festival for festival in offers.festivals_in(year)}
        raya, cny = found["hari-raya-aidilfitri"], found["chinese-new-year"]
        assert raya.day == _first_day(year, "Eid al-Fitr") and cny.day == _first_day(year, "Chinese New Year")
        assert raya.name("ms") == "Hari Raya Puasa" and cny.name("ms") == "Tahun Baharu Cina"
        assert raya.name("en") == "Hari Raya Aidilfitri" and cny.name("en") == "Chinese New Year"
        assert found["merdeka"].day == date(year, 8, 31) and found["malaysia-day"].day == date(year, 9, 16)
        assert found["christmas"].name("ms") == "Hari Krismas"
        assert raya.send_day == raya.day - timedelta(days=3)
    assert found["chinese-new-year"].day == date(2027, 2, 6)
    assert found["hari-raya-aidilfitri"].day == date(2027, 3, 10)


async def test_festival_offers_go_out_n_days_before_in_each_language(database: Database) -> None:
    await seed_customers(database, [1], language="en")
    await seed_customers(database, [2], language="ms")
    clock = Clock(kl(2027, 2, 2, 9, 0))
    offers = offer_service(database, clock)
    assert (await offers.send_festivals()).total == 0  # 4 days before Chinese New Year
    clock.now = kl(2027, 2, 3, 9, 0)
    assert (await offers.send_festivals()).queued == {"festival:chinese-new-year:2027": 2}
    assert (await offers.send_festivals()).queued == {"festival:chinese-new-year:2027": 0}
    async with database.read_sessions() as session:
        campaign = (await session.execute(select(Campaign).where(Campaign.kind == "festival"))).scalar_one()
    assert "<b>Chinese New Year</b>" in campaign.text_en and "<b>Tahun Baharu Cina</b>" in campaign.text_ms
    clock.now = kl(2027, 3, 7, 9, 0)
    assert (await offers.send_festivals()).queued == {"festival:hari-raya-aidilfitri:2027": 2}
    clock.now = kl(2026, 3, 18, 9, 0)
    assert (await offers.send_festivals()).queued == {"festival:hari-raya-aidilfitri:2026": 2}


async def test_custom_events_and_switched_off_festivals(database: Database) -> None:
    await seed_customers(database, [1])
    program = program_with(
        festivals=["merdeka"],
        festival_lead_days=1,
        custom_events=[
            CustomEvent(slug="shop-anniversary", name=LocalizedText(en="Our anniversary", ms="Ulang tahun kedai"),
                        month=5, day=1).model_dump()
        ],
    )
    clock = Clock(kl(2027, 4, 30, 9, 0))
    offers = offer_service(database, clock, program)
    assert (await offers.send_festivals()).queued == {"festival:shop-anniversary:2027": 1}
    clock.now = kl(2027, 12, 24, 9, 0)  # Christmas is not enabled in this program
    assert (await offers.send_festivals()).total == 0
    upcoming = [f.slug for f in offer_service(database, Clock(kl(2027, 5, 2, 9, 0)), program).upcoming_festivals()]
    assert upcoming == ["merdeka", "shop-anniversary"]


# ------------------------------------------------------------------ win-back
async def test_winback_once_per_inactivity_period(database: Database) -> None:
    await seed_customers(database, [1], last_visit_at=kl(2027, 1, 10, 18, 0))
    await seed_customers(database, [2], last_visit_at=kl(2027, 1, 11, 18, 0))
    clock = Clock(kl(2027, 3, 11, 9, 0))  # 60 days after 10 January
    offers = offer_service(database, clock)
    assert (await offers.send_winback()).queued == {"winback:2027-01-10": 1}
    assert (await offers.send_winback()).total == 0
    clock.now = kl(2027, 3, 12, 9, 0)
    assert (await offers.send_winback()).queued == {"winback:2027-01-11": 1}
    clock.now = kl(2027, 3, 13, 9, 0)
    assert (await offers.send_winback()).total == 0
    # Customer 1 comes back, then stays away again: a new period, a new offer.
    async with database.write_sessions() as session:
        customer = (await session.execute(select(Customer).where(Customer.telegram_id == 1))).scalar_one()
        customer.last_visit_at = kl(2027, 4, 1, 12, 0)
        await session.commit()
    clock.now = kl(2027, 5, 31, 9, 0)
    assert (await offers.send_winback()).queued == {"winback:2027-04-01": 1}
    assert len(await vouchers(database, "winback")) == 3


# ------------------------------------------------------------------ reminders
async def test_reminders_once_per_expiry_day_even_without_promotions(database: Database) -> None:
    await seed_customers(database, [1, 2, 3])
    await seed_customers(database, [4], marketing_opt_in=False)
    async with database.write_sessions() as session:
        ids = dict((await session.execute(select(Customer.telegram_id, Customer.id))).all())
        session.add_all([
            # Points of 1 and 4 expire on 30 June (in 14 days); 2's later.
            PointLot(customer_id=ids[1], points=50, remaining=50, earned_at=kl(2026, 6, 30, 10),
                     expires_at=kl(2027, 6, 30, 10)),
            PointLot(customer_id=ids[4], points=20, remaining=20, earned_at=kl(2026, 6, 30, 10),
                     expires_at=kl(2027, 6, 30, 10)),
            PointLot(customer_id=ids[2], points=20, remaining=20, earned_at=kl(2026, 7, 5, 10),
                     expires_at=kl(2027, 7, 5, 10)),
            PointLot(customer_id=ids[3], points=20, remaining=0, earned_at=kl(2026, 6, 30, 10),
                     expires_at=kl(2027, 6, 30, 10)),  # already spent: nothing to remind
            # 3's voucher expires at the start of 19 June (in 3 days, during 18 June's night it is still valid).
            Voucher(customer_id=ids[3], kind="welcome", title_en="x", title_ms="x", code="a" * 16,
                    issued_at=kl(2027, 6, 1), expires_at=kl(2027, 6, 19, 12)),
            Voucher(customer_id=ids[2], kind="welcome", title_en="x", title_ms="x", code="b" * 16,
                    issued_at=kl(2027, 6, 1), expires_at=kl(2027, 6, 19, 12), used_at=kl(2027, 6, 2)),
        ])
        await session.commit()
    clock = Clock(kl(2027, 6, 16, 9, 0))
    offers = offer_service(database, clock)
    run = await offers.send_reminders()
    assert run.queued == {"reminder:points:2027-06-30": 2, "reminder:voucher:2027-06-19": 1}
    assert set(await deliveries(database, "reminder:points:2027-06-30")) == {1, 4}
    assert set(await deliveries(database, "reminder:voucher:2027-06-19")) == {3}
    async with database.read_sessions() as session:
        campaign = (await session.execute(select(Campaign).where(Campaign.key == "reminder:points:2027-06-30"))).scalar_one()
    assert campaign.promotional is False and "14 hari" in (campaign.text_ms or "")
    assert (await offers.send_reminders()).total == 0
    clock.now = kl(2027, 6, 17, 9, 0)
    assert (await offers.send_reminders()).total == 0
