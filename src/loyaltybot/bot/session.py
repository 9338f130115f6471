"""The HTTP session to the Bot API: a lean transport, one performance fix and one start-up signal.

Calls without a file (almost all: sendMessage, edits, answerCallbackQuery, getUpdates...)
are sent by `HttpPool` (`bot/http.py`), as the same URL-encoded form aiogram's own session
sends, over kept-alive connections, at a fraction of aiohttp's CPU per request. Calls with a
file (sendPhoto with a QR code, sendDocument) and a session with a proxy go through aiogram's
aiohttp session unchanged (multipart). Errors are aiogram's: a broken connection or a
timeout is `TelegramNetworkError`, and the answer is checked by aiogram's `check_response`.

aiogram parses each reply with `Response[<return type>]`. Pydantic caches those generic
classes only weakly, so under load they are garbage-collected and rebuilt on most calls
(measured: ~5 ms of CPU per rebuild, a quarter of the CPU of an update). Holding a strong
reference to each one the bot has used makes every later call a cache hit.

Inside `results_unused()` a call that succeeds returns None instead of its result: checking
Telegram's answer into aiogram's models (a `Message` with its chat, sender and entities) cost
~80 µs of CPU per sendMessage here, and most notices to a customer or a staff member are sent
and forgotten. A refused call still raises aiogram's exception for its error.

`polling` is set when the first getUpdates goes out, so the app can hold back start-up work
that is not urgent (command menus, scheduler catch-up) until the bot is receiving updates.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlencode

import certifi
from aiogram import Bot, __version__
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.exceptions import TelegramNetworkError
from aiogram.methods import GetUpdates, Response, TelegramMethod

from loyaltybot.bot.http import HttpError, HttpPool

FORM = "application/x-www-form-urlencoded"
USER_AGENT = f"loyaltybot aiogram/{__version__}"
_RESULT_UNUSED: ContextVar[bool] = ContextVar("loyaltybot_bot_api_result_unused", default=False)


@contextmanager
def results_unused() -> Iterator[None]:
    """Bot API calls awaited inside (in this task) return None when they succeed: for calls
    whose result the caller does not read. Errors raise as always."""
    token = _RESULT_UNUSED.set(True)
    try:
        yield
    finally:
        _RESULT_UNUSED.reset(token)


class BotApiSession(AiohttpSession):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._response_types: dict[Any, Any] = {}
        self.polling = asyncio.Event()
        self._http: HttpPool | None = None
        self._lean = kwargs.get("proxy") is None

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        if not self.polling.is_set() and isinstance(method, GetUpdates):
            self.polling.set()  # waiters run at the next suspension, after the request is written
        if not self._lean:
            return await super().make_request(bot, method, timeout)
        fields: list[tuple[str, Any]] = []
        files: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            value = self.prepare_value(value, bot=bot, files=files)
            if value:  # as aiogram's form: None, "" and empty values are left out
                fields.append((key, value))
        if files:  # an upload: multipart through aiohttp
            return await super().make_request(bot, method, timeout)
        status, content = await self.post(bot, method, urlencode(fields).encode(), FORM, timeout)
        if status == 200 and _RESULT_UNUSED.get() and _succeeded(content):
            return None
        response = self.check_response(bot=bot, method=method, status_code=status, content=content)
        return response.result

    async def post(
        self, bot: Bot, method: TelegramMethod[Any], body: bytes, content_type: str, timeout: float | None = None
    ) -> tuple[int, str]:
        """Send an encoded call: the HTTP status and the answer, not yet checked.

        The update workers' poller uses it directly, to pass updates on without parsing them."""
        if self._http is None:
            self._http = HttpPool(ssl_context=_certifi_context, user_agent=USER_AGENT)
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            status, answer = await self._http.post(
                url, body, content_type=content_type, timeout=self.timeout if timeout is None else timeout
            )
        except TimeoutError:
            raise TelegramNetworkError(method=method, message="Request timeout error") from None
        except HttpError as error:
            raise TelegramNetworkError(method=method, message=f"{type(error).__name__}: {error}") from None
        return status, answer.decode()

    async def create_session(self) -> Any:
        # aiogram's create_session calls close() before its first aiohttp session (and after a
        # proxy change): that must not close the keep-alive pool, or the first upload would
        # break every call in flight through it (the long poll, replies to other customers).
        if self._should_reset_connector:
            await super().close()
            self._should_reset_connector = False
        return await super().create_session()

    async def close(self) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            await http.close()
        await super().close()

    def check_response(self, bot: Bot, method: TelegramMethod[Any], status_code: int, content: str) -> Any:
        returning = method.__returning__
        if returning not in self._response_types:
            self._response_types[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)


def _succeeded(content: str) -> bool:
    try:
        answer = json.loads(content)
    except ValueError:
        return False  # check_response says what is wrong with it
    return isinstance(answer, dict) and answer.get("ok") is True


def _certifi_context() -> ssl.SSLContext:
    """HTTPS as aiogram's own session: certifi's CA bundle (made when first needed)."""
    return ssl.create_default_context(cafile=certifi.where())
