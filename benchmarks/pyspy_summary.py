"""Summarise a `py-spy record --format raw` profile (collapsed stacks) of the bot.

    python benchmarks/pyspy_summary.py PROFILE.txt [--top 15]

Prints the top functions by own time (the sample's innermost frame) and by total time
(anywhere on the stack), and the share of samples per area. A sample's area is that of
its innermost frame that belongs to a known area, so e.g. a SQLAlchemy call made by our
code counts as SQLAlchemy and a JSON dump inside aiogram's request building as aiogram
method serialisation. Percentages are of all samples (all threads of the bot process:
aiosqlite's worker threads included).
"""

from __future__ import annotations

import argparse
import linecache
import re
import sys
from collections import Counter
from pathlib import Path

FRAME_RE = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
# A sample whose innermost frame is blocked on one of these is an idle thread that py-spy
# could not tell apart from a running one (waiting on a lock or queue, in epoll, or in
# asyncio's child watcher thread, blocked in waitpid until the child process exits).
IDLE_LINE_RE = re.compile(
    r"\.(get|select|wait|acquire|poll)\(|\bwaiter\.acquire|_wait_for_tstate_lock|os\.waitpid\(expected_pid, 0\)"
)
_SOURCES: dict[str, str | None] = {}


def source_line(file: str, line: str | None) -> str:
    """The source line of a frame, looking the file up on this interpreter's sys.path."""
    if not line:
        return ""
    if file not in _SOURCES:
        _SOURCES[file] = None
        for base in ["", *sys.path]:
            candidate = Path(base) / file
            if candidate.is_file():
                _SOURCES[file] = str(candidate)
                break
    path = _SOURCES[file]
    return linecache.getline(path, int(line)) if path else ""


# (area, test on the frame's file path and function), most specific first.
AREAS: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("qrcode / Pillow", ("/qrcode/", "/PIL/", "/png."), ()),
    (
        "SQLAlchemy ORM / aiosqlite / sqlite3",
        ("/sqlalchemy/", "/aiosqlite/", "/sqlite3/", "/alembic/"),
        (),
    ),
    (
        "aiohttp client (HTTP, sockets)",
        ("/aiohttp/", "/multidict/", "/yarl/", "/aiosignal/", "/frozenlist/"),
        (),
    ),
    ("aiogram method serialisation (requests, responses)", ("/aiogram/client/",), ()),
    ("aiogram method serialisation (requests, responses)", ("/aiogram/methods/",), ()),
    ("aiogram update parsing", ("/aiogram/types/",), ()),
    (
        "aiogram update parsing",
        ("/aiogram/",),
        ("_listen_updates", "feed_raw_update", "_process_update", "model_validate"),
    ),
    ("aiogram dispatch (routers, filters, middlewares, FSM)", ("/aiogram/",), ()),
    ("pydantic (python side)", ("/pydantic/", "/pydantic_core/"), ()),
    ("babel / i18n", ("/babel/", "gettext"), ()),
    ("our code (loyaltybot)", ("/loyaltybot/",), ()),
    ("asyncio event loop / selectors", ("/asyncio/", "selectors.py"), ()),
    ("threading (aiosqlite worker idle/queue)", ("threading.py", "queue.py"), ()),
    ("json", ("/json/",), ()),
]


def parse_frame(frame: str) -> tuple[str, str, str | None]:
    match = FRAME_RE.match(frame.strip())
    if match is None:
        return frame.strip(), "", None
    return match["func"], match["file"], match["line"]


def area_of(func: str, file: str) -> str | None:
    file = "/" + file.lstrip("/")  # py-spy prints paths relative to sys.path entries
    for name, paths, funcs in AREAS:
        if any(p in file for p in paths) and (
            not funcs or any(f in func for f in funcs)
        ):
            return name
    return None


def short(file: str) -> str:
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in file:
            return file.split(marker, 1)[1].lstrip("/")
    return file


def summarise(path: Path, top: int) -> str:
    own: Counter[tuple[str, str]] = Counter()
    total: Counter[tuple[str, str]] = Counter()
    areas: Counter[str] = Counter()
    samples = idle = 0
    for raw in path.read_text(errors="replace").splitlines():
        raw = raw.strip()
        if not raw:
            continue
        stack_text, _, count_text = raw.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        parsed = [parse_frame(f) for f in stack_text.split(";") if f]
        parsed = [f for f in parsed if not f[0].startswith(("thread (", "process "))]
        if not parsed:
            continue
        _, leaf_file, leaf_line = parsed[-1]
        if IDLE_LINE_RE.search(source_line(leaf_file, leaf_line)):
            idle += count
            continue
        frames = [(func, file) for func, file, _ in parsed]
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
        area = "other"
        # Deepest frame with a known area; but a stack that passes through aiogram's update
        # parsing before reaching pydantic/types counts as parsing, and so on.
        for func, file in reversed(frames):
            found = area_of(func, file)
            if found is not None and not found.startswith(
                ("asyncio", "json", "pydantic", "threading")
            ):
                area = found
                break
        else:
            for func, file in reversed(frames):
                found = area_of(func, file)
                if found is not None:
                    area = found
                    break
        areas[area] += count
    if not samples:
        return f"{path}: no samples"

    def pct(n: int) -> str:
        return f"{100 * n / samples:5.1f}%"

    lines = [
        (
            f"{samples} busy samples in {path} ({idle} more samples of threads blocked on a queue, lock, epoll or "
            "waitpid were dropped as idle); percentages are of the busy samples"
        ),
        "",
        f"top {top} by own time (innermost frame):",
    ]
    lines.append(f"  {'own':>6} {'total':>6}  function  (file)")
    for frame, n in own.most_common(top):
        func, file = frame
        lines.append(
            f"  {pct(n)} {pct(total[frame])}  {func}  ({short(file)})  [{area_of(func, file) or 'other'}]"
        )
    lines += [
        "",
        f"top {top} by total time (anywhere on the stack), excluding the event loop itself:",
    ]
    shown = 0
    for frame, n in total.most_common():
        func, file = frame
        if (
            file.startswith("asyncio/")
            or "/asyncio/" in file
            or func in ("<module>", "run", "main")
            or "runpy" in file
            or file.endswith("loyaltybot/cli.py")
            or "/click/" in file
        ):
            continue
        lines.append(f"  {pct(n)}  {func}  ({short(file)})")
        shown += 1
        if shown >= top:
            break
    lines += ["", "samples by area (innermost frame with a known area):"]
    for area, n in areas.most_common():
        lines.append(f"  {pct(n)}  {area}")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    print(summarise(args.profile, args.top))
