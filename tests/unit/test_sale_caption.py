"""The sale QR's caption tells staff what the customer will get, tier bonus included."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from loyaltybot.bot.earning import sale_caption
from loyaltybot.bot.i18n import build_i18n
from loyaltybot.config import Program
from loyaltybot.services.counter import CounterService, IssuedSale

NOW = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)


def _levels(*multipliers: str) -> list[dict[str, object]]:
    return [
        {"code": f"t{index}", "name": {"en": f"Tier{index}", "ms": f"Tahap{index}"}, "min_spend": index * 100,
         "multiplier": multiplier}
        for index, multiplier in enumerate(multipliers)
    ]


def test_only_tiers_that_give_more_are_listed(offline_counter: Callable[[Program], CounterService]) -> None:
    program = Program.model_validate({"tiers": {"levels": _levels("1", "1.01", "2")}})
    # RM 30: 30 points; 30 × 1.01 = 30.3 is still 30 (not listed); 30 × 2 = 60.
    assert offline_counter(program)._tier_points(3000) == (("t0", 30), ("t2", 60))
    flat = Program.model_validate({"tiers": {"levels": _levels("1", "1")}})
    assert offline_counter(flat)._tier_points(3000) == (("t0", 30),)
    # The first tier's own multiplier counts too: it is what a new customer gets.
    generous = Program.model_validate({"tiers": {"levels": _levels("1.5", "2")}})
    assert offline_counter(generous)._tier_points(3000) == (("t0", 45), ("t1", 60))


def test_the_caption_names_the_higher_tiers_in_the_staff_members_language(
    locales_dir: Path, offline_counter: Callable[[Program], CounterService]
) -> None:
    program = Program.model_validate({"tiers": {"levels": _levels("1", "1.5")}})
    counter = offline_counter(program)  # RM 20: 20 points, 30 at the second tier
    tier_points = counter._tier_points(2000)[1:]
    assert tier_points == (("t1", 30),)
    issued = IssuedSale(token_id="x", payload="s_x", amount_sen=2000, points=20, expires_at=NOW, tier_points=tier_points)
    i18n = build_i18n(locales_dir, "en")
    tz = ZoneInfo("Asia/Kuala_Lumpur")
    with i18n.context(), i18n.use_locale("ms"):
        text = sale_caption(issued, "https://t.me/b?start=s_x", currency="MYR", tz=tz, minutes=10, tiers=program.tiers)
    lines = text.split("\n")
    assert "20 mata" in lines[0]
    assert lines[1] == "Tahap lebih tinggi: Tahap1 30"
    flat = IssuedSale(token_id="x", payload="s_x", amount_sen=2000, points=20, expires_at=NOW)
    with i18n.context(), i18n.use_locale("en"):
        assert "Higher tiers" not in sale_caption(flat, "l", currency="MYR", tz=tz, minutes=10, tiers=program.tiers)
