"""Helpers for the unit tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from loyaltybot.config import Program
from loyaltybot.services.counter import CounterService

NOW = datetime(2026, 1, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def offline_counter() -> Callable[[Program], CounterService]:
    """A `CounterService` for the program's rules (amounts, points, tiers, stamp policy) with no
    database: opening a unit of work fails the test."""

    def unused() -> None:
        raise AssertionError("no database here")

    def make(program: Program) -> CounterService:
        return CounterService(
            writer=unused, reader=unused, program=program, secret_key=b"k", clock=lambda: NOW  # type: ignore[arg-type]
        )

    return make
