"""Unit tests of the Telegram HTML parser."""

from __future__ import annotations

import pytest

from loyaltybot.sandbox import EntityParseError, parse_html, utf16_len


def test_plain_and_entities() -> None:
    assert parse_html("a &lt;b&gt; &quot;c&quot; &#65;&#x42;") == ('a <b> "c" AB', [])
    text, ents = parse_html("<strong>x</strong><em>y</em><ins>z</ins><del>w</del><code>c</code>")
    assert text == "xyzwc"
    assert [e["type"] for e in ents] == ["bold", "italic", "underline", "strikethrough", "code"]


def test_unknown_named_entity_kept_when_not_strict() -> None:
    assert parse_html("Tom & Jerry &nbsp;", strict_ampersand=False) == ("Tom & Jerry &nbsp;", [])
    with pytest.raises(EntityParseError, match="byte offset 4"):
        parse_html("Tom & Jerry")


def test_byte_offsets_are_utf8() -> None:
    with pytest.raises(EntityParseError, match='Unsupported start tag "x" at byte offset 6'):
        parse_html("привет"[:3] + "<x>")


def test_tg_emoji_and_empty_entities_dropped() -> None:
    text, ents = parse_html('<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji><b></b>')
    assert text == "👍" and ents == [{"type": "custom_emoji", "offset": 0, "length": 2, "custom_emoji_id": "5368324170671202286"}]
    assert utf16_len("👍") == 2


def test_unclosed_tags() -> None:
    with pytest.raises(EntityParseError, match="Unclosed start tag at byte offset 0"):
        parse_html("<b")
    with pytest.raises(EntityParseError, match='Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'):
        parse_html("<b><i>x</b>")
    with pytest.raises(EntityParseError, match='Can\'t find end tag corresponding to start tag "i"'):
        parse_html("<b>x</b><i>y")
