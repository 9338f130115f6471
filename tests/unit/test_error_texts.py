"""Refusals rendered for people: amounts in the shop's own currency, in both languages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from loyaltybot.bot.i18n import build_i18n
from loyaltybot.bot.texts import error_text
from loyaltybot.config import Program
from loyaltybot.domain.money import AmountTooLarge
from loyaltybot.services.counter import CounterService


@pytest.mark.parametrize(
    ("currency", "locale", "expected"),
    [("SGD", "en", "(SGD 500.00)"), ("SGD", "ms", "(SGD 500.00)"), ("MYR", "en", "(RM 500.00)")],
)
def test_the_maximum_for_one_sale_is_shown_in_the_shops_currency(
    locales_dir: Path, offline_counter: Callable[[Program], CounterService], currency: str, locale: str, expected: str
) -> None:
    program = Program.model_validate({"shop": {"currency": currency}, "points": {"max_sale_sen": 50_000}})
    with pytest.raises(AmountTooLarge) as refused:
        offline_counter(program).parse_amount("600")
    i18n = build_i18n(locales_dir, "en")
    with i18n.context(), i18n.use_locale(locale):
        text = error_text(refused.value)
    assert expected in text
    assert ("maksimum" if locale == "ms" else "maximum") in text
