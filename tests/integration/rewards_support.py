"""Counter + rewards services over a real database, and the extended ledger invariants."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from loyaltybot.config import Program
from loyaltybot.db.engine import Database
from loyaltybot.db.models import Customer, LedgerEntry, PointLot, Redemption, Reward
from loyaltybot.db.uow import uow_factories
from loyaltybot.services.loyalty import LoyaltyService
from loyaltybot.services.rewards import RewardService

from .counter_support import OWNER, SECRET, STAFF, Counter, MovableClock, build_counter


@dataclass
class Shop:
    env: Counter
    rewards: RewardService
    loyalty: LoyaltyService

    @property
    def clock(self) -> MovableClock:
        return self.env.clock

    async def register(self, telegram_id: int) -> int:
        return await self.env.register(telegram_id)

    async def earn(self, telegram_id: int, ringgit: int) -> None:
        sale = await self.env.counter.issue_sale(STAFF, str(ringgit))
        await self.env.counter.claim_sale(sale.token_id, telegram_id)

    async def add_reward(self, cost: int, **values: Any) -> int:
        data = {"name_en": f"Reward {cost}", "name_ms": f"Ganjaran {cost}", "cost": cost} | values
        return (await self.rewards.create(OWNER, data)).id

    async def check_invariants(self) -> None:
        """balance == ledger sum >= 0 == lots sum, balance_after chains, stock never oversold."""
        async with self.env.db.read_sessions() as session:
            for customer in (await session.execute(select(Customer))).scalars().all():
                rows = (
                    await session.execute(
                        select(LedgerEntry).where(LedgerEntry.customer_id == customer.id).order_by(LedgerEntry.id)
                    )
                ).scalars().all()
                running = 0
                for row in rows:
                    running += row.delta
                    assert row.balance_after == running >= 0
                assert customer.balance == running
                lots = (
                    await session.execute(
                        select(func.coalesce(func.sum(PointLot.remaining), 0)).where(PointLot.customer_id == customer.id)
                    )
                ).scalar_one()
                assert lots == customer.balance, (lots, customer.balance)
            for reward in (await session.execute(select(Reward))).scalars().all():
                held = (
                    await session.execute(
                        select(func.count())
                        .select_from(Redemption)
                        .where(Redemption.reward_id == reward.id, Redemption.status.in_(("pending", "confirmed")))
                    )
                ).scalar_one()
                assert reward.reserved == held
                assert reward.stock is None or held <= reward.stock


async def build_shop(db: Database, program: Program | None = None, clock: MovableClock | None = None) -> Shop:
    program = program or Program()
    env = await build_counter(db, program, clock)
    writer, reader = uow_factories(db)
    owners = frozenset({OWNER})
    common = {"writer": writer, "reader": reader, "program": program, "secret_key": SECRET, "owner_ids": owners,
              "clock": env.clock}
    return Shop(env=env, rewards=RewardService(**common), loyalty=LoyaltyService(**common))
