"""Error responses: exact Telegram wording, codes and HTTP statuses."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramRetryAfter
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from loyaltybot.sandbox import BotApiEmulator

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)


async def call(http: aiohttp.ClientSession, emu: BotApiEmulator, method: str, **params: Any) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{emu.api_url}/{method}", json=params) as r:
        return r.status, await r.json()


def err(status: int, body: dict[str, Any]) -> tuple[int, int, str]:
    assert body["ok"] is False
    return status, body["error_code"], body["description"]


@pytest.fixture
async def alice(emu: BotApiEmulator):  # type: ignore[no-untyped-def]
    u = emu.user(1001, "Alice", phone="+60123456789")
    await u.send("/start")
    return u


async def test_unauthorized_and_unknown_method(emu: BotApiEmulator, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{emu.base_url}/bot999:wrong/getMe") as r:
        assert (r.status, await r.json()) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert err(*await call(http, emu, "fooBar")) == (404, 404, "Not Found")
    status, code, desc = err(*await call(http, emu, "sendPoll", chat_id=1, question="q"))
    assert status == code == 501 and "not emulated" in desc


@pytest.mark.parametrize(
    ("text", "description"),
    [
        ("Hello<foo>", 'Bad Request: can\'t parse entities: Unsupported start tag "foo" at byte offset 5'),
        ("<b>bold", 'Bad Request: can\'t parse entities: Can\'t find end tag corresponding to start tag "b"'),
        ("bold</b>", "Bad Request: can't parse entities: Unexpected end tag at byte offset 4"),
        ("1 < 2", 'Bad Request: can\'t parse entities: Unsupported start tag "" at byte offset 2'),
        ("<b>x</i>", 'Bad Request: can\'t parse entities: Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("<span>x</span>", 'Bad Request: can\'t parse entities: Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<b></b>", "Bad Request: message text is empty"),
        ("", "Bad Request: message text is empty"),
        ("   ", "Bad Request: message text is empty"),
    ],
)
async def test_html_errors(emu: BotApiEmulator, http: aiohttp.ClientSession, alice: Any, text: str, description: str) -> None:
    assert err(*await call(http, emu, "sendMessage", chat_id=1001, text=text, parse_mode="HTML")) == (400, 400, description)


async def test_html_ok_and_entities(bot: Bot, alice: Any) -> None:
    m = await bot.send_message(
        1001,
        '<b>Hi</b> &lt;you&gt; &amp; &#128512; <a href="https://x.io/?a=1&amp;b=2">link</a> '
        '<pre><code class="language-python">x = 1</code></pre> <tg-spoiler>s</tg-spoiler> '
        '<blockquote expandable>q</blockquote>',
        parse_mode="HTML",
    )
    assert m.text == "Hi <you> & 😀 link x = 1 s q"
    types = [(e.type, e.offset, e.length) for e in m.entities or []]
    assert types == [("bold", 0, 2), ("text_link", 14, 4), ("pre", 19, 5), ("spoiler", 25, 1), ("expandable_blockquote", 27, 1)]
    assert m.entities[2].language == "python"  # type: ignore[index]
    sent = alice.last_message
    assert sent.parse_mode == "HTML" and sent.source.startswith("<b>Hi</b>")


async def test_missing_text_param(emu: BotApiEmulator, http: aiohttp.ClientSession, alice: Any) -> None:
    assert err(*await call(http, emu, "sendMessage", chat_id=1001)) == (400, 400, "Bad Request: message text is empty")
    assert err(*await call(http, emu, "sendMessage", text="x")) == (400, 400, "Bad Request: chat_id is empty")
    assert err(*await call(http, emu, "sendPhoto", chat_id=1001)) == (400, 400, "Bad Request: there is no photo in the request")


async def test_lengths_are_utf16_after_parsing(emu: BotApiEmulator, http: aiohttp.ClientSession, alice: Any) -> None:
    ok = "a" * 4096
    assert (await call(http, emu, "sendMessage", chat_id=1001, text=ok))[0] == 200
    # markup does not count
    assert (await call(http, emu, "sendMessage", chat_id=1001, text=f"<b>{ok}</b>", parse_mode="HTML"))[0] == 200
    # &amp; counts as one character
    assert (await call(http, emu, "sendMessage", chat_id=1001, text="&amp;" * 4096, parse_mode="HTML"))[0] == 200
    assert err(*await call(http, emu, "sendMessage", chat_id=1001, text=ok + "a")) == (400, 400, "Bad Request: message is too long")
    # 2048 emoji = 4096 UTF-16 units (ok); one more is too long although only 2049 code points
    assert (await call(http, emu, "sendMessage", chat_id=1001, text="😀" * 2048))[0] == 200
    assert err(*await call(http, emu, "sendMessage", chat_id=1001, text="😀" * 2049))[2] == "Bad Request: message is too long"


async def test_button_data_invalid(bot: Bot, alice: Any) -> None:
    for data in ("x" * 65, "й" * 33):  # 65 bytes / 66 bytes
        with pytest.raises(TelegramBadRequest) as ei:
            await bot.send_message(1001, "t", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="b", callback_data=data)]]))
        assert ei.value.message == "Bad Request: BUTTON_DATA_INVALID"
    await bot.send_message(1001, "t", reply_markup=InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="b", callback_data="x" * 64)]]))


async def test_empty_callback_data_invalid(emu: BotApiEmulator, http: aiohttp.ClientSession, alice: Any) -> None:
    markup = {"inline_keyboard": [[{"text": "b", "callback_data": ""}]]}
    assert err(*await call(http, emu, "sendMessage", chat_id=1001, text="t", reply_markup=markup))[2] == "Bad Request: BUTTON_DATA_INVALID"


async def test_edit_errors(bot: Bot, alice: Any) -> None:
    kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="b", callback_data="d")]])
    m = await bot.send_message(1001, "<b>same</b>", parse_mode="HTML", reply_markup=kb)
    with pytest.raises(TelegramBadRequest) as ei:
        await bot.edit_message_text("<b>same</b>", chat_id=1001, message_id=m.message_id, parse_mode="HTML", reply_markup=kb)
    assert ei.value.message == NOT_MODIFIED
    # different markup → modified; editing text without reply_markup drops the keyboard
    edited = await bot.edit_message_text("<b>same</b>", chat_id=1001, message_id=m.message_id, parse_mode="HTML")
    assert edited.reply_markup is None and alice.messages[-1].inline_buttons == []  # type: ignore[union-attr]
    with pytest.raises(TelegramBadRequest) as ei:
        await bot.edit_message_reply_markup(chat_id=1001, message_id=m.message_id)
    assert ei.value.message == NOT_MODIFIED
    await bot.edit_message_reply_markup(chat_id=1001, message_id=m.message_id, reply_markup=kb)
    with pytest.raises(TelegramBadRequest) as ei:
        await bot.edit_message_text("x", chat_id=1001, message_id=9999)
    assert ei.value.message == "Bad Request: message to edit not found"
    with pytest.raises(TelegramBadRequest) as ei:
        await bot.delete_message(1001, 9999)
    assert ei.value.message == "Bad Request: message to delete not found"
    await bot.delete_message(1001, m.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(1001, m.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("y", chat_id=1001, message_id=m.message_id)
    with pytest.raises(TelegramBadRequest, match="message can't be edited"):
        await bot.edit_message_text("y", chat_id=1001, message_id=1)  # the user's /start


async def test_webhook_conflict_409(bot: Bot, emu: BotApiEmulator, http: aiohttp.ClientSession) -> None:
    await bot.set_webhook("http://127.0.0.1:9/hook")
    status, code, desc = err(*await call(http, emu, "getUpdates"))
    assert (status, code) == (409, 409)
    assert desc == "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
    await bot.delete_webhook()
    assert (await call(http, emu, "getUpdates"))[0] == 200


async def test_rate_limits(bot: Bot, emu: BotApiEmulator, http: aiohttp.ClientSession) -> None:
    users = [emu.user(i, f"U{i}") for i in range(1, 41)]
    for u in users:
        await u.send("hi")
    # off by default: a burst to one chat is fine
    for _ in range(10):
        await bot.send_message(1, "x")
    # Near-zero refill rates: only the bursts count, however slowly a loaded machine runs this.
    emu.enable_rate_limits(per_chat_burst=3, per_chat_per_second=0.01, global_per_second=0.01)
    for _ in range(3):
        await bot.send_message(2, "burst")
    with pytest.raises(TelegramRetryAfter) as ei:
        await bot.send_message(2, "too fast")
    assert ei.value.retry_after >= 1
    status, body = await call(http, emu, "sendMessage", chat_id=2, text="still")
    assert status == 429 and body["error_code"] == 429 and body["parameters"]["retry_after"] >= 1
    assert body["description"] == f"Too Many Requests: retry after {body['parameters']['retry_after']}"
    # global limit: 30 burst across chats
    results = await asyncio.gather(*(call(http, emu, "sendMessage", chat_id=u.id, text="b") for u in users[2:40]), return_exceptions=False)
    statuses = [s for s, _ in results]
    assert statuses.count(200) == 30 - 3 and statuses.count(429) == 38 - 27
    assert emu.stats.too_many_requests == 2 + statuses.count(429)
    emu.disable_rate_limits()
    await bot.send_message(2, "free again")
