"""Property tests of the stamp limits (domain/stamps.py).

Protected: for any policy and any increasing sequence of claims, fed back the way
`CounterService._credit` feeds them (last stamp time, stamps in the shop-local day of
`local_day_bounds`), the granted stamps never break the minimum interval or the daily cap
of a shop-local calendar day; a claim is refused only when a limit really blocks it (the
limits are not stricter than stated); `next_allowed_at` is exactly the first instant the
next claim succeeds; and a full card yields one voucher per card and restarts the count.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyaltybot.domain.stamps import (
    StampPolicy,
    StampReason,
    add_stamps,
    decide_stamp,
    local_day_bounds,
)

ZONES = ["UTC", "Asia/Kuala_Lumpur", "Europe/London", "America/Sao_Paulo", "Pacific/Chatham", "America/St_Johns"]
TINY = timedelta(microseconds=1)


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:  # pragma: no cover - depends on system tzdata
        pytest.skip(f"time zone {name} not available")


policies = st.builds(
    StampPolicy,
    card_size=st.integers(min_value=1, max_value=12),
    min_interval=st.one_of(
        st.just(timedelta(0)),
        st.integers(min_value=1, max_value=30 * 60).map(lambda minutes: timedelta(minutes=minutes)),
    ),
    daily_cap=st.one_of(st.none(), st.integers(min_value=1, max_value=5)),
    stamps_per_claim=st.integers(min_value=1, max_value=3),
)

starts = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC))
# Gaps between claims: zero (double tap), seconds, hours, days -- in seconds.
gaps = st.lists(
    st.one_of(
        st.just(0),
        st.integers(min_value=1, max_value=120),
        st.integers(min_value=1, max_value=36 * 3600),
    ),
    min_size=1,
    max_size=40,
)


@dataclass
class Grant:
    at: datetime
    stamps: int


def _state(grants: list[Grant], now: datetime, tz: tzinfo) -> tuple[datetime | None, int]:
    """What the ledger's `stamp_state` returns: last stamp time, stamps in the shop-local day."""
    day_start, day_end = local_day_bounds(now, tz)
    last = grants[-1].at if grants else None
    today = sum(g.stamps for g in grants if day_start <= g.at < day_end)
    return last, today


def _local_day(instant: datetime, tz: tzinfo) -> date:
    return instant.astimezone(tz).date()


def _blocked_by(policy: StampPolicy, now: datetime, last: datetime | None, today: int) -> tuple[bool, bool]:
    """(interval blocks, cap blocks), straight from the stated rules."""
    interval = last is not None and policy.min_interval > timedelta(0) and now - last < policy.min_interval
    cap = policy.daily_cap is not None and today >= policy.daily_cap
    return interval, cap


def _decide_with(policy: StampPolicy, grants: list[Grant], now: datetime, tz: tzinfo) -> bool:
    last, today = _state(grants, now, tz)
    return decide_stamp(policy, now, last, today, tz=tz).granted


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=policies, start=starts, gap_seconds=gaps, zone=st.sampled_from(ZONES))
def test_granted_stamps_respect_the_limits_and_refusals_are_justified(
    policy: StampPolicy, start: datetime, gap_seconds: list[int], zone: str
) -> None:
    tz = _zone(zone)
    grants: list[Grant] = []
    now = start
    for gap in gap_seconds:
        now += timedelta(seconds=gap)
        last, today = _state(grants, now, tz)
        decision = decide_stamp(policy, now, last, today, tz=tz)
        interval_blocks, cap_blocks = _blocked_by(policy, now, last, today)

        # Refused if and only if a stated limit blocks; the reason names the cap when it blocks.
        assert decision.granted == (not interval_blocks and not cap_blocks), (decision, last, today)
        if decision.granted:
            assert decision.reason == StampReason.OK
            room = policy.stamps_per_claim if policy.daily_cap is None else policy.daily_cap - today
            assert decision.stamps == min(policy.stamps_per_claim, room) >= 1
            grants.append(Grant(now, decision.stamps))
        else:
            assert decision.stamps == 0
            assert decision.reason == (StampReason.DAILY_CAP if cap_blocks else StampReason.INTERVAL)

        # `next_allowed_at`: the next claim succeeds exactly from then (with no other stamps).
        following = decision.next_allowed_at
        if following is None:
            assert _decide_with(policy, grants, now, tz)
        else:
            assert following > now
            assert _decide_with(policy, grants, following, tz)
            assert not _decide_with(policy, grants, following - TINY, tz)

    # Never two stamps closer than the interval.
    for earlier, later in pairwise(grants):
        assert later.at - earlier.at >= policy.min_interval
    # Never more stamps in one shop-local calendar day than the cap.
    if policy.daily_cap is not None:
        per_day: dict[date, int] = defaultdict(int)
        for grant in grants:
            per_day[_local_day(grant.at, tz)] += grant.stamps
        assert max(per_day.values(), default=0) <= policy.daily_cap, dict(per_day)


@settings(max_examples=200, deadline=None)
@given(
    card_size=st.integers(min_value=1, max_value=12),
    start=st.integers(min_value=0, max_value=11),
    additions=st.lists(st.integers(min_value=0, max_value=3), max_size=60),
)
def test_a_full_card_gives_one_voucher_and_restarts(card_size: int, start: int, additions: list[int]) -> None:
    count = start % card_size
    for added in additions:
        # Oracle: stamp one at a time; each time the card is full, one voucher and an empty card.
        expected_count, expected_vouchers = count, 0
        for _ in range(added):
            expected_count += 1
            if expected_count == card_size:
                expected_vouchers += 1
                expected_count = 0
        result = add_stamps(count, added, card_size)
        assert (result.new_count, result.cards_completed) == (expected_count, expected_vouchers)
        if added == 1:
            assert result.cards_completed == (1 if count == card_size - 1 else 0)
        count = result.new_count


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=policies, start=starts, gap_seconds=gaps, zone=st.sampled_from(ZONES))
def test_vouchers_follow_the_granted_stamps(
    policy: StampPolicy, start: datetime, gap_seconds: list[int], zone: str
) -> None:
    """Through the whole pipeline: vouchers == stamps granted // card size, count == the rest."""
    tz = _zone(zone)
    grants: list[Grant] = []
    count = vouchers = 0
    now = start
    for gap in gap_seconds:
        now += timedelta(seconds=gap)
        last, today = _state(grants, now, tz)
        decision = decide_stamp(policy, now, last, today, tz=tz)
        if decision.granted:
            grants.append(Grant(now, decision.stamps))
            result = add_stamps(count, decision.stamps, policy.card_size)
            assert 0 <= result.new_count < policy.card_size
            vouchers += result.cards_completed
            count = result.new_count
    total = sum(g.stamps for g in grants)
    assert vouchers == total // policy.card_size
    assert count == total % policy.card_size


def test_cap_counts_the_shop_day_not_the_utc_day() -> None:
    """A fixed example the properties rely on: 23:30 and 00:30 in Kuala Lumpur are two days."""
    myt = timezone(timedelta(hours=8))
    policy = StampPolicy(min_interval=timedelta(0), daily_cap=1)
    first = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)  # 23:30 local
    grants = [Grant(first, 1)]
    assert not _decide_with(policy, grants, first + timedelta(minutes=29), myt)  # 23:59 local
    assert _decide_with(policy, grants, first + timedelta(minutes=30), myt)  # 00:00 next local day
