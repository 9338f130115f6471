"""Plain filters (magic filters, FSM states) run on the event loop, not through aiogram's
`asyncio.to_thread`."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from aiogram import F, Router
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import Chat, Message, User

from loyaltybot.bot.dispatcher import run_sync_filters_inline


class Form(StatesGroup):
    name = State()


def _message(text: str | None, chat_type: str = "private") -> Message:
    return Message(
        message_id=1,
        date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        chat=Chat(id=1, type=chat_type),
        from_user=User(id=1, is_bot=False, first_name="A"),
        text=text,
    )


def _no_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    async def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("a filter was sent to a worker thread")

    monkeypatch.setattr(asyncio, "to_thread", refuse)


async def test_magic_filters_are_checked_inline_with_the_same_results(monkeypatch: pytest.MonkeyPatch) -> None:
    root = Router()
    child = Router()
    root.include_router(child)
    child.message.filter(F.chat.type == "private")

    @child.message(F.text, ~F.text.startswith("/"))
    async def plain_text(message: Message) -> None:  # pragma: no cover - never called
        pass

    @child.message(Form.name, F.text)
    async def name_given(message: Message) -> None:  # pragma: no cover - never called
        pass

    assert run_sync_filters_inline(root) == 5
    assert run_sync_filters_inline(root) == 0  # idempotent
    _no_threads(monkeypatch)
    handler = child.message.handlers[0]
    assert (await handler.check(_message("hello")))[0] is True
    assert (await handler.check(_message("/start")))[0] is False
    assert (await handler.check(_message(None)))[0] is False
    in_form = child.message.handlers[1]
    assert (await in_form.check(_message("Ali"), raw_state=Form.name.state))[0] is True
    assert (await in_form.check(_message("Ali"), raw_state=None))[0] is False
    assert (await child.message.check_root_filters(_message("hi")))[0] is True
    assert (await child.message.check_root_filters(_message("hi", chat_type="group")))[0] is False
