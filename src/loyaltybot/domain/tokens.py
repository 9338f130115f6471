"""Deep-link payloads for QR codes: `<prefix>_<id><signature>`.

Every QR the bot shows encodes `https://t.me/<bot>?start=<payload>`. Telegram limits the
start parameter to 64 characters of `[A-Za-z0-9_-]`. A payload carries 96 random bits
(the token id, which is also the database key) and a 72-bit HMAC-SHA256 tag over the kind
and id under the installation's secret key. The tag lets the bot reject forged or mangled
codes without touching the database and tell them apart from merely unknown ones;
expiry and single use live in the database row the id points to.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from enum import StrEnum

from loyaltybot.domain.errors import DomainError

ID_BYTES = 12  # 96 bits of randomness
TAG_BYTES = 9  # 72-bit truncated HMAC
ID_CHARS = 16  # base64url length of ID_BYTES
TAG_CHARS = 12  # base64url length of TAG_BYTES
MAX_PAYLOAD = 64
_PAYLOAD_RE = re.compile(r"^([a-z]{1,3})_([A-Za-z0-9_-]{%d})$" % (ID_CHARS + TAG_CHARS))


class TokenKind(StrEnum):
    MEMBER = "m"
    SALE = "s"
    REDEEM = "r"
    INVITE = "i"
    VOUCHER = "v"


class TokenMalformed(DomainError):
    """Not one of our payloads at all (typed by hand, truncated, another bot's link)."""

    code = "token_malformed"


class TokenForged(DomainError):
    """Shaped like ours but the signature does not match: tampered or forged."""

    code = "token_forged"


def new_token_id() -> str:
    return secrets.token_urlsafe(ID_BYTES)


def _tag(kind: TokenKind, token_id: str, key: bytes) -> str:
    digest = hmac.new(key, f"{kind.value}:{token_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:TAG_BYTES]).decode().rstrip("=")


def encode_payload(kind: TokenKind, token_id: str, key: bytes) -> str:
    if len(token_id) != ID_CHARS or not re.fullmatch(r"[A-Za-z0-9_-]+", token_id):
        raise ValueError("token id must be 16 base64url characters")
    payload = f"{kind.value}_{token_id}{_tag(kind, token_id, key)}"
    assert len(payload) <= MAX_PAYLOAD
    return payload


def decode_payload(payload: str, key: bytes) -> tuple[TokenKind, str]:
    """Return (kind, token id) of an authentic payload; raise TokenMalformed or TokenForged."""
    match = _PAYLOAD_RE.match(payload.strip())
    if match is None:
        raise TokenMalformed()
    try:
        kind = TokenKind(match.group(1))
    except ValueError:
        raise TokenMalformed() from None
    body = match.group(2)
    token_id, tag = body[:ID_CHARS], body[ID_CHARS:]
    if not hmac.compare_digest(tag, _tag(kind, token_id, key)):
        raise TokenForged()
    return kind, token_id


def deep_link(bot_username: str, payload: str) -> str:
    return f"https://t.me/{bot_username}?start={payload}"


_DEEP_LINK_RE = re.compile(r"^https?://(?:t\.me|telegram\.me)/([A-Za-z0-9_]{3,64})\?start=([A-Za-z0-9_-]{1,64})$")


def payload_from_link(text: str, bot_username: str) -> str | None:
    """The start payload of one of this bot's deep links, or None for anything else."""
    match = _DEEP_LINK_RE.match(text.strip())
    if match is None or match.group(1).lower() != bot_username.lower():
        return None
    return match.group(2)
