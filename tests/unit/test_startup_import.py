"""`loyaltybot.startup`: aiogram's types module imported with its namespace built once."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

from loyaltybot.startup import SLOW, patched_source

PROBE = """
import json, sys
if sys.argv[1] == "fast":
    from loyaltybot import startup
    startup.install()
import aiogram.types as types
from aiogram.types import Update
models = sorted(name for name in types.__all__ if hasattr(getattr(types, name), "model_rebuild"))
update = Update.model_validate({"update_id": 1, "message": {"message_id": 2, "date": 0,
    "chat": {"id": 5, "type": "private"}, "from": {"id": 5, "is_bot": False, "first_name": "A"}, "text": "hi"}})
print(json.dumps({
    "loader": type(types.__spec__.loader).__name__,
    "names": sorted(vars(types)),
    "incomplete": [name for name in models if not getattr(types, name).__pydantic_complete__],
    "models": len(models),
    "text": update.message.text,
    "sender": update.message.from_user.id,
}))
"""


def probe(mode: str) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_the_pinned_aiogram_has_the_line_the_fix_replaces() -> None:
    spec = find_spec("aiogram.types")
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text(encoding="utf-8")
    patched = patched_source(source)
    assert patched is not None
    assert SLOW not in patched
    compile(patched, spec.origin, "exec")


def test_an_unknown_source_is_left_alone() -> None:
    assert patched_source("__all__ = ()\n") is None
    assert patched_source(SLOW + SLOW) is None


def test_the_fast_import_gives_the_same_module() -> None:
    plain, fast = probe("plain"), probe("fast")
    assert fast["loader"] == "_Loader" and plain["loader"] != "_Loader"
    assert fast["names"] == plain["names"]  # nothing added, nothing missing
    assert fast["incomplete"] == [] and plain["incomplete"] == []
    assert fast["models"] == plain["models"] and int(fast["models"]) > 200
    assert fast["text"] == "hi" and fast["sender"] == 5
