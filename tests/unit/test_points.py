"""Tests for points earned per purchase."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyaltybot.domain.points import PointsRule, to_fraction


def test_default_one_point_per_whole_ringgit() -> None:
    rule = PointsRule()
    assert rule.points_for(2550) == 25
    assert rule.points_for(99) == 0
    assert rule.points_for(100) == 1
    assert rule.points_for(0) == 0


def test_multiplier_rounds_down() -> None:
    rule = PointsRule()
    assert rule.points_for(2550, Decimal("1.25")) == 31
    assert rule.points_for(2550, Fraction(5, 4)) == 31
    assert rule.points_for(2550, Decimal("1.5")) == 37
    assert rule.points_for(2550, 2) == 50
    assert rule.points_for(2550, Decimal("0")) == 0


def test_custom_rule() -> None:
    rule = PointsRule(points_per_unit=5, unit_sen=1000)  # 5 points per RM 10
    assert rule.points_for(2550) == 10
    assert rule.points_for(2550, Decimal("1.1")) == 11
    assert rule.points_for(999) == 0


def test_exact_decimal_arithmetic_no_float_drift() -> None:
    # 1.1 as a float is 1.100000000000000088..., as a Decimal it is exact.
    rule = PointsRule(points_per_unit=1, unit_sen=1)
    assert rule.points_for(1000, Decimal("1.1")) == 1100
    assert rule.points_for(3, Decimal("0.7")) == 2  # 2.1 -> 2


def test_float_multiplier_refused() -> None:
    with pytest.raises(TypeError):
        PointsRule().points_for(1000, 1.25)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_fraction(True)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity")])
def test_non_finite_multiplier_refused(bad: Decimal) -> None:
    with pytest.raises(ValueError):
        PointsRule().points_for(1000, bad)


def test_negative_inputs_refused() -> None:
    with pytest.raises(ValueError):
        PointsRule().points_for(-100)
    with pytest.raises(ValueError):
        PointsRule().points_for(100, Decimal("-1"))


def test_invalid_rule_refused() -> None:
    with pytest.raises(ValueError):
        PointsRule(unit_sen=0)
    with pytest.raises(ValueError):
        PointsRule(points_per_unit=-1)


def test_rule_is_frozen() -> None:
    rule = PointsRule()
    with pytest.raises(AttributeError):
        rule.unit_sen = 1  # type: ignore[misc]


rules = st.builds(
    PointsRule,
    points_per_unit=st.integers(min_value=0, max_value=100),
    unit_sen=st.integers(min_value=1, max_value=10_000),
)
multipliers = st.decimals(
    min_value=0, max_value=10, places=2, allow_nan=False, allow_infinity=False
)
spends = st.integers(min_value=0, max_value=10**9)


@given(rules, spends, spends, multipliers)
def test_points_monotone_in_spend(rule: PointsRule, a: int, b: int, m: Decimal) -> None:
    low, high = sorted((a, b))
    assert 0 <= rule.points_for(low, m) <= rule.points_for(high, m)


@given(rules, spends, multipliers, multipliers)
def test_points_monotone_in_multiplier(rule: PointsRule, s: int, a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    assert rule.points_for(s, low) <= rule.points_for(s, high)


@given(rules, spends)
def test_unit_multiplier_is_exact_units(rule: PointsRule, s: int) -> None:
    points = rule.points_for(s)
    assert isinstance(points, int)
    assert points == (s // rule.unit_sen) * rule.points_per_unit
