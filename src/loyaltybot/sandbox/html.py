"""Telegram-compatible ``parse_mode=HTML`` parser.

Mirrors the behaviour of TDLib's ``parse_html`` (which is what the Bot API
uses): the result is the plain text plus a list of MessageEntity dicts with
UTF-16 offsets, and malformed markup raises :class:`EntityParseError` whose
message is the part after ``"Bad Request: can't parse entities: "``.

One deliberate difference (configurable with ``strict_ampersand``): real
Telegram silently keeps a bare ``&`` that does not start a valid entity; the
emulator rejects it by default, because the Bot API documentation requires
escaping and an unescaped ``&`` usually means an unescaped ``<`` is possible too.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EntityParseError", "parse_html", "utf16_len"]

SUPPORTED_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins",
        "tg-spoiler", "tg-emoji", "span", "pre", "code", "blockquote",
    }
)
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class EntityParseError(ValueError):
    """Markup could not be parsed; ``str(err)`` is Telegram's wording."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (how Telegram counts)."""
    return len(text.encode("utf-16-le")) // 2


def _is_space(ch: str) -> bool:
    return ch in " \t\r\n\f\v"


def _decode_entity(text: str, i: int) -> tuple[str, int] | None:
    """Decode an HTML entity starting at ``text[i] == '&'``.

    Returns ``(character, index_after_entity)`` or None if it is not a valid entity.
    """
    n = len(text)
    j = i + 1
    if j < n and text[j] == "#":
        j += 1
        base = 10
        if j < n and text[j] in "xX":
            base = 16
            j += 1
        start = j
        digits = "0123456789abcdefABCDEF" if base == 16 else "0123456789"
        while j < n and text[j] in digits:
            j += 1
        if j == start or j >= n or text[j] != ";":
            return None
        code = int(text[start:j], base)
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        return chr(code), j + 1
    start = j
    while j < n and text[j].isascii() and text[j].isalpha():
        j += 1
    if j >= n or text[j] != ";":
        return None
    name = text[start:j]
    if name not in _NAMED_ENTITIES:
        return None
    return _NAMED_ENTITIES[name], j + 1


def _byte_offset(text: str, i: int) -> int:
    return len(text[:i].encode("utf-8"))


def _entity_for(tag: str, argument: str, offset: int, length: int) -> dict[str, Any] | None:
    base = {"offset": offset, "length": length}
    if tag in ("b", "strong"):
        return {"type": "bold", **base}
    if tag in ("i", "em"):
        return {"type": "italic", **base}
    if tag in ("u", "ins"):
        return {"type": "underline", **base}
    if tag in ("s", "strike", "del"):
        return {"type": "strikethrough", **base}
    if tag in ("tg-spoiler", "span"):
        return {"type": "spoiler", **base}
    if tag == "code":
        return None if argument == "\x00" else {"type": "code", **base}
    if tag == "pre":
        ent: dict[str, Any] = {"type": "pre", **base}
        if argument:
            ent["language"] = argument
        return ent
    if tag == "blockquote":
        return {"type": "expandable_blockquote" if argument else "blockquote", **base}
    if tag == "a":
        if not argument:
            return None
        if argument.startswith("tg://user?id="):
            try:
                return {"type": "text_mention", **base, "user": {"id": int(argument[13:]), "is_bot": False, "first_name": ""}}
            except ValueError:
                return None
        return {"type": "text_link", **base, "url": argument}
    if tag == "tg-emoji":
        return {"type": "custom_emoji", **base, "custom_emoji_id": argument}
    return None


def parse_html(text: str, *, strict_ampersand: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """Parse Telegram HTML; return ``(plain_text, entities)``.

    Raises :class:`EntityParseError` with Telegram's description (without the
    ``Bad Request: can't parse entities:`` prefix).
    """
    out: list[str] = []
    utf16_offset = 0
    entities: list[dict[str, Any]] = []
    # stack of (tag_name, argument, utf16_offset_at_start, nested_index)
    stack: list[tuple[str, str, int]] = []
    n = len(text)
    i = 0
    while i < n:
        ch = text[i]
        if ch == "&":
            dec = _decode_entity(text, i)
            if dec is not None:
                out.append(dec[0])
                utf16_offset += utf16_len(dec[0])
                i = dec[1]
                continue
            if strict_ampersand:
                raise EntityParseError(
                    f"Character '&' at byte offset {_byte_offset(text, i)} must be escaped as &amp;"
                )
        if ch != "<":
            out.append(ch)
            utf16_offset += 2 if ord(ch) > 0xFFFF else 1
            i += 1
            continue
        begin = i
        i += 1
        if i < n and text[i] == "/":
            # end tag
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(text, begin)}")
            i += 1
            while i < n and not _is_space(text[i]) and text[i] != ">":
                i += 1
            end_name = text[begin + 2 : i].lower()
            while i < n and _is_space(text[i]):
                i += 1
            if i >= n or text[i] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {_byte_offset(text, begin)}")
            i += 1
            tag, argument, start = stack.pop()
            if end_name and end_name != tag:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {_byte_offset(text, begin)}, '
                    f'expected "</{tag}>", found "</{end_name}>"'
                )
            if utf16_offset > start:
                ent = _entity_for(tag, argument, start, utf16_offset - start)
                if ent is not None:
                    entities.append(ent)
            continue
        # start tag
        while i < n and not _is_space(text[i]) and text[i] != ">":
            i += 1
        if i >= n:
            raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
        tag = text[begin + 1 : i].lower()
        if tag not in SUPPORTED_TAGS:
            raise EntityParseError(f'Unsupported start tag "{tag}" at byte offset {_byte_offset(text, begin)}')
        argument = ""
        while i < n and text[i] != ">":
            while i < n and _is_space(text[i]):
                i += 1
            if i < n and text[i] == ">":
                break
            attr_begin = i
            while i < n and not _is_space(text[i]) and text[i] not in "=>":
                i += 1
            attr_name = text[attr_begin:i].lower()
            if not attr_name:
                raise EntityParseError(
                    f'Empty attribute name in the tag "{tag}" at byte offset {_byte_offset(text, begin)}'
                )
            while i < n and _is_space(text[i]):
                i += 1
            value = ""
            if i < n and text[i] == "=":
                i += 1
                while i < n and _is_space(text[i]):
                    i += 1
                if i >= n:
                    raise EntityParseError(f'Unclosed start tag "{tag}" at byte offset {_byte_offset(text, begin)}')
                if text[i] not in "'\"":
                    tok = i
                    while i < n and (text[i].isalnum() or text[i] in ".-"):
                        i += 1
                    value = text[tok:i].lower()
                    if i < n and not _is_space(text[i]) and text[i] != ">":
                        raise EntityParseError(f"Unexpected end of name token at byte offset {_byte_offset(text, tok)}")
                else:
                    quote = text[i]
                    i += 1
                    buf: list[str] = []
                    while i < n and text[i] != quote:
                        if text[i] == "&":
                            dec = _decode_entity(text, i)
                            if dec is not None:
                                buf.append(dec[0])
                                i = dec[1]
                                continue
                        buf.append(text[i])
                        i += 1
                    if i < n:
                        i += 1
                    value = "".join(buf)
            elif not (tag == "blockquote" and attr_name == "expandable"):
                raise EntityParseError(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" '
                    f"at byte offset {_byte_offset(text, begin)}"
                )
            if i >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(text, begin)}")
            if tag == "a" and attr_name == "href":
                argument = value
            elif tag == "code" and attr_name == "class" and value.startswith("language-"):
                argument = value[9:]
            elif tag == "span" and attr_name == "class" and value.startswith("tg-"):
                argument = value[3:]
            elif tag == "tg-emoji" and attr_name == "emoji-id":
                argument = value
            elif tag == "blockquote" and attr_name == "expandable":
                argument = "1"
        if tag == "span" and argument != "spoiler":
            raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {_byte_offset(text, begin)}')
        if tag == "tg-emoji" and not argument.isdigit():
            raise EntityParseError(f"Invalid custom emoji identifier specified at byte offset {_byte_offset(text, begin)}")
        i += 1  # skip '>'
        if tag == "code" and stack and stack[-1][0] == "pre" and argument:
            # <pre><code class="language-x"> sets the language of the enclosing pre
            ptag, _parg, pstart = stack[-1]
            stack[-1] = (ptag, argument, pstart)
            argument = "\x00"  # swallowed: Telegram reports only the pre entity
        stack.append((tag, argument, utf16_offset))
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities
