"""`loyaltybot` pauses the garbage collector for its start-up imports; it must never stay off."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from loyaltybot import cli


@pytest.fixture(autouse=True)
def _collector_on() -> Iterator[None]:
    gc.enable()
    yield
    gc.enable()


def test_run_without_token_turns_the_collector_back_on(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BOT_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run"])
    assert exit_.value.code == 2
    assert gc.isenabled()


def test_other_commands_run_with_the_collector_on(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.chdir(tmp_path)
    seen: list[bool] = []

    def fake_jobs(_args: object) -> int:
        seen.append(gc.isenabled())
        return 0

    monkeypatch.setattr(cli, "cmd_jobs", fake_jobs)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["jobs", "list"])
    assert exit_.value.code == 0
    assert seen == [True]
    assert gc.isenabled()
