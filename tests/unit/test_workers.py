"""Which worker gets an update, and the settings a worker receives."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from loyaltybot.config import Settings
from loyaltybot.workers import settings_line, shard_of


def test_every_kind_of_update_goes_by_its_user() -> None:
    user = {"id": 4242, "is_bot": False, "first_name": "A"}
    chat = {"id": 4242, "type": "private"}
    updates = [
        {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": chat, "from": user, "text": "/start"}},
        {"update_id": 2, "edited_message": {"message_id": 1, "date": 0, "chat": chat, "from": user, "text": "x"}},
        {"update_id": 3, "callback_query": {"id": "q", "from": user, "chat_instance": "c", "data": "d"}},
        {"update_id": 4, "my_chat_member": {"chat": chat, "from": user, "date": 0}},
        {"update_id": 5, "pre_checkout_query": {"id": "p", "from": user, "currency": "XTR", "total_amount": 1}},
    ]
    for count in (2, 3, 7):
        assert {shard_of(update, count) for update in updates} == {4242 % count}


def test_a_group_message_goes_by_its_sender_and_a_channel_post_by_its_chat() -> None:
    group = {"id": -1001234, "type": "supergroup"}
    sender = {"id": 77, "is_bot": False, "first_name": "B"}
    in_group = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": group, "from": sender}}
    assert shard_of(in_group, 5) == 77 % 5
    post = {"update_id": 2, "channel_post": {"message_id": 1, "date": 0, "chat": group}}
    assert shard_of(post, 5) == -1001234 % 5
    assert shard_of({"update_id": 3}, 5) == 0  # nothing to go by: the first worker


@given(user_id=st.integers(min_value=1, max_value=2**52), count=st.integers(min_value=2, max_value=64))
def test_the_same_user_always_reaches_the_same_worker_in_range(user_id: int, count: int) -> None:
    message = {"update_id": 1, "message": {"chat": {"id": user_id}, "from": {"id": user_id}, "text": "hi"}}
    query = {"update_id": 2, "callback_query": {"id": "q", "from": {"id": user_id}, "data": "x"}}
    assert shard_of(message, count) == shard_of(query, count)
    assert 0 <= shard_of(message, count) < count


def test_a_worker_gets_the_same_settings_secrets_included(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        bot_token="123:secret-token",
        secret_key="k" * 32,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}",
        owner_ids="1,2",
        program_file=tmp_path / "program.toml",
        workers=3,
        broadcast_rate=12.5,
    )
    line = settings_line(settings)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    again = Settings(_env_file=None, **json.loads(line))  # type: ignore[call-arg]
    assert again.model_dump() == settings.model_dump()
    assert again.bot_token is not None and again.bot_token.get_secret_value() == "123:secret-token"
    assert again.program_file == tmp_path / "program.toml"
