"""Tests for parsing and formatting cashier-typed amounts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.money import (
    AmountError,
    AmountMalformed,
    AmountNotPositive,
    AmountTooLarge,
    AmountTooPrecise,
    format_amount,
    parse_amount,
)

MAX = 10_000_00  # RM 10,000


@pytest.mark.parametrize(
    ("text", "sen"),
    [
        ("25", 2500),
        ("25.5", 2550),
        ("25.50", 2550),
        ("25,50", 2550),
        ("25,5", 2550),
        ("RM25.50", 2550),
        ("rm 25.50", 2550),
        ("Rm25", 2500),
        (" 25.50 ", 2550),
        ("\t RM  25.50\n", 2550),
        ("1,234.50", 123450),
        ("1,234", 123400),  # comma + exactly 3 digits at the end: thousands
        ("1234.50", 123450),
        ("0.01", 1),
        ("007", 700),
        ("RM 9,999.99", 999999),
        ("10,000", 10_000_00),
    ],
)
def test_parse_accepts(text: str, sen: int) -> None:
    assert parse_amount(text, max_sen=MAX) == sen


def test_thousands_rule_three_digits_after_comma() -> None:
    # Documented rule: a comma followed by exactly 3 digits groups thousands,
    # even when the cashier perhaps meant a decimal comma.
    assert parse_amount("25,505", max_sen=10**9) == 25_505_00
    assert parse_amount("1,234,567.89", max_sen=10**9) == 123_456_789


@pytest.mark.parametrize(
    "text",
    [
        "abc", "", "   ", "RM", "1.2.3", "12abc", "NaN", "nan", "inf", "Infinity",
        "1e5", "1E5", "٣", "١٢", "25.", ".50", ",50", "1,234,50", "1,23,456",
        "1234,567", "12 34", "1_000", "+5", "0x10", "--5", "RM-RM5", "5RM",
        "25 .50", "1,2345", "25,50.1", "25,505.1.1", "١٢.٥٠", "２５",
    ],
)  # fmt: skip
def test_parse_rejects_garbage(text: str) -> None:
    with pytest.raises(AmountMalformed) as info:
        parse_amount(text, max_sen=MAX)
    assert info.value.code in {"amount_malformed", "amount_too_precise"}


@pytest.mark.parametrize("text", ["25.505", "1.001", "1,234.567", "RM 0.125"])
def test_parse_rejects_more_than_two_decimals(text: str) -> None:
    with pytest.raises(AmountTooPrecise) as info:
        parse_amount(text, max_sen=MAX)
    assert info.value.code == "amount_too_precise"
    assert isinstance(info.value, AmountMalformed)


@pytest.mark.parametrize("text", ["0", "0.00", "-5", "-25.50", "RM -5", "-RM5", "- 1,234"])
def test_parse_rejects_not_positive(text: str) -> None:
    with pytest.raises(AmountNotPositive) as info:
        parse_amount(text, max_sen=MAX)
    assert info.value.code == "amount_not_positive"


def test_parse_rejects_too_large_with_max_in_details() -> None:
    with pytest.raises(AmountTooLarge) as info:
        parse_amount("10,000.01", max_sen=MAX)
    assert info.value.code == "amount_too_large"
    assert info.value.details["max_sen"] == MAX
    assert parse_amount("10000", max_sen=MAX) == MAX


def test_parse_huge_number_is_too_large_not_a_crash() -> None:
    with pytest.raises(AmountTooLarge):
        parse_amount("9" * 5000, max_sen=MAX)


def test_errors_are_domain_errors() -> None:
    for cls in (AmountMalformed, AmountTooPrecise, AmountNotPositive, AmountTooLarge):
        assert issubclass(cls, AmountError)
        assert issubclass(cls, DomainError)


def test_max_sen_must_be_positive() -> None:
    with pytest.raises(ValueError):
        parse_amount("1", max_sen=0)


@pytest.mark.parametrize(
    ("sen", "currency", "text"),
    [
        (2550, "MYR", "RM 25.50"),
        (5, "MYR", "RM 0.05"),
        (0, "MYR", "RM 0.00"),
        (123450, "MYR", "RM 1,234.50"),
        (2550, "SGD", "SGD 25.50"),
        (2550, "usd", "USD 25.50"),
        (-2550, "MYR", "-RM 25.50"),
    ],
)
def test_format_amount(sen: int, currency: str, text: str) -> None:
    assert format_amount(sen, currency) == text


def test_format_default_currency_is_myr() -> None:
    assert format_amount(2550) == "RM 25.50"


def test_format_refuses_non_int() -> None:
    with pytest.raises(TypeError):
        format_amount(25.5)  # type: ignore[arg-type]


BIG_MAX = 10**12


@given(st.integers(min_value=1, max_value=BIG_MAX))
def test_round_trip_format_then_parse(sen: int) -> None:
    assert parse_amount(format_amount(sen), max_sen=BIG_MAX) == sen


@given(st.integers(min_value=1, max_value=BIG_MAX))
def test_round_trip_plain_forms(sen: int) -> None:
    whole, frac = divmod(sen, 100)
    assert parse_amount(f"{whole}.{frac:02d}", max_sen=BIG_MAX) == sen
    assert parse_amount(f"{whole},{frac:02d}", max_sen=BIG_MAX) == sen
    assert parse_amount(f"rm{whole}.{frac:02d}", max_sen=BIG_MAX) == sen


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_float_ish_strings_with_exponent_or_specials_are_malformed(value: float) -> None:
    text = repr(value)
    if not any(marker in text.lower() for marker in ("e", "nan", "inf")):
        return  # plain decimals are legitimate amounts, covered elsewhere
    with pytest.raises(AmountMalformed):
        parse_amount(text, max_sen=BIG_MAX)


@given(st.text(max_size=20))
@settings(max_examples=200)
def test_parse_any_text_is_positive_bounded_or_an_amount_error(text: str) -> None:
    try:
        sen = parse_amount(text, max_sen=MAX)
    except AmountError:
        return
    assert isinstance(sen, int)
    assert 0 < sen <= MAX


@given(st.text(alphabet="0123456789.,-RMrm e", max_size=15))
@settings(max_examples=200)
def test_parse_numeric_looking_text_never_returns_non_positive(text: str) -> None:
    try:
        sen = parse_amount(text, max_sen=BIG_MAX)
    except AmountError:
        return
    assert sen > 0
