"""The owner's typed catalogue values: parsed strictly, "-"/Skip clears optional fields."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from loyaltybot.config import Program
from loyaltybot.services.rewards import FIELDS, OPTIONAL_FIELDS, RewardFieldInvalid, RewardService


def service() -> RewardService:
    def never() -> object:
        raise AssertionError("no database here")

    return RewardService(
        writer=never, reader=never, program=Program(), secret_key=b"k", owner_ids=frozenset(), clock=never  # type: ignore[arg-type]
    )


KL = ZoneInfo("Asia/Kuala_Lumpur")


@pytest.mark.parametrize(
    ("field", "text", "value"),
    [
        ("name_en", "  Free latte ", "Free latte"),
        ("cost", "1,000", 1000),
        ("stock", "0", 0),
        ("limit", "2", 2),
        ("starts", "1/12/2026", datetime(2026, 12, 1, tzinfo=KL)),
        ("ends", "31-12-2026", datetime(2027, 1, 1, tzinfo=KL)),  # through the whole last day
        ("min_tier", "Gold", "gold"),
        ("min_tier", "bronze", None),  # the first tier is everyone
        ("stock", "-", None),
        ("description_ms", None, ""),
    ],
)
def test_accepted_values(field: str, text: str | None, value: object) -> None:
    assert service().parse_field(field, text) == value


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("cost", "0"),
        ("cost", "abc"),
        ("cost", "-5"),
        ("cost", None),  # required
        ("name_en", "-"),
        ("name_en", "x" * 129),
        ("limit", "0"),
        ("starts", "31/02/2026"),
        ("starts", "tomorrow"),
        ("min_tier", "platinum"),
        ("nonsense", "1"),
    ],
)
def test_refused_values(field: str, text: str | None) -> None:
    with pytest.raises(RewardFieldInvalid):
        service().parse_field(field, text)


def test_required_fields_are_the_names_and_the_cost() -> None:
    assert set(FIELDS) - OPTIONAL_FIELDS == {"name_en", "name_ms", "cost"}
