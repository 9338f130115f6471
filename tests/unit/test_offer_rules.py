"""Pure rules of the automatic offers: shop day, 29 February, slugs and keys."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from loyaltybot.domain.offers import (
    Festival,
    birthday_key,
    birthday_month_days,
    festival_slug,
    malaysian_english,
    minutes_left,
    offer_source_key,
    reached_hour,
    redemption_of_reminder,
    redemption_reminder_key,
    shop_day,
    winback_key,
)

KL = ZoneInfo("Asia/Kuala_Lumpur")


def test_shop_day_is_local_and_as_of_is_an_exclusive_end() -> None:
    assert shop_day(datetime(2026, 12, 31, 23, 30, tzinfo=UTC), KL) == date(2027, 1, 1)
    assert shop_day(datetime(2027, 3, 1, 0, 0, tzinfo=KL), KL) == date(2027, 2, 28)  # `--date 2027-02-28`
    assert shop_day(datetime(2027, 3, 1, 9, 0, tzinfo=KL), KL) == date(2027, 3, 1)


def test_reached_hour_in_shop_time() -> None:
    assert not reached_hour(datetime(2027, 1, 1, 0, 59, tzinfo=UTC), KL, 9)  # 08:59 in KL
    assert reached_hour(datetime(2027, 1, 1, 1, 0, tzinfo=UTC), KL, 9)
    assert reached_hour(datetime(2027, 1, 2, 0, 0, tzinfo=KL), KL, 23)  # the end of 1 January


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2027, 2, 28), [(2, 28), (2, 29)]),
        (date(2028, 2, 28), [(2, 28)]),
        (date(2028, 2, 29), [(2, 29)]),
        (date(2027, 3, 1), [(3, 1)]),
    ],
)
def test_29_february_joins_28_february_in_common_years(day: date, expected: list[tuple[int, int]]) -> None:
    assert birthday_month_days(day) == expected


def test_slugs_and_keys() -> None:
    assert festival_slug("Eid al-Fitr") == "hari-raya-aidilfitri"
    assert festival_slug("Chinese New Year") == "chinese-new-year"
    assert festival_slug("Diwali") == festival_slug("Deepavali") == "deepavali"
    assert festival_slug("National Day") == "merdeka"
    assert festival_slug("Birthday of HM Yang di-Pertuan Agong") == "birthday-of-hm-yang-di-pertuan-agong"
    assert birthday_key(2027) == "birthday:2027"
    assert winback_key(date(2026, 9, 23)) == "winback:2026-09-23"
    assert offer_source_key("birthday:2027", 42) == "birthday:2027:42"
    festival = Festival("deepavali", date(2027, 10, 28), "Diwali", "Hari Deepavali", 3)
    assert festival.key == "festival:deepavali:2027"
    assert festival.send_day == date(2027, 10, 28) - timedelta(days=3)
    assert festival.name("ms") == "Hari Deepavali" and festival.name("en") == "Diwali"


def test_festival_names_as_malaysians_say_them_in_english() -> None:
    assert malaysian_english("Eid al-Fitr") == "Hari Raya Aidilfitri"
    assert malaysian_english("Diwali") == "Deepavali"
    assert malaysian_english("Chinese New Year") == "Chinese New Year"


def test_lapse_reminder_keys_name_their_redemption() -> None:
    key = redemption_reminder_key(123456789)
    assert key == "reminder:redemption:123456789" and len(key) <= 64  # campaigns.key is String(64)
    assert redemption_of_reminder(key) == 123456789
    for other in ("reminder:points:2027-06-30", "reminder:redemption:", "reminder:redemption:12x", "birthday:2027"):
        assert redemption_of_reminder(other) is None


@pytest.mark.parametrize(
    ("left", "minutes"),
    [
        (timedelta(minutes=5), 5),
        (timedelta(minutes=4, seconds=59), 4),  # never promise more time than is left
        (timedelta(minutes=1, seconds=1), 1),
        (timedelta(seconds=20), 1),  # something is left: at least "1 min"
        (timedelta(minutes=15), 15),
    ],
)
def test_minutes_left_round_down_but_never_to_zero(left: timedelta, minutes: int) -> None:
    now = datetime(2027, 1, 1, 10, 0, tzinfo=UTC)
    assert minutes_left(now + left, now) == minutes
