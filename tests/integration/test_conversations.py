"""ConversationService: persisted FSM state survives round trips; clearing deletes the row."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from loyaltybot.db.models import ConversationState

KEY = "bot:1:chat:111:user:111"


async def test_missing_key_loads_empty(services: Any) -> None:
    assert await services.conversations.load(KEY) == (None, {})


async def test_save_load_round_trip(services: Any, fetch: Any) -> None:
    data = {"amount": "12.50", "step": 2, "items": [1, 2], "nested": {"ok": True}, "name": "Ñandú 日本"}
    await services.conversations.save(KEY, "Sale:amount", data)
    assert await services.conversations.load(KEY) == ("Sale:amount", data)
    [row] = await fetch(ConversationState)
    assert row.updated_at == services.clock()


async def test_save_overwrites(services: Any, count: Any, fetch: Any) -> None:
    await services.conversations.save(KEY, "A", {"x": 1})
    services.clock.advance(minutes=5)
    await services.conversations.save(KEY, "B", {"y": 2})
    assert await services.conversations.load(KEY) == ("B", {"y": 2})
    assert await count(ConversationState) == 1
    [row] = await fetch(ConversationState)
    assert row.updated_at == services.clock()


async def test_state_without_data_and_data_without_state_are_kept(services: Any, count: Any) -> None:
    await services.conversations.save(KEY, "Only:state", {})
    assert await services.conversations.load(KEY) == ("Only:state", {})
    await services.conversations.save(KEY, None, {"draft": "kept"})
    assert await services.conversations.load(KEY) == (None, {"draft": "kept"})
    assert await count(ConversationState) == 1


async def test_clearing_deletes_the_row(services: Any, count: Any) -> None:
    await services.conversations.save(KEY, "Sale:amount", {"amount": 5})
    await services.conversations.save("other", "X", {})
    assert await count(ConversationState) == 2
    await services.conversations.save(KEY, None, {})
    assert await count(ConversationState, ConversationState.key == KEY) == 0
    assert await services.conversations.load(KEY) == (None, {})
    assert await services.conversations.load("other") == ("X", {})
    # clearing what is not there is harmless
    await services.conversations.save(KEY, None, {})
    assert await count(ConversationState) == 1


async def test_non_json_values_are_stored_as_text(services: Any) -> None:
    when = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    await services.conversations.save(KEY, "S", {"when": when})
    assert await services.conversations.load(KEY) == ("S", {"when": str(when)})


async def test_keys_are_independent(services: Any) -> None:
    for i in range(5):
        await services.conversations.save(f"k{i}", f"S{i}", {"i": i})
    for i in range(5):
        assert await services.conversations.load(f"k{i}") == (f"S{i}", {"i": i})
