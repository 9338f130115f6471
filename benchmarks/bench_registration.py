"""Registration throughput and latency of the real `loyaltybot run` process.

The bot runs as its own process, exactly as in production: the venv's ``loyaltybot run``
console script, configured only through the environment (``BOT_TOKEN``, ``BOT_API_URL``
= the emulator, ``DATABASE_URL`` = SQLite in a temporary directory, ``LOG_LEVEL=WARNING``),
started in that temporary directory (no ``.env``, no ``program.toml``: built-in defaults)
and stopped with SIGTERM (exit code must be 0). The project's Bot API emulator and the
simulated customers run in *this* process, so on a machine with two or more cores the
bot has a core of its own and the figures are the bot's.

Every simulated customer walks the whole registration (start, language, consent,
contact, birthday) and then asks for /card and /history: 7 updates. For every update
we time sending it -> the bot's corresponding reply (or edit) being visible in the
emulator; for the steps answered with two messages (contact, birthday) up to the
*last* of them, i.e. until the customer can go on.

Two measurements, because a closed loop cannot show both figures at once (latency ~
updates in flight / throughput, so 50 in flight at p99 <= 50 ms needs >= 1000 updates/s):

* throughput (closed loop): C customers in flight, each sending its next update as soon
  as the previous reply arrived; N customers in all. Target >= 300 updates/s.
* latency at a fixed offered load (open loop): new customers start at a fixed rate so
  that the offered load is R updates/s (R/7 customers per second for --duration
  seconds); each still walks its 7 steps without pauses. Target p99 <= 50 ms at
  R = 300. If the bot cannot keep up (achieved rate < offered), the output says so.

Also printed: the bot process's CPU time (``/proc/<pid>/stat`` utime + stime) per update,
and this process's (emulator + customers) CPU, so it is visible when the load generator
rather than the bot is the limit. Correctness is checked after the bot has exited, by
reading its database directly: one customer row per simulated customer with that
customer's phone, every /card QR decodes to the customer's member deep link, no
conversation state left, no failed Bot API call, no traceback in the bot's log.

    python benchmarks/bench_registration.py [--customers 300] [--concurrency 50]
        [--rate 300 [150 ...]] [--duration 10] [--skip-closed] [--skip-open]
        [--database-url URL] [--profile OUT.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine

from loyaltybot.config import Settings
from loyaltybot.db.models import AppSetting, ConversationState, Customer
from loyaltybot.domain.tokens import TokenKind, deep_link, encode_payload
from loyaltybot.sandbox import BotApiEmulator, ChatMessage, SimUser
from proctree import process_cpu, tree_cpu  # benchmarks/proctree.py, next to this script

BOT_TOKEN = "123456:BENCH-token"
BOT_USERNAME = "loyalty_bench_bot"
FIRST_USER_ID = 5_000_000
STEPS = ("start", "language", "consent", "contact", "birthday", "card", "history")
UPDATES_PER_CUSTOMER = len(STEPS)
TARGET_RATE = 300.0  # updates/s, closed loop
TARGET_P99_MS = 50.0  # open loop at TARGET_RATE
SUSTAINED = 0.95  # achieved >= 95 % of offered counts as keeping up
WAIT_TIMEOUT = 60.0  # generous: a slow reply is measured, only a missing one fails
START_LIMIT = 60.0


# --------------------------------------------------------------------------- the bot process


def console_script() -> str:
    path = Path(sys.executable).with_name("loyaltybot")
    if not path.exists():
        raise SystemExit(
            f"{path} not found: install the package into this interpreter's environment"
        )
    return str(path)


def bot_env(emu: BotApiEmulator, database_url: str, workers: int = 1) -> dict[str, str]:
    """This environment minus anything the bot would read as configuration, plus ours."""
    ours = {name.upper() for name in Settings.model_fields}
    env = {
        k: v
        for k, v in os.environ.items()
        if k.upper() not in ours and k != "PYTHONPATH"
    }
    env.update(
        BOT_TOKEN=emu.bot_token,
        BOT_API_URL=emu.base_url,
        DATABASE_URL=database_url,
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        WORKERS=str(workers),
    )
    return env


class BotProcess:
    def __init__(self, proc: asyncio.subprocess.Process, log_path: Path) -> None:
        self.proc = proc
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    async def start(
        cls, emu: BotApiEmulator, workdir: Path, database_url: str, workers: int = 1
    ) -> tuple[BotProcess, float]:
        log_path = workdir / "bot.log"
        polls_before = len(emu.calls_to("getUpdates"))
        with open(log_path, "wb") as log:  # noqa: ASYNC230 - before the bot exists, nothing to block
            began = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                console_script(),
                "run",
                cwd=workdir,
                env=bot_env(emu, database_url, workers),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        bot = cls(proc, log_path)
        while len(emu.calls_to("getUpdates")) <= polls_before:
            if proc.returncode is not None:
                raise RuntimeError(
                    f"loyaltybot run exited with {proc.returncode}: {bot.log_tail()}"
                )
            if time.perf_counter() - began > START_LIMIT:
                await bot.kill()
                raise TimeoutError(
                    f"no getUpdates within {START_LIMIT} s: {bot.log_tail()}"
                )
            await asyncio.sleep(0.005)
        return bot, time.perf_counter() - began

    def cpu_seconds(self) -> float:
        """utime + stime of the bot process and its update workers (WORKERS), all threads."""
        return tree_cpu(self.pid) or 0.0

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    async def stop(self) -> tuple[int, float]:
        began = time.perf_counter()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(self.proc.wait(), START_LIMIT)
        except TimeoutError:
            await self.kill()
            code = -9
        return code, time.perf_counter() - began

    async def kill(self) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


class Profiler:
    """Optional `py-spy record --format raw` of the bot process during the closed loop."""

    def __init__(self, out: Path | None) -> None:
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, pid: int) -> None:
        if self.out is None:
            return
        exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(exe).exists():
            raise SystemExit("--profile needs py-spy (pip install py-spy)")
        self.proc = subprocess.Popen(
            [
                exe,
                "record",
                "--format",
                "raw",
                "--rate",
                "200",
                "--threads",
                "--subprocesses",
                "-o",
                str(self.out),
                "--pid",
                str(pid),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.5)  # attach before the load starts

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        if self.proc.returncode not in (0, -signal.SIGINT):
            print(
                f"py-spy exited with {self.proc.returncode}: {err.decode(errors='replace')[-500:]}",
                file=sys.stderr,
            )


# --------------------------------------------------------------------------- the customers


@dataclass
class Phase:
    name: str
    users: list[SimUser]
    latencies: dict[str, list[float]] = field(
        default_factory=lambda: {s: [] for s in STEPS}
    )
    cards: dict[int, ChatMessage] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    updates: int = 0
    wall: float = 0.0
    bot_cpu: float = 0.0
    run_cpu: float = 0.0  # of bot_cpu: the `run` process alone (differs with WORKERS > 1)
    own_cpu: float = 0.0
    api_calls: int = 0
    offered_rate: float | None = None
    start_lag: list[float] = field(
        default_factory=list
    )  # open loop: actual - scheduled start
    max_in_flight: int = 0
    in_flight: int = 0

    @property
    def everything(self) -> list[float]:
        return [v for s in STEPS for v in self.latencies[s]]

    @property
    def rate(self) -> float:
        return self.updates / self.wall if self.wall else float("nan")


def _check(message: ChatMessage, *needles: str) -> ChatMessage:
    body = message.text or message.caption or ""
    for needle in needles:
        if needle not in body:
            raise AssertionError(f"expected {needle!r} in {body!r}")
    return message


async def customer_journey(user: SimUser, phase: Phase) -> None:
    lat = phase.latencies
    clock = time.perf_counter

    t = clock()
    await user.send("/start")
    phase.updates += 1
    picker = _check(
        await user.wait_for_message(timeout=WAIT_TIMEOUT), "choose your language"
    )
    lat["start"].append(clock() - t)

    t = clock()
    await user.click(picker, "✓ English")
    phase.updates += 1
    notice = _check(
        await user.wait_for_edit(picker, timeout=WAIT_TIMEOUT), "Privacy notice"
    )
    lat["language"].append(clock() - t)

    t = clock()
    await user.click(notice, "✅ I accept")
    phase.updates += 1
    _check(await user.wait_for_message(timeout=WAIT_TIMEOUT), "Share my phone number")
    lat["consent"].append(clock() - t)

    t = clock()
    await user.share_contact()
    phase.updates += 1
    _check(await user.wait_for_message(timeout=WAIT_TIMEOUT), "verified")
    _check(await user.wait_for_message(timeout=WAIT_TIMEOUT), "birthday")
    lat["contact"].append(clock() - t)

    t = clock()
    await user.send("31/12/1990")
    phase.updates += 1
    _check(
        await user.wait_for_message(timeout=WAIT_TIMEOUT), "Birthday saved: 31/12/1990"
    )
    _check(
        await user.wait_for_message(timeout=WAIT_TIMEOUT),
        f"You're in, {user.first_name}",
    )
    lat["birthday"].append(clock() - t)

    t = clock()
    await user.send("/card")
    phase.updates += 1
    card = await user.wait_for_message(timeout=WAIT_TIMEOUT)
    lat["card"].append(clock() - t)
    if not card.photo_bytes:
        raise AssertionError(f"/card did not answer with a photo: {card!r}")
    phase.cards[user.id] = card  # the QR is decoded after the run, outside the timing

    t = clock()
    await user.send("/history")
    phase.updates += 1
    _check(await user.wait_for_message(timeout=WAIT_TIMEOUT), "No activity yet")
    lat["history"].append(clock() - t)


async def guarded_journey(user: SimUser, phase: Phase) -> None:
    phase.in_flight += 1
    phase.max_in_flight = max(phase.max_in_flight, phase.in_flight)
    try:
        await customer_journey(user, phase)
    except Exception as exc:  # noqa: BLE001 - reported and fails the run
        phase.errors.append(f"user {user.id}: {type(exc).__name__}: {str(exc)[:300]}")
    finally:
        phase.in_flight -= 1


class Population:
    """Distinct simulated customers (ids and phones) across all phases of one run."""

    def __init__(self, emu: BotApiEmulator) -> None:
        self.emu = emu
        self.all: list[SimUser] = []

    def make(self, count: int) -> list[SimUser]:
        start = len(self.all)
        users = [
            self.emu.user(
                FIRST_USER_ID + i,
                f"Cust{i}",
                language_code="en",
                phone=f"+6012{1_000_000 + i:07d}",
            )
            for i in range(start, start + count)
        ]
        self.all += users
        return users


async def measured(
    phase: Phase, bot: BotProcess, emu: BotApiEmulator, body: Any
) -> Phase:
    calls_before = len(emu.calls)
    bot_cpu_before = bot.cpu_seconds()
    run_cpu_before = (process_cpu(bot.pid) or 0.0)
    own_cpu_before = time.process_time()
    began = time.perf_counter()
    await body
    phase.wall = time.perf_counter() - began
    phase.own_cpu = time.process_time() - own_cpu_before
    phase.bot_cpu = bot.cpu_seconds() - bot_cpu_before
    phase.run_cpu = (process_cpu(bot.pid) or 0.0) - run_cpu_before
    phase.api_calls = len(emu.calls) - calls_before
    return phase


async def closed_loop(
    name: str,
    users: list[SimUser],
    concurrency: int,
    bot: BotProcess,
    emu: BotApiEmulator,
) -> Phase:
    phase = Phase(name, users)
    queue = iter(users)

    async def worker() -> None:
        for (
            user
        ) in queue:  # shared iterator: each worker takes the next customer when free
            await guarded_journey(user, phase)

    return await measured(
        phase,
        bot,
        emu,
        asyncio.gather(*(worker() for _ in range(min(concurrency, len(users))))),
    )


async def open_loop(
    users: list[SimUser], rate: float, bot: BotProcess, emu: BotApiEmulator
) -> Phase:
    phase = Phase(f"open loop @ {rate:g} updates/s", users, offered_rate=rate)
    interval = UPDATES_PER_CUSTOMER / rate  # seconds between customer arrivals
    loop = asyncio.get_running_loop()
    t0 = loop.time() + 0.05

    async def arrive(index: int, user: SimUser) -> None:
        scheduled = t0 + index * interval
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        phase.start_lag.append(loop.time() - scheduled)
        await guarded_journey(user, phase)

    return await measured(
        phase, bot, emu, asyncio.gather(*(arrive(i, u) for i, u in enumerate(users)))
    )


# --------------------------------------------------------------------------- checks


async def verify(
    database_url: str,
    emu: BotApiEmulator,
    users: list[SimUser],
    cards: dict[int, ChatMessage],
) -> list[str]:
    """Everything the run was supposed to produce, read from the bot's database after it exited."""
    problems: list[str] = []
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            ids = [u.id for u in users]
            rows: dict[int, tuple[str | None, str]] = {}
            for i in range(0, len(ids), 500):
                result = await conn.execute(
                    select(
                        Customer.telegram_id, Customer.phone, Customer.member_key
                    ).where(Customer.telegram_id.in_(ids[i : i + 500]))
                )
                rows.update({tid: (phone, key) for tid, phone, key in result})
            states = (
                await conn.execute(select(func.count()).select_from(ConversationState))
            ).scalar()
            secret = (
                await conn.execute(
                    select(AppSetting.value).where(AppSetting.key == "secret_key")
                )
            ).scalar()
    finally:
        await engine.dispose()
    if len(rows) != len(users):
        problems.append(
            f"{len(rows)} customer rows for {len(users)} simulated customers"
        )
    wrong_phone = sum(1 for u in users if u.id in rows and rows[u.id][0] != u.phone)
    if wrong_phone:
        problems.append(
            f"{wrong_phone} customer rows with a phone other than the one shared"
        )
    if states:
        problems.append(f"{states} conversation states left behind")
    if secret is None:
        problems.append("no secret key in app_settings: cannot check the QR codes")
    else:
        bad_qr = 0
        for user in users:
            card, row = cards.get(user.id), rows.get(user.id)
            if card is None or row is None:
                bad_qr += 1
                continue
            expected = deep_link(
                BOT_USERNAME, encode_payload(TokenKind.MEMBER, row[1], secret.encode())
            )
            if user.decode_qr(card) != expected:
                bad_qr += 1
        if bad_qr:
            problems.append(
                f"{bad_qr} of {len(users)} /card QR codes missing or not decoding to the member deep link"
            )
    failed_calls = [
        c for c in emu.calls if c.status not in (0, 200)
    ]  # 0: still in flight (the held long poll)
    if failed_calls:
        sample = ", ".join(f"{c.method}: {c.description}" for c in failed_calls[:3])
        problems.append(f"{len(failed_calls)} Bot API calls failed ({sample})")
    return problems


# --------------------------------------------------------------------------- report


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil
    return sorted_values[int(rank) - 1]


def latency_row(name: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    cells = [
        percentile(ms, 50),
        percentile(ms, 90),
        percentile(ms, 99),
        ms[-1] if ms else float("nan"),
    ]
    return f"    {name:<10} {len(ms):>7} " + " ".join(f"{c:>8.1f}" for c in cells)


def print_latency_table(phase: Phase) -> None:
    everything = phase.everything
    print(f"    latency (ms)  {'n':>5} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    print(latency_row("overall", everything))
    for step in STEPS:
        print(latency_row(step, phase.latencies[step]))
    if everything:
        print(
            f"    (mean {statistics.fmean(everything) * 1000:.1f} ms; contact and birthday are timed to the "
            "second of their two replies)"
        )


def print_cpu(phase: Phase) -> None:
    per_update = 1000 * phase.bot_cpu / phase.updates if phase.updates else float("nan")
    print(
        f"    bot process CPU  {phase.bot_cpu:.2f} s = {per_update:.2f} ms/update "
        f"({100 * phase.bot_cpu / phase.wall:.0f}% of one core), {phase.api_calls} Bot API calls "
        f"({phase.api_calls / max(phase.updates, 1):.1f}/update)"
    )
    if phase.bot_cpu - phase.run_cpu > 0.01:
        print(
            f"      of which     `run` process {1000 * phase.run_cpu / max(phase.updates, 1):.2f} ms/update "
            f"(polling, forwarding), update workers "
            f"{1000 * (phase.bot_cpu - phase.run_cpu) / max(phase.updates, 1):.2f} ms/update"
        )
    print(
        f"    load generator   {phase.own_cpu:.2f} s CPU ({100 * phase.own_cpu / phase.wall:.0f}% of one core; "
        "emulator + customers, this process)"
    )


def print_closed(phase: Phase, concurrency: int) -> None:
    verdict = "OK" if phase.rate >= TARGET_RATE else "MISSED"
    print(
        f"  A. throughput, closed loop: {len(phase.users)} customers, {concurrency} in flight"
    )
    print(
        f"    updates          {phase.updates} ({UPDATES_PER_CUSTOMER} per customer) in {phase.wall:.2f} s"
    )
    print(
        f"    throughput       {phase.rate:.1f} updates/s   target >= {TARGET_RATE:.0f} updates/s  [{verdict}]"
    )
    print_cpu(phase)
    print("    latency (for information: ~ in flight / throughput in a closed loop)")
    print_latency_table(phase)


def print_open(phase: Phase, duration: float) -> None:
    offered = phase.offered_rate or float("nan")
    everything = sorted(v * 1000 for v in phase.everything)
    p99 = percentile(everything, 99)
    sustained = phase.rate >= SUSTAINED * offered
    print(
        f"  B. latency, open loop: offered {offered:g} updates/s = a new customer every "
        f"{1000 * UPDATES_PER_CUSTOMER / offered:.1f} ms for {duration:g} s ({len(phase.users)} customers)"
    )
    print(
        f"    updates          {phase.updates} in {phase.wall:.2f} s; at most {phase.max_in_flight} customers in flight"
    )
    lag = sorted(v * 1000 for v in phase.start_lag)
    print(
        f"    achieved         {phase.rate:.1f} updates/s of {offered:g} offered  "
        + (
            "[sustained]"
            if sustained
            else f"[NOT SUSTAINED: the bot cannot keep up at {offered:g} updates/s]"
        )
        + f"   (arrival lag p99 {percentile(lag, 99):.1f} ms)"
    )
    if sustained:
        verdict = "OK" if p99 <= TARGET_P99_MS else "MISSED"
        target = (
            f"target <= {TARGET_P99_MS:.0f} ms at {TARGET_RATE:.0f} updates/s (SQLite)"
        )
        if offered != TARGET_RATE:
            target = f"for information; {target}"
            verdict = "OK" if p99 <= TARGET_P99_MS else "over"
        print(f"    latency p99      {p99:.1f} ms   {target}  [{verdict}]")
    else:
        print(
            f"    latency p99      {p99:.1f} ms   (meaningless: the queue grows while the load is offered)  [MISSED]"
        )
    print_cpu(phase)
    print_latency_table(phase)


# --------------------------------------------------------------------------- main


async def main(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="loyaltybot-bench-"))
    database_url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    emu = BotApiEmulator(bot_token=BOT_TOKEN, bot_username=BOT_USERNAME)
    await emu.start()
    population = Population(emu)
    phases: list[Phase] = []
    problems: list[str] = []
    profiler = Profiler(Path(args.profile) if args.profile else None)
    bot, startup = await BotProcess.start(emu, tmp, database_url, args.workers)
    try:
        # The start-up background work (command menus) is not what we measure; update
        # workers (WORKERS) import the app after the first poll.
        await asyncio.sleep(0.5 if args.workers == 1 else 3.0)
        if args.warmup:
            warm = await closed_loop(
                "warm-up", population.make(args.warmup), args.concurrency, bot, emu
            )
            problems += warm.errors[:3]
            phases.append(warm)
        if not args.skip_closed:
            profiler.start(bot.pid)
            try:
                phases.append(
                    await closed_loop(
                        "closed loop",
                        population.make(args.customers),
                        args.concurrency,
                        bot,
                        emu,
                    )
                )
            finally:
                profiler.stop()
        if not args.skip_open:
            for rate in args.rate:
                count = max(1, round(rate * args.duration / UPDATES_PER_CUSTOMER))
                await asyncio.sleep(
                    1.0
                )  # let the previous phase drain (WAL checkpoint etc.)
                phases.append(await open_loop(population.make(count), rate, bot, emu))
    finally:
        code, shutdown = await bot.stop()
    log = bot.log_tail(100_000)
    if code != 0:
        problems.append(
            f"loyaltybot run exited with {code} after SIGTERM: {log[-1500:]}"
        )
    if "Traceback" in log:
        problems.append(f"a traceback was logged by the bot: {log[-1500:]}")

    for phase in phases:
        problems += phase.errors[:5]
        if len(phase.errors) > 5:
            problems.append(
                f"... and {len(phase.errors) - 5} more failed journeys in the {phase.name}"
            )
    cards = {uid: card for phase in phases for uid, card in phase.cards.items()}
    problems += await verify(database_url, emu, population.all, cards)
    await emu.stop()
    shutil.rmtree(tmp, ignore_errors=True)

    dialect = database_url.split(":", 1)[0]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(
        f"loyaltybot registration benchmark  ({os.cpu_count()} CPUs, load average {load}, "
        f"Python {sys.version.split()[0]}, {dialect})"
    )
    print(
        f"  bot: `loyaltybot run` pid {bot.pid}"
        + (f" with WORKERS={args.workers} (CPU below: all its processes)" if args.workers > 1 else "")
        + f", spawn -> first getUpdates {startup:.2f} s, "
        f"SIGTERM -> exit {code} in {shutdown:.2f} s"
        + (f"; profiled with py-spy -> {args.profile}" if args.profile else "")
    )
    if args.warmup:
        print(f"  warm-up: {args.warmup} customers, not counted")
    for phase in phases:
        if phase.name == "closed loop":
            print()
            print_closed(phase, args.concurrency)
        elif phase.offered_rate is not None:
            print()
            print_open(phase, args.duration)
    print()
    if problems:
        print("CORRECTNESS: FAILED")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(
        f"correctness: OK ({len(population.all)} customer rows with their phones, {len(cards)} /card QR codes "
        "decode to their member deep link, no failed Bot API calls, no conversation state left, "
        "clean exit on SIGTERM)"
    )
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--customers",
        type=int,
        default=300,
        help="closed loop: simulated customers (default 300)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=50,
        help="closed loop: customers in flight (default 50)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        nargs="+",
        default=[TARGET_RATE],
        help="open loop: offered updates/s, one phase per value (default 300)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=10.0,
        help="open loop: seconds of arrivals (default 10)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=20,
        help="customers run first and not counted (default 20)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="WORKERS for the bot: update worker processes (default 1: none, the run process handles updates)",
    )
    parser.add_argument(
        "--skip-closed", action="store_true", help="no closed-loop phase"
    )
    parser.add_argument("--skip-open", action="store_true", help="no open-loop phase")
    parser.add_argument(
        "--database-url", default=None, help="default: SQLite in a temporary directory"
    )
    parser.add_argument(
        "--profile",
        default=None,
        metavar="OUT",
        help="py-spy record --format raw of the bot during the closed loop (needs py-spy)",
    )
    args = parser.parse_args(argv)
    if (
        args.customers < 1
        or args.concurrency < 1
        or args.duration <= 0
        or args.warmup < 0
    ):
        parser.error("--customers, --concurrency and --duration must be positive")
    if any(r <= 0 for r in args.rate):
        parser.error("--rate must be positive")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
