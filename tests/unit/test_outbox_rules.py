"""Pure rules of the outbound pipeline."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyaltybot.domain.outbox import (
    MAX_ATTEMPTS,
    Audience,
    AudienceInvalid,
    Outcome,
    ScheduleInvalid,
    Tally,
    TokenBucket,
    backoff_delay,
    classify_error,
    gives_up,
    parse_count,
    parse_schedule,
)

KL = ZoneInfo("Asia/Kuala_Lumpur")
NOW = datetime(2026, 11, 22, 4, 0, tzinfo=UTC)  # 12:00 in Kuala Lumpur


@pytest.mark.parametrize("raw", ["all", "en", "ms", "birthday", "inactive:30", "joined:7", "balance:0", "balance:500"])
def test_audience_round_trips(raw: str) -> None:
    assert Audience.decode(raw).encode() == raw


@pytest.mark.parametrize("raw", ["tier", "inactive", "all:3", "balance:x", "balance:-1", "joined:1000001"])
def test_bad_audiences_are_refused(raw: str) -> None:
    with pytest.raises(AudienceInvalid):
        Audience.decode(raw)


@pytest.mark.parametrize(("text", "value"), [("30", 30), (" 1,000 ", 1000), ("0", 0), ("-3", None), ("abc", None), ("9999999", None)])
def test_parse_count(text: str, value: int | None) -> None:
    assert parse_count(text) == value


def test_schedule_in_shop_time() -> None:
    when = parse_schedule("25/12 18:00", now=NOW, tz=KL)
    assert when == datetime(2026, 12, 25, 18, 0, tzinfo=KL)
    assert when.astimezone(UTC).hour == 10


def test_schedule_without_year_rolls_to_next_year() -> None:
    assert parse_schedule("01/01 09:30", now=NOW, tz=KL) == datetime(2027, 1, 1, 9, 30, tzinfo=KL)
    # Today, but earlier than now (12:00 local): next year.
    assert parse_schedule("22/11 11:00", now=NOW, tz=KL).year == 2027
    assert parse_schedule("22/11 12:30", now=NOW, tz=KL) == datetime(2026, 11, 22, 12, 30, tzinfo=KL)


@pytest.mark.parametrize(
    ("text", "reason"),
    [("tomorrow", "malformed"), ("31/02 10:00", "malformed"), ("25/12 25:00", "malformed"),
     ("01/01/2020 10:00", "past"), ("01/01/2030 10:00", "too_far")],
)
def test_schedule_refusals(text: str, reason: str) -> None:
    with pytest.raises(ScheduleInvalid) as caught:
        parse_schedule(text, now=NOW, tz=KL)
    assert caught.value.reason == reason


@given(st.floats(min_value=1, max_value=1000), st.integers(min_value=1, max_value=30), st.floats(min_value=1, max_value=20))
def test_token_bucket_never_exceeds_rate_plus_burst(rate: float, burst: int, duration: float) -> None:
    bucket = TokenBucket(rate, burst=burst, now=0.0)
    now, sent = 0.0, 0
    while True:
        wait = bucket.wait_time(now)
        now += wait
        if now > duration:
            break
        bucket.take(now)
        sent += 1
    assert sent <= burst + rate * duration + 1e-6
    assert sent >= int(rate * duration)  # and it does not go slower than the rate either


def test_token_bucket_drain_forgets_the_burst() -> None:
    bucket = TokenBucket(30, burst=3, now=0.0)
    bucket.drain(10.0)
    assert bucket.wait_time(10.0) == pytest.approx(1 / 30)


@pytest.mark.parametrize(
    ("status", "description", "outcome"),
    [
        (429, "Too Many Requests: retry after 3", Outcome.PAUSE),
        (403, "Forbidden: bot was blocked by the user", Outcome.BLOCKED),
        (403, "Forbidden: user is deactivated", Outcome.UNREACHABLE),
        (400, "Bad Request: chat not found", Outcome.UNREACHABLE),
        (400, "Bad Request: can't parse entities: unexpected end tag", Outcome.FAILED),
        (500, "Internal Server Error", Outcome.RETRY),
        (502, "Bad Gateway", Outcome.RETRY),
        (None, "Request timeout error", Outcome.RETRY),
    ],
)
def test_telegram_errors(status: int | None, description: str, outcome: Outcome) -> None:
    assert classify_error(status, description) is outcome


def test_backoff_grows_and_is_bounded() -> None:
    delays = [backoff_delay(n) for n in range(1, 12)]
    assert delays[:4] == [1, 2, 4, 8]
    assert delays == sorted(delays) and max(delays) == 60
    assert not gives_up(MAX_ATTEMPTS - 1) and gives_up(MAX_ATTEMPTS)


def test_tally_adds_up() -> None:
    tally = Tally.from_counts({"sent": 5, "pending": 2, "sending": 1, "unknown": 1, "blocked": 3, "bogus": 9})
    assert tally.total == 12 and tally.remaining == 3 and not tally.finished
    assert Tally(sent=1).finished
