"""The gettext catalogues are complete: every text in the code is in them, Malay is fully translated."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from loyaltybot.config import PROJECT_ROOT
from loyaltybot.locales import ensure_compiled

LOCALES = PROJECT_ROOT / "locales"
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None, "__": None, "lazy_gettext": None}


def _catalog(path: Path):  # type: ignore[no-untyped-def]
    with path.open("rb") as handle:
        return read_po(handle)


def _code_messages() -> set[str]:
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(PROJECT_ROOT / "src"), method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_text_in_the_code_is_in_the_catalogues() -> None:
    in_code = _code_messages()
    assert in_code, "no translatable texts found: extraction is broken"
    for path in [LOCALES / "messages.pot", *LOCALES.glob("*/LC_MESSAGES/messages.po")]:
        ids = {message.id if isinstance(message.id, str) else message.id[0] for message in _catalog(path) if message.id}
        missing = sorted(in_code - ids)
        assert not missing, f"{path.relative_to(PROJECT_ROOT)} lacks {len(missing)} texts (run python3 dev.py i18n): {missing[:5]}"


def test_malay_is_complete_without_fuzzy_entries() -> None:
    catalog = _catalog(LOCALES / "ms" / "LC_MESSAGES" / "messages.po")
    untranslated = [m.id for m in catalog if m.id and not all(m.string if isinstance(m.string, tuple) else [m.string])]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not untranslated, f"untranslated in ms: {untranslated[:5]}"
    assert not fuzzy, f"fuzzy in ms: {fuzzy[:5]}"


def test_translations_keep_placeholders_and_tags() -> None:
    for path in LOCALES.glob("*/LC_MESSAGES/messages.po"):
        for message in _catalog(path):
            if not message.id or not message.string:
                continue
            source = message.id if isinstance(message.id, str) else message.id[0]
            targets = message.string if isinstance(message.string, tuple) else (message.string,)
            for target in targets:
                assert sorted(re.findall(r"\{[^}]*\}", source)) == sorted(re.findall(r"\{[^}]*\}", target)), (
                    path.parent.parent.name,
                    source,
                )
                assert sorted(re.findall(r"</?\w+", source)) == sorted(re.findall(r"</?\w+", target)), (
                    path.parent.parent.name,
                    source,
                )


def test_compiled_catalogues_are_built_not_committed() -> None:
    import subprocess

    tracked = subprocess.run(
        ["git", "ls-files", "*.mo"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    assert tracked == []


def test_dev_py_compiles_only_what_ensure_compiled_would(tmp_path: Path) -> None:
    """`python3 dev.py run|test` skips the compile step (another interpreter) when no `.mo`
    is missing or older than its `.po`: exactly the files `ensure_compiled` would rebuild."""
    import os
    import runpy
    import shutil

    shutil.copy(PROJECT_ROOT / "dev.py", tmp_path / "dev.py")
    for language in ("en", "ms"):
        folder = tmp_path / "locales" / language / "LC_MESSAGES"
        folder.mkdir(parents=True)
        shutil.copy(PROJECT_ROOT / "locales" / language / "LC_MESSAGES" / "messages.po", folder / "messages.po")
    stale = runpy.run_path(str(tmp_path / "dev.py"), run_name="dev")["_translations_stale"]
    assert stale()  # nothing compiled yet
    assert len(ensure_compiled(tmp_path / "locales")) == 2
    assert not stale()
    po = tmp_path / "locales" / "ms" / "LC_MESSAGES" / "messages.po"
    earlier = po.stat().st_mtime - 10
    os.utime(po.with_suffix(".mo"), (earlier, earlier))  # the .po was edited after it was compiled
    assert stale()
    assert ensure_compiled(tmp_path / "locales") == [po.with_suffix(".mo")]
    assert not stale()
