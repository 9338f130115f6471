"""Random sequences of counter actions never break the ledger invariants (SQLite, hypothesis)."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyaltybot.config import Program, StampsSection
from loyaltybot.db.engine import create_database
from loyaltybot.db.migrate import upgrade_database
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.tokens import decode_payload

from .counter_support import SECRET, STAFF, build_counter

CUSTOMERS = (101, 102, 103)

actions = st.one_of(
    st.tuples(st.just("sale"), st.sampled_from(CUSTOMERS), st.integers(min_value=1, max_value=500_000)),
    st.tuples(st.just("replay"), st.sampled_from(CUSTOMERS), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("purchase"), st.sampled_from(CUSTOMERS), st.integers(min_value=1, max_value=50_000)),
    st.tuples(st.just("stamp"), st.sampled_from(CUSTOMERS), st.integers(min_value=0, max_value=20)),
    st.tuples(st.just("wait"), st.just(0), st.integers(min_value=1, max_value=30)),
)


async def run_scenario(steps: list[tuple[str, int, int]]) -> None:
    program = Program(stamps=StampsSection(card_size=3, min_interval_hours=1, daily_cap=2))
    with tempfile.TemporaryDirectory() as tmp:
        db = create_database(f"sqlite+aiosqlite:///{Path(tmp) / 'ledger.db'}")
        try:
            await upgrade_database(db)
            env = await build_counter(db, program)
            keys = {}
            for telegram_id in CUSTOMERS:
                await env.register(telegram_id)
                keys[telegram_id] = (await env.customers.card(telegram_id)).member_payload
            issued: list[str] = []
            for number, (action, telegram_id, value) in enumerate(steps):
                try:
                    if action == "sale":
                        sale = await env.counter.issue_sale(STAFF, f"{value // 100}.{value % 100:02d}")
                        issued.append(sale.token_id)
                        await env.counter.claim_sale(sale.token_id, telegram_id)
                    elif action == "replay" and issued:
                        await env.counter.claim_sale(issued[value % len(issued)], telegram_id)
                    elif action in ("purchase", "stamp"):
                        _kind, member_key = decode_payload(keys[telegram_id], SECRET)
                        await env.counter.credit_member(
                            STAFF,
                            member_key,
                            amount_text=f"{value // 100}.{value % 100:02d}" if action == "purchase" else None,
                            request_key=str(number if value % 4 else 0),  # sometimes a repeated request
                        )
                    elif action == "wait":
                        env.clock.advance(timedelta(minutes=value * 10))
                except DomainError:
                    pass
                await env.check_invariants()
        finally:
            await db.dispose()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(actions, min_size=1, max_size=25))
def test_ledger_invariants_hold_for_any_sequence(steps: list[tuple[str, int, int]]) -> None:
    asyncio.run(run_scenario(steps))
