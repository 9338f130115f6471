"""`loyaltybot.startup`: aiogram imported with its models built when first used."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from loyaltybot import startup
from tests.conftest import AIOGRAM_IMPORT_DEFERRED

# Run in a fresh interpreter, with or without the faster import. Every type and method is
# built the way its first use builds it (a deferred model builds itself when its validator
# is first touched, from deep inside the caller's stack), then compared.
PROBE = """
import json, re, sys
if sys.argv[1] == "fast":
    from loyaltybot import startup
    assert startup.install()
import aiogram.types as types
import aiogram.methods as methods

def deep(depth, action):
    return action() if depth == 0 else deep(depth - 1, action)

def update():
    return types.Update.model_validate({"update_id": 1, "callback_query": {"id": "9", "chat_instance": "c",
        "from": {"id": 5, "is_bot": False, "first_name": "A", "language_code": "ms"}, "data": "menu:card",
        "message": {"message_id": 2, "date": 1700000000, "chat": {"id": 5, "type": "private"},
            "from": {"id": 77, "is_bot": True, "first_name": "Bot"}, "caption": "RM 5",
            "photo": [{"file_id": "f", "file_unique_id": "u", "width": 90, "height": 90}],
            "reply_markup": {"inline_keyboard": [[{"text": "OK", "callback_data": "ok"}]]}}}})

first = deep(6, update).model_dump(mode="json", exclude_none=True)
contact = deep(6, lambda: types.Message.model_validate({"message_id": 3, "date": 0, "chat": {"id": 5, "type": "private"},
    "contact": {"phone_number": "+60123456789", "first_name": "A", "user_id": 5}})).model_dump(mode="json", exclude_none=True)
send = deep(6, lambda: methods.SendMessage(chat_id=5, text="hi", reply_markup=types.ReplyKeyboardMarkup(
    keyboard=[[types.KeyboardButton(text="Share", request_contact=True)]]))).model_dump(exclude_none=True)
from aiogram.methods.base import Response  # a generic model parametrized with a type at run time
answer = deep(6, lambda: Response[types.Message].model_validate({"ok": True, "result": {"message_id": 4, "date": 0,
    "chat": {"id": 5, "type": "private"}, "text": "hi", "reply_to_message": {"message_id": 1, "date": 0,
    "chat": {"id": 5, "type": "private"}, "sticker": {"file_id": "s", "file_unique_id": "t", "type": "regular",
    "width": 1, "height": 1, "is_animated": False, "is_video": False}}}})).model_dump(mode="json", exclude_none=True)
fields = {}
incomplete = []
for module in (types, methods):
    for name in module.__all__:
        cls = getattr(module, name)
        if not (isinstance(cls, type) and hasattr(cls, "model_rebuild")):
            continue
        deep(6, lambda: cls.__pydantic_validator__.validate_python)
        if not cls.__pydantic_complete__:
            incomplete.append(name)
        fields[module.__name__ + "." + name] = {
            field: re.sub(r" at 0x[0-9a-f]+", "", repr(info)) for field, info in cls.model_fields.items()
        }
print(json.dumps({
    "loader": type(types.__spec__.loader).__name__,
    "names": sorted(vars(types)),
    "method_names": sorted(vars(methods)),
    "incomplete": incomplete,
    "fields": fields,
    "update": first,
    "contact": contact,
    "send": send,
    "answer": answer,
}, default=repr))
"""


def probe(mode: str) -> dict[str, Any]:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=300, check=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_pinned_aiogram_has_the_sources_the_change_expects() -> None:
    sources = startup.patched_sources()
    assert sources is not None
    assert startup.TYPES_LOOP not in sources[startup.TYPES] and startup.TYPES_DEFERRED in sources[startup.TYPES]
    assert "defer_build=True" in sources[startup.METHODS_BASE]
    assert sources[startup.METHODS].endswith(startup.METHODS_END)
    for name, source in sources.items():
        compile(source, name, "exec")


def test_an_unknown_source_is_left_alone() -> None:
    assert startup.patched_types("__all__ = ()\n") is None
    assert startup.patched_types(startup.TYPES_LOOP * 2) is None
    assert startup.patched_methods_base("class TelegramMethod: pass\n") is None
    assert startup.patched_methods("x = 1\n") is None


def test_nothing_changes_unless_every_source_is_the_expected_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(startup.PATCHES, startup.METHODS_BASE, lambda source: None)
    assert startup.patched_sources() is None


def test_the_suite_runs_with_the_faster_import() -> None:
    """tests/conftest.py installs it before aiogram is imported, as `loyaltybot run` does."""
    from aiogram.types import Update

    assert AIOGRAM_IMPORT_DEFERRED
    assert Update.__pydantic_parent_namespace__ is not None
    assert Update.__pydantic_parent_namespace__["Message"].__name__ == "Message"


def test_every_model_builds_as_without_it() -> None:
    plain, fast = probe("plain"), probe("fast")
    assert fast["loader"] == "_Loader" and plain["loader"] != "_Loader"
    assert fast["names"] == plain["names"]  # nothing added to aiogram.types, nothing missing
    assert fast["method_names"] == plain["method_names"]
    assert fast["incomplete"] == [] and plain["incomplete"] == []
    assert len(fast["fields"]) > 400
    # Every field of every type and method resolved to the same annotation, default and alias.
    assert fast["fields"] == plain["fields"]
    assert fast["update"] == plain["update"]
    assert fast["update"]["callback_query"]["message"]["photo"][0]["width"] == 90
    assert fast["contact"] == plain["contact"] and fast["contact"]["contact"]["user_id"] == 5
    assert fast["answer"] == plain["answer"] and fast["answer"]["result"]["reply_to_message"]["sticker"]["width"] == 1
    assert fast["send"] == plain["send"] and fast["send"]["reply_markup"]["keyboard"][0][0]["request_contact"]
