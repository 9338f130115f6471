"""Test-side handles: a simulated Telegram user and a group chat."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

from .models import CallbackAnswer, ChatMessage, decode_qr_bytes

if TYPE_CHECKING:
    from .emulator import BotApiEmulator, _Chat

__all__ = ["CallbackQueryHandle", "SimGroup", "SimUser"]

_OWN = object()

Predicate = Callable[[ChatMessage], bool]


class _ChatView:
    """Reading side of one chat: what the bot sent there."""

    _emu: BotApiEmulator

    @property
    def _chat(self) -> _Chat:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def chat_id(self) -> int:
        return self._chat.id

    @property
    def messages(self) -> list[ChatMessage]:
        """Bot messages in this chat, current state (edits applied, deleted ones gone)."""
        return [m for m in self._chat.messages.values() if m.from_bot and not m.deleted]

    @property
    def history(self) -> list[ChatMessage]:
        """All non-deleted messages (user's and bot's) in order."""
        return [m for m in self._chat.messages.values() if not m.deleted]

    @property
    def last_message(self) -> ChatMessage | None:
        msgs = self.messages
        return msgs[-1] if msgs else None

    @property
    def reply_keyboard(self) -> dict[str, Any] | None:
        """The reply keyboard currently shown in this chat (None if removed/never sent)."""
        return self._chat.reply_keyboard

    @property
    def chat_actions(self) -> list[str]:
        """sendChatAction actions the bot sent to this chat."""
        return [a for a, _t in self._chat.actions]

    def drain(self) -> list[ChatMessage]:
        """Mark every pending (unconsumed) bot message and edit as consumed; return the messages."""
        msgs = list(self._chat.inbox)
        self._chat.inbox.clear()
        self._chat.edits.clear()
        return msgs

    @property
    def pending(self) -> list[ChatMessage]:
        """Bot messages not yet consumed by wait_for_message."""
        return list(self._chat.inbox)

    async def wait_for_message(self, timeout: float = 15.0, predicate: Predicate | None = None) -> ChatMessage:
        """Return the next bot message in this chat not yet consumed.

        Messages that arrived before the call count. With ``predicate`` the first
        matching pending message is returned and it *and all earlier pending
        messages* are consumed. Raises ``TimeoutError`` listing what did arrive.
        """
        chat = self._chat

        def check() -> ChatMessage | None:
            for idx, m in enumerate(chat.inbox):
                if predicate is None or predicate(m):
                    del chat.inbox[: idx + 1]
                    return m
            return None

        return await self._emu._wait_for(check, timeout, lambda: f"no matching bot message in chat {chat.id}; pending: {chat.inbox!r}; all: {self.messages[-5:]!r}", chat=chat)

    async def wait_for_messages(self, count: int, timeout: float = 15.0) -> list[ChatMessage]:
        """Wait for the next ``count`` bot messages."""
        deadline = time.monotonic() + timeout
        out = []
        for _ in range(count):
            out.append(await self.wait_for_message(timeout=max(0.0, deadline - time.monotonic())))
        return out

    async def wait_for_edit(
        self, message: ChatMessage | int | None = None, timeout: float = 15.0, predicate: Predicate | None = None
    ) -> ChatMessage:
        """Wait until the bot edits a message in this chat (``message`` or message_id to restrict).

        Edits made before the call count (queue of unconsumed edit events).
        Returns the (live) edited message; consumes that edit event and earlier ones.
        """
        chat = self._chat
        want = message.message_id if isinstance(message, ChatMessage) else message

        def check() -> ChatMessage | None:
            for idx, m in enumerate(chat.edits):
                if (want is None or m.message_id == want) and (predicate is None or predicate(m)):
                    del chat.edits[: idx + 1]
                    return m
            return None

        return await self._emu._wait_for(check, timeout, lambda: f"no matching edit in chat {chat.id}; pending edits: {chat.edits!r}", chat=chat)

    async def wait_for_deletion(self, message: ChatMessage | int, timeout: float = 15.0) -> None:
        mid = message.message_id if isinstance(message, ChatMessage) else message
        chat = self._chat

        def check() -> bool | None:
            m = chat.messages.get(mid)
            return True if (m is None or m.deleted) else None

        await self._emu._wait_for(check, timeout, lambda: f"message {mid} in chat {chat.id} was not deleted", chat=chat)

    def decode_qr(self, message: ChatMessage | None = None) -> str | None:
        """Decode the QR code in a photo (or image document) message; default: last bot message."""
        msg = message if message is not None else self.last_message
        if msg is None:
            return None
        return decode_qr_bytes(msg.photo_bytes or msg.document_bytes)


class CallbackQueryHandle:
    """Result of :meth:`SimUser.click`."""

    def __init__(self, emu: BotApiEmulator, query_id: str, data: str, message: ChatMessage, user_id: int) -> None:
        self._emu = emu
        self.id = query_id
        self.data = data
        self.message = message
        self.user_id = user_id
        self.created_at = time.monotonic()

    @property
    def answer(self) -> CallbackAnswer | None:
        """The bot's answerCallbackQuery, if any yet."""
        return self._emu._callback_answers_by_id.get(self.id)

    async def wait_answer(self, timeout: float = 15.0) -> CallbackAnswer:
        return await self._emu._wait_for(lambda: self.answer, timeout, lambda: f"callback query {self.id} not answered")

    def __repr__(self) -> str:
        return f"<CallbackQueryHandle id={self.id} data={self.data!r} answer={self.answer!r}>"


class SimUser(_ChatView):
    """A Telegram user talking to the bot in a private chat (chat_id == user id).

    Create with :meth:`BotApiEmulator.user`. Until the user sends something the
    bot has no chat with them ("chat not found").
    """

    def __init__(
        self,
        emu: BotApiEmulator,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        phone: str | None = None,
        is_premium: bool = False,
    ) -> None:
        self._emu = emu
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        self.language_code = language_code
        self.phone = phone
        self.is_premium = is_premium

    @property
    def _chat(self) -> _Chat:
        return self._emu._private_chat(self)

    def to_api(self) -> dict[str, Any]:
        """Telegram ``User`` object."""
        u: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            u["last_name"] = self.last_name
        if self.username:
            u["username"] = self.username
        if self.language_code:
            u["language_code"] = self.language_code
        if self.is_premium:
            u["is_premium"] = True
        return u

    @property
    def blocked(self) -> bool:
        return self._chat.blocked

    @property
    def has_chat(self) -> bool:
        return self._chat.started

    # ---- actions -----------------------------------------------------------
    async def send(self, text: str, *, reply_to: ChatMessage | None = None) -> ChatMessage:
        """Send a text message (commands get a ``bot_command`` entity). Unblocks the bot if blocked."""
        return self._emu._user_sends(self, self._chat, text=text, reply_to=reply_to)

    async def send_in_group(self, chat_id: int, text: str, *, title: str | None = None, reply_to: ChatMessage | None = None) -> ChatMessage:
        """Send ``text`` in group ``chat_id`` (created on first use; the bot is a member)."""
        group = self._emu.group(chat_id, title=title)
        return self._emu._user_sends(self, group._chat, text=text, reply_to=reply_to)

    async def share_contact(
        self,
        phone: str | None = None,
        user_id: Any = _OWN,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        strip_plus: bool = False,
    ) -> ChatMessage:
        """Send a contact. Defaults: own phone and ``user_id == self.id``.

        ``user_id=999`` shares someone else's (or a spoofed) contact,
        ``user_id=None`` a card without user_id. ``strip_plus`` sends the number
        without '+', as some Telegram clients do for one's own contact.
        """
        phone = phone if phone is not None else self.phone
        if phone is None:
            raise ValueError(f"user {self.id} has no phone; pass phone= or create the user with phone=")
        if strip_plus:
            phone = phone.lstrip("+")
        contact: dict[str, Any] = {"phone_number": phone, "first_name": first_name or self.first_name}
        uid = self.id if user_id is _OWN else user_id
        if user_id is _OWN and self.last_name and last_name is None:
            contact["last_name"] = self.last_name
        elif last_name:
            contact["last_name"] = last_name
        if uid is not None:
            contact["user_id"] = uid
        return self._emu._user_sends(self, self._chat, contact=contact)

    async def press(self, text: str) -> ChatMessage:
        """Press a button of the reply keyboard currently shown, by its text.

        Sends the text, or the own contact for a ``request_contact`` button.
        Raises ``LookupError`` if no keyboard is shown or it has no such button.
        """
        kb = self._chat.reply_keyboard
        if not kb:
            raise LookupError(f"no reply keyboard is shown in chat {self.id}")
        for row in kb.get("keyboard", []):
            for b in row:
                btext = b if isinstance(b, str) else b.get("text")
                if btext != text:
                    continue
                if isinstance(b, dict) and b.get("request_contact"):
                    return await self.share_contact()
                if isinstance(b, dict) and any(k in b for k in ("request_location", "request_poll", "web_app", "request_users", "request_chat")):
                    raise NotImplementedError(f"button {text!r} type is not emulated: {b}")
                return await self.send(text)
        raise LookupError(f"reply keyboard has no button {text!r}; buttons: {[b if isinstance(b, str) else b.get('text') for r in kb.get('keyboard', []) for b in r]}")

    async def click(self, message: ChatMessage, text: str | None = None, *, callback_data: str | None = None) -> CallbackQueryHandle:
        """Press an inline button of a bot message by its text (or callback_data).

        Produces a ``callback_query`` update; returns a handle to inspect the answer.
        """
        return self._emu._user_clicks(self, message, text=text, callback_data=callback_data)

    async def send_callback(self, message: ChatMessage, data: str) -> CallbackQueryHandle:
        """A callback query carrying any `data` on a bot message, as a modified client can send
        (Telegram does not check callback data against the message's buttons)."""
        return self._emu._user_sends_callback(self, message, data)

    async def send_photo(self, data: bytes, caption: str | None = None) -> ChatMessage:
        """Send a photo (any Pillow-readable image; stored recompressed to JPEG like Telegram)."""
        return self._emu._user_sends(self, self._chat, photo=data, caption=caption)

    async def send_document(self, data: bytes, file_name: str = "file.bin", mime_type: str | None = None, caption: str | None = None) -> ChatMessage:
        return self._emu._user_sends(self, self._chat, document=(data, file_name, mime_type), caption=caption)

    def block_bot(self) -> None:
        """Block the bot: sends to this user fail with 403 (a my_chat_member update is sent)."""
        self._emu._set_blocked(self, True)

    def unblock_bot(self) -> None:
        self._emu._set_blocked(self, False)

    def __repr__(self) -> str:
        return f"<SimUser {self.id} {self.first_name!r}>"


class SimGroup(_ChatView):
    """A group/supergroup chat the bot is a member of (see :meth:`BotApiEmulator.group`)."""

    def __init__(self, emu: BotApiEmulator, chat: _Chat) -> None:
        self._emu = emu
        self._group_chat = chat

    @property
    def _chat(self) -> _Chat:
        return self._group_chat

    def __repr__(self) -> str:
        return f"<SimGroup {self.chat_id} {self._group_chat.title!r}>"
