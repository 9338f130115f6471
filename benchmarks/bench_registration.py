"""Registration throughput and latency, end to end.

The real app (``loyaltybot.app.build_app`` + ``serve``: the production factory, long
polling over real HTTP) talks to the project's Bot API emulator; N simulated customers,
C at a time, walk the whole registration and then ask for /card and /history.

For every update a customer sends we time sending it -> the bot's corresponding reply
(or edit) being visible in the emulator (``wait_for_message`` / ``wait_for_edit``).
For steps answered with two messages (contact: "verified" + birthday prompt; birthday:
"saved" + welcome) the latency is up to the *last* of them, i.e. until the customer
can go on.

    python benchmarks/bench_registration.py [--customers N] [--concurrency C] [--database-url URL]

Note: the emulator, the simulated customers and the bot share one process and one event
loop (as in the e2e tests), so the figures include the emulator's own CPU cost: they are
a lower bound on what the bot alone would do on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from loyaltybot.app import App, build_app, serve
from loyaltybot.config import PROJECT_ROOT, Settings
from loyaltybot.db.models import ConversationState, Customer
from loyaltybot.domain.tokens import deep_link
from loyaltybot.sandbox import BotApiEmulator, ChatMessage, SimUser

BOT_TOKEN = "123456:BENCH-token"
BOT_USERNAME = "loyalty_bench_bot"
FIRST_USER_ID = 5_000_000
STEPS = ("start", "language", "consent", "contact", "birthday", "card", "history")
TARGET_RATE = 300.0  # updates/s
TARGET_P99_MS = 50.0
WAIT_TIMEOUT = 60.0  # generous: a slow reply is measured, only a missing one fails


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in STEPS})
    cards: dict[int, ChatMessage] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    updates: int = 0


def _check(message: ChatMessage, *needles: str) -> ChatMessage:
    body = message.text or message.caption or ""
    for needle in needles:
        if needle not in body:
            raise AssertionError(f"expected {needle!r} in {body!r}")
    return message


async def customer_journey(user: SimUser, results: Results) -> None:
    lat = results.latencies
    clock = time.perf_counter

    t = clock()
    await user.send("/start")
    results.updates += 1
    picker = _check(await user.wait_for_message(timeout=WAIT_TIMEOUT), "choose your language")
    lat["start"].append(clock() - t)

    t = clock()
    await user.click(picker, "✓ English")
    results.updates += 1
    notice = _check(await user.wait_for_edit(picker, timeout=WAIT_TIMEOUT), "Privacy notice")
    lat["language"].append(clock() - t)

    t = clock()
    await user.click(notice, "✅ I accept")
    results.updates += 1
    _check(await user.wait_for_message(timeout=WAIT_TIMEOUT), "Share my phone number")
    lat["consent"].append(clock() - t)

    t = clock()
    await user.share_contact()
    results.updates += 1
    _check(await user.wait_for_message(timeout=WAIT_TIMEOUT), "verified")
    _check(await user.wait_for_message(timeout=WAIT_TIMEOUT), "birthday")
    lat["contact"].append(clock() - t)

    t = clock()
    await user.send("31/12/1990")
    results.updates += 1
    _check(await user.wait_for_message(timeout=WAIT_TIMEOUT), "Birthday saved: 31/12/1990")
    _check(await user.wait_for_message(timeout=WAIT_TIMEOUT), f"You're in, {user.first_name}")
    lat["birthday"].append(clock() - t)

    t = clock()
    await user.send("/card")
    results.updates += 1
    card = await user.wait_for_message(timeout=WAIT_TIMEOUT)
    lat["card"].append(clock() - t)
    if not card.photo_bytes:
        raise AssertionError(f"/card did not answer with a photo: {card!r}")
    results.cards[user.id] = card  # the QR is decoded after the run, outside the timing

    t = clock()
    await user.send("/history")
    results.updates += 1
    _check(await user.wait_for_message(timeout=WAIT_TIMEOUT), "No activity yet")
    lat["history"].append(clock() - t)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil
    return sorted_values[int(rank) - 1]


def latency_row(name: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    cells = [percentile(ms, 50), percentile(ms, 90), percentile(ms, 99), ms[-1] if ms else float("nan")]
    return f"  {name:<10} {len(ms):>7} " + " ".join(f"{c:>8.1f}" for c in cells)


async def start_bot(settings: Settings, emu: BotApiEmulator) -> tuple[App, asyncio.Event, asyncio.Task[None]]:
    app = await build_app(settings)
    stop = asyncio.Event()
    polls_before = len(emu.calls_to("getUpdates"))
    task = asyncio.create_task(serve(app, stop))
    for _ in range(1000):
        if len(emu.calls_to("getUpdates")) > polls_before:
            return app, stop, task
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    raise TimeoutError("the bot did not start polling")


async def verify(app: App, emu: BotApiEmulator, users: list[SimUser], results: Results) -> list[str]:
    """Everything the run was supposed to produce, checked after the timing."""
    problems: list[str] = []
    ids = [u.id for u in users]
    async with app.core.db.read_sessions() as session:
        rows = (
            await session.execute(
                select(func.count()).select_from(Customer).where(Customer.telegram_id.in_(ids))
            )
        ).scalar()
        states = (
            await session.execute(select(func.count()).select_from(ConversationState))
        ).scalar()
    if rows != len(users):
        problems.append(f"{rows} customer rows for {len(users)} simulated customers")
    if states:
        problems.append(f"{states} conversation states left behind")
    bad_qr = 0
    for user in users:
        card = results.cards.get(user.id)
        if card is None:
            bad_qr += 1
            continue
        expected = deep_link(BOT_USERNAME, (await app.services.customers.card(user.id)).member_payload)
        if user.decode_qr(card) != expected:
            bad_qr += 1
    if bad_qr:
        problems.append(f"{bad_qr} of {len(users)} /card QR codes missing or not decoding to the member deep link")
    failed_calls = [c for c in emu.calls if c.status not in (0, 200)]  # 0: still in flight (the held long poll)
    if failed_calls:
        sample = ", ".join(f"{c.method}: {c.description}" for c in failed_calls[:3])
        problems.append(f"{len(failed_calls)} Bot API calls failed ({sample})")
    return problems


async def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    tmp = Path(tempfile.mkdtemp(prefix="loyaltybot-bench-"))
    database_url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    emu = BotApiEmulator(bot_token=BOT_TOKEN, bot_username=BOT_USERNAME)
    await emu.start()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        bot_token=emu.bot_token,
        bot_api_url=emu.base_url,
        database_url=database_url,
        program_file=tmp / "program.toml",  # absent: the built-in default program
        locales_dir=PROJECT_ROOT / "locales",
        polling_timeout=30,
    )
    app, stop, serving = await start_bot(settings, emu)
    # Let the start-up background work (command publishing) finish: it is not what we measure.
    await asyncio.sleep(0.3)

    users = [
        emu.user(FIRST_USER_ID + i, f"Cust{i}", language_code="en", phone=f"+6012{1_000_000 + i:07d}")
        for i in range(args.customers)
    ]
    results = Results()
    gate = asyncio.Semaphore(args.concurrency)

    async def one(user: SimUser) -> None:
        async with gate:
            try:
                await customer_journey(user, results)
            except Exception as exc:  # noqa: BLE001 - reported and fails the run
                results.errors.append(f"user {user.id}: {type(exc).__name__}: {str(exc)[:300]}")

    calls_before = len(emu.calls)
    cpu_before = time.process_time()
    began = time.perf_counter()
    await asyncio.gather(*(one(u) for u in users))
    wall = time.perf_counter() - began
    cpu = time.process_time() - cpu_before
    api_calls = len(emu.calls) - calls_before

    problems = list(results.errors[:5])
    if len(results.errors) > 5:
        problems.append(f"... and {len(results.errors) - 5} more failed journeys")
    problems += await verify(app, emu, users, results)

    stop.set()
    await asyncio.wait_for(serving, 15)
    await app.close()
    await emu.stop()

    rate = results.updates / wall if wall else float("nan")
    everything = [v for s in STEPS for v in results.latencies[s]]
    p99 = percentile(sorted(v * 1000 for v in everything), 99)
    dialect = database_url.split(":", 1)[0]
    print(f"loyaltybot registration benchmark  ({os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {dialect})")
    print(f"  customers        {args.customers} (concurrency {args.concurrency})")
    print(f"  updates          {results.updates} ({len(STEPS)} per customer), Bot API calls by the bot: {api_calls}")
    print(f"  wall time        {wall:.2f} s   (process CPU {cpu:.2f} s = {100 * cpu / wall:.0f}% of one core; "
          "bot, emulator and customers share it)")
    ok_rate = "OK" if rate >= TARGET_RATE else "MISSED"
    ok_p99 = "OK" if p99 <= TARGET_P99_MS else "MISSED"
    print(f"  throughput       {rate:.1f} updates/s   target >= {TARGET_RATE:.0f} updates/s  [{ok_rate}]")
    print(f"  latency p99      {p99:.1f} ms           target <= {TARGET_P99_MS:.0f} ms (SQLite)  [{ok_p99}]")
    print()
    print(f"  latency (ms)     {'n':>5} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    print(latency_row("overall", everything))
    for step in STEPS:
        print(latency_row(step, results.latencies[step]))
    if everything:
        print(f"  (mean {statistics.fmean(everything) * 1000:.1f} ms; contact and birthday are timed to the "
              "second of their two replies)")
    print()
    if problems:
        print("CORRECTNESS: FAILED")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(f"correctness: OK ({args.customers} customer rows, {len(results.cards)} /card QR codes decode to "
          "their member deep link, no failed Bot API calls, no conversation state left)")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200, help="simulated customers (default 200)")
    parser.add_argument("--concurrency", type=int, default=50, help="customers in flight at once (default 50)")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    args = parser.parse_args(argv)
    if args.customers < 1 or args.concurrency < 1:
        parser.error("--customers and --concurrency must be positive")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
