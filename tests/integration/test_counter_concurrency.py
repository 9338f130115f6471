"""Claims under concurrency: single use, no lost or doubled credit, stamp limits hold (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from loyaltybot.db.models import Customer, LedgerEntry, Token
from loyaltybot.services.counter import CodeUsed

from .counter_support import STAFF, build_counter


async def test_fifty_tasks_claim_the_same_sale_token_once(database) -> None:  # type: ignore[no-untyped-def]
    env = await build_counter(database)
    ids = [await env.register(1000 + n) for n in range(50)]
    assert len(ids) == 50
    sale = await env.counter.issue_sale(STAFF, "25.50")

    results = await asyncio.gather(
        *(env.counter.claim_sale(sale.token_id, 1000 + n) for n in range(50)), return_exceptions=True
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 1
    assert all(isinstance(error, CodeUsed) for error in losses), losses
    async with database.read_sessions() as session:
        assert (await session.execute(select(func.count()).select_from(LedgerEntry))).scalar_one() == 1
        total = (await session.execute(select(func.sum(Customer.balance)))).scalar_one()
        token = await session.get(Token, sale.token_id)
    assert total == 25
    assert token is not None and token.used_by == wins[0].customer_telegram_id
    await env.check_invariants()


async def test_twenty_customers_claim_twenty_tokens_concurrently(database) -> None:  # type: ignore[no-untyped-def]
    env = await build_counter(database)
    for n in range(20):
        await env.register(2000 + n)
    sales = [await env.counter.issue_sale(STAFF, str(n + 1)) for n in range(20)]

    credits = await asyncio.gather(*(env.counter.claim_sale(sale.token_id, 2000 + n) for n, sale in enumerate(sales)))
    assert sorted(c.points for c in credits) == list(range(1, 21))
    async with database.read_sessions() as session:
        rows = (await session.execute(select(Customer.telegram_id, Customer.balance, Customer.stamps))).all()
        assert (await session.execute(select(func.count()).select_from(LedgerEntry))).scalar_one() == 20
    assert {tid: (balance, stamps) for tid, balance, stamps in rows} == {2000 + n: (n + 1, 1) for n in range(20)}
    await env.check_invariants()


async def test_one_customer_claiming_many_tokens_at_once_gets_one_stamp(database) -> None:  # type: ignore[no-untyped-def]
    env = await build_counter(database)
    await env.register(3000)
    sales = [await env.counter.issue_sale(STAFF, "10") for _ in range(10)]

    credits = await asyncio.gather(*(env.counter.claim_sale(sale.token_id, 3000) for sale in sales))
    assert sum(c.stamps_added for c in credits) == 1  # the 4-hour interval holds under concurrency
    assert max(c.balance for c in credits) == 100
    await env.check_invariants()

    env.clock.advance(timedelta(hours=4))
    later = await env.counter.issue_sale(STAFF, "1")
    credit = await env.counter.claim_sale(later.token_id, 3000)
    assert (credit.stamps_added, credit.stamps, credit.balance) == (1, 2, 101)
