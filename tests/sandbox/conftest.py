from __future__ import annotations

import io
from collections.abc import AsyncIterator

import aiohttp
import pytest
import qrcode
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from loyaltybot.sandbox import BotApiEmulator

TOKEN = "123456:TEST-token"


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    e = BotApiEmulator(bot_token=TOKEN, bot_username="loyalty_test_bot", bot_first_name="Loyalty")
    await e.start()
    try:
        yield e
    finally:
        await e.stop()


@pytest.fixture
async def bot(emu: BotApiEmulator) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url))
    b = Bot(token=TOKEN, session=session)
    try:
        yield b
    finally:
        await b.session.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def make_qr_png(data: str) -> bytes:
    img = qrcode.make(data)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def qr_png():  # type: ignore[no-untyped-def]
    """Factory: qr_png("data") -> PNG bytes of a QR code."""
    return make_qr_png
