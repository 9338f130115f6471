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
