"""Services over a real database, with a clock the test moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from loyaltybot.config import Program
from loyaltybot.db.engine import Database
from loyaltybot.db.models import Customer, LedgerEntry, Voucher
from loyaltybot.db.uow import uow_factories
from loyaltybot.services.counter import CounterService
from loyaltybot.services.customers import CustomerService
from loyaltybot.services.staff import StaffService

OWNER = 9000
STAFF = 777
SECRET = b"integration-test-secret"


class MovableClock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 23, 2, 0, tzinfo=UTC)  # 10:00 in Kuala Lumpur

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@dataclass
class Counter:
    db: Database
    clock: MovableClock
    customers: CustomerService
    staff: StaffService
    counter: CounterService

    async def register(self, telegram_id: int) -> int:
        registration = await self.customers.register(
            telegram_id=telegram_id,
            contact_user_id=telegram_id,
            phone=f"+6012{telegram_id:07d}",
            first_name=f"C{telegram_id}",
            last_name=None,
            language="en",
            consent_version="test",
            consent_at=self.clock(),
        )
        return registration.profile.id

    async def check_invariants(self) -> None:
        """Cached balance == ledger sum >= 0, balance_after chains, one voucher per full card."""
        async with self.db.read_sessions() as session:
            customers = (await session.execute(select(Customer))).scalars().all()
            for customer in customers:
                rows = (
                    await session.execute(
                        select(LedgerEntry).where(LedgerEntry.customer_id == customer.id).order_by(LedgerEntry.id)
                    )
                ).scalars().all()
                running = 0
                stamps = 0
                for row in rows:
                    running += row.delta
                    stamps += row.stamps_delta
                    assert row.balance_after == running >= 0
                assert customer.balance == running
                size = self.counter._program.stamps.card_size
                vouchers = (
                    await session.execute(
                        select(func.count())
                        .select_from(Voucher)
                        .where(Voucher.customer_id == customer.id, Voucher.kind == "stamp_card")
                    )
                ).scalar_one()
                assert customer.stamps == stamps % size
                assert vouchers == stamps // size


async def build_counter(db: Database, program: Program | None = None, clock: MovableClock | None = None) -> Counter:
    program = program or Program()
    clock = clock or MovableClock()
    writer, reader = uow_factories(db)
    owners = frozenset({OWNER})
    staff = StaffService(writer=writer, reader=reader, owner_ids=owners, clock=clock)
    await staff.add(STAFF, added_by=OWNER, display_name="Sam")
    return Counter(
        db=db,
        clock=clock,
        customers=CustomerService(writer=writer, reader=reader, program=program, secret_key=SECRET, clock=clock),
        staff=staff,
        counter=CounterService(
            writer=writer, reader=reader, program=program, secret_key=SECRET, owner_ids=owners, clock=clock
        ),
    )
