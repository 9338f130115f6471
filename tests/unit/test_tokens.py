"""Deep-link payloads: round trip, length and alphabet, tampering, and links."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyaltybot.domain.tokens import (
    MAX_PAYLOAD,
    TokenForged,
    TokenKind,
    TokenMalformed,
    decode_payload,
    deep_link,
    encode_payload,
    new_token_id,
    payload_from_link,
)

KEY = b"unit-test-key"
token_ids = st.builds(lambda _: new_token_id(), st.integers())
kinds = st.sampled_from(list(TokenKind))


@given(kinds, token_ids)
def test_round_trip_within_telegram_limits(kind: TokenKind, token_id: str) -> None:
    payload = encode_payload(kind, token_id, KEY)
    assert len(payload) <= MAX_PAYLOAD
    assert re.fullmatch(r"[A-Za-z0-9_-]+", payload)
    assert decode_payload(payload, KEY) == (kind, token_id)


@given(kinds, token_ids, st.data())
def test_any_changed_character_is_refused(kind: TokenKind, token_id: str, data: st.DataObject) -> None:
    payload = encode_payload(kind, token_id, KEY)
    position = data.draw(st.integers(min_value=0, max_value=len(payload) - 1))
    replacement = data.draw(st.sampled_from("ABCabc019_-").filter(lambda ch: ch != payload[position]))
    tampered = payload[:position] + replacement + payload[position + 1 :]
    with pytest.raises((TokenForged, TokenMalformed)):
        decode_payload(tampered, KEY)


@given(kinds, token_ids)
def test_another_key_or_kind_is_forged(kind: TokenKind, token_id: str) -> None:
    payload = encode_payload(kind, token_id, KEY)
    with pytest.raises(TokenForged):
        decode_payload(payload, b"another-key")
    other = next(k for k in TokenKind if k is not kind)
    with pytest.raises(TokenForged):
        decode_payload(other.value + payload[len(kind.value) :], KEY)


@given(st.text(max_size=80))
def test_garbage_is_malformed_or_forged_never_accepted(text: str) -> None:
    with pytest.raises((TokenForged, TokenMalformed)):
        decode_payload(text, KEY)


def test_links_round_trip_only_for_this_bot() -> None:
    payload = encode_payload(TokenKind.SALE, new_token_id(), KEY)
    link = deep_link("my_shop_bot", payload)
    assert payload_from_link(link, "My_Shop_Bot") == payload
    assert payload_from_link(link, "other_bot") is None
    assert payload_from_link("https://example.com/?start=" + payload, "my_shop_bot") is None
