"""Local Telegram Bot API emulator (HTTP server + in-process test API).

See the package docstring (``loyaltybot.sandbox``) for the public API.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import mimetypes
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, TypeVar
from urllib.parse import parse_qsl

import aiohttp

from . import http
from .html import EntityParseError, parse_html, utf16_len
from .models import (
    ApiCall,
    CallbackAnswer,
    ChatMessage,
    EmulatorStats,
    Fault,
    FileRecord,
    RateLimits,
    UploadedPart,
)
from .users import CallbackQueryHandle, SimGroup, SimUser

__all__ = ["ApiError", "BotApiEmulator"]

T = TypeVar("T")

MAX_TEXT = 4096
MAX_REQUEST_BYTES = 60 * 1024 * 1024  # a larger request is refused (413); Telegram takes uploads up to 50 MB
MAX_CAPTION = 1024
CALLBACK_DATA_MAX = 64

# Update types delivered when allowed_updates was never given (Telegram's default).
DEFAULT_ALLOWED_UPDATES = frozenset(
    {
        "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
        "business_message", "edited_business_message", "deleted_business_messages", "inline_query",
        "chosen_inline_result", "callback_query", "shipping_query", "pre_checkout_query",
        "purchased_paid_media", "poll", "poll_answer", "my_chat_member", "chat_join_request",
        "chat_boost", "removed_chat_boost",
    }
)

# Required parameters (Bot API 10.1) of the implemented methods and the
# description Telegram gives when one is missing.
REQUIRED_PARAMS: dict[str, dict[str, str]] = {
    "sendMessage": {"chat_id": "chat_id is empty", "text": "message text is empty"},
    "sendPhoto": {"chat_id": "chat_id is empty", "photo": "there is no photo in the request"},
    "sendDocument": {"chat_id": "chat_id is empty", "document": "there is no document in the request"},
    "copyMessage": {"chat_id": "chat_id is empty", "from_chat_id": "from_chat_id is empty", "message_id": "message identifier is not specified"},
    "forwardMessage": {"chat_id": "chat_id is empty", "from_chat_id": "from_chat_id is empty", "message_id": "message identifier is not specified"},
    "sendChatAction": {"chat_id": "chat_id is empty", "action": "wrong parameter action in request"},
    "getFile": {"file_id": "file_id is empty"},
    "getChat": {"chat_id": "chat_id is empty"},
    "answerCallbackQuery": {"callback_query_id": "query is too old and response timeout expired or query ID is invalid"},
    "setMyCommands": {"commands": "commands is empty"},
    "editMessageMedia": {"media": "media is empty"},
    "deleteMessage": {"chat_id": "chat_id is empty", "message_id": "message identifier is not specified"},
}

# Every Bot API 10.1 method; known-but-not-emulated ones answer 501 instead of 404.
ALL_METHODS = (
    "addStickerToSet answerCallbackQuery answerChatJoinRequestQuery answerGuestQuery answerInlineQuery "
    "answerPreCheckoutQuery answerShippingQuery answerWebAppQuery approveChatJoinRequest "
    "approveSuggestedPost banChatMember banChatSenderChat close closeForumTopic closeGeneralForumTopic "
    "convertGiftToStars copyMessage copyMessages createChatInviteLink createChatSubscriptionInviteLink "
    "createForumTopic createInvoiceLink createNewStickerSet declineChatJoinRequest declineSuggestedPost "
    "deleteAllMessageReactions deleteBusinessMessages deleteChatPhoto deleteChatStickerSet "
    "deleteForumTopic deleteMessage deleteMessageReaction deleteMessages deleteMyCommands "
    "deleteStickerFromSet deleteStickerSet deleteStory deleteWebhook editChatInviteLink "
    "editChatSubscriptionInviteLink editForumTopic editGeneralForumTopic editMessageCaption "
    "editMessageChecklist editMessageLiveLocation editMessageMedia editMessageReplyMarkup editMessageText "
    "editStory editUserStarSubscription exportChatInviteLink forwardMessage forwardMessages "
    "getAvailableGifts getBusinessAccountGifts getBusinessAccountStarBalance getBusinessConnection "
    "getChat getChatAdministrators getChatGifts getChatMember getChatMemberCount getChatMenuButton "
    "getCustomEmojiStickers getFile getForumTopicIconStickers getGameHighScores "
    "getManagedBotAccessSettings getManagedBotToken getMe getMyCommands getMyDefaultAdministratorRights "
    "getMyDescription getMyName getMyShortDescription getMyStarBalance getStarTransactions getStickerSet "
    "getUpdates getUserChatBoosts getUserGifts getUserPersonalChatMessages getUserProfileAudios "
    "getUserProfilePhotos getWebhookInfo giftPremiumSubscription hideGeneralForumTopic leaveChat logOut "
    "pinChatMessage postStory promoteChatMember readBusinessMessage refundStarPayment "
    "removeBusinessAccountProfilePhoto removeChatVerification removeMyProfilePhoto removeUserVerification "
    "reopenForumTopic reopenGeneralForumTopic replaceManagedBotToken replaceStickerInSet repostStory "
    "restrictChatMember revokeChatInviteLink savePreparedInlineMessage savePreparedKeyboardButton "
    "sendAnimation sendAudio sendChatAction sendChatJoinRequestWebApp sendChecklist sendContact sendDice "
    "sendDocument sendGame sendGift sendInvoice sendLivePhoto sendLocation sendMediaGroup sendMessage "
    "sendMessageDraft sendPaidMedia sendPhoto sendPoll sendRichMessage sendRichMessageDraft sendSticker "
    "sendVenue sendVideo sendVideoNote sendVoice setBusinessAccountBio setBusinessAccountGiftSettings "
    "setBusinessAccountName setBusinessAccountProfilePhoto setBusinessAccountUsername "
    "setChatAdministratorCustomTitle setChatDescription setChatMemberTag setChatMenuButton "
    "setChatPermissions setChatPhoto setChatStickerSet setChatTitle setCustomEmojiStickerSetThumbnail "
    "setGameScore setManagedBotAccessSettings setMessageReaction setMyCommands "
    "setMyDefaultAdministratorRights setMyDescription setMyName setMyProfilePhoto setMyShortDescription "
    "setPassportDataErrors setStickerEmojiList setStickerKeywords setStickerMaskPosition "
    "setStickerPositionInSet setStickerSetThumbnail setStickerSetTitle setUserEmojiStatus setWebhook "
    "stopMessageLiveLocation stopPoll transferBusinessAccountStars transferGift unbanChatMember "
    "unbanChatSenderChat unhideGeneralForumTopic unpinAllChatMessages unpinAllForumTopicMessages "
    "unpinAllGeneralForumTopicMessages unpinChatMessage upgradeGift uploadStickerFile verifyChat "
    "verifyUser "
).split()

# Fields that arrive JSON-encoded in form/query requests (decoded for the call log).
JSON_FIELDS = frozenset(
    {
        "reply_markup", "entities", "caption_entities", "commands", "scope", "link_preview_options",
        "reply_parameters", "allowed_updates", "media", "menu_button", "rights",
    }
)
CHAT_ACTIONS = frozenset(
    {
        "typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
        "upload_document", "choose_sticker", "find_location", "record_video_note", "upload_video_note",
    }
)
INLINE_BUTTON_ACTIONS = (
    "callback_data", "url", "login_url", "switch_inline_query", "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat", "copy_text", "callback_game", "pay", "web_app",
)
SEND_METHODS = frozenset({"sendMessage", "sendPhoto", "sendDocument", "copyMessage", "forwardMessage"})
FAULT_DESCRIPTIONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class ApiError(Exception):
    """An error response: ``description`` is Telegram's full text."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def _bad(desc: str) -> ApiError:
    return ApiError(400, f"Bad Request: {desc}")


def _too_many(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})


class _Params:
    """Request parameters with Telegram-like coercion."""

    def __init__(self, data: dict[str, Any], files: dict[str, UploadedPart]) -> None:
        self.data = data
        self.files = files

    def has(self, name: str) -> bool:
        v = self.data.get(name)
        return v is not None and v != ""

    def raw(self, name: str) -> Any:
        return self.data.get(name)

    def str(self, name: str) -> str | None:
        v = self.data.get(name)
        if v is None:
            return None
        if isinstance(v, UploadedPart):
            return v.data.decode("utf-8", "replace")
        return v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v).lower() if isinstance(v, bool) else str(v)

    def int(self, name: str, default: int | None = None) -> int | None:
        v = self.data.get(name)
        if v is None or v == "":
            return default
        if isinstance(v, bool):
            return int(v)
        try:
            return int(v)
        except (TypeError, ValueError):
            raise _bad(f"{name} is invalid") from None

    def bool(self, name: str) -> bool:
        v = self.data.get(name)
        if isinstance(v, str):
            return v.strip().lower() in ("true", "1", "yes", "on")
        return bool(v)

    def json(self, name: str, error: str | None = None) -> Any:
        v = self.data.get(name)
        if v is None or v == "":
            return None
        if isinstance(v, UploadedPart):
            v = v.data.decode("utf-8", "replace")
        if isinstance(v, str):
            try:
                return json.loads(v)
            except ValueError:
                raise _bad(error or f"can't parse {name} JSON object") from None
        return v


@dataclass(eq=False)
class _Bucket:
    rate: float
    burst: float
    tokens: float
    last: float
    blocked_until: float = 0.0

    def peek(self, now: float) -> int | None:
        """Return retry_after if a send now would be refused, else None."""
        if now < self.blocked_until:
            return max(1, math.ceil(self.blocked_until - now))
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            return None
        retry = max(1, math.ceil((1 - self.tokens) / self.rate))
        self.blocked_until = now + retry
        return retry


@dataclass(eq=False)
class _Chat:
    id: int
    type: str  # private | group | supergroup
    title: str | None = None
    user: SimUser | None = None
    started: bool = False
    blocked: bool = False
    messages: dict[int, ChatMessage] = field(default_factory=dict)
    next_message_id: int = 1
    inbox: list[ChatMessage] = field(default_factory=list)
    edits: list[ChatMessage] = field(default_factory=list)
    reply_keyboard: dict[str, Any] | None = None
    actions: list[tuple[str, float]] = field(default_factory=list)
    chat_instance: str = field(default_factory=lambda: str(secrets.randbits(62)))
    bucket: _Bucket | None = None
    changed: asyncio.Event | None = None  # set when the bot sends, edits or deletes here (waiters only)

    def to_api(self) -> dict[str, Any]:
        if self.type == "private" and self.user is not None:
            c: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.user.first_name}
            if self.user.last_name:
                c["last_name"] = self.user.last_name
            if self.user.username:
                c["username"] = self.user.username
            return c
        return {"id": self.id, "type": self.type, "title": self.title or f"Group {self.id}"}


class BotApiEmulator:
    """A local Telegram Bot API server plus a Python API to play Telegram users.

    >>> emu = BotApiEmulator(bot_token="123456:TEST-token")
    >>> await emu.start()          # emu.base_url == "http://127.0.0.1:<port>"
    >>> alice = emu.user(1001, first_name="Alice", phone="+60123456789")
    >>> await alice.send("/start")
    >>> msg = await alice.wait_for_message()

    Parameters: ``rate_limits`` (a :class:`RateLimits`, off by default),
    ``callback_query_ttl`` (seconds a callback query can be answered, 15),
    ``webhook_retry_delay`` (first backoff after a failed webhook delivery),
    ``strict_html_ampersand`` (reject a bare '&' in HTML; real Telegram keeps it),
    ``group_privacy`` (deliver only commands/mentions/replies from groups; off).
    """

    def __init__(
        self,
        bot_token: str = "123456:TEST-token",
        bot_username: str = "loyalty_test_bot",
        bot_first_name: str = "Loyalty",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limits: RateLimits | None = None,
        callback_query_ttl: float = 15.0,
        webhook_retry_delay: float = 0.05,
        webhook_max_retry_delay: float = 1.0,
        webhook_timeout: float = 10.0,
        strict_html_ampersand: bool = True,
        group_privacy: bool = False,
    ) -> None:
        self.bot_token = bot_token
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        try:
            self.bot_id = int(bot_token.split(":", 1)[0])
        except ValueError:
            self.bot_id = 123456
        self.host = host
        self.port = port
        self.rate_limits = rate_limits or RateLimits()
        self.callback_query_ttl = callback_query_ttl
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_max_retry_delay = webhook_max_retry_delay
        self.webhook_timeout = webhook_timeout
        self.strict_html_ampersand = strict_html_ampersand
        self.group_privacy = group_privacy

        self.calls: list[ApiCall] = []
        self.callback_answers: list[CallbackAnswer] = []
        self.updates_log: list[dict[str, Any]] = []
        self.stats = EmulatorStats()
        self.bot_profile: dict[str, Any] = {}

        self._users: dict[int, SimUser] = {}
        self._chats: dict[int, _Chat] = {}
        self._groups: dict[int, SimGroup] = {}
        self._files: dict[str, FileRecord] = {}
        self._files_by_path: dict[str, FileRecord] = {}
        self._file_counter = 0
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 100_000
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._poll_generation = 0
        self._commands: dict[tuple[str, int | None, int | None, str], list[dict[str, str]]] = {}
        self._menu_buttons: dict[int | None, dict[str, Any]] = {}
        self._callback_queries: dict[str, tuple[CallbackQueryHandle, float]] = {}
        self._callback_answers_by_id: dict[str, CallbackAnswer] = {}
        self._faults: list[Fault] = []
        self._global_bucket: _Bucket | None = None
        self._webhook: dict[str, Any] | None = None
        self._webhook_tasks: list[asyncio.Task[None]] = []
        self._webhook_inflight: set[int] = set()
        self._webhook_chat_inflight: set[Any] = set()
        self._webhook_last_error: tuple[int, str] | None = None
        self._changed = asyncio.Event()
        self._polls_waiting = 0  # getUpdates calls in progress
        self._closing = asyncio.Event()
        self._server: http.HttpServer | None = None
        self._client: aiohttp.ClientSession | None = None
        self.base_url = ""

        self._handlers: dict[str, tuple[str, Callable[[_Params], Awaitable[Any]]]] = {}
        for name in (
            "getMe", "logOut", "close", "getUpdates", "setWebhook", "deleteWebhook", "getWebhookInfo",
            "sendMessage", "sendPhoto", "sendDocument", "copyMessage", "forwardMessage", "editMessageText",
            "editMessageCaption", "editMessageReplyMarkup", "editMessageMedia", "deleteMessage",
            "answerCallbackQuery", "setMyCommands", "getMyCommands", "deleteMyCommands", "setChatMenuButton",
            "getChatMenuButton", "sendChatAction", "getFile", "getChat", "setMyDescription", "getMyDescription",
            "setMyShortDescription", "getMyShortDescription", "setMyName", "getMyName",
            "setMyDefaultAdministratorRights", "getMyDefaultAdministratorRights",
        ):
            self._handlers[name.lower()] = (name, getattr(self, "_m_" + name))
        self._known_methods = {m.lower(): m for m in ALL_METHODS}

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> BotApiEmulator:
        """Start the HTTP server; sets :attr:`base_url`."""
        self._server = http.HttpServer(self._handle_http, max_body=MAX_REQUEST_BYTES)
        self.port = await self._server.start(self.host, self.port)
        self.base_url = f"http://{self.host}:{self.port}"
        self._client = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        """Stop the server, webhook delivery and any held requests."""
        self._closing.set()
        self._notify()
        for t in self._webhook_tasks:
            t.cancel()
        for t in self._webhook_tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._webhook_tasks.clear()
        if self._server is not None:
            await self._server.close(timeout=0.5)
            self._server = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def __aenter__(self) -> BotApiEmulator:
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        """``{base_url}/bot{token}`` — prefix for raw HTTP calls in tests."""
        return f"{self.base_url}/bot{self.bot_token}"

    # ------------------------------------------------------------------ test API
    def user(
        self,
        user_id: int,
        first_name: str | None = None,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        phone: str | None = None,
        is_premium: bool = False,
    ) -> SimUser:
        """Get or create a simulated user (same object for the same id)."""
        u = self._users.get(user_id)
        if u is None:
            u = SimUser(self, user_id, first_name or f"User{user_id}", last_name, username, language_code, phone, is_premium)
            self._users[user_id] = u
            self._chats[user_id] = _Chat(id=user_id, type="private", user=u)
        elif phone is not None:
            u.phone = phone
        return u

    @property
    def users(self) -> list[SimUser]:
        return list(self._users.values())

    def group(self, chat_id: int, title: str | None = None) -> SimGroup:
        """Get or create a group chat the bot is in (ids ≤ -1000000000000 are supergroups)."""
        g = self._groups.get(chat_id)
        if g is None:
            if chat_id >= 0:
                raise ValueError("group chat ids are negative")
            ctype = "supergroup" if chat_id <= -1_000_000_000_000 or str(chat_id).startswith("-100") else "group"
            chat = _Chat(id=chat_id, type=ctype, title=title or f"Group {chat_id}", started=True)
            self._chats[chat_id] = chat
            g = SimGroup(self, chat)
            self._groups[chat_id] = g
        return g

    def calls_to(self, method: str) -> list[ApiCall]:
        """Logged calls of one method (case-insensitive)."""
        m = method.lower()
        return [c for c in self.calls if c.method.lower() == m]

    def commands(self, scope: dict[str, Any] | str | None = None, language_code: str = "") -> list[dict[str, str]]:
        """Commands stored by setMyCommands for exactly this scope and language ('' = all languages).

        ``scope`` may be a BotCommandScope dict or just its type name ("default",
        "all_private_chats", ...).
        """
        if isinstance(scope, str):
            scope = {"type": scope}
        return [dict(c) for c in self._commands.get(self._scope_key(scope or {"type": "default"}, language_code, check=False), [])]

    def effective_commands(self, chat_id: int, language_code: str = "") -> list[dict[str, str]]:
        """The command menu a private-chat client would show (scope/language fallback)."""
        for scope in ({"type": "chat", "chat_id": chat_id}, {"type": "all_private_chats"}, {"type": "default"}):
            for lang in ((language_code, "") if language_code else ("",)):
                key = self._scope_key(scope, lang, check=False)
                if key in self._commands:
                    return [dict(c) for c in self._commands[key]]
        return []

    def menu_button(self, chat_id: int | None = None) -> dict[str, Any]:
        """Menu button set by setChatMenuButton for a chat (or the default one)."""
        return dict(self._menu_buttons.get(chat_id) or self._menu_buttons.get(None) or {"type": "default"})

    @property
    def webhook(self) -> dict[str, Any] | None:
        """Current webhook settings (url, secret_token, allowed_updates, max_connections) or None."""
        return dict(self._webhook) if self._webhook else None

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed (polling) or delivered (webhook)."""
        return list(self._updates)

    def enable_rate_limits(self, **overrides: Any) -> RateLimits:
        """Turn flood control on (optionally overriding :class:`RateLimits` fields); resets buckets."""
        self.rate_limits = RateLimits(**{**self.rate_limits.__dict__, **overrides, "enabled": True})
        self._reset_buckets()
        return self.rate_limits

    def disable_rate_limits(self) -> None:
        self.rate_limits.enabled = False
        self._reset_buckets()

    def inject_faults(
        self,
        method: str | None = None,
        codes: list[int] | tuple[int, ...] = (500,),
        *,
        delay: float = 0.0,
        retry_after: int = 1,
        execute: bool = False,
    ) -> None:
        """Make the next ``len(codes)`` calls of ``method`` (None = any) fail in order.

        500 → "Internal Server Error", 502 → "Bad Gateway", 429 → "Too Many
        Requests: retry after ``retry_after``" (with parameters.retry_after).
        ``delay`` holds each request first; ``execute`` performs the call before
        failing (the bot's action happens but it sees an error).
        """
        for code in codes:
            self._faults.append(Fault(method, code=code, retry_after=retry_after if code == 429 else None, delay=delay, execute=execute))

    def inject_timeout(self, method: str | None = None, *, seconds: float = 3600.0, count: int = 1, execute: bool = False) -> None:
        """Hold the next ``count`` calls of ``method`` for ``seconds`` (until stop by default),
        so the client times out. With ``execute=True`` the call takes effect first."""
        for _ in range(count):
            self._faults.append(Fault(method, code=None, delay=seconds, execute=execute))

    def inject_retry_after(self, method: str | None = "sendMessage", retry_after: int = 3, *, count: int = 1) -> None:
        """Answer the next ``count`` calls of ``method`` with 429 and ``retry_after``."""
        self.inject_faults(method, [429] * count, retry_after=retry_after)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def pending_faults(self) -> list[Fault]:
        return list(self._faults)

    def bot_messages(self) -> list[ChatMessage]:
        """All non-deleted bot messages in all chats, ordered by arrival time."""
        msgs = [m for c in self._chats.values() for m in c.messages.values() if m.from_bot and not m.deleted]
        return sorted(msgs, key=lambda m: m.received_at)

    def enqueue_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update (an ``update_id`` is assigned if missing)."""
        kind = next((k for k in update if k != "update_id"), "unknown")
        return self._enqueue(kind, update[kind], update.get("update_id"))

    async def wait_for_updates_consumed(self, timeout: float = 5.0) -> None:
        """Wait until the bot has confirmed (polling) or accepted (webhook) every queued update."""
        await self._wait_for(lambda: True if not self._updates else None, timeout, lambda: f"{len(self._updates)} updates pending")

    async def wait_for_call(self, method: str, timeout: float = 5.0, predicate: Callable[[ApiCall], bool] | None = None, *, after: int = 0) -> ApiCall:
        """Wait for a logged call of ``method`` (index in :attr:`calls` ≥ ``after``)."""
        m = method.lower()

        def check() -> ApiCall | None:
            for c in self.calls[after:]:
                if c.method.lower() == m and (predicate is None or predicate(c)):
                    return c
            return None

        return await self._wait_for(check, timeout, lambda: f"no {method} call")

    async def post_update_to_webhook(
        self, update: dict[str, Any], *, secret: str | None = None, url: str | None = None
    ) -> tuple[int, str]:
        """POST one raw update to the webhook (``url`` or the one set by setWebhook)
        with ``secret`` as X-Telegram-Bot-Api-Secret-Token; return (status, body).
        Does not touch the update queue."""
        target = url or (self._webhook or {}).get("url")
        if not target:
            raise RuntimeError("no webhook url")
        assert self._client is not None, "emulator not started"
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        if "update_id" not in update:
            update = {"update_id": self._new_update_id(), **update}
        async with self._client.post(target, json=update, headers=headers) as resp:
            return resp.status, await resp.text()

    # ------------------------------------------------------------------ internals: waiting
    def _notify(self, chat: _Chat | None = None) -> None:
        self._changed.set()
        self._changed = asyncio.Event()
        if chat is not None and chat.changed is not None:
            chat.changed.set()
            chat.changed = None

    async def _wait_for(
        self,
        check: Callable[[], T | None],
        timeout: float,
        describe: Callable[[], str] | None = None,
        *,
        chat: _Chat | None = None,
    ) -> T:
        # One deadline for the whole wait: every change wakes every waiter, so a task and a
        # timer per wake-up (asyncio.wait_for) made the emulator the busiest part of a load test.
        # A wait on one chat's messages (`chat`) wakes only when the bot changes that chat:
        # with hundreds of customers waiting, waking them all at every Bot API call made the
        # load generator's CPU grow with the number waiting.
        try:
            async with asyncio.timeout(timeout):
                while (result := check()) is None:
                    if chat is None:
                        await self._changed.wait()
                    else:
                        if chat.changed is None:
                            chat.changed = asyncio.Event()
                        await chat.changed.wait()
                return result
        except TimeoutError:
            result = check()
            if result is not None:
                return result
            raise TimeoutError(describe() if describe else "timeout") from None

    # ------------------------------------------------------------------ internals: users' side
    def _private_chat(self, user: SimUser) -> _Chat:
        return self._chats[user.id]

    def _new_message_id(self, chat: _Chat) -> int:
        mid = chat.next_message_id
        chat.next_message_id += 1
        return mid

    def _bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": self.bot_first_name, "username": self.bot_username}

    def _new_update_id(self) -> int:
        self._next_update_id += 1
        return self._next_update_id

    def _enqueue(self, kind: str, payload: dict[str, Any], update_id: int | None = None) -> dict[str, Any]:
        upd = {"update_id": update_id if update_id is not None else self._new_update_id(), kind: payload}
        self.updates_log.append(upd)
        self.stats.updates_created += 1
        if kind in self._allowed_updates:
            self._updates.append(upd)
        self._notify()
        return upd

    def _command_entities(self, text: str) -> list[dict[str, Any]]:
        import re

        ents = []
        for m in re.finditer(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![^\s.,;:!?)])", text):
            ents.append({"type": "bot_command", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group(0))})
        for m in re.finditer(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}\b", text):
            ents.append({"type": "mention", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group(0))})
        ents.sort(key=lambda e: e["offset"])
        return ents

    def _user_sends(
        self,
        user: SimUser,
        chat: _Chat,
        *,
        text: str | None = None,
        contact: dict[str, Any] | None = None,
        photo: bytes | None = None,
        document: tuple[bytes, str, str | None] | None = None,
        caption: str | None = None,
        reply_to: ChatMessage | None = None,
    ) -> ChatMessage:
        if chat.type == "private":
            if chat.blocked:
                self._set_blocked(user, False)
            chat.started = True
        msg = ChatMessage(
            chat=chat.to_api(), message_id=self._new_message_id(chat), date=int(time.time()), from_bot=False,
            sender=user.to_api(), reply_to=reply_to,
        )
        if text is not None:
            msg.text = text
            msg.entities = self._command_entities(text)
        if contact is not None:
            msg.contact = contact
        if photo is not None:
            msg.photo = self._store_user_photo(photo)
        if document is not None:
            data, name, mime = document
            msg.document = self._store_file(data, "document", file_name=name, mime_type=mime or mimetypes.guess_type(name)[0] or "application/octet-stream")
        if caption is not None:
            msg.caption = caption
            msg.caption_entities = self._command_entities(caption)
        chat.messages[msg.message_id] = msg
        if chat.type != "private" and self.group_privacy and not self._group_visible(msg):
            self._notify()
            return msg
        self._enqueue("message", msg.to_api())
        return msg

    def _group_visible(self, msg: ChatMessage) -> bool:
        text = msg.text or msg.caption or ""
        if text.startswith("/") or f"@{self.bot_username}".lower() in text.lower():
            return True
        return msg.reply_to is not None and msg.reply_to.from_bot

    def _user_clicks(self, user: SimUser, message: ChatMessage, *, text: str | None, callback_data: str | None) -> CallbackQueryHandle:
        chat = self._chats.get(message.chat_id)
        live = chat.messages.get(message.message_id) if chat else None
        if live is None or live.deleted:
            raise LookupError(f"message {message.message_id} no longer exists in chat {message.chat_id}")
        for b in live.inline_buttons:
            if (text is not None and b.get("text") == text) or (callback_data is not None and b.get("callback_data") == callback_data):
                if "callback_data" not in b:
                    raise NotImplementedError(f"inline button {b} is not a callback button")
                return self._callback_query(user, live, b["callback_data"])
        raise LookupError(f"message {live.message_id} has no inline button {text or callback_data!r}; buttons: {live.inline_buttons}")

    def _user_sends_callback(self, user: SimUser, message: ChatMessage, data: str) -> CallbackQueryHandle:
        """A callback query with any `data` on a bot message: Telegram does not check the data
        against the message's buttons, so a modified client can send this."""
        chat = self._chats.get(message.chat_id)
        live = chat.messages.get(message.message_id) if chat else None
        if live is None or live.deleted:
            raise LookupError(f"message {message.message_id} no longer exists in chat {message.chat_id}")
        return self._callback_query(user, live, data)

    def _callback_query(self, user: SimUser, live: ChatMessage, data: str) -> CallbackQueryHandle:
        chat = self._chats.get(live.chat_id)
        qid = str(secrets.randbits(63))
        handle = CallbackQueryHandle(self, qid, data, live, user.id)
        self._callback_queries[qid] = (handle, time.monotonic())
        if chat is not None and chat.type == "private":
            chat.started = True
        self._enqueue(
            "callback_query",
            {"id": qid, "from": user.to_api(), "message": live.to_api(), "chat_instance": chat.chat_instance if chat else "0", "data": data},
        )
        return handle

    def _set_blocked(self, user: SimUser, blocked: bool) -> None:
        chat = self._private_chat(user)
        if chat.blocked == blocked:
            return
        chat.blocked = blocked
        bot = self._bot_user()
        member = {"status": "member", "user": bot}
        kicked = {"status": "kicked", "user": bot, "until_date": 0}
        self._enqueue(
            "my_chat_member",
            {
                "chat": chat.to_api(), "from": user.to_api(), "date": int(time.time()),
                "old_chat_member": member if blocked else kicked, "new_chat_member": kicked if blocked else member,
            },
        )

    # ------------------------------------------------------------------ internals: files
    def _new_file_ids(self, kind: str) -> tuple[str, str]:
        prefix = {"photo": "AgACAgIAAxk", "document": "BQACAgIAAxk"}[kind]
        return prefix + secrets.token_urlsafe(40), "AQAD" + secrets.token_urlsafe(10)

    def _store_file(
        self, data: bytes, kind: str, *, file_name: str | None = None, mime_type: str | None = None,
        width: int | None = None, height: int | None = None, ext: str = "",
    ) -> FileRecord:
        self._file_counter += 1
        fid, uid = self._new_file_ids(kind)
        if kind == "photo":
            path = f"photos/file_{self._file_counter}{ext or '.jpg'}"
        else:
            path = f"documents/file_{self._file_counter}{ext or (('.' + file_name.rsplit('.', 1)[1]) if file_name and '.' in file_name else '')}"
        rec = FileRecord(fid, uid, data, kind, path, file_name=file_name, mime_type=mime_type, width=width, height=height)
        self._files[fid] = rec
        self._files_by_path[path] = rec
        return rec

    def _image_info(self, data: bytes) -> tuple[int, int, str]:
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as img:
                img.verify()
            with Image.open(io.BytesIO(data)) as img:
                return img.width, img.height, (img.format or "JPEG").lower()
        except Exception:
            raise _bad("IMAGE_PROCESS_FAILED") from None

    def _store_bot_photo(self, data: bytes) -> list[FileRecord]:
        w, h, fmt = self._image_info(data)
        ext = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif"}.get(fmt, ".jpg")
        sizes = []
        if max(w, h) > 320:
            scale = 320 / max(w, h)
            sizes.append(self._store_file(data, "photo", width=max(1, round(w * scale)), height=max(1, round(h * scale)), ext=ext))
        sizes.append(self._store_file(data, "photo", width=w, height=h, ext=ext))
        for s in sizes:
            s.group = sizes
        return sizes

    def _store_user_photo(self, data: bytes) -> list[FileRecord]:
        """Like Telegram: recompress to JPEG, a 320px thumbnail and the full size (≤1280px)."""
        from PIL import Image

        self._image_info(data)
        with Image.open(io.BytesIO(data)) as img:
            img = img.convert("RGB")
            variants = []
            for limit in ((320, 1280) if max(img.size) > 320 else (320,)):
                im = img.copy()
                if max(im.size) > limit:
                    im.thumbnail((limit, limit))
                buf = io.BytesIO()
                im.save(buf, "JPEG", quality=90)
                variants.append((buf.getvalue(), im.width, im.height))
        sizes = [self._store_file(d, "photo", width=w, height=h, ext=".jpg") for d, w, h in variants]
        for s in sizes:
            s.group = sizes
        return sizes

    def _resolve_input_file(self, p: _Params, name: str, value: Any, kind: str) -> list[FileRecord] | FileRecord:
        """Resolve a photo/document parameter: upload, attach://, file_id or URL."""
        if isinstance(value, str) and value.startswith("attach://"):
            part = p.files.get(value[len("attach://") :])
            if part is None:
                raise _bad("wrong file identifier/HTTP URL specified")
            value = part
        if isinstance(value, UploadedPart):
            if kind == "photo":
                return self._store_bot_photo(value.data)
            fname = value.filename or name
            mime = value.content_type if value.content_type not in (None, "application/octet-stream") else None
            mime = mime or mimetypes.guess_type(fname)[0] or "application/octet-stream"
            return self._store_file(value.data, "document", file_name=fname, mime_type=mime)
        if not isinstance(value, str) or not value:
            raise _bad(f"there is no {kind} in the request")
        if value.startswith(("http://", "https://")):
            raise _bad("failed to get HTTP URL content")
        rec = self._files.get(value)
        if rec is None:
            raise _bad("wrong file identifier/HTTP URL specified")
        if rec.kind != kind:
            raise _bad(f"can't use file of type {rec.kind.capitalize()} as {kind.capitalize()}")
        return rec.group if kind == "photo" else rec

    # ------------------------------------------------------------------ internals: HTTP
    @staticmethod
    def _response(status: int, payload: dict[str, Any]) -> http.Reply:
        return http.Reply(status, json.dumps(payload).encode())

    @staticmethod
    def _parse_body(content_type: str, body: bytes) -> tuple[dict[str, Any], dict[str, UploadedPart]]:
        """The parameters and files of a request body (`content_type`: the whole header)."""
        data: dict[str, Any] = {}
        files: dict[str, UploadedPart] = {}
        ctype = content_type.split(";", 1)[0].strip().lower()
        if ctype.startswith("multipart/"):
            try:
                parts = http.multipart_form(content_type, body)
            except ValueError:
                raise _bad("can't parse multipart/form-data request") from None
            for part in parts:
                if part.filename is not None:
                    files[part.name] = UploadedPart(part.data, part.filename, part.content_type)
                else:
                    data[part.name] = part.data.decode("utf-8", "replace")
        else:
            if not body:
                return data, files
            if ctype == "application/json":
                try:
                    obj = json.loads(body)
                except ValueError:
                    raise _bad("can't parse JSON object") from None
                if not isinstance(obj, dict):
                    raise _bad("can't parse JSON object")
                data.update(obj)
            else:
                data.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return data, files

    async def _handle_http(self, request: http.Request) -> http.Reply:
        path = request.path
        if path.startswith("/file/bot"):
            token, _, file_path = path[len("/file/bot") :].partition("/")
            if file_path and request.method == "GET":
                return self._handle_file(token, file_path)
        elif path.startswith("/bot"):
            token, _, method = path[len("/bot") :].partition("/")
            if token and method and "/" not in method:
                return await self._handle_api(token, method, request)
        return self._response(404, {"ok": False, "error_code": 404, "description": "Not Found"})

    async def _handle_api(self, token: str, method: str, request: http.Request) -> http.Reply:
        if token != self.bot_token:
            self.stats.requests += 1
            self.stats.by_status[401] += 1
            return self._response(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        try:
            data: dict[str, Any] = dict(request.query)
            body, files = self._parse_body(request.headers.get("content-type", ""), request.body)
            data.update(body)
            # a file part may also be referenced directly by the parameter name
            for fname, part in files.items():
                data.setdefault(fname, part)
        except ApiError as e:
            return self._response(e.code, {"ok": False, "error_code": e.code, "description": e.description})
        status, payload = await self._dispatch(method, data, files)
        return self._response(status, payload)

    def _handle_file(self, token: str, file_path: str) -> http.Reply:
        if token != self.bot_token:
            return self._response(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        rec = self._files_by_path.get(file_path)
        if rec is None:
            return self._response(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        ctype = rec.mime_type or mimetypes.guess_type(rec.file_path)[0] or "application/octet-stream"
        return http.Reply(200, rec.data, ctype)

    def _log_params(self, data: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k, v in data.items():
            if k in JSON_FIELDS and isinstance(v, str):
                try:
                    v = json.loads(v)
                except ValueError:
                    pass
            out[k] = v
        return out

    def _take_fault(self, method: str) -> Fault | None:
        for i, f in enumerate(self._faults):
            if f.method is None or f.method.lower() == method.lower():
                del self._faults[i]
                return f
        return None

    async def _dispatch(self, method: str, data: dict[str, Any], files: dict[str, UploadedPart], source: str = "http") -> tuple[int, dict[str, Any]]:
        entry = self._handlers.get(method.lower())
        canonical = entry[0] if entry else self._known_methods.get(method.lower(), method)
        call = ApiCall(canonical, self._log_params(data), time.monotonic(), source=source)
        self.calls.append(call)
        self.stats.requests += 1
        self.stats.by_method[canonical] += 1
        self._notify()
        try:
            if entry is None:
                if method.lower() in self._known_methods:
                    raise ApiError(501, f"Not Implemented: method {canonical} is not emulated by the sandbox")
                raise ApiError(404, "Not Found")
            fault = self._take_fault(canonical)
            handler = entry[1]
            p = _Params(data, files)
            if fault is not None:
                self.stats.faults_injected += 1
                result = None
                if fault.execute:
                    result = await handler(p)
                if fault.delay:
                    try:
                        await asyncio.wait_for(self._closing.wait(), fault.delay)
                    except TimeoutError:
                        pass
                if fault.code == 429:
                    raise _too_many(fault.retry_after or 1)
                if fault.code is not None:
                    raise ApiError(fault.code, fault.description or FAULT_DESCRIPTIONS.get(fault.code, "Internal Server Error"))
                if not fault.execute:
                    result = await handler(p)
            else:
                result = await handler(p)
        except ApiError as e:
            call.status = e.code
            call.description = e.description
            self.stats.by_status[e.code] += 1
            if e.code == 429:
                self.stats.too_many_requests += 1
            payload: dict[str, Any] = {"ok": False, "error_code": e.code, "description": e.description}
            if e.parameters:
                payload["parameters"] = e.parameters
            self._notify()
            return e.code, payload
        call.status = 200
        call.result = result
        self.stats.by_status[200] += 1
        self._notify()
        return 200, {"ok": True, "result": result}

    # ------------------------------------------------------------------ internals: helpers for methods
    def _chat_by_id(self, raw: Any, *, for_send: bool = True) -> _Chat:
        chat: _Chat | None = None
        if isinstance(raw, str) and raw.startswith("@"):
            uname = raw[1:].lower()
            chat = next((c for c in self._chats.values() if c.user is not None and (c.user.username or "").lower() == uname), None)
        else:
            try:
                chat = self._chats.get(int(raw))
            except (TypeError, ValueError):
                chat = None
        if chat is None or not chat.started:
            raise _bad("chat not found")
        if for_send and chat.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        return chat

    def _require(self, method: str, p: _Params) -> None:
        for name, desc in REQUIRED_PARAMS.get(method, {}).items():
            if not p.has(name):
                raise _bad(desc)

    def _format(self, raw: str, parse_mode: str | None, explicit: Any, *, caption: bool) -> tuple[str, list[dict[str, Any]]]:
        mode = (parse_mode or "").strip()
        if mode.lower() == "html":
            try:
                text, entities = parse_html(raw, strict_ampersand=self.strict_html_ampersand)
            except EntityParseError as e:
                raise _bad(f"can't parse entities: {e}") from None
        elif mode.lower() in ("markdownv2", "markdown"):
            text, entities = raw, []  # not parsed: text kept verbatim
        elif mode:
            raise _bad("unsupported parse_mode")
        else:
            text = raw
            entities = explicit if isinstance(explicit, list) else []
        # Telegram trims leading/trailing whitespace
        stripped = text.strip()
        if stripped != text:
            lead = utf16_len(text[: len(text) - len(text.lstrip())])
            total = utf16_len(stripped)
            fixed = []
            for e in entities:
                start = max(0, e["offset"] - lead)
                end = min(total, e["offset"] + e["length"] - lead)
                if end > start:
                    fixed.append({**e, "offset": start, "length": end - start})
            text, entities = stripped, fixed
        limit = MAX_CAPTION if caption else MAX_TEXT
        if utf16_len(text) > limit:
            raise _bad("message caption is too long" if caption else "message is too long")
        return text, entities

    def _parse_markup(self, p: _Params, *, inline_only: bool = False) -> dict[str, Any] | None:
        m = p.json("reply_markup", "can't parse reply keyboard markup JSON object")
        if m is None:
            return None
        if not isinstance(m, dict):
            raise _bad("can't parse reply keyboard markup JSON object")
        if "inline_keyboard" in m:
            rows = m["inline_keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad("can't parse inline keyboard button: Field \"inline_keyboard\" of the InlineKeyboardMarkup should be an Array of Arrays")
            for row in rows:
                for b in row:
                    if not isinstance(b, dict):
                        raise _bad("can't parse inline keyboard button: InlineKeyboardButton should be an Object")
                    if not isinstance(b.get("text"), str):
                        raise _bad("can't parse inline keyboard button: Field \"text\" must be of type String")
                    actions = [k for k in INLINE_BUTTON_ACTIONS if k in b and b[k] is not None]
                    if not actions:
                        raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
                    if "callback_data" in b:
                        data = b["callback_data"]
                        if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= CALLBACK_DATA_MAX:
                            raise _bad("BUTTON_DATA_INVALID")
                    if "url" in b and not (isinstance(b["url"], str) and b["url"].startswith(("http://", "https://", "tg://"))):
                        raise _bad(f"inline keyboard button URL '{b['url']}' is invalid: Wrong HTTP URL")
            return {"inline_keyboard": [[{k: v for k, v in b.items() if v is not None} for b in row] for row in rows]}
        if inline_only:
            raise _bad("inline keyboard expected")
        if "keyboard" in m:
            rows = m["keyboard"]
            if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
                raise _bad("can't parse keyboard button: Field \"keyboard\" of the ReplyKeyboardMarkup should be an Array of Arrays")
            for row in rows:
                for b in row:
                    if not (isinstance(b, str) or (isinstance(b, dict) and isinstance(b.get("text"), str))):
                        raise _bad("can't parse keyboard button: KeyboardButton should be a String or an Object")
            return m
        if m.get("remove_keyboard") or m.get("force_reply"):
            return m
        raise _bad("can't parse reply keyboard markup JSON object")

    def _check_rate(self, chat: _Chat) -> None:
        rl = self.rate_limits
        if not rl.enabled:
            return
        now = time.monotonic()
        if self._global_bucket is None:
            self._global_bucket = _Bucket(rl.global_per_second, rl.global_burst, rl.global_burst, now)
        if chat.bucket is None:
            if chat.type == "private":
                chat.bucket = _Bucket(rl.per_chat_per_second, rl.per_chat_burst, rl.per_chat_burst, now)
            else:
                chat.bucket = _Bucket(rl.group_per_minute / 60.0, rl.group_burst, rl.group_burst, now)
        for bucket in (self._global_bucket, chat.bucket):
            retry = bucket.peek(now)
            if retry is not None:
                raise _too_many(retry)
        self._global_bucket.tokens -= 1
        chat.bucket.tokens -= 1

    def _reset_buckets(self) -> None:
        self._global_bucket = None
        for c in self._chats.values():
            c.bucket = None

    def _reply_target(self, p: _Params, chat: _Chat) -> ChatMessage | None:
        rp = p.json("reply_parameters")
        mid = None
        allow = p.bool("allow_sending_without_reply")
        if isinstance(rp, dict):
            mid = rp.get("message_id")
            allow = allow or bool(rp.get("allow_sending_without_reply"))
        elif p.has("reply_to_message_id"):
            mid = p.int("reply_to_message_id")
        if mid is None:
            return None
        target = chat.messages.get(int(mid))
        if target is None or target.deleted:
            if allow:
                return None
            raise _bad("message to be replied not found")
        return target

    def _new_bot_message(self, chat: _Chat, p: _Params, markup: dict[str, Any] | None, reply_to: ChatMessage | None, **content: Any) -> ChatMessage:
        msg = ChatMessage(
            chat=chat.to_api(), message_id=self._new_message_id(chat), date=int(time.time()), from_bot=True,
            sender=self._bot_user(), reply_markup=markup, reply_to=reply_to,
            protect_content=p.bool("protect_content"), disable_notification=p.bool("disable_notification"),
            parse_mode=p.str("parse_mode"), **content,
        )
        chat.messages[msg.message_id] = msg
        chat.inbox.append(msg)
        if markup is not None:
            if "keyboard" in markup:
                chat.reply_keyboard = markup
            elif markup.get("remove_keyboard"):
                chat.reply_keyboard = None
        self.stats.messages_sent += 1
        self._notify(chat)
        return msg

    def _edit_target(self, p: _Params) -> tuple[_Chat, ChatMessage]:
        if p.has("inline_message_id"):
            raise _bad("MESSAGE_ID_INVALID")
        if not p.has("chat_id"):
            raise _bad("chat_id is empty")
        if not p.has("message_id"):
            raise _bad("message identifier is not specified")
        chat = self._chat_by_id(p.raw("chat_id"), for_send=False)
        msg = chat.messages.get(p.int("message_id") or 0)
        if msg is None or msg.deleted:
            raise _bad("message to edit not found")
        if not msg.from_bot:
            raise _bad("message can't be edited")
        return chat, msg

    def _mark_edited(self, chat: _Chat, msg: ChatMessage) -> dict[str, Any]:
        msg.edit_date = int(time.time())
        msg.edit_count += 1
        chat.edits.append(msg)
        self._notify(chat)
        return msg.to_api()

    def _scope_key(self, scope: Any, language_code: str | None, *, check: bool = True) -> tuple[str, int | None, int | None, str]:
        if scope is None:
            scope = {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in (
            "default", "all_private_chats", "all_group_chats", "all_chat_administrators", "chat", "chat_administrators", "chat_member",
        ):
            raise _bad("can't parse BotCommandScope JSON object")
        stype = scope["type"]
        chat_id = user_id = None
        if stype in ("chat", "chat_administrators", "chat_member"):
            if scope.get("chat_id") is None:
                raise _bad("chat_id is empty")
            chat_id = int(scope["chat_id"]) if check else int(scope["chat_id"])
            if check:
                self._chat_by_id(chat_id, for_send=False)
            if stype == "chat_member":
                if scope.get("user_id") is None:
                    raise _bad("user_id is empty")
                user_id = int(scope["user_id"])
        lang = language_code or ""
        if check and lang and not (len(lang) == 2 and lang.isalpha()):
            raise _bad("invalid language code specified")
        return stype, chat_id, user_id, lang

    # ------------------------------------------------------------------ Bot API methods
    async def _m_getMe(self, p: _Params) -> Any:
        return {
            **self._bot_user(), "can_join_groups": True, "can_read_all_group_messages": not self.group_privacy,
            "supports_inline_queries": False, "can_connect_to_business": False, "has_main_web_app": False,
        }

    async def _m_logOut(self, p: _Params) -> Any:
        return True

    async def _m_close(self, p: _Params) -> Any:
        return True

    async def _m_getUpdates(self, p: _Params) -> Any:
        if self._webhook:
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first")
        offset = p.int("offset", 0) or 0
        limit = min(100, max(1, p.int("limit", 100) or 100))
        timeout = max(0, p.int("timeout", 0) or 0)
        allowed = p.json("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES
        self._poll_generation += 1
        generation = self._poll_generation
        if self._polls_waiting:
            self._notify()  # an earlier long poll still waiting ends with 409 Conflict
        pending = len(self._updates)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        if len(self._updates) != pending:
            self._notify()  # confirmed: wait_for_updates_consumed may be waiting for this
        def ready() -> list[dict[str, Any]] | None:
            if generation != self._poll_generation:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running")
            batch = [u for u in self._updates if (set(u) - {"update_id"}) & self._allowed_updates][:limit]
            return batch if batch or self._closing.is_set() or self._webhook else None

        self._polls_waiting += 1
        try:
            return await self._wait_for(ready, timeout)
        except TimeoutError:
            return []
        finally:
            self._polls_waiting -= 1

    async def _m_setWebhook(self, p: _Params) -> Any:
        url = p.str("url") or ""
        if not url:
            await self._m_deleteWebhook(p)
            return True
        if not url.startswith(("http://", "https://")):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.str("secret_token")
        if secret is not None and not (1 <= len(secret) <= 256 and all(c.isascii() and (c.isalnum() or c in "_-") for c in secret)):
            raise _bad("secret token contains unallowed characters")
        allowed = p.json("allowed_updates")
        if isinstance(allowed, list):
            self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES
        if p.bool("drop_pending_updates"):
            self._updates.clear()
        self._webhook = {
            "url": url, "secret_token": secret, "max_connections": max(1, min(100, p.int("max_connections", 40) or 40)),
            "allowed_updates": sorted(self._allowed_updates),
        }
        self._webhook_last_error = None
        self._start_webhook_workers()
        self._notify()
        return True

    async def _m_deleteWebhook(self, p: _Params) -> Any:
        if p.bool("drop_pending_updates"):
            self._updates.clear()
        self._webhook = None
        self._cancel_webhook_workers()
        self._webhook_inflight.clear()
        self._webhook_chat_inflight.clear()
        self._notify()
        return True

    async def _m_getWebhookInfo(self, p: _Params) -> Any:
        info: dict[str, Any] = {"url": "", "has_custom_certificate": False, "pending_update_count": len(self._updates)}
        if self._webhook:
            info["url"] = self._webhook["url"]
            info["max_connections"] = self._webhook["max_connections"]
            info["allowed_updates"] = self._webhook["allowed_updates"]
            if self._webhook_last_error:
                info["last_error_date"], info["last_error_message"] = self._webhook_last_error
        return info

    async def _m_sendMessage(self, p: _Params) -> Any:
        self._require("sendMessage", p)
        chat = self._chat_by_id(p.raw("chat_id"))
        text, entities = self._format(p.str("text") or "", p.str("parse_mode"), p.json("entities"), caption=False)
        if not text:
            raise _bad("message text is empty")
        markup = self._parse_markup(p)
        reply_to = self._reply_target(p, chat)
        lpo = p.json("link_preview_options")
        if lpo is None and p.bool("disable_web_page_preview"):
            lpo = {"is_disabled": True}
        self._check_rate(chat)
        msg = self._new_bot_message(chat, p, markup, reply_to, text=text, entities=entities, source=p.str("text"), link_preview_options=lpo)
        return msg.to_api()

    async def _send_media(self, p: _Params, method: str, kind: str) -> Any:
        self._require(method, p)
        chat = self._chat_by_id(p.raw("chat_id"))
        media = self._resolve_input_file(p, kind, p.raw(kind), kind)
        caption = entities = None
        if p.has("caption"):
            caption, entities = self._format(p.str("caption") or "", p.str("parse_mode"), p.json("caption_entities"), caption=True)
        markup = self._parse_markup(p)
        reply_to = self._reply_target(p, chat)
        self._check_rate(chat)
        content: dict[str, Any] = {"caption": caption or None, "caption_entities": entities or [], "source": p.str("caption")}
        if kind == "photo":
            content["photo"] = media
        else:
            content["document"] = media
        msg = self._new_bot_message(chat, p, markup, reply_to, **content)
        return msg.to_api()

    async def _m_sendPhoto(self, p: _Params) -> Any:
        return await self._send_media(p, "sendPhoto", "photo")

    async def _m_sendDocument(self, p: _Params) -> Any:
        return await self._send_media(p, "sendDocument", "document")

    def _copy_source(self, p: _Params, method: str) -> tuple[_Chat, ChatMessage]:
        self._require(method, p)
        chat = self._chat_by_id(p.raw("chat_id"))
        src_chat = self._chat_by_id(p.raw("from_chat_id"), for_send=False)
        src = src_chat.messages.get(p.int("message_id") or 0)
        if src is None or src.deleted:
            raise _bad(f"message to {'copy' if method == 'copyMessage' else 'forward'} not found")
        return chat, src

    async def _m_copyMessage(self, p: _Params) -> Any:
        chat, src = self._copy_source(p, "copyMessage")
        caption, centities = src.caption, src.caption_entities
        if p.has("caption"):
            caption, centities = self._format(p.str("caption") or "", p.str("parse_mode"), p.json("caption_entities"), caption=True)
        markup = self._parse_markup(p)
        reply_to = self._reply_target(p, chat)
        self._check_rate(chat)
        msg = self._new_bot_message(
            chat, p, markup, reply_to, text=src.text, entities=list(src.entities), caption=caption if (src.photo or src.document) else None,
            caption_entities=list(centities or []), photo=src.photo, document=src.document, contact=src.contact, source=src.source,
        )
        return {"message_id": msg.message_id}

    async def _m_forwardMessage(self, p: _Params) -> Any:
        chat, src = self._copy_source(p, "forwardMessage")
        self._check_rate(chat)
        origin = {"type": "user", "sender_user": src.sender, "date": src.date}
        msg = self._new_bot_message(
            chat, p, None, None, text=src.text, entities=list(src.entities), caption=src.caption,
            caption_entities=list(src.caption_entities), photo=src.photo, document=src.document, contact=src.contact,
            source=src.source, forward_origin=origin,
        )
        return msg.to_api()

    async def _m_editMessageText(self, p: _Params) -> Any:
        chat, msg = self._edit_target(p)
        if not p.has("text"):
            raise _bad("message text is empty")
        text, entities = self._format(p.str("text") or "", p.str("parse_mode"), p.json("entities"), caption=False)
        if not text:
            raise _bad("message text is empty")
        if msg.text is None:
            raise _bad("there is no text in the message to edit")
        markup = self._parse_markup(p, inline_only=True)
        if text == msg.text and entities == msg.entities and (markup or None) == self._inline_of(msg):
            raise _bad("message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message")
        msg.text, msg.entities, msg.source, msg.parse_mode = text, entities, p.str("text"), p.str("parse_mode")
        msg.reply_markup = markup
        lpo = p.json("link_preview_options")
        if lpo is not None:
            msg.link_preview_options = lpo
        return self._mark_edited(chat, msg)

    @staticmethod
    def _inline_of(msg: ChatMessage) -> dict[str, Any] | None:
        return msg.reply_markup if msg.reply_markup and "inline_keyboard" in msg.reply_markup else None

    async def _m_editMessageCaption(self, p: _Params) -> Any:
        chat, msg = self._edit_target(p)
        if not (msg.photo or msg.document):
            raise _bad("there is no caption in the message to edit")
        caption, entities = self._format(p.str("caption") or "", p.str("parse_mode"), p.json("caption_entities"), caption=True)
        markup = self._parse_markup(p, inline_only=True)
        if (caption or None) == msg.caption and entities == msg.caption_entities and (markup or None) == self._inline_of(msg):
            raise _bad("message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message")
        msg.caption, msg.caption_entities, msg.source = caption or None, entities, p.str("caption")
        msg.reply_markup = markup
        return self._mark_edited(chat, msg)

    async def _m_editMessageReplyMarkup(self, p: _Params) -> Any:
        chat, msg = self._edit_target(p)
        markup = self._parse_markup(p, inline_only=True)
        if markup is not None and not markup["inline_keyboard"]:
            markup = None
        if markup == self._inline_of(msg):
            raise _bad("message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message")
        msg.reply_markup = markup
        return self._mark_edited(chat, msg)

    async def _m_editMessageMedia(self, p: _Params) -> Any:
        chat, msg = self._edit_target(p)
        self._require("editMessageMedia", p)
        media = p.json("media", "can't parse InputMedia JSON object")
        if not isinstance(media, dict) or media.get("type") not in ("photo", "document"):
            raise _bad("can't parse InputMedia JSON object")
        if not (msg.photo or msg.document):
            raise _bad("there is no media in the message to edit")
        kind = media["type"]
        rec = self._resolve_input_file(p, "media", media.get("media"), kind)
        caption, entities = None, []
        if media.get("caption"):
            caption, entities = self._format(media["caption"], media.get("parse_mode"), media.get("caption_entities"), caption=True)
        markup = self._parse_markup(p, inline_only=True)
        msg.photo = rec if kind == "photo" else None  # type: ignore[assignment]
        msg.document = rec if kind == "document" else None  # type: ignore[assignment]
        msg.caption, msg.caption_entities, msg.reply_markup = caption, entities, markup
        return self._mark_edited(chat, msg)

    async def _m_deleteMessage(self, p: _Params) -> Any:
        self._require("deleteMessage", p)
        chat = self._chat_by_id(p.raw("chat_id"), for_send=False)
        msg = chat.messages.get(p.int("message_id") or 0)
        if msg is None or msg.deleted:
            raise _bad("message to delete not found")
        if chat.type != "private" and not msg.from_bot:
            raise _bad("message can't be deleted")
        msg.deleted = True
        if msg in chat.inbox:
            chat.inbox.remove(msg)
        self._notify(chat)
        return True

    async def _m_answerCallbackQuery(self, p: _Params) -> Any:
        self._require("answerCallbackQuery", p)
        qid = p.str("callback_query_id") or ""
        entry = self._callback_queries.get(qid)
        if entry is None or qid in self._callback_answers_by_id or time.monotonic() - entry[1] > self.callback_query_ttl:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        text = p.str("text")
        if text is not None and len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        ans = CallbackAnswer(qid, entry[0].user_id, text, p.bool("show_alert"), p.str("url"), p.int("cache_time", 0) or 0, time.monotonic())
        self.callback_answers.append(ans)
        self._callback_answers_by_id[qid] = ans
        self._notify()
        return True

    async def _m_setMyCommands(self, p: _Params) -> Any:
        commands = p.json("commands", "can't parse commands JSON object")
        if not isinstance(commands, list):
            raise _bad("commands is empty" if commands is None else "can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad("too many commands specified")
        clean = []
        for c in commands:
            if not isinstance(c, dict):
                raise _bad("can't parse BotCommand JSON object")
            cmd = str(c.get("command", "")).lstrip("/")
            desc = str(c.get("description", ""))
            if not (1 <= len(cmd) <= 32) or not all(ch.isascii() and (ch.islower() or ch.isdigit() or ch == "_") for ch in cmd):
                raise _bad("BOT_COMMAND_INVALID")
            if not (1 <= len(desc) <= 256):
                raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": cmd, "description": desc})
        key = self._scope_key(p.json("scope"), p.str("language_code"))
        if clean:
            self._commands[key] = clean
        else:
            self._commands.pop(key, None)
        return True

    async def _m_getMyCommands(self, p: _Params) -> Any:
        key = self._scope_key(p.json("scope"), p.str("language_code"))
        return [dict(c) for c in self._commands.get(key, [])]

    async def _m_deleteMyCommands(self, p: _Params) -> Any:
        self._commands.pop(self._scope_key(p.json("scope"), p.str("language_code")), None)
        return True

    async def _m_setChatMenuButton(self, p: _Params) -> Any:
        chat_id = None
        if p.has("chat_id"):
            chat_id = self._chat_by_id(p.raw("chat_id"), for_send=False).id
        button = p.json("menu_button", "can't parse menu button JSON object") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in ("default", "commands", "web_app"):
            raise _bad("can't parse menu button JSON object")
        self._menu_buttons[chat_id] = button
        return True

    async def _m_getChatMenuButton(self, p: _Params) -> Any:
        chat_id = self._chat_by_id(p.raw("chat_id"), for_send=False).id if p.has("chat_id") else None
        return self.menu_button(chat_id)

    async def _m_sendChatAction(self, p: _Params) -> Any:
        self._require("sendChatAction", p)
        chat = self._chat_by_id(p.raw("chat_id"))
        action = p.str("action")
        if action not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        chat.actions.append((action, time.monotonic()))
        return True

    async def _m_getFile(self, p: _Params) -> Any:
        self._require("getFile", p)
        rec = self._files.get(p.str("file_id") or "")
        if rec is None:
            raise _bad("wrong file_id or the file is temporarily unavailable")
        return {"file_id": rec.file_id, "file_unique_id": rec.file_unique_id, "file_size": len(rec.data), "file_path": rec.file_path}

    async def _m_getChat(self, p: _Params) -> Any:
        self._require("getChat", p)
        chat = self._chat_by_id(p.raw("chat_id"), for_send=False)
        info = {
            **chat.to_api(), "accent_color_id": 0, "max_reaction_count": 11,
            "accepted_gift_types": {"unlimited_gifts": True, "limited_gifts": True, "unique_gifts": True, "premium_subscription": True, "gifts_from_channels": True},
        }
        return info

    async def _m_setMyDescription(self, p: _Params) -> Any:
        self.bot_profile[("description", p.str("language_code") or "")] = p.str("description") or ""
        return True

    async def _m_getMyDescription(self, p: _Params) -> Any:
        return {"description": self.bot_profile.get(("description", p.str("language_code") or ""), "")}

    async def _m_setMyShortDescription(self, p: _Params) -> Any:
        self.bot_profile[("short_description", p.str("language_code") or "")] = p.str("short_description") or ""
        return True

    async def _m_getMyShortDescription(self, p: _Params) -> Any:
        return {"short_description": self.bot_profile.get(("short_description", p.str("language_code") or ""), "")}

    async def _m_setMyName(self, p: _Params) -> Any:
        self.bot_profile[("name", p.str("language_code") or "")] = p.str("name") or ""
        return True

    async def _m_getMyName(self, p: _Params) -> Any:
        return {"name": self.bot_profile.get(("name", p.str("language_code") or ""), self.bot_first_name)}

    async def _m_setMyDefaultAdministratorRights(self, p: _Params) -> Any:
        self.bot_profile[("rights", p.bool("for_channels"))] = p.json("rights")
        return True

    async def _m_getMyDefaultAdministratorRights(self, p: _Params) -> Any:
        rights = self.bot_profile.get(("rights", p.bool("for_channels")))
        if rights:
            return rights
        keys = (
            "is_anonymous can_manage_chat can_delete_messages can_manage_video_chats can_restrict_members "
            "can_promote_members can_change_info can_invite_users can_post_stories can_edit_stories can_delete_stories"
        ).split()
        return {k: False for k in keys}

    # ------------------------------------------------------------------ webhook delivery
    def _cancel_webhook_workers(self) -> None:
        current = asyncio.current_task()
        for t in self._webhook_tasks:
            if t is not current:  # a webhook reply may call set/deleteWebhook from inside a worker
                t.cancel()
        self._webhook_tasks = []

    def _start_webhook_workers(self) -> None:
        self._cancel_webhook_workers()
        self._webhook_inflight.clear()
        self._webhook_chat_inflight.clear()
        assert self._webhook is not None
        for _ in range(self._webhook["max_connections"]):
            self._webhook_tasks.append(asyncio.get_running_loop().create_task(self._webhook_worker()))

    @staticmethod
    def _update_chat_key(update: dict[str, Any]) -> Any:
        for k, v in update.items():
            if k == "update_id" or not isinstance(v, dict):
                continue
            chat = v.get("chat") or (v.get("message") or {}).get("chat")
            if isinstance(chat, dict):
                return chat.get("id")
            frm = v.get("from")
            if isinstance(frm, dict):
                return ("user", frm.get("id"))
        return None

    def _next_webhook_update(self) -> dict[str, Any] | None:
        for u in self._updates:
            if u["update_id"] in self._webhook_inflight:
                continue
            key = self._update_chat_key(u)
            if key is not None and key in self._webhook_chat_inflight:
                continue
            return u
        return None

    async def _webhook_worker(self) -> None:
        delay = self.webhook_retry_delay
        me = asyncio.current_task()
        while self._webhook and not self._closing.is_set() and me in self._webhook_tasks:
            upd = self._next_webhook_update()
            if upd is None:
                ev = self._changed
                await ev.wait()
                continue
            key = self._update_chat_key(upd)
            self._webhook_inflight.add(upd["update_id"])
            if key is not None:
                self._webhook_chat_inflight.add(key)
            try:
                ok = await self._deliver(upd)
            finally:
                self._webhook_inflight.discard(upd["update_id"])
                self._webhook_chat_inflight.discard(key)
            if ok:
                if upd in self._updates:
                    self._updates.remove(upd)
                delay = self.webhook_retry_delay
                self._notify()
            else:
                self._notify()
                await asyncio.sleep(delay)
                delay = min(self.webhook_max_retry_delay, delay * 2)

    async def _deliver(self, upd: dict[str, Any]) -> bool:
        hook = self._webhook
        if hook is None or self._client is None:
            return False
        headers = {"Content-Type": "application/json"}
        if hook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook["secret_token"]
        try:
            async with self._client.post(
                hook["url"], data=json.dumps(upd), headers=headers, timeout=aiohttp.ClientTimeout(total=self.webhook_timeout)
            ) as resp:
                if not 200 <= resp.status < 300:
                    self.stats.webhook_failures += 1
                    self._webhook_last_error = (int(time.time()), f"Wrong response from the webhook: {resp.status} {resp.reason}")
                    return False
                try:
                    data, files = self._parse_body(resp.headers.get("Content-Type", ""), await resp.read())
                except ApiError:
                    data, files = {}, {}
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            self.stats.webhook_failures += 1
            self._webhook_last_error = (int(time.time()), f"Connection failed: {type(e).__name__}")
            return False
        self.stats.webhook_deliveries += 1
        method = data.pop("method", None)
        if isinstance(method, str) and method:
            for fname, part in files.items():
                data.setdefault(fname, part)
            await self._dispatch(method, data, files, source="webhook-response")
        return True

