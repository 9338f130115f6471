"""Files (upload, file_id reuse, getFile/download), webhook delivery, fault injection."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.types import BufferedInputFile, InputMediaPhoto
from aiohttp import web
from PIL import Image

from loyaltybot.sandbox import BotApiEmulator

TOKEN = "123456:TEST-token"


async def test_send_photo_upload_decode_qr_and_reuse_file_id(bot: Bot, emu: BotApiEmulator, qr_png: Any) -> None:
    alice = emu.user(1001, "Alice")
    await alice.send("/card")
    png = qr_png("LOYALTY:member:abc123")
    sent = await bot.send_photo(1001, BufferedInputFile(png, filename="card.png"), caption="<b>Your card</b>", parse_mode="HTML")
    assert sent.photo and sent.photo[-1].width > 0 and sent.caption == "Your card"
    msg = await alice.wait_for_message()
    assert msg.photo_bytes == png and msg.caption == "Your card"
    assert alice.decode_qr(msg) == "LOYALTY:member:abc123"
    again = await bot.send_photo(1001, sent.photo[-1].file_id)
    assert again.photo is not None and again.photo[-1].file_id == sent.photo[-1].file_id
    assert alice.decode_qr() == "LOYALTY:member:abc123"
    with pytest.raises(TelegramBadRequest) as ei:
        await bot.send_photo(1001, "no-such-file-id")
    assert ei.value.message == "Bad Request: wrong file identifier/HTTP URL specified"
    with pytest.raises(TelegramBadRequest, match="failed to get HTTP URL content"):
        await bot.send_photo(1001, "https://example.com/x.png")
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(1001, BufferedInputFile(b"not an image", filename="x.png"))
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(1001, sent.photo[-1].file_id, caption="x" * 1025)
    new_png = qr_png("second")
    await bot.edit_message_media(InputMediaPhoto(media=BufferedInputFile(new_png, "n.png"), caption="new"), chat_id=1001, message_id=msg.message_id)
    assert alice.decode_qr(msg) == "second" and msg.caption == "new"
    await bot.edit_message_caption(chat_id=1001, message_id=msg.message_id, caption="newer")
    assert msg.caption == "newer"


async def test_send_document(bot: Bot, emu: BotApiEmulator) -> None:
    alice = emu.user(1001, "Alice")
    await alice.send("/export")
    doc = await bot.send_document(1001, BufferedInputFile(b"a,b\n1,2\n", filename="report.csv"), caption="CSV")
    assert doc.document is not None and doc.document.file_name == "report.csv"
    msg = await alice.wait_for_message()
    assert msg.document_bytes == b"a,b\n1,2\n" and msg.document_name == "report.csv" and msg.document_mime_type == "text/csv"
    await bot.send_document(1001, doc.document.file_id)
    assert alice.last_message is not None and alice.last_message.document_bytes == b"a,b\n1,2\n"
    with pytest.raises(TelegramBadRequest, match="can't use file of type Document as Photo"):
        await bot.send_photo(1001, doc.document.file_id)


async def test_get_file_and_download_user_photo(bot: Bot, emu: BotApiEmulator, qr_png: Any) -> None:
    alice = emu.user(1001, "Alice")
    big = Image.new("RGB", (1000, 600), "white")
    buf = io.BytesIO()
    big.save(buf, "PNG")
    await alice.send_photo(qr_png("receipt-42"), caption="receipt")
    await alice.send_photo(buf.getvalue())
    ups = await bot.get_updates()
    photo_msg = ups[0].message
    assert photo_msg is not None and photo_msg.photo and photo_msg.caption == "receipt"
    f = await bot.get_file(photo_msg.photo[-1].file_id)
    assert f.file_path and f.file_size
    data = io.BytesIO()
    await bot.download_file(f.file_path, destination=data)
    with Image.open(io.BytesIO(data.getvalue())) as img:
        assert img.format == "JPEG"  # Telegram recompresses photos
    from loyaltybot.sandbox import decode_qr_bytes

    assert decode_qr_bytes(data.getvalue()) == "receipt-42"
    sizes = ups[1].message.photo  # type: ignore[union-attr]
    assert sizes is not None and [(s.width, s.height) for s in sizes] == [(320, 192), (1000, 600)]
    with pytest.raises(TelegramBadRequest):
        await bot.get_file("bogus")
    async with aiohttp.ClientSession() as s, s.get(f"{emu.base_url}/file/bot{TOKEN}/photos/nope.jpg") as r:
        assert r.status == 404


class HookServer:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, Any], str | None]] = []
        self.fail_next = 0
        self.reply: dict[str, Any] | None = None
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.fail_next:
            self.fail_next -= 1
            return web.Response(status=500)
        self.received.append((body, request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        if self.reply is not None:
            return web.json_response(self.reply)
        return web.json_response({})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"


@pytest.fixture
async def hook() -> AsyncIterator[HookServer]:
    h = HookServer()
    await h.start()
    yield h
    assert h.runner is not None
    await h.runner.cleanup()


async def test_webhook_delivery_secret_retry_and_method_reply(bot: Bot, emu: BotApiEmulator, hook: HookServer) -> None:
    alice = emu.user(1001, "Alice")
    await alice.send("queued before webhook")
    await bot.set_webhook(hook.url, secret_token="s3cr3t", drop_pending_updates=True)
    info = await bot.get_webhook_info()
    assert info.url == hook.url and info.pending_update_count == 0
    hook.fail_next = 2
    await alice.send("/start")
    await emu.wait_for_updates_consumed(timeout=5)
    assert len(hook.received) == 1
    body, secret = hook.received[0]
    assert secret == "s3cr3t" and body["message"]["text"] == "/start"
    assert emu.stats.webhook_failures == 2
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
    # a webhook reply with "method" is executed
    hook.reply = {"method": "sendMessage", "chat_id": 1001, "text": "answered in webhook reply"}
    await alice.send("ping")
    msg = await alice.wait_for_message()
    assert msg.text == "answered in webhook reply"
    assert emu.calls_to("sendMessage")[-1].source == "webhook-response"
    # the test can post arbitrary updates with any secret
    status, _ = await emu.post_update_to_webhook({"message": {"message_id": 1}}, secret="wrong")
    assert status == 200  # this toy hook does not check; a real aiogram handler returns 401
    await bot.delete_webhook()
    assert emu.webhook is None


async def test_webhook_reply_from_aiogram_handler(emu: BotApiEmulator, hook: HookServer) -> None:
    """aiogram answers webhook requests with a multipart body; the emulator executes it."""
    from aiogram import Dispatcher
    from aiogram.methods import SendMessage
    from aiogram.types import Message
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler

    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> SendMessage:
        return message.answer(f"echo: {message.text}")

    app = web.Application()
    SimpleRequestHandler(dp, bot, secret_token="tok").register(app, path="/wh")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/wh"  # type: ignore[union-attr]
    try:
        await bot.set_webhook(url, secret_token="tok")
        alice = emu.user(1001, "Alice")
        await alice.send("hello")
        assert (await alice.wait_for_message()).text == "echo: hello"
        status, body = await emu.post_update_to_webhook({"message": {"message_id": 1}}, secret="bad")
        assert status == 401
    finally:
        await emu._dispatch("deleteWebhook", {}, {})
        await runner.cleanup()
        await bot.session.close()


async def test_fault_injection(bot: Bot, emu: BotApiEmulator) -> None:
    alice = emu.user(1001, "Alice")
    await alice.send("hi")
    emu.inject_faults(method="sendMessage", codes=[500, 502])
    with pytest.raises(TelegramServerError, match="Internal Server Error"):
        await bot.send_message(1001, "a")
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.send_message(1001, "a")
    await bot.send_message(1001, "a")
    assert [m.text for m in alice.messages] == ["a"]
    emu.inject_retry_after("sendMessage", retry_after=7)
    with pytest.raises(TelegramRetryAfter) as ei:
        await bot.send_message(1001, "b")
    assert ei.value.retry_after == 7 and emu.stats.too_many_requests == 1
    # a hang longer than the client's timeout
    emu.inject_timeout("sendMessage", seconds=5)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(1001, "c", request_timeout=1)
    assert [m.text for m in alice.messages] == ["a"]
    # executed but the response is lost: the message arrives, the client times out
    emu.inject_timeout("sendMessage", seconds=5, execute=True)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(1001, "d", request_timeout=1)
    assert [m.text for m in alice.messages] == ["a", "d"]
    emu.inject_faults(codes=[502])  # any method
    with pytest.raises(TelegramServerError):
        await bot.get_me()
    assert emu.pending_faults == []


async def test_many_concurrent_sends(emu: BotApiEmulator) -> None:
    users = [emu.user(10_000 + i, f"U{i}") for i in range(200)]
    for u in users:
        await u.send("/start")
    async with aiohttp.ClientSession() as s:

        async def send(uid: int, n: int) -> int:
            async with s.post(f"{emu.api_url}/sendMessage", data={"chat_id": str(uid), "text": f"m{n}"}) as r:
                return r.status

        statuses = await asyncio.gather(*(send(u.id, n) for n in range(5) for u in users))
    assert statuses.count(200) == 1000
    assert all(len(u.messages) == 5 for u in users)
    assert emu.stats.messages_sent == 1000
    times = [m.received_at for m in emu.bot_messages()]
    assert times == sorted(times)
    json.dumps(emu.updates_log)  # updates are plain JSON
