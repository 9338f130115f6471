"""Tests for stamp-card rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyaltybot.domain.stamps import (
    StampDecision,
    StampPolicy,
    StampReason,
    add_stamps,
    decide_stamp,
    local_day_bounds,
    render_stamps,
)

MYT = timezone(timedelta(hours=8))  # Malaysia, no DST
NOW = datetime(2025, 3, 10, 6, 0, tzinfo=UTC)  # 14:00 in Kuala Lumpur
POLICY = StampPolicy()


def _zone(name: str) -> tzinfo:
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:  # pragma: no cover - depends on system tzdata
        pytest.skip(f"time zone {name} not available")


# --- policy ---------------------------------------------------------------


def test_policy_defaults() -> None:
    assert POLICY.card_size == 10
    assert POLICY.min_interval == timedelta(hours=4)
    assert POLICY.daily_cap == 3
    assert POLICY.stamps_per_claim == 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"card_size": 0},
        {"min_interval": timedelta(seconds=-1)},
        {"daily_cap": 0},
        {"stamps_per_claim": 0},
    ],
)
def test_policy_validation(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        StampPolicy(**kwargs)  # type: ignore[arg-type]


# --- decide_stamp -----------------------------------------------------------


def test_first_stamp_granted() -> None:
    decision = decide_stamp(POLICY, NOW, None, 0, tz=MYT)
    assert decision == StampDecision(
        granted=True, reason=StampReason.OK, stamps=1, next_allowed_at=NOW + timedelta(hours=4)
    )
    assert decision.reason == "ok"


def test_interval_blocks() -> None:
    last = NOW - timedelta(hours=1)
    decision = decide_stamp(POLICY, NOW, last, 1, tz=MYT)
    assert not decision.granted
    assert decision.reason == "interval"
    assert decision.stamps == 0
    assert decision.next_allowed_at == last + timedelta(hours=4)


def test_interval_boundary_is_inclusive() -> None:
    last = NOW - timedelta(hours=4)
    assert decide_stamp(POLICY, NOW, last, 1, tz=MYT).granted
    assert not decide_stamp(POLICY, NOW - timedelta(microseconds=1), last, 1, tz=MYT).granted


def test_daily_cap_blocks_until_local_midnight() -> None:
    decision = decide_stamp(POLICY, NOW, NOW - timedelta(hours=5), 3, tz=MYT)
    assert not decision.granted
    assert decision.reason == "daily_cap"
    # next local midnight in KL (UTC+8) is 16:00 UTC the same UTC day
    assert decision.next_allowed_at == datetime(2025, 3, 10, 16, 0, tzinfo=UTC)


def test_daily_cap_reported_when_both_block() -> None:
    decision = decide_stamp(POLICY, NOW, NOW - timedelta(minutes=5), 3, tz=MYT)
    assert decision.reason == StampReason.DAILY_CAP
    assert decision.next_allowed_at == datetime(2025, 3, 10, 16, 0, tzinfo=UTC)


def test_next_allowed_satisfies_both_limits() -> None:
    # 23:00 local, last stamp 22:30 local: midnight would still violate the interval.
    now = datetime(2025, 3, 10, 15, 0, tzinfo=UTC)
    last = now - timedelta(minutes=30)
    decision = decide_stamp(POLICY, now, last, 3, tz=MYT)
    assert decision.reason == StampReason.DAILY_CAP
    assert decision.next_allowed_at == last + timedelta(hours=4)


def test_grant_reaching_cap_points_to_tomorrow() -> None:
    decision = decide_stamp(POLICY, NOW, NOW - timedelta(hours=5), 2, tz=MYT)
    assert decision.granted
    assert decision.next_allowed_at == datetime(2025, 3, 10, 16, 0, tzinfo=UTC)


def test_no_limits() -> None:
    policy = StampPolicy(min_interval=timedelta(0), daily_cap=None)
    decision = decide_stamp(policy, NOW, NOW, 1000)
    assert decision.granted
    assert decision.next_allowed_at is None


def test_partial_claim_up_to_cap() -> None:
    policy = StampPolicy(stamps_per_claim=2, daily_cap=3, min_interval=timedelta(0))
    assert decide_stamp(policy, NOW, None, 0).stamps == 2
    assert decide_stamp(policy, NOW, None, 2).stamps == 1
    assert not decide_stamp(policy, NOW, None, 3).granted


def test_decide_requires_aware_datetimes() -> None:
    with pytest.raises(ValueError):
        decide_stamp(POLICY, datetime(2025, 1, 1), None, 0)
    with pytest.raises(ValueError):
        decide_stamp(POLICY, NOW, datetime(2025, 1, 1), 0)
    with pytest.raises(ValueError):
        decide_stamp(POLICY, NOW, None, -1)


# --- local_day_bounds -------------------------------------------------------


def test_local_day_bounds_malaysia() -> None:
    start, end = local_day_bounds(NOW, MYT)
    assert start == datetime(2025, 3, 9, 16, 0, tzinfo=UTC)
    assert end == datetime(2025, 3, 10, 16, 0, tzinfo=UTC)
    assert start.tzinfo is UTC or start.utcoffset() == timedelta(0)


def test_local_day_bounds_just_after_local_midnight() -> None:
    now = datetime(2025, 3, 10, 16, 0, tzinfo=UTC)  # 00:00 on 11 March in KL
    assert local_day_bounds(now, MYT) == (
        datetime(2025, 3, 10, 16, 0, tzinfo=UTC),
        datetime(2025, 3, 11, 16, 0, tzinfo=UTC),
    )


def test_local_day_bounds_dst_day_is_23_hours() -> None:
    london = _zone("Europe/London")
    now = datetime(2025, 3, 30, 12, 0, tzinfo=UTC)
    start, end = local_day_bounds(now, london)
    assert end - start == timedelta(hours=23)


def test_local_day_bounds_missing_midnight() -> None:
    # Brazil used to jump from 00:00 to 01:00 (4 Nov 2018).
    sao_paulo = _zone("America/Sao_Paulo")
    now = datetime(2018, 11, 4, 12, 0, tzinfo=UTC)
    start, end = local_day_bounds(now, sao_paulo)
    assert start == datetime(2018, 11, 4, 3, 0, tzinfo=UTC)
    assert start <= now < end
    assert end - start == timedelta(hours=23)


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
    ),
    st.sampled_from(["Asia/Kuala_Lumpur", "Europe/London", "America/Sao_Paulo", "UTC"]),
)
def test_local_day_bounds_contain_now(now: datetime, zone: str) -> None:
    tz = _zone(zone)
    start, end = local_day_bounds(now, tz)
    assert start <= now < end
    assert start.utcoffset() == timedelta(0)
    assert timedelta(hours=22) <= end - start <= timedelta(hours=26)
    assert start.astimezone(tz).date() == now.astimezone(tz).date()


# --- add_stamps / render ----------------------------------------------------


@pytest.mark.parametrize(
    ("count", "added", "size", "new", "done"),
    [
        (0, 1, 10, 1, 0),
        (9, 1, 10, 0, 1),
        (9, 3, 10, 2, 1),
        (5, 25, 10, 0, 3),
        (0, 0, 10, 0, 0),
        (0, 1, 1, 0, 1),
    ],
)
def test_add_stamps(count: int, added: int, size: int, new: int, done: int) -> None:
    result = add_stamps(count, added, size)
    assert (result.new_count, result.cards_completed) == (new, done)


@pytest.mark.parametrize(("count", "added", "size"), [(10, 1, 10), (-1, 1, 10), (0, -1, 10), (0, 1, 0)])
def test_add_stamps_validation(count: int, added: int, size: int) -> None:
    with pytest.raises(ValueError):
        add_stamps(count, added, size)


def test_render_stamps() -> None:
    assert render_stamps(3, 10) == "●●●○○○○○○○"
    assert render_stamps(0, 5) == "○○○○○"
    assert render_stamps(5, 5) == "●●●●●"
    with pytest.raises(ValueError):
        render_stamps(11, 10)


@given(
    st.integers(min_value=1, max_value=50).flatmap(
        lambda size: st.tuples(
            st.just(size),
            st.integers(min_value=0, max_value=size - 1),
            st.lists(st.integers(min_value=0, max_value=120), max_size=30),
        )
    )
)
def test_stamp_sequences(case: tuple[int, int, list[int]]) -> None:
    size, count, additions = case
    total_stamps = count
    completed = 0
    for added in additions:
        result = add_stamps(count, added, size)
        assert 0 <= result.new_count < size
        completed += result.cards_completed
        total_stamps += added
        count = result.new_count
        rendered = render_stamps(count, size)
        assert len(rendered) == size
        assert rendered.count("●") == count
    # Every stamp is either on the current card or on a completed card.
    assert completed == total_stamps // size
    assert count == total_stamps % size
