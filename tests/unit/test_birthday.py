"""Tests for parsing and validating customer birthdays."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyaltybot.domain.birthday import (
    MONTH_NAMES,
    Birthday,
    BirthdayFuture,
    BirthdayInvalidDate,
    BirthdayMalformed,
    BirthdayTooOld,
    parse_birthday,
)
from loyaltybot.domain.errors import DomainError

TODAY = date(2026, 5, 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("31/12", Birthday(31, 12)),
        ("31-12", Birthday(31, 12)),
        ("31.12", Birthday(31, 12)),
        ("1/2", Birthday(1, 2)),
        ("31/12/1990", Birthday(31, 12, 1990)),
        ("31-12-1990", Birthday(31, 12, 1990)),
        ("31.12.1990", Birthday(31, 12, 1990)),
        ("1990-12-31", Birthday(31, 12, 1990)),
        ("31 Dec", Birthday(31, 12)),
        ("31 December 1990", Birthday(31, 12, 1990)),
        ("31 Dis 1990", Birthday(31, 12, 1990)),
        ("31 DISEMBER 1990", Birthday(31, 12, 1990)),
        ("  31   dec.  1990 ", Birthday(31, 12, 1990)),
        ("31 Dec, 1990", Birthday(31, 12, 1990)),
        ("31-Dec-1990", Birthday(31, 12, 1990)),
        ("5 Mac", Birthday(5, 3)),
        ("5 Mei 1985", Birthday(5, 5, 1985)),
        ("17 Ogos", Birthday(17, 8)),
        ("17 Ogo", Birthday(17, 8)),
        ("9 okt 2001", Birthday(9, 10, 2001)),
        ("9 Julai", Birthday(9, 7)),
        ("9 Sept", Birthday(9, 9)),
        ("29/02", Birthday(29, 2)),
        ("29/02/2000", Birthday(29, 2, 2000)),
        ("01/05/2026", Birthday(1, 5, 2026)),  # born today
        ("2/5/1906", Birthday(2, 5, 1906)),  # 119, turns 120 tomorrow
    ],
)
def test_parse_accepts(text: str, expected: Birthday) -> None:
    assert parse_birthday(text, today=TODAY) == expected


@pytest.mark.parametrize(
    "text",
    ["", "abc", "31", "31/12/90", "31/12-1990", "31 foo", "31 Dec 90", "1990/12/31/1",
     "٣١/١٢", "31//12", "Dec 31", "31 12 1990", "+31/12", "31/12/19900"],
)  # fmt: skip
def test_parse_malformed(text: str) -> None:
    with pytest.raises(BirthdayMalformed) as info:
        parse_birthday(text, today=TODAY)
    assert info.value.code == "birthday_malformed"


@pytest.mark.parametrize(
    "text",
    ["32/12", "31/04", "0/1", "1/0", "1/13", "12/31", "29/02/1990", "30 Feb", "1/1/0000"],
)
def test_parse_invalid_date(text: str) -> None:
    with pytest.raises(BirthdayInvalidDate) as info:
        parse_birthday(text, today=TODAY)
    assert info.value.code == "birthday_invalid_date"


@pytest.mark.parametrize("text", ["1/1/1899", "31/12/1899", "1/5/1905"])  # last: 121 years old
def test_parse_too_old(text: str) -> None:
    with pytest.raises(BirthdayTooOld) as info:
        parse_birthday(text, today=TODAY)
    assert info.value.code == "birthday_too_old"
    assert isinstance(info.value, BirthdayInvalidDate)


@pytest.mark.parametrize("text", ["2/5/2026", "31/12/2026", "1/1/2027", "2030-01-01"])
def test_parse_future(text: str) -> None:
    with pytest.raises(BirthdayFuture) as info:
        parse_birthday(text, today=TODAY)
    assert info.value.code == "birthday_future"


def test_errors_are_domain_errors() -> None:
    for cls in (BirthdayMalformed, BirthdayInvalidDate, BirthdayTooOld, BirthdayFuture):
        assert issubclass(cls, DomainError)


def test_age_limit_boundary() -> None:
    assert parse_birthday("1/5/1906", today=TODAY).age_on(TODAY) == 120
    with pytest.raises(BirthdayTooOld):
        parse_birthday("30/4/1905", today=TODAY)  # turned 121 yesterday


def test_greeting_date() -> None:
    leapling = Birthday(29, 2, 2000)
    assert leapling.greeting_date(2025) == date(2025, 2, 28)
    assert leapling.greeting_date(2028) == date(2028, 2, 29)
    assert Birthday(31, 12).greeting_date(2025) == date(2025, 12, 31)


def test_next_greeting_date() -> None:
    b = Birthday(1, 5)
    assert b.next_greeting_date(date(2026, 5, 1)) == date(2026, 5, 1)
    assert b.next_greeting_date(date(2026, 5, 2)) == date(2027, 5, 1)


def test_age_on() -> None:
    assert Birthday(31, 12, 1990).age_on(date(2026, 12, 30)) == 35
    assert Birthday(31, 12, 1990).age_on(date(2026, 12, 31)) == 36
    assert Birthday(31, 12).age_on(TODAY) is None


def test_format() -> None:
    assert Birthday(31, 12).format() == "31/12"
    assert Birthday(31, 12, 1990).format() == "31/12/1990"
    assert Birthday(1, 2).format() == "01/02"


def test_direct_construction_validates_calendar() -> None:
    with pytest.raises(BirthdayInvalidDate):
        Birthday(31, 4)
    with pytest.raises(BirthdayInvalidDate):
        Birthday(29, 2, 2001)


def test_month_names_cover_every_month_in_both_languages() -> None:
    assert set(MONTH_NAMES.values()) == set(range(1, 13))
    malay = ["januari", "februari", "mac", "april", "mei", "jun", "julai", "ogos",
             "september", "oktober", "november", "disember"]  # fmt: skip
    malay_abbr = ["jan", "feb", "mac", "apr", "mei", "jun", "jul", "ogo", "ogos",
                  "sep", "okt", "nov", "dis"]  # fmt: skip
    assert [MONTH_NAMES[m] for m in malay] == list(range(1, 13))
    assert all(name in MONTH_NAMES for name in malay_abbr)


valid_dates = st.dates(min_value=date(1906, 5, 1), max_value=TODAY)


@given(valid_dates, st.booleans())
@settings(max_examples=200)
def test_format_then_parse_round_trips(born: date, with_year: bool) -> None:
    birthday = Birthday(born.day, born.month, born.year if with_year else None)
    assert parse_birthday(birthday.format(), today=TODAY) == birthday


@given(valid_dates, st.sampled_from(["{d} {m} {y}", "{d}-{m}-{y}", "{d} {m}"]))
def test_named_month_forms_round_trip(born: date, template: str) -> None:
    names = [name for name, number in MONTH_NAMES.items() if number == born.month]
    for name in names:
        text = template.format(d=born.day, m=name.title(), y=born.year)
        parsed = parse_birthday(text, today=TODAY)
        assert (parsed.day, parsed.month) == (born.day, born.month)
        assert parsed.year == (born.year if "{y}" in template else None)


@given(valid_dates)
def test_iso_round_trips(born: date) -> None:
    assert parse_birthday(born.isoformat(), today=TODAY) == Birthday(born.day, born.month, born.year)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)))
def test_greeting_date_always_valid_and_in_birth_month(day: date) -> None:
    birthday = Birthday(day.day, day.month)
    for year in (2023, 2024, 2100):
        greeting = birthday.greeting_date(year)
        assert greeting.month == day.month
        assert greeting.year == year


@given(st.text(max_size=25))
@settings(max_examples=200)
def test_parse_any_text_raises_only_birthday_errors(text: str) -> None:
    try:
        birthday = parse_birthday(text, today=TODAY)
    except (BirthdayMalformed, BirthdayInvalidDate, BirthdayFuture):
        return
    if birthday.year is not None:
        assert date(birthday.year, birthday.month, birthday.day) <= TODAY
