"""Plain data records kept by the emulator (messages, files, calls, stats, faults)."""

from __future__ import annotations

import io
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

__all__ = [
    "ApiCall",
    "CallbackAnswer",
    "ChatMessage",
    "EmulatorStats",
    "Fault",
    "FileRecord",
    "RateLimits",
    "UploadedPart",
    "decode_qr_bytes",
]


@dataclass
class UploadedPart:
    """A file part of a multipart request."""

    data: bytes
    filename: str | None
    content_type: str | None

    def __repr__(self) -> str:
        return f"UploadedPart(filename={self.filename!r}, content_type={self.content_type!r}, size={len(self.data)})"


@dataclass(eq=False)
class FileRecord:
    """A stored file (one PhotoSize of a photo, or a document)."""

    file_id: str
    file_unique_id: str
    data: bytes
    kind: str  # "photo" | "document"
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    group: list[FileRecord] = field(default_factory=list, repr=False)  # all sizes of a photo

    def photo_size(self) -> dict[str, Any]:
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "width": self.width or 0,
            "height": self.height or 0,
        }

    def document(self) -> dict[str, Any]:
        d: dict[str, Any] = {"file_id": self.file_id, "file_unique_id": self.file_unique_id, "file_size": len(self.data)}
        if self.file_name:
            d["file_name"] = self.file_name
        if self.mime_type:
            d["mime_type"] = self.mime_type
        return d


@dataclass(eq=False)
class ChatMessage:
    """A message in a chat as the user sees it *now* (edits are applied in place).

    ``from_bot`` tells who sent it. ``received_at`` is ``time.monotonic()`` when the
    emulator accepted it (use for rate measurements); ``edit_count``/``deleted``
    track later changes.
    """

    chat: dict[str, Any]
    message_id: int
    date: int
    from_bot: bool
    sender: dict[str, Any]
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    source: str | None = None  # text/caption exactly as the bot sent it (before parsing)
    parse_mode: str | None = None
    photo: list[FileRecord] | None = None
    document: FileRecord | None = None
    contact: dict[str, Any] | None = None
    reply_markup: dict[str, Any] | None = None  # as sent: inline, reply keyboard, remove, force_reply
    link_preview_options: dict[str, Any] | None = None
    reply_to: ChatMessage | None = None
    protect_content: bool = False
    disable_notification: bool = False
    forward_origin: dict[str, Any] | None = None
    edit_date: int | None = None
    edit_count: int = 0
    deleted: bool = False
    received_at: float = field(default_factory=time.monotonic)

    @property
    def chat_id(self) -> int:
        return int(self.chat["id"])

    @property
    def photo_bytes(self) -> bytes | None:
        """Bytes of the largest photo size (None if not a photo)."""
        return self.photo[-1].data if self.photo else None

    @property
    def document_bytes(self) -> bytes | None:
        return self.document.data if self.document else None

    @property
    def document_name(self) -> str | None:
        return self.document.file_name if self.document else None

    @property
    def document_mime_type(self) -> str | None:
        return self.document.mime_type if self.document else None

    @property
    def content(self) -> str:
        """text or caption or ''."""
        return self.text if self.text is not None else (self.caption or "")

    @property
    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        if self.reply_markup and "inline_keyboard" in self.reply_markup:
            return self.reply_markup["inline_keyboard"]
        return []

    @property
    def inline_buttons(self) -> list[dict[str, Any]]:
        """Flattened inline keyboard buttons."""
        return [b for row in self.inline_keyboard for b in row]

    @property
    def keyboard_buttons(self) -> list[str]:
        """Texts of the reply-keyboard buttons sent with this message."""
        if self.reply_markup and "keyboard" in self.reply_markup:
            return [b if isinstance(b, str) else b.get("text", "") for row in self.reply_markup["keyboard"] for b in row]
        return []

    @property
    def button_texts(self) -> list[str]:
        """Texts of inline buttons, else of reply keyboard buttons."""
        return [b.get("text", "") for b in self.inline_buttons] or self.keyboard_buttons

    def to_api(self, *, with_reply: bool = True) -> dict[str, Any]:
        """Telegram ``Message`` object."""
        m: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat,
            "date": self.date,
        }
        if self.edit_date is not None:
            m["edit_date"] = self.edit_date
        if self.forward_origin:
            m["forward_origin"] = self.forward_origin
        if with_reply and self.reply_to is not None and not self.reply_to.deleted:
            m["reply_to_message"] = self.reply_to.to_api(with_reply=False)
        if self.text is not None:
            m["text"] = self.text
            if self.entities:
                m["entities"] = self.entities
            if self.link_preview_options:
                m["link_preview_options"] = self.link_preview_options
        if self.photo:
            m["photo"] = [p.photo_size() for p in self.photo]
        if self.document:
            m["document"] = self.document.document()
        if self.caption is not None:
            m["caption"] = self.caption
            if self.caption_entities:
                m["caption_entities"] = self.caption_entities
        if self.contact is not None:
            m["contact"] = self.contact
        if self.protect_content:
            m["has_protected_content"] = True
        if self.reply_markup and "inline_keyboard" in self.reply_markup and self.reply_markup["inline_keyboard"]:
            m["reply_markup"] = self.reply_markup
        return m

    def __repr__(self) -> str:
        who = "bot" if self.from_bot else f"user{self.sender.get('id')}"
        kind = "photo" if self.photo else "document" if self.document else "contact" if self.contact else "text"
        flags = " deleted" if self.deleted else (f" edited×{self.edit_count}" if self.edit_count else "")
        return f"<ChatMessage chat={self.chat_id} id={self.message_id} {who} {kind} {self.content[:60]!r}{flags}>"


@dataclass
class ApiCall:
    """One Bot API call the bot made. Iterates as ``(method, params)``."""

    method: str
    params: dict[str, Any]
    time: float
    status: int = 0
    result: Any = None
    description: str | None = None
    source: str = "http"  # "http" or "webhook-response"

    def __iter__(self) -> Iterator[Any]:
        return iter((self.method, self.params))

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class CallbackAnswer:
    query_id: str
    user_id: int
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int
    time: float


@dataclass
class RateLimits:
    """Flood-control configuration. Off unless ``enabled``.

    Token buckets: global for the bot (``global_per_second``, burst
    ``global_burst``) and per chat (``per_chat_per_second``/``per_chat_burst``;
    groups use ``group_per_minute``/``group_burst``). A refused send gets 429 with
    ``retry_after`` (whole seconds ≥ 1) and every send to the same scope keeps
    getting 429 until that window ends. Applies to send*/copy/forward methods.
    """

    enabled: bool = False
    global_per_second: float = 30.0
    global_burst: int = 30
    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    group_per_minute: float = 20.0
    group_burst: int = 3


@dataclass
class Fault:
    """An injected failure for the next call of ``method`` (None = any method).

    ``code``: HTTP/API error to return (500, 502, 429, ...) or None for no error;
    ``delay``: seconds to hold the request first (longer than the client's timeout
    = a timeout); ``execute``: if True the call is carried out before the delay/error
    (models "sent but the response was lost").
    """

    method: str | None
    code: int | None = None
    description: str | None = None
    retry_after: int | None = None
    delay: float = 0.0
    execute: bool = False


@dataclass
class EmulatorStats:
    requests: int = 0
    by_method: Counter[str] = field(default_factory=Counter)
    by_status: Counter[int] = field(default_factory=Counter)
    too_many_requests: int = 0  # number of 429 responses returned
    faults_injected: int = 0
    messages_sent: int = 0  # messages the bot created (send*/copy/forward)
    updates_created: int = 0
    webhook_deliveries: int = 0
    webhook_failures: int = 0

    @property
    def rate_limited(self) -> int:
        return self.too_many_requests


def decode_qr_bytes(data: bytes | None) -> str | None:
    """Decode the first QR code / barcode in image bytes with zxing-cpp."""
    if not data:
        return None
    import zxingcpp
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img.load()
        results = zxingcpp.read_barcodes(img.convert("RGB"))
    for r in results:
        if r.text:
            return r.text
    return None
