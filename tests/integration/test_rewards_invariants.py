"""Random interleavings of earn / redeem / confirm / cancel / expire / clock moves keep the
extended ledger invariants: balance == ledger sum >= 0 == sum of the FIFO lots; stock never oversold."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyaltybot.config import PointsSection, Program
from loyaltybot.db.engine import create_database
from loyaltybot.db.migrate import upgrade_database
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.tokens import decode_payload

from .counter_support import SECRET, STAFF
from .rewards_support import build_shop

CUSTOMERS = (101, 102)

actions = st.one_of(
    st.tuples(st.just("earn"), st.sampled_from(CUSTOMERS), st.integers(min_value=1, max_value=80)),
    st.tuples(st.just("redeem"), st.sampled_from(CUSTOMERS), st.integers(min_value=0, max_value=2)),
    st.tuples(st.just("confirm"), st.just(0), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("cancel"), st.sampled_from(CUSTOMERS), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("expire-points"), st.just(0), st.just(0)),
    st.tuples(st.just("expire-redemptions"), st.just(0), st.just(0)),
    st.tuples(st.just("minutes"), st.just(0), st.integers(min_value=1, max_value=30)),
    st.tuples(st.just("months"), st.just(0), st.integers(min_value=1, max_value=7)),
)


async def run_scenario(steps: list[tuple[str, int, int]]) -> None:
    program = Program(points=PointsSection(expiry_months=6))
    with tempfile.TemporaryDirectory() as tmp:
        db = create_database(f"sqlite+aiosqlite:///{Path(tmp) / 'rewards.db'}")
        try:
            await upgrade_database(db)
            shop = await build_shop(db, program)
            for telegram_id in CUSTOMERS:
                await shop.register(telegram_id)
            rewards = [await shop.add_reward(20, stock=3), await shop.add_reward(50), await shop.add_reward(5, limit=2)]
            reserved: list[tuple[int, int, str]] = []  # (customer, redemption id, token)
            for action, telegram_id, value in steps:
                try:
                    if action == "earn":
                        await shop.earn(telegram_id, value)
                    elif action == "redeem":
                        done = await shop.rewards.redeem(telegram_id, rewards[value])
                        reserved.append((telegram_id, done.redemption_id, decode_payload(done.payload, SECRET)[1]))
                    elif action == "confirm" and reserved:
                        await shop.rewards.confirm(STAFF, reserved[value % len(reserved)][2])
                    elif action == "cancel" and reserved:
                        owner, redemption_id, _token = reserved[value % len(reserved)]
                        await shop.rewards.cancel(owner, redemption_id)
                    elif action == "expire-points":
                        await shop.loyalty.expire_points()
                    elif action == "expire-redemptions":
                        await shop.rewards.expire_due()
                    elif action == "minutes":
                        shop.clock.advance(timedelta(minutes=value))
                    elif action == "months":
                        shop.clock.advance(timedelta(days=30 * value))
                except DomainError:
                    pass
                await shop.check_invariants()
        finally:
            await db.dispose()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=1, max_size=30))
def test_rewards_ledger_invariants_hold_for_any_interleaving(steps: list[tuple[str, int, int]]) -> None:
    asyncio.run(run_scenario(steps))
