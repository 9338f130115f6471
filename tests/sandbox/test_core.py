"""Emulator core: getMe, polling, user actions, callback queries, chats."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest, TelegramConflictError, TelegramForbiddenError
from aiogram.types import (
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)

from loyaltybot.sandbox import BotApiEmulator


async def test_get_me(bot: Bot, emu: BotApiEmulator) -> None:
    me = await bot.get_me()
    assert me.id == 123456 and me.is_bot and me.username == "loyalty_test_bot" and me.first_name == "Loyalty"
    assert emu.calls[-1].method == "getMe"
    method, params = emu.calls[-1]
    assert method == "getMe" and params == {}


async def test_all_four_request_encodings(emu: BotApiEmulator, http: aiohttp.ClientSession) -> None:
    await emu.user(1, "A").send("hi")
    url = f"{emu.api_url}/sendMessage"
    async with http.post(url, json={"chat_id": 1, "text": "json"}) as r:
        assert (await r.json())["result"]["text"] == "json"
    async with http.post(url, data={"chat_id": "1", "text": "form"}) as r:
        assert (await r.json())["result"]["text"] == "form"
    form = aiohttp.FormData()
    form.add_field("chat_id", "1")
    form.add_field("text", "multipart")
    form.add_field("reply_markup", '{"inline_keyboard": [[{"text": "x", "callback_data": "y"}]]}')
    async with http.post(url, data=form) as r:
        body = await r.json()
        assert body["result"]["text"] == "multipart"
        assert body["result"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "y"
    async with http.get(url, params={"chat_id": "1", "text": "query"}) as r:
        assert (await r.json())["result"]["text"] == "query"
    # method names are case-insensitive, like Telegram
    async with http.get(f"{emu.api_url}/GETME") as r:
        assert (await r.json())["ok"] is True
    assert [m.text for m in emu.user(1).messages] == ["json", "form", "multipart", "query"]


async def test_long_poll_returns_as_soon_as_user_writes_and_offsets_confirm(bot: Bot, emu: BotApiEmulator) -> None:
    alice = emu.user(1001, first_name="Alice", language_code="en", phone="+60123456789")

    async def later() -> None:
        await asyncio.sleep(0.2)
        await alice.send("/start m_abc")

    t0 = time.monotonic()
    task = asyncio.create_task(later())
    updates = await bot.get_updates(timeout=10)
    await task
    assert time.monotonic() - t0 < 2
    assert len(updates) == 1
    msg = updates[0].message
    assert msg is not None and msg.text == "/start m_abc" and msg.chat.type == "private"
    assert msg.from_user is not None and msg.from_user.id == 1001 and msg.from_user.language_code == "en"
    assert [(e.type, e.offset, e.length) for e in msg.entities or []] == [("bot_command", 0, 6)]
    # not confirmed yet → returned again
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in again] == [updates[0].update_id]
    await alice.send("second")
    confirmed = await bot.get_updates(offset=updates[0].update_id + 1, timeout=0)
    assert [u.message.text for u in confirmed if u.message] == ["second"]
    assert confirmed[0].update_id > updates[0].update_id
    # empty long poll honours the timeout
    t0 = time.monotonic()
    assert await bot.get_updates(offset=confirmed[0].update_id + 1, timeout=1) == []
    assert 0.9 <= time.monotonic() - t0 < 3


async def test_get_updates_limit_allowed_updates_and_negative_offset(bot: Bot, emu: BotApiEmulator) -> None:
    u = emu.user(5, "E")
    for i in range(5):
        await u.send(f"m{i}")
    assert len(await bot.get_updates(limit=2)) == 2
    last = await bot.get_updates(offset=-1)
    assert [x.message.text for x in last if x.message] == ["m4"]
    await bot.get_updates(offset=last[0].update_id + 1, allowed_updates=["callback_query"])
    await u.send("ignored")  # message updates are not allowed now
    assert await bot.get_updates(timeout=0) == []


async def test_second_get_updates_terminates_first(bot: Bot, emu: BotApiEmulator) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    second = asyncio.create_task(bot.get_updates(timeout=0))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await first
    assert await second == []


async def test_command_entities(emu: BotApiEmulator) -> None:
    u = emu.user(7, "C")
    m = await u.send("/help@loyalty_test_bot now")
    assert m.entities == [{"type": "bot_command", "offset": 0, "length": 22}]
    m = await u.send("😀 /stats")
    assert m.entities == [{"type": "bot_command", "offset": 3, "length": 6}]
    assert (await u.send("plain text")).entities == []


async def test_contact_own_spoofed_and_cardless(bot: Bot, emu: BotApiEmulator) -> None:
    alice = emu.user(1001, first_name="Alice", phone="+60123456789")
    await alice.share_contact()
    await alice.share_contact(phone="+60111111111", user_id=999)
    await alice.share_contact(phone="+60222222222", user_id=None)
    await alice.share_contact(strip_plus=True)
    ups = await bot.get_updates()
    contacts = [u.message.contact for u in ups if u.message]
    assert contacts[0] is not None and contacts[0].user_id == 1001 and contacts[0].phone_number == "+60123456789"
    assert contacts[1] is not None and contacts[1].user_id == 999 and contacts[1].phone_number == "+60111111111"
    assert contacts[2] is not None and contacts[2].user_id is None
    assert contacts[3] is not None and contacts[3].phone_number == "60123456789"


async def test_chat_not_found_until_user_writes_and_blocking(bot: Bot, emu: BotApiEmulator) -> None:
    bob = emu.user(2002, "Bob")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(2002, "hello")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(424242, "hello")
    await bob.send("hi")
    await bot.send_message(2002, "hello")
    bob.block_bot()
    with pytest.raises(TelegramForbiddenError) as ei:
        await bot.send_message(2002, "hello again")
    assert ei.value.message == "Forbidden: bot was blocked by the user"
    ups = await bot.get_updates()
    assert ups[-1].my_chat_member is not None and ups[-1].my_chat_member.new_chat_member.status == "kicked"
    bob.unblock_bot()
    await bot.send_message(2002, "welcome back")
    assert [m.text for m in bob.messages] == ["hello", "welcome back"]
    chat = await bot.get_chat(2002)
    assert chat.first_name == "Bob" and chat.type == "private"


async def test_reply_keyboard_press(bot: Bot, emu: BotApiEmulator) -> None:
    alice = emu.user(1001, first_name="Alice", phone="+60123456789")
    with pytest.raises(LookupError):
        await alice.press("English")
    await alice.send("/start")
    kb = ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text="English"), KeyboardButton(text="Share phone", request_contact=True)]],
        resize_keyboard=True, one_time_keyboard=True, is_persistent=True,
    )
    sent = await bot.send_message(1001, "Choose", reply_markup=kb)
    assert sent.reply_markup is None  # reply keyboards are not echoed back, like Telegram
    msg = await alice.wait_for_message()
    assert msg.keyboard_buttons == ["English", "Share phone"]
    assert msg.reply_markup is not None and msg.reply_markup["one_time_keyboard"] is True
    await alice.press("English")
    await alice.press("Share phone")
    with pytest.raises(LookupError, match="no button"):
        await alice.press("Deutsch")
    ups = await bot.get_updates()
    assert ups[-2].message is not None and ups[-2].message.text == "English"
    assert ups[-1].message is not None and ups[-1].message.contact is not None
    assert ups[-1].message.contact.user_id == 1001
    await bot.send_message(1001, "bye", reply_markup=ReplyKeyboardRemove())
    assert alice.reply_keyboard is None
    await bot.send_message(1001, "your name?", reply_markup=ForceReply())
    assert alice.last_message is not None and alice.last_message.reply_markup == {"force_reply": True}


async def test_inline_click_and_answer_once(bot: Bot, emu: BotApiEmulator) -> None:
    alice = emu.user(1001, "Alice")
    await alice.send("/start")
    kb = InlineKeyboardMarkup(inline_keyboard=[[
        InlineKeyboardButton(text="Accept", callback_data="acc:1"),
        InlineKeyboardButton(text="Site", url="https://example.com"),
    ]])
    await bot.send_message(1001, "Offer", reply_markup=kb)
    msg = await alice.wait_for_message()
    assert msg.button_texts == ["Accept", "Site"]
    q = await alice.click(msg, "Accept")
    ups = await bot.get_updates()
    cq = ups[-1].callback_query
    assert cq is not None and cq.data == "acc:1" and cq.from_user.id == 1001 and cq.id == q.id
    assert cq.message is not None and cq.message.message_id == msg.message_id and cq.chat_instance
    assert await bot.answer_callback_query(cq.id, text="Done!", show_alert=True) is True
    ans = await q.wait_answer()
    assert ans.text == "Done!" and ans.show_alert
    assert emu.callback_answers[-1].query_id == cq.id
    with pytest.raises(TelegramBadRequest) as ei:
        await bot.answer_callback_query(cq.id)
    assert ei.value.message == "Bad Request: query is too old and response timeout expired or query ID is invalid"
    q2 = await alice.click(msg, callback_data="acc:1")
    assert q2.id != q.id
    with pytest.raises(LookupError):
        await alice.click(msg, "Nope")


async def test_callback_query_expires(bot: Bot) -> None:
    emu = BotApiEmulator(callback_query_ttl=0.2)
    await emu.start()
    try:
        u = emu.user(1, "A")
        await u.send("x")
        await emu._dispatch("sendMessage", {"chat_id": 1, "text": "t", "reply_markup": {"inline_keyboard": [[{"text": "b", "callback_data": "d"}]]}}, {})
        q = await u.click(u.last_message, "b")  # type: ignore[arg-type]
        await asyncio.sleep(0.3)
        status, payload = await emu._dispatch("answerCallbackQuery", {"callback_query_id": q.id}, {})
        assert status == 400 and "query is too old" in payload["description"]
    finally:
        await emu.stop()


async def test_wait_for_message_sees_earlier_messages_and_edits(bot: Bot, emu: BotApiEmulator) -> None:
    alice = emu.user(1001, "Alice")
    await alice.send("/start")
    m1 = await bot.send_message(1001, "one")
    await bot.send_message(1001, "two")
    await bot.send_message(1001, "three")
    assert (await alice.wait_for_message()).text == "one"
    assert (await alice.wait_for_message(predicate=lambda m: m.text == "three")).text == "three"
    with pytest.raises(TimeoutError):
        await alice.wait_for_message(timeout=0.1)  # "two" was skipped by the predicate
    await bot.edit_message_text("one!", chat_id=1001, message_id=m1.message_id)
    edited = await alice.wait_for_edit(m1.message_id)
    assert edited.text == "one!" and edited.edit_count == 1
    assert [m.text for m in alice.messages] == ["one!", "two", "three"]
    await bot.delete_message(1001, m1.message_id)
    await alice.wait_for_deletion(m1.message_id)
    assert [m.text for m in alice.messages] == ["two", "three"]
    # user and bot messages share one message_id sequence
    assert [m.message_id for m in alice.history] == [1, 3, 4]


async def test_reply_parameters(bot: Bot, emu: BotApiEmulator) -> None:
    alice = emu.user(1, "A")
    um = await alice.send("question")
    r = await bot.send_message(1, "answer", reply_parameters=ReplyParameters(message_id=um.message_id))
    assert r.reply_to_message is not None and r.reply_to_message.text == "question"
    with pytest.raises(TelegramBadRequest, match="message to be replied not found"):
        await bot.send_message(1, "x", reply_parameters=ReplyParameters(message_id=999))


async def test_group_message(bot: Bot, emu: BotApiEmulator) -> None:
    alice = emu.user(1001, "Alice")
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(-100123, "hi")
    await alice.send_in_group(-100123, "hi")
    ups = await bot.get_updates()
    m = ups[-1].message
    assert m is not None and m.chat.id == -100123 and m.chat.type == "supergroup" and m.from_user.id == 1001  # type: ignore[union-attr]
    await bot.send_message(-100123, "Message me privately")
    group = emu.group(-100123)
    assert (await group.wait_for_message()).text == "Message me privately"
    assert alice.messages == []  # the private chat is untouched


async def test_commands_menu_and_chat_action(bot: Bot, emu: BotApiEmulator) -> None:
    from aiogram.types import BotCommand, BotCommandScopeAllPrivateChats, BotCommandScopeChat, MenuButtonCommands

    await bot.set_my_commands([BotCommand(command="start", description="Start")])
    await bot.set_my_commands([BotCommand(command="card", description="Kad saya")], scope=BotCommandScopeAllPrivateChats(), language_code="ms")
    assert emu.commands() == [{"command": "start", "description": "Start"}]
    assert emu.commands("all_private_chats", "ms") == [{"command": "card", "description": "Kad saya"}]
    assert emu.commands("all_private_chats") == []
    got = await bot.get_my_commands(scope=BotCommandScopeAllPrivateChats(), language_code="ms")
    assert [c.command for c in got] == ["card"]
    assert emu.effective_commands(55, "ms")[0]["command"] == "card"
    assert emu.effective_commands(55, "en")[0]["command"] == "start"
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.set_my_commands([BotCommand(command="x", description="y")], scope=BotCommandScopeChat(chat_id=55))
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad-Cmd", description="y")])
    await bot.delete_my_commands()
    assert emu.commands() == []
    await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    assert emu.menu_button() == {"type": "commands"}
    u = emu.user(3, "U")
    await u.send("hi")
    await bot.send_chat_action(3, "typing")
    assert u.chat_actions == ["typing"]
    with pytest.raises(TelegramBadRequest, match="wrong parameter action in request"):
        await bot.send_chat_action(3, "dancing")


async def test_copy_and_forward(bot: Bot, emu: BotApiEmulator) -> None:
    a, b = emu.user(1, "A"), emu.user(2, "B")
    um = await a.send("note")
    await b.send("hi")
    copied = await bot.copy_message(chat_id=2, from_chat_id=1, message_id=um.message_id)
    assert b.last_message is not None and b.last_message.text == "note" and b.last_message.message_id == copied.message_id
    fwd = await bot.forward_message(chat_id=2, from_chat_id=1, message_id=um.message_id)
    assert fwd.forward_origin is not None


async def test_aiogram_dispatcher_polling_roundtrip(bot: Bot, emu: BotApiEmulator) -> None:
    from aiogram import Dispatcher, F
    from aiogram.types import CallbackQuery, Message

    dp = Dispatcher()

    @dp.message()
    async def on_message(message: Message) -> None:
        kb = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Accept", callback_data="ok")]])
        await message.answer(f"<b>got</b> {message.text}", parse_mode="HTML", reply_markup=kb)

    @dp.callback_query(F.data == "ok")
    async def on_click(query: CallbackQuery) -> None:
        await query.answer("thanks")
        assert query.message is not None
        await bot.edit_message_text("accepted", chat_id=query.message.chat.id, message_id=query.message.message_id)

    task = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=1))
    try:
        alice = emu.user(1001, "Alice")
        await alice.send("/start")
        msg = await alice.wait_for_message()
        assert msg.text == "got /start"
        q = await alice.click(msg, "Accept")
        assert (await q.wait_answer()).text == "thanks"
        assert (await alice.wait_for_edit(msg)).text == "accepted"
        await emu.wait_for_updates_consumed()
    finally:
        await dp.stop_polling()
        await task
