"""Tests for the membership tier ladder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyaltybot.domain.tiers import (
    DEFAULT_LADDER,
    Tier,
    TierLadder,
    rolling_window_start,
)

BRONZE, SILVER, GOLD = DEFAULT_LADDER.tiers


def test_default_ladder() -> None:
    assert [(t.code, t.min_spend_sen, t.multiplier) for t in DEFAULT_LADDER.tiers] == [
        ("bronze", 0, Decimal("1")),
        ("silver", 50_000, Decimal("1.25")),
        ("gold", 150_000, Decimal("1.5")),
    ]


@pytest.mark.parametrize(
    ("spend", "code"),
    [(0, "bronze"), (49_999, "bronze"), (50_000, "silver"), (149_999, "silver"),
     (150_000, "gold"), (10**9, "gold"), (-500, "bronze")],
)  # fmt: skip
def test_tier_for(spend: int, code: str) -> None:
    assert DEFAULT_LADDER.tier_for(spend).code == code


def test_next_tier() -> None:
    assert DEFAULT_LADDER.next_tier(0) == (SILVER, 50_000)
    assert DEFAULT_LADDER.next_tier(49_999) == (SILVER, 1)
    assert DEFAULT_LADDER.next_tier(50_000) == (GOLD, 100_000)
    assert DEFAULT_LADDER.next_tier(150_000) == (None, 0)


def test_progress() -> None:
    p = DEFAULT_LADDER.progress(100_000)
    assert p.current == SILVER
    assert p.next == GOLD
    assert p.sen_missing == 50_000
    assert p.ratio == Fraction(1, 2)
    assert p.percent == 50
    top = DEFAULT_LADDER.progress(200_000)
    assert (top.next, top.ratio, top.percent, top.sen_missing) == (None, 1, 100, 0)
    assert DEFAULT_LADDER.progress(49_999).percent == 99  # never 100 before reaching it


def test_get_by_code() -> None:
    assert DEFAULT_LADDER.get("gold") == GOLD
    with pytest.raises(KeyError):
        DEFAULT_LADDER.get("platinum")


def test_int_multiplier_becomes_decimal() -> None:
    assert Tier("x", 0, 2).multiplier == Decimal(2)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "tiers",
    [
        [],
        [Tier("a", 100, Decimal(1))],
        [Tier("a", 0, Decimal(1)), Tier("b", 0, Decimal(2))],
        [Tier("a", 0, Decimal(1)), Tier("b", 200, Decimal(2)), Tier("c", 100, Decimal(3))],
        [Tier("a", 0, Decimal(1)), Tier("a", 100, Decimal(2))],
        [Tier("a", 0, Decimal("0.9"))],
    ],
)
def test_ladder_validation(tiers: list[Tier]) -> None:
    with pytest.raises(ValueError):
        TierLadder(tiers)


def test_tier_validation() -> None:
    with pytest.raises(TypeError):
        Tier("a", 0, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Tier("", 0, Decimal(1))
    with pytest.raises(ValueError):
        Tier("a", -1, Decimal(1))


def test_ladder_equality() -> None:
    assert TierLadder(DEFAULT_LADDER.tiers) == DEFAULT_LADDER
    assert hash(TierLadder(DEFAULT_LADDER.tiers)) == hash(DEFAULT_LADDER)


@pytest.mark.parametrize(
    ("now", "months", "start"),
    [
        (datetime(2025, 5, 31, 10, 30, tzinfo=UTC), 3, datetime(2025, 2, 28, 10, 30, tzinfo=UTC)),
        (datetime(2024, 5, 31, tzinfo=UTC), 3, datetime(2024, 2, 29, tzinfo=UTC)),
        (datetime(2025, 3, 15, tzinfo=UTC), 12, datetime(2024, 3, 15, tzinfo=UTC)),
        (datetime(2024, 2, 29, tzinfo=UTC), 12, datetime(2023, 2, 28, tzinfo=UTC)),
        (datetime(2025, 1, 31, tzinfo=UTC), 1, datetime(2024, 12, 31, tzinfo=UTC)),
    ],
)
def test_rolling_window_start(now: datetime, months: int, start: datetime) -> None:
    assert rolling_window_start(now, months) == start


def test_rolling_window_default_is_12_months() -> None:
    now = datetime(2025, 7, 1, tzinfo=UTC)
    assert rolling_window_start(now) == datetime(2024, 7, 1, tzinfo=UTC)


def test_rolling_window_validation() -> None:
    with pytest.raises(ValueError):
        rolling_window_start(datetime(2025, 1, 1))
    with pytest.raises(ValueError):
        rolling_window_start(datetime(2025, 1, 1, tzinfo=UTC), 0)


spends = st.integers(min_value=0, max_value=10**8)


@given(spends, spends)
def test_tier_monotone_in_spend(a: int, b: int) -> None:
    low, high = sorted((a, b))
    tiers = DEFAULT_LADDER.tiers
    assert tiers.index(DEFAULT_LADDER.tier_for(low)) <= tiers.index(DEFAULT_LADDER.tier_for(high))


@given(spends)
def test_next_tier_consistent_with_tier_for(spend: int) -> None:
    upcoming, missing = DEFAULT_LADDER.next_tier(spend)
    if upcoming is None:
        assert missing == 0
        assert DEFAULT_LADDER.tier_for(spend) == GOLD
    else:
        assert missing > 0
        assert DEFAULT_LADDER.tier_for(spend + missing) == upcoming
        assert DEFAULT_LADDER.tier_for(spend + missing - 1) == DEFAULT_LADDER.tier_for(spend)
    assert 0 <= DEFAULT_LADDER.progress(spend).ratio <= 1


@given(
    st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                 timezones=st.just(UTC)),
    st.integers(min_value=1, max_value=36),
)  # fmt: skip
def test_rolling_window_start_properties(now: datetime, months: int) -> None:
    start = rolling_window_start(now, months)
    assert start < now
    assert start.time() == now.time()
    assert start.day <= now.day
    assert (now.year * 12 + now.month) - (start.year * 12 + start.month) == months
    # never more than `months` * 31 days, never less than `months` * 28 days
    assert timedelta(days=28 * months) <= now - start <= timedelta(days=31 * months)


def test_rolling_window_keeps_tz() -> None:
    tz = timezone(timedelta(hours=8))
    assert rolling_window_start(datetime(2025, 3, 31, tzinfo=tz), 1).tzinfo is tz
