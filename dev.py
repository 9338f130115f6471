#!/usr/bin/env python3
"""Set up and run loyaltybot from a fresh clone with nothing but Python 3.11+.

    python3 dev.py run      # create .venv, install, compile translations, run the bot
    python3 dev.py test     # the same set-up, then the whole test suite
    python3 dev.py i18n     # developers: re-extract texts into locales/ after changing them

Anything after `test` goes to pytest (`python3 dev.py test -k card`). `python3 dev.py cli ...`
runs any other `loyaltybot` command in the same environment (`python3 dev.py cli staff list`).
Set TEST_DATABASE_URL to run the suite on PostgreSQL too.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".loyaltybot-installed"


def _say(message: str) -> None:
    print(f"[dev] {message}", file=sys.stderr, flush=True)


def _requirements_fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_environment() -> None:
    if sys.version_info < (3, 11):
        sys.exit("loyaltybot needs Python 3.11 or newer")
    if not PYTHON.exists():
        _say("creating .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    fingerprint = _requirements_fingerprint()
    if not STAMP.exists() or STAMP.read_text() != fingerprint:
        _say("installing dependencies into .venv (first run takes a minute)")
        subprocess.run(
            [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", f"{ROOT}[test]"],
            check=True,
        )
        STAMP.write_text(fingerprint)
    if _translations_stale():  # compiled with Babel, inside .venv (the bot would also do it at start)
        subprocess.run(
            [str(PYTHON), "-c", "from pathlib import Path; from loyaltybot.locales import ensure_compiled; "
             f"ensure_compiled(Path({str(ROOT / 'locales')!r}))"],
            check=True,
        )


def _translations_stale() -> bool:
    """A `.po` whose `.mo` is missing or older (the rule of `loyaltybot.locales.ensure_compiled`),
    checked here so an up-to-date start does not pay for another interpreter."""
    for po in (ROOT / "locales").glob("*/LC_MESSAGES/*.po"):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            return True
    return False


def update_catalogues() -> int:
    """Extract every marked text into messages.pot and merge it into each language's .po."""
    pybabel = str(BIN / "pybabel")
    os.chdir(ROOT)
    subprocess.run(
        [pybabel, "extract", "-F", "babel.cfg", "-k", "N_", "-k", "__", "--no-location", "--sort-output",
         "--project=loyaltybot", "--copyright-holder=loyaltybot contributors", "-o", "locales/messages.pot", "."],
        check=True,
    )
    subprocess.run(
        [pybabel, "update", "-i", "locales/messages.pot", "-d", "locales", "-D", "messages",
         "--no-fuzzy-matching", "--ignore-obsolete"],
        check=True,
    )
    # English texts are their own msgids: fill them in so the English catalogue is complete too.
    subprocess.run(
        [str(PYTHON), "-c",
         "from babel.messages.pofile import read_po, write_po\n"
         "p = 'locales/en/LC_MESSAGES/messages.po'\n"
         "cat = read_po(open(p, 'rb'), locale='en')\n"
         "for m in cat:\n"
         "    if m.id and not m.string: m.string = m.id\n"
         "write_po(open(p, 'wb'), cat, width=76)\n"],
        check=True,
    )
    _say("now translate the new empty msgstr entries in locales/ms/LC_MESSAGES/messages.po")
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"run", "test", "cli", "setup", "i18n"}:
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    ensure_environment()
    if command == "setup":
        return 0
    if command == "i18n":
        return update_catalogues()
    if command == "run":
        args = [str(BIN / "loyaltybot"), "run", *rest]
    elif command == "cli":
        args = [str(BIN / "loyaltybot"), *rest]
    else:
        args = [str(PYTHON), "-m", "pytest", *rest]
    os.chdir(ROOT)
    if os.name == "posix":
        # Become the command, so a service manager's SIGTERM (systemd, `docker stop`) reaches the
        # bot itself and its exit status is ours; a child would be left running without us.
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(args[0], args)
    return subprocess.call(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
