"""Rewards on a real database (SQLite and PostgreSQL): reserve, confirm, cancel, expire, limits, concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from loyaltybot.db.models import AuditEntry, LedgerEntry, Redemption
from loyaltybot.services.errors import NotAllowed
from loyaltybot.services.rewards import (
    LimitReached,
    NotEnoughPoints,
    OwnRedemption,
    RedemptionClosed,
    RewardUnavailable,
    SoldOut,
    TierLocked,
)

from .counter_support import OWNER, STAFF
from .rewards_support import build_shop


async def test_reserve_confirm_and_the_ledger(database) -> None:  # type: ignore[no-untyped-def]
    shop = await build_shop(database)
    await shop.register(101)
    await shop.earn(101, 100)
    reward = await shop.add_reward(60, stock=3)

    reserved = await shop.rewards.redeem(101, reward)
    assert (reserved.points, reserved.balance) == (60, 40)
    assert reserved.payload.startswith("r_") and len(reserved.payload) <= 64
    catalogue = await shop.rewards.catalogue(101)
    assert catalogue.available == 40 and len(catalogue.pending) == 1
    assert catalogue.items[0].state == "short" and catalogue.items[0].missing == 20

    code = reserved.payload  # staff open the QR, then confirm
    from loyaltybot.domain.tokens import decode_payload
    from .counter_support import SECRET

    _kind, token = decode_payload(code, SECRET)
    view = await shop.rewards.open(STAFF, token)
    assert view.first_name == "C101" and view.points == 60
    with pytest.raises(NotAllowed):
        await shop.rewards.confirm(555, token)  # not staff
    await shop.env.staff.add(101, added_by=OWNER)  # the customer is staff too: not their own
    with pytest.raises(OwnRedemption):
        await shop.rewards.confirm(101, token)
    confirmed = await shop.rewards.confirm(STAFF, token)
    assert confirmed.status == "confirmed" and confirmed.customer_telegram_id == 101
    with pytest.raises(RedemptionClosed):
        await shop.rewards.confirm(STAFF, token)
    with pytest.raises(RedemptionClosed):
        await shop.rewards.cancel(101, reserved.redemption_id)
    admin = (await shop.rewards.list_all(OWNER))[0]
    assert (admin.confirmed, admin.pending, admin.stock_left) == (1, 0, 2)
    exported = await shop.env.customers.export_data(101)  # PDPA access: redemptions and vouchers too
    assert [r["status"] for r in exported["redemptions"]] == ["confirmed"]
    assert [v["kind"] for v in exported["vouchers"]] == ["welcome"]
    await shop.check_invariants()


async def test_cancel_and_expiry_give_the_points_back_into_the_same_lots(database) -> None:  # type: ignore[no-untyped-def]
    shop = await build_shop(database)
    await shop.register(101)
    await shop.earn(101, 30)
    shop.clock.advance(timedelta(days=40))
    await shop.earn(101, 50)
    reward = await shop.add_reward(50, stock=1)

    first = await shop.rewards.redeem(101, reward)
    with pytest.raises(SoldOut):
        await shop.rewards.redeem(101, reward)
    assert await shop.rewards.cancel(101, first.redemption_id) == 80
    await shop.check_invariants()

    second = await shop.rewards.redeem(101, reward)
    shop.clock.advance(timedelta(minutes=16))
    assert await shop.rewards.expire_due() == 1
    assert await shop.rewards.expire_due() == 0  # idempotent
    async with database.read_sessions() as session:
        redemption = await session.get(Redemption, second.redemption_id)
        kinds = (await session.execute(select(LedgerEntry.kind).order_by(LedgerEntry.id))).scalars().all()
    assert redemption is not None and redemption.status == "expired"
    assert kinds == ["purchase", "purchase", "redeem", "reversal", "redeem", "reversal"]
    await shop.check_invariants()


async def test_oldest_points_are_spent_first_and_expire_with_explicit_entries(database) -> None:  # type: ignore[no-untyped-def]
    shop = await build_shop(database)
    await shop.register(101)
    await shop.earn(101, 30)  # lot A, expires in 12 months
    shop.clock.advance(timedelta(days=100))
    await shop.earn(101, 50)  # lot B, 100 days later
    reward = await shop.add_reward(40)
    reserved = await shop.rewards.redeem(101, reward)  # 30 from A, 10 from B
    from loyaltybot.domain.tokens import decode_payload
    from .counter_support import SECRET

    await shop.rewards.confirm(STAFF, decode_payload(reserved.payload, SECRET)[1])

    card = await shop.env.customers.card(101)
    assert card.balance == 40 and card.next_expiry is not None and card.next_expiry[0] == 40

    shop.clock.advance(timedelta(days=300))  # A's date has passed (empty), B's not yet
    assert await shop.loyalty.expire_points() == (0, 0)
    shop.clock.advance(timedelta(days=70))
    assert await shop.loyalty.expire_points() == (1, 40)
    assert await shop.loyalty.expire_points() == (0, 0)
    card = await shop.env.customers.card(101)
    assert card.balance == 0 and card.next_expiry is None
    async with database.read_sessions() as session:
        expired = (await session.execute(select(LedgerEntry).where(LedgerEntry.kind == "expire"))).scalars().all()
    assert [(e.delta, e.balance_after) for e in expired] == [(-40, 0)]
    await shop.check_invariants()


async def test_catalogue_rules_tier_limit_dates_and_pause(database) -> None:  # type: ignore[no-untyped-def]
    shop = await build_shop(database)
    await shop.register(101)
    await shop.earn(101, 600)  # silver from RM 500
    gold_only = await shop.add_reward(10, min_tier="gold")
    silver = await shop.add_reward(10, min_tier="silver", limit=1)
    later = await shop.add_reward(10, starts=shop.clock() + timedelta(days=1))
    with pytest.raises(TierLocked):
        await shop.rewards.redeem(101, gold_only)
    await shop.rewards.redeem(101, silver)
    with pytest.raises(LimitReached):
        await shop.rewards.redeem(101, silver)
    with pytest.raises(RewardUnavailable):
        await shop.rewards.redeem(101, later)
    await shop.rewards.set_active(OWNER, gold_only, False)
    states = {item.id: item.state for item in (await shop.rewards.catalogue(101)).items}
    assert states == {silver: "limit_reached"}
    with pytest.raises(NotAllowed):
        await shop.rewards.set_active(STAFF, silver, False)
    cheap = await shop.add_reward(1000)
    with pytest.raises(NotEnoughPoints) as error:
        await shop.rewards.redeem(101, cheap)
    assert error.value.details["missing"] == 1000 - 590
    async with database.read_sessions() as session:
        audited = (
            await session.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action.startswith("reward.")))
        ).scalar_one()
    assert audited >= 6
    await shop.check_invariants()


async def test_hundred_customers_race_for_the_last_five_units(database) -> None:  # type: ignore[no-untyped-def]
    shop = await build_shop(database)
    for n in range(100):
        await shop.register(1000 + n)
        await shop.earn(1000 + n, 20)
    reward = await shop.add_reward(15, stock=5)

    results = await asyncio.gather(*(shop.rewards.redeem(1000 + n, reward) for n in range(100)), return_exceptions=True)
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, BaseException)]
    assert len(wins) == 5
    assert all(isinstance(error, SoldOut) for error in losses), losses
    async with database.read_sessions() as session:
        balances = (await session.execute(select(func.sum(LedgerEntry.delta)))).scalar_one()
    assert balances == 100 * 20 - 5 * 15  # the 95 others kept their points
    await shop.check_invariants()


async def test_twenty_staff_confirm_the_same_redemption_once(database) -> None:  # type: ignore[no-untyped-def]
    shop = await build_shop(database)
    for n in range(20):
        await shop.env.staff.add(5000 + n, added_by=OWNER)
    await shop.register(101)
    await shop.earn(101, 50)
    reserved = await shop.rewards.redeem(101, await shop.add_reward(50))
    from loyaltybot.domain.tokens import decode_payload
    from .counter_support import SECRET

    token = decode_payload(reserved.payload, SECRET)[1]
    results = await asyncio.gather(*(shop.rewards.confirm(5000 + n, token) for n in range(20)), return_exceptions=True)
    wins = [r for r in results if not isinstance(r, BaseException)]
    assert len(wins) == 1
    assert all(isinstance(r, RedemptionClosed) for r in results if isinstance(r, BaseException))
    async with database.read_sessions() as session:
        confirmations = (
            await session.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "reward.confirmed"))
        ).scalar_one()
    assert confirmations == 1
    await shop.check_invariants()


async def test_purchase_crossing_a_threshold_raises_the_tier_and_review_lowers_it(database) -> None:  # type: ignore[no-untyped-def]
    shop = await build_shop(database)
    await shop.register(101)
    sale = await shop.env.counter.issue_sale(STAFF, "400")
    credit = await shop.env.counter.claim_sale(sale.token_id, 101)
    assert (credit.points, credit.tier_up) == (400, None)
    sale = await shop.env.counter.issue_sale(STAFF, "150")
    credit = await shop.env.counter.claim_sale(sale.token_id, 101)
    assert credit.points == 150 and credit.tier_up is not None and credit.tier_up.code == "silver"  # this purchase still earns at bronze
    sale = await shop.env.counter.issue_sale(STAFF, "100")
    credit = await shop.env.counter.claim_sale(sale.token_id, 101)
    assert credit.points == 125  # ×1.25 now
    card = await shop.env.customers.card(101)
    assert card.tier is not None and card.tier.name == "Silver" and card.tier.next_name == "Gold"
    assert card.tier.sen_missing == 1500_00 - 650_00

    review = await shop.loyalty.review_tiers()
    assert review.customers == 0
    shop.clock.advance(timedelta(days=366))
    review = await shop.loyalty.review_tiers()
    assert (review.customers, review.downgraded) == (1, 1)
    card = await shop.env.customers.card(101)
    assert card.tier is not None and card.tier.name == "Bronze"
    assert (await shop.loyalty.review_tiers()).customers == 0
