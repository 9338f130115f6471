"""The owner's activity view: per-staff counts and unusual activity, by the shop's day."""

from __future__ import annotations

from datetime import timedelta

import pytest

from loyaltybot.db.uow import uow_factories
from loyaltybot.domain.tokens import decode_payload
from loyaltybot.services.activity import ActivityService
from loyaltybot.services.counter import CodeExpired, CodeUsed, IssuerNotStaff
from loyaltybot.services.errors import NotAllowed
from loyaltybot.services.scans import CodeNotValid

from .counter_support import OWNER, SECRET, STAFF, build_counter


async def test_activity_today(database) -> None:  # type: ignore[no-untyped-def]
    env = await build_counter(database)
    _writer, reader = uow_factories(database)
    activity = ActivityService(reader=reader, program=env.counter._program, owner_ids=frozenset({OWNER}), clock=env.clock)
    await env.register(501)
    await env.register(502)
    member_key = decode_payload((await env.customers.card(502)).member_payload, SECRET)[1]

    # Yesterday's claims do not count today.
    old = await env.counter.issue_sale(STAFF, "3")
    await env.counter.claim_sale(old.token_id, 501)
    env.clock.advance(timedelta(days=1))

    for _ in range(6):  # more than the default threshold of 5 claims a day
        sale = await env.counter.issue_sale(STAFF, "10")
        await env.counter.claim_sale(sale.token_id, 501)
    await env.counter.issue_sale(STAFF, "1")  # issued, never claimed
    for number in range(4):  # the same staff member crediting one customer more than 3 times
        await env.counter.credit_member(STAFF, member_key, amount_text="2", request_key=str(number))

    report = await activity.today(OWNER)
    assert len(report.staff) == 1
    day = report.staff[0]
    assert (day.name, day.sales_issued, day.sales_claimed, day.member_credits, day.spend_sen) == ("Sam", 7, 6, 4, 6800)
    assert [(c.name, c.claims) for c in report.frequent_customers] == [("C501", 6)]
    assert {(r.staff_name, r.customer_name, r.credits) for r in report.repeated_credits} == {
        ("Sam", "C501", 6),
        ("Sam", "C502", 4),
    }
    assert report.failed_scans == []

    with pytest.raises(NotAllowed):
        await activity.today(STAFF)


async def test_failed_scans_of_genuine_codes_and_removed_staff(database) -> None:  # type: ignore[no-untyped-def]
    """Codes used by somebody else, too late or from removed staff are listed by who scanned
    them; the claimer scanning their own code again is not; removed staff keep their name."""
    env = await build_counter(database)
    _writer, reader = uow_factories(database)
    activity = ActivityService(reader=reader, program=env.counter._program, owner_ids=frozenset({OWNER}), clock=env.clock)
    await env.register(501)
    await env.register(502)

    sale = await env.counter.issue_sale(STAFF, "10")
    await env.counter.claim_sale(sale.token_id, 501)
    with pytest.raises(CodeUsed):
        await env.counter.claim_sale(sale.token_id, 501)  # the claimer again: a double scan, harmless
    with pytest.raises(CodeUsed):
        await env.counter.claim_sale(sale.token_id, 502)  # somebody else: a shared photo of the code?
    late = await env.counter.issue_sale(STAFF, "4", valid_for=timedelta(minutes=1))
    env.clock.advance(timedelta(minutes=2))
    with pytest.raises(CodeExpired):
        await env.counter.claim_sale(late.token_id, 502)
    withdrawn = await env.counter.issue_sale(STAFF, "6")
    await env.staff.remove(STAFF, removed_by=OWNER)
    with pytest.raises(IssuerNotStaff):
        await env.counter.claim_sale(withdrawn.token_id, 501)
    with pytest.raises(CodeNotValid):
        await env.counter.claim_sale("no-such-token", 9999)  # not registered, no name to show

    report = await activity.today(OWNER)
    assert [(day.name, day.sales_issued, day.sales_claimed) for day in report.staff] == [("Sam", 3, 1)]
    assert [(f.telegram_id, f.name, f.forged, f.unknown, f.used, f.expired) for f in report.failed_scans] == [
        (502, "C502", 0, 0, 1, 1),
        (501, "C501", 0, 0, 0, 1),
        (9999, None, 0, 1, 0, 0),
    ]
