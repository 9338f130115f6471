"""End-to-end harness: the real app (same factory as production, real polling or webhook,
real database) talking HTTP to the project's Bot API emulator, with simulated users."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from loyaltybot.app import App, build_app, serve
from loyaltybot.config import PROJECT_ROOT, Settings
from loyaltybot.domain.tokens import payload_from_link
from loyaltybot.sandbox import BotApiEmulator, ChatMessage, SimUser

BOT_TOKEN = "123456:TEST-token"
BOT_USERNAME = "loyalty_test_bot"
OWNER_ID = 9000
STAFF_ID = 2001


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    emu = BotApiEmulator(bot_token=BOT_TOKEN, bot_username=BOT_USERNAME)
    await emu.start()
    try:
        yield emu
    finally:
        await emu.stop()


class RunningBot:
    """The production app serving against the emulator; restartable like a real process."""

    def __init__(self, settings: Settings, emulator: BotApiEmulator) -> None:
        self.settings = settings
        self.emulator = emulator
        self.app: App | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> App:
        self.app = await build_app(self.settings)
        self._stop = asyncio.Event()
        polls_before = len(self.emulator.calls_to("getUpdates"))
        webhooks_before = len(self.emulator.calls_to("setWebhook"))
        self._task = asyncio.create_task(serve(self.app, self._stop))
        # Ready when it polls (or has registered its webhook).
        for _ in range(500):
            if (
                len(self.emulator.calls_to("getUpdates")) > polls_before
                or len(self.emulator.calls_to("setWebhook")) > webhooks_before
            ):
                break
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        else:
            raise TimeoutError("the bot did not start serving")
        return self.app

    async def stop(self) -> None:
        if self._stop is None or self._task is None or self.app is None:
            return
        self._stop.set()
        await asyncio.wait_for(self._task, 15)
        await self.app.close()
        self.app, self._stop, self._task = None, None, None

    async def restart(self) -> App:
        await self.stop()
        return await self.start()

    @property
    def services(self) -> Any:
        assert self.app is not None
        return self.app.services

    async def scalar(self, statement: Any) -> Any:
        assert self.app is not None
        async with self.app.core.db.read_sessions() as session:
            return (await session.execute(statement)).scalar()

    async def count(self, model: Any, *where: Any) -> int:
        return int(await self.scalar(select(func.count()).select_from(model).where(*where)))

    async def settled_count(self, model: Any, *where: Any, expected: int, timeout: float = 5.0) -> int:
        """The count once it reaches `expected` (or the last one seen): conversation state is
        written when the handler finishes, a moment after its reply reached the user."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            found = await self.count(model, *where)
            if found == expected or asyncio.get_running_loop().time() > deadline:
                return found
            await asyncio.sleep(0.02)


def make_settings(database_url: str, emulator: BotApiEmulator, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bot_token": emulator.bot_token,
        "bot_api_url": emulator.base_url,
        "database_url": database_url,
        "owner_ids": str(OWNER_ID),
        "program_file": tmp_path / "program.toml",
        "locales_dir": PROJECT_ROOT / "locales",
        "polling_timeout": 2,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
async def bot(database_url: str, emulator: BotApiEmulator, tmp_path: Path) -> AsyncIterator[RunningBot]:
    running = RunningBot(make_settings(database_url, emulator, tmp_path), emulator)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


# --------------------------------------------------------------------------- raw updates, webhook


def message_update(update_id: int, user_id: int, text: str, first_name: str = "Someone") -> dict[str, Any]:
    """A private text message from `user_id`, as Telegram posts it to a webhook."""
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": user_id, "type": "private"},
            "from": {"id": user_id, "is_bot": False, "first_name": first_name},
            "text": text,
        },
    }


async def assert_secret_required(url: str, update: dict[str, Any]) -> None:
    """Posting `update` to the webhook without the secret header, or with a wrong one, gets 401."""
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            async with http.post(url, json=update, headers=headers) as response:
                assert response.status == 401


# --------------------------------------------------------------------------- conversation helpers


async def expect(user: SimUser, *needles: str, timeout: float = 15.0) -> ChatMessage:
    """The next bot message in the user's chat; it must contain every needle."""
    message = await user.wait_for_message(timeout=timeout)
    body = message.text or message.caption or ""
    for needle in needles:
        assert needle in body, f"expected {needle!r} in {body!r}"
    return message


async def register(
    user: SimUser,
    *,
    language: str = "English",
    birthday: str | None = None,
    start: str = "/start",
) -> ChatMessage:
    """Walk the whole registration; returns the welcome message."""
    await user.send(start)
    picker = await user.wait_for_message()
    await user.click(picker, language if language in (picker_buttons(picker)) else "✓ " + language)
    notice = await user.wait_for_edit(picker)
    await user.click(notice, button_text(notice, "✅"))
    await user.wait_for_message()  # "share your phone" with the contact button
    await user.share_contact()
    await user.wait_for_message()  # verified
    prompt = await user.wait_for_message()  # birthday prompt
    if birthday is None:
        await user.click(prompt, button_text(prompt, ""))
    else:
        await user.send(birthday)
        await user.wait_for_message()  # birthday saved
    return await user.wait_for_message()


def picker_buttons(message: ChatMessage) -> list[str]:
    markup = message.reply_markup or {}
    return [button["text"] for row in markup.get("inline_keyboard", []) for button in row]


async def add_staff(
    bot: RunningBot, emulator: BotApiEmulator, telegram_id: int = STAFF_ID, name: str = "Sam"
) -> SimUser:
    """A staff member added on the server (as `loyaltybot staff add` does), not a customer."""
    await bot.services.staff.add(telegram_id, added_by=OWNER_ID, display_name=name)
    return emulator.user(telegram_id, name, phone="+60122223333")


async def member_payload(user: SimUser, *needles: str) -> str:
    """The payload of the member QR code the registered `user` gets from /card (whose caption
    must contain every needle)."""
    await user.send("/card")
    payload = payload_from_link(user.decode_qr(await expect(user, *needles)) or "", BOT_USERNAME)
    assert payload is not None
    return payload


def button_text(message: ChatMessage, prefix: str) -> str:
    """The first inline button whose text starts with `prefix`."""
    for text in picker_buttons(message):
        if text.startswith(prefix):
            return text
    raise LookupError(f"no button starting with {prefix!r} in {picker_buttons(message)}")
