"""program.example.toml documents every section with the built-in defaults; keep it so."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from loyaltybot.config import PROJECT_ROOT, ConfigError, Program, load_program


def test_example_program_is_valid_and_equals_the_defaults() -> None:
    program = load_program(PROJECT_ROOT / "program.example.toml")
    assert program == Program()
    assert program.sale.validity == timedelta(minutes=10)
    assert program.staff.invite_validity == timedelta(hours=24)
    assert program.activity.claims_per_day_threshold == 5


def test_counter_settings_are_validated(tmp_path: Path) -> None:
    path = tmp_path / "program.toml"
    path.write_text("[sale]\nvalidity_minutes = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="sale.validity_minutes"):
        load_program(path)
    path.write_text("[staff]\ninvite_hours = 3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="staff.invite_hours: unknown key"):
        load_program(path)


def test_tier_reward_and_voucher_settings_are_validated(tmp_path: Path) -> None:
    from decimal import Decimal

    program = Program()
    assert [level.code for level in program.tiers.levels] == ["bronze", "silver", "gold"]
    assert program.tiers.ladder.tier_for(500_00).multiplier == Decimal("1.25")
    assert program.rewards.redemption_validity == timedelta(minutes=15)
    assert program.vouchers.welcome_validity == timedelta(days=30)
    path = tmp_path / "program.toml"
    path.write_text(
        '[[tiers.levels]]\ncode = "vip"\nmin_spend = 10\nname = { en = "VIP", ms = "VIP" }\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match="tiers: .*first tier must start at 0"):
        load_program(path)
    path.write_text(
        '[[tiers.levels]]\ncode = "a"\nmin_spend = 0\nmultiplier = 0.5\nname = { en = "A", ms = "A" }\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="tiers.levels.0.multiplier"):
        load_program(path)
    path.write_text("[rewards]\nredemption_validity_minutes = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="rewards.redemption_validity_minutes"):
        load_program(path)


def test_the_lapse_reminder_comes_before_the_redemption_lapses(tmp_path: Path) -> None:
    program = Program()
    assert (program.offers.reminders.redemption_minutes, program.rewards.redemption_validity_minutes) == (5, 15)
    assert program.redemption_reminder_lead == timedelta(minutes=5)
    path = tmp_path / "program.toml"
    # A file that sets a lead not shorter than the validity is refused, with both keys named.
    path.write_text("[rewards]\nredemption_validity_minutes = 5\n[offers.reminders]\nredemption_minutes = 5\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_program(path)
    message = str(error.value)
    assert message == (
        f"{path}: offers.reminders.redemption_minutes (5) must be less than "
        "rewards.redemption_validity_minutes (5); 0 turns the reminder off"
    )
    path.write_text("[rewards]\nredemption_validity_minutes = 5\n[offers.reminders]\nredemption_minutes = 0\n",
                    encoding="utf-8")
    assert load_program(path).redemption_reminder_lead is None
    # A file from before the reminder existed, with a short validity, still loads: the reminder is off.
    path.write_text("[rewards]\nredemption_validity_minutes = 5\n", encoding="utf-8")
    assert load_program(path).redemption_reminder_lead is None
    path.write_text("[rewards]\nredemption_validity_minutes = 6\n", encoding="utf-8")
    assert load_program(path).redemption_reminder_lead == timedelta(minutes=5)
    path.write_text("[offers.reminders]\nredemption_minutes = 14\n", encoding="utf-8")
    assert load_program(path).redemption_reminder_lead == timedelta(minutes=14)
    path.write_text("[offers.reminders]\nenabled = false\n", encoding="utf-8")
    assert load_program(path).redemption_reminder_lead is None
    path.write_text("[offers.reminders]\nredemption_minutes = -1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="offers.reminders.redemption_minutes"):
        load_program(path)
