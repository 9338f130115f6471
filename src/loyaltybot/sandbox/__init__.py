"""Local Telegram Bot API emulator for end-to-end tests ("sandbox").

The app talks to it over real HTTP (``BOT_API_URL = emu.base_url``); tests play
Telegram users through :class:`SimUser` handles::

    emu = BotApiEmulator(bot_token="123456:TEST-token", bot_username="loyalty_test_bot")
    await emu.start()
    alice = emu.user(1001, first_name="Alice", language_code="en", phone="+60123456789")
    await alice.send("/start m_abc")
    msg = await alice.wait_for_message(timeout=5)
    await alice.click(msg, "Accept")
    await emu.stop()

Only the standard library, aiohttp (the webhook client), Pillow and zxing-cpp are used;
the HTTP server is its own (`sandbox.http`).
"""

from .emulator import ALL_METHODS, REQUIRED_PARAMS, ApiError, BotApiEmulator
from .html import EntityParseError, parse_html, utf16_len
from .models import (
    ApiCall,
    CallbackAnswer,
    ChatMessage,
    EmulatorStats,
    Fault,
    FileRecord,
    RateLimits,
    decode_qr_bytes,
)
from .users import CallbackQueryHandle, SimGroup, SimUser

__all__ = [
    "ALL_METHODS",
    "REQUIRED_PARAMS",
    "ApiCall",
    "ApiError",
    "BotApiEmulator",
    "CallbackAnswer",
    "CallbackQueryHandle",
    "ChatMessage",
    "EmulatorStats",
    "EntityParseError",
    "Fault",
    "FileRecord",
    "RateLimits",
    "SimGroup",
    "SimUser",
    "decode_qr_bytes",
    "parse_html",
    "utf16_len",
]
