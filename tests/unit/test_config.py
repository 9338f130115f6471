"""Settings and program.toml validation: a bad file names the key and the reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from loyaltybot.config import ConfigError, Program, Settings, load_program, normalize_database_url
from loyaltybot.services.counter import CounterService


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "program.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file_means_built_in_defaults(tmp_path: Path) -> None:
    program = load_program(tmp_path / "nope.toml")
    assert program == Program()
    assert program.shop.name == "My Shop"
    assert program.shop.currency == "MYR"
    assert program.shop.timezone == "Asia/Kuala_Lumpur"
    assert program.shop.phone_region == "MY"
    assert program.holidays.country == "MY"
    assert (program.points.points_per_unit, program.points.unit_sen) == (1, 100)
    assert program.points.max_sale_sen == 1_000_000
    assert program.points.expiry_months == 12
    assert program.stamps.card_size == 10
    assert program.stamps.min_interval_hours == 4


def test_valid_file_overrides_defaults(tmp_path: Path) -> None:
    program = load_program(
        write(tmp_path, '[shop]\nname = "Kopi Corner"\ntimezone = "Asia/Singapore"\nphone_region = "sg"\n[stamps]\ncard_size = 8\n')
    )
    assert program.shop.name == "Kopi Corner"
    assert program.shop.phone_region == "SG"
    assert program.stamps.card_size == 8
    assert program.points.points_per_unit == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[stamps]\ncard_size = 1\n", "stamps.card_size"),
        ("[shop]\ntimezone = \"Mars/Olympus\"\n", "shop.timezone"),
        ("[shop]\nphone_region = \"XX\"\n", "shop.phone_region"),
        ("[points]\npoints_per_unit = 0\n", "points.points_per_unit"),
        ("[shop]\nnmae = \"typo\"\n", "shop.nmae: unknown key"),
        ("[shop]\ncurrency = \"ringgit\"\n", "shop.currency"),
        ("[shop\nname = 1", "not valid TOML"),
    ],
)
def test_bad_file_names_key_and_reason(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_program(write(tmp_path, text))
    assert expected in str(error.value)
    assert "program.toml" in str(error.value)
    assert "\n" not in str(error.value)


def test_example_program_file_is_valid() -> None:
    from loyaltybot.config import PROJECT_ROOT

    example = PROJECT_ROOT / "program.example.toml"
    if not example.exists():
        pytest.skip("program.example.toml not present")
    load_program(example)


def test_bot_token_is_required_with_a_helpful_line() -> None:
    settings = Settings(_env_file=None, bot_token=None)  # type: ignore[call-arg]
    with pytest.raises(ConfigError) as error:
        settings.require_bot_token()
    assert "BOT_TOKEN" in str(error.value) and "@BotFather" in str(error.value)


def test_owner_ids_parse_and_reject_garbage() -> None:
    assert Settings(_env_file=None, owner_ids="1, 2,3").owner_id_set == {1, 2, 3}  # type: ignore[call-arg]
    assert Settings(_env_file=None, owner_ids="").owner_id_set == frozenset()  # type: ignore[call-arg]
    with pytest.raises(ConfigError):
        _ = Settings(_env_file=None, owner_ids="1,alice").owner_id_set  # type: ignore[call-arg]


def test_webhook_needs_its_secret() -> None:
    with pytest.raises(ConfigError):
        Settings(_env_file=None, webhook_url="https://x.example/tg").webhook_enabled()  # type: ignore[call-arg]
    assert Settings(_env_file=None, webhook_url="https://x.example/tg", webhook_secret="s").webhook_enabled()  # type: ignore[call-arg]
    assert not Settings(_env_file=None).webhook_enabled()  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///loyaltybot.db", "sqlite+aiosqlite:///loyaltybot.db"),
        ("postgres://u:p@h/db", "postgresql+asyncpg://u:p@h/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_database_urls_get_the_async_driver(url: str, expected: str) -> None:
    assert normalize_database_url(url) == expected


def test_the_daily_stamp_cap_is_off_by_default_and_set_in_the_program(
    tmp_path: Path, offline_counter: Callable[[Program], CounterService]
) -> None:
    def policy(program: Program) -> object:
        return offline_counter(program)._stamp_policy.daily_cap  # type: ignore[union-attr]

    assert Program().stamps.daily_cap is None  # DESIGN.md's defaults: the 4-hour interval only
    assert policy(Program()) is None
    assert policy(load_program(write(tmp_path, "[stamps]\ndaily_cap = 2\n"))) == 2
    with pytest.raises(ConfigError, match="daily_cap"):
        load_program(write(tmp_path, "[stamps]\ndaily_cap = 0\n"))
