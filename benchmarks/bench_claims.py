"""Sale-claim throughput and latency, end to end.

The real bot talks to the project's Bot API emulator over HTTP (long polling) with the
real database. By default the bot runs as its own process, exactly as deployed
(`python -m loyaltybot run`), while the emulator and the simulated customers run in this
one, as Telegram and the phones would. `--in-process` runs the bot in this process
instead (the production factory `build_app` + `serve`, as in the e2e tests; handy with a
profiler, but then the bot shares one core with the emulator).

Set-up, not timed: N + W customers are registered and a staff member issues a sale QR code
for each through the services. W of them (`--warmup`, default 50) claim theirs first, C at
a time, not timed: the bot's first claims fill its caches. Then the N customers, C at a
time, each scan their own code: the customer sends `/start <payload>` (what the phone
camera opens) and we time it until the bot's "+N points" reply is visible in the
customer's chat. Each claim is one update to the bot; the bot answers the customer and
notifies the staff member (two sendMessage).

    python benchmarks/bench_claims.py [--customers N] [--warmup W] [--concurrency C | --rate R]
        [--database-url URL] [--in-process] [--profile OUT.txt]

A closed loop (C claims in flight) measures throughput; its latency is only C / throughput.
`--rate R` offers the claims at R per second instead (open loop), which measures latency:
if the bot keeps up (throughput ≈ R), p99 is the bot's.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from loyaltybot.app import App, build_app, build_core, serve
from loyaltybot.config import PROJECT_ROOT, Settings
from loyaltybot.db.models import Customer, LedgerEntry, Token
from loyaltybot.sandbox import BotApiEmulator, SimUser
from proctree import tree_cpu  # benchmarks/proctree.py, next to this script

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_registration import Profiler  # noqa: E402 - the sibling script's py-spy wrapper

BOT_TOKEN = "123456:BENCH-token"
BOT_USERNAME = "loyalty_bench_bot"
FIRST_USER_ID = 6_000_000
STAFF_ID = 5_999_999
TARGET_RATE = 300.0  # claims/s
TARGET_P99_MS = 50.0
WAIT_TIMEOUT = 60.0


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = max(1, -(-len(sorted_values) * q // 100))
    return sorted_values[int(rank) - 1]


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


async def start_bot_process(settings: Settings, emu: BotApiEmulator, workers: int = 1) -> asyncio.subprocess.Process:
    """`python -m loyaltybot run` against the emulator, as an operator would start it."""
    env = dict(os.environ)
    env.update(
        BOT_TOKEN=emu.bot_token,
        BOT_API_URL=emu.base_url,
        DATABASE_URL=settings.database_url,
        PROGRAM_FILE=str(settings.program_file),
        OWNER_IDS="",
        LOG_LEVEL="WARNING",
        POLLING_TIMEOUT="30",
        WORKERS=str(workers),
        PYTHONPATH=os.pathsep.join([str(PROJECT_ROOT / "src"), env.get("PYTHONPATH", "")]),
    )
    env.pop("SECRET_KEY", None)  # the key generated and stored in the database at set-up
    polls_before = len(emu.calls_to("getUpdates"))
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "loyaltybot", "run", env=env)
    for _ in range(3000):
        if len(emu.calls_to("getUpdates")) > polls_before:
            return process
        if process.returncode is not None:
            raise RuntimeError(f"the bot process exited with {process.returncode}")
        await asyncio.sleep(0.01)
    process.kill()
    raise TimeoutError("the bot process did not start polling")


async def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    tmp = Path(tempfile.mkdtemp(prefix="loyaltybot-bench-"))
    try:
        return await run(args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the SQLite database of the run


async def run(args: argparse.Namespace, tmp: Path) -> int:
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

    # ---- set-up (not timed): customers, a staff member, one sale QR code per customer
    core = await build_core(settings)
    services = core.services
    staff = emu.user(STAFF_ID, "Sam", phone="+60120000000")
    await services.staff.add(STAFF_ID, added_by=None, display_name="Sam")
    users: list[SimUser] = []
    payloads: dict[int, str] = {}
    amounts: dict[int, int] = {}
    total = args.warmup + args.customers
    for i in range(total):
        user = emu.user(FIRST_USER_ID + i, f"Cust{i}", language_code="en", phone=f"+6012{2_000_000 + i:07d}")
        await services.customers.register(
            telegram_id=user.id,
            contact_user_id=user.id,
            phone=user.phone or "",
            first_name=user.first_name,
            last_name=None,
            language="en",
            consent_version="bench",
            consent_at=datetime.now(UTC),
        )
        amount = 100 * (1 + i % 50) + 50
        sale = await services.counter.issue_sale(STAFF_ID, f"{amount // 100}.{amount % 100:02d}")
        payloads[user.id], amounts[user.id] = sale.payload, amount
        users.append(user)

    # The staff member's chat exists before the bot starts (it publishes their command menu
    # at start-up), and receives the claim notifications.
    await staff.send("hello")
    app: App | None = None
    process: asyncio.subprocess.Process | None = None
    if args.in_process:
        await core.close()
        app, stop, serving = await start_bot(settings, emu)
    else:
        process = await start_bot_process(settings, emu, args.workers)
    await staff.wait_for_message(timeout=WAIT_TIMEOUT)
    # Start-up work (command publishing) and the update workers' start are not what we measure.
    await asyncio.sleep(0.5 if args.workers == 1 or args.in_process else 3.0)

    latencies: list[float] = []
    errors: list[str] = []
    gate = asyncio.Semaphore(args.concurrency)

    async def claim(user: SimUser) -> None:
        async with gate:
            try:
                began = time.perf_counter()
                await user.send(f"/start {payloads[user.id]}")
                reply = await user.wait_for_message(timeout=WAIT_TIMEOUT)
                latencies.append(time.perf_counter() - began)
                expected = f"+{amounts[user.id] // 100} points"
                if expected not in (reply.text or ""):
                    raise AssertionError(f"expected {expected!r} in {reply.text!r}")
            except Exception as exc:  # noqa: BLE001 - reported and fails the run
                errors.append(f"user {user.id}: {type(exc).__name__}: {str(exc)[:300]}")

    warm, timed = users[: args.warmup], users[args.warmup :]
    if warm:  # not timed: the bot's first claims (caches, compiled statements, connections)
        await asyncio.gather(*(claim(u) for u in warm))
        latencies.clear()

    # The set-up's objects (customers, codes, chats) live until the end: keep this process's
    # garbage collector from walking them again and again while the claims run (it would
    # pause the emulator and the customers, not the bot).
    gc.collect()
    gc.freeze()
    profiler = Profiler(Path(args.profile) if args.profile else None)
    if process is not None:
        profiler.start(process.pid)
    calls_before = len(emu.calls)
    bot_cpu_before = tree_cpu(process.pid) if process is not None else None
    cpu_before = time.process_time()
    began = time.perf_counter()
    arrival_lag: list[float] = []
    if args.rate:
        # Open loop: claims start at `rate` per second whatever the bot's pace, so the latency
        # is the bot's (a closed loop's latency is just the claims in flight / throughput).
        # Each claim is started when it is due, as in bench_registration.py, rather than all
        # 3,000 created at once, each sleeping until its time; how late it started is printed.
        gate = asyncio.Semaphore(len(timed))
        tasks = []
        for i, u in enumerate(timed):
            due = began + i / args.rate
            if (ahead := due - time.perf_counter()) > 0:
                await asyncio.sleep(ahead)
            arrival_lag.append(time.perf_counter() - due)
            tasks.append(asyncio.create_task(claim(u)))
        await asyncio.gather(*tasks)
    else:
        await asyncio.gather(*(claim(u) for u in timed))
    wall = time.perf_counter() - began
    cpu = time.process_time() - cpu_before
    bot_cpu_after = tree_cpu(process.pid) if process is not None else None
    profiler.stop()
    bot_cpu = bot_cpu_after - bot_cpu_before if bot_cpu_before is not None and bot_cpu_after is not None else None
    # The staff notifications trail the customers' replies by a moment: wait for all of them.
    notified = 0
    try:
        await staff.wait_for_messages(total, timeout=WAIT_TIMEOUT)
        notified = total
    except TimeoutError:
        notified = len([m for m in staff.messages if m.from_bot and "claimed by" in (m.text or "")])
    api_calls = len(emu.calls) - calls_before

    problems = list(errors[:5])
    ids = [u.id for u in users]
    if app is not None:
        stop.set()
        await asyncio.wait_for(serving, 15)
        await app.close()
        core = await build_core(settings, migrate=False)
    if process is not None:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
    async with core.db.read_sessions() as session:
        entries = (await session.execute(select(func.count()).select_from(LedgerEntry))).scalar()
        used = (await session.execute(select(func.count()).select_from(Token).where(Token.used_at.is_not(None)))).scalar()
        balances = dict(
            (await session.execute(select(Customer.telegram_id, Customer.balance).where(Customer.telegram_id.in_(ids)))).all()
        )
    if entries != total:
        problems.append(f"{entries} ledger entries for {total} claims")
    if used != total:
        problems.append(f"{used} sale tokens used of {total}")
    wrong = [tid for tid in ids if balances.get(tid) != amounts[tid] // 100]
    if wrong:
        problems.append(f"{len(wrong)} customers with a wrong balance")
    if notified != total:
        problems.append(f"staff was told of {notified} of {total} claims")
    failed_calls = [c for c in emu.calls if c.status not in (0, 200)]
    if failed_calls:
        problems.append(f"{len(failed_calls)} Bot API calls failed ({failed_calls[0].method}: {failed_calls[0].description})")

    await core.close()
    await emu.stop()

    rate = len(latencies) / wall if wall else float("nan")
    ms = sorted(v * 1000 for v in latencies)
    p50, p90, p99 = percentile(ms, 50), percentile(ms, 90), percentile(ms, 99)
    dialect = database_url.split(":", 1)[0]
    where = "bot in this process with the emulator" if args.in_process else "bot in its own process"
    if args.workers > 1 and not args.in_process:
        where += f" with WORKERS={args.workers} (CPU: all its processes)"
    print(f"loyaltybot sale-claim benchmark  ({os.cpu_count()} CPUs, Python {sys.version.split()[0]}, {dialect}; {where})")
    load = f"offered at {args.rate:.0f}/s, open loop" if args.rate else f"concurrency {args.concurrency}, closed loop"
    print(f"  claims           {args.customers} customers, one sale QR each ({load}); "
          f"{args.warmup} more before them, not timed")
    print(f"  Bot API calls    {api_calls} by the bot during the run")
    cpu_note = f"CPU: emulator and customers {cpu:.2f} s"
    if bot_cpu is not None:
        cpu_note += f", bot process {bot_cpu:.2f} s = {1000 * bot_cpu / args.customers:.1f} ms per claim"
    print(f"  wall time        {wall:.2f} s   ({cpu_note})")
    if args.rate:  # open loop: the rate is the offered one if the bot keeps up
        sustained = rate >= 0.95 * args.rate
        lag = sorted(v * 1000 for v in arrival_lag)
        print(f"  throughput       {rate:.1f} claims/s of {args.rate:.0f} offered  "
              f"[{'sustained' if sustained else 'NOT SUSTAINED: the bot cannot keep up'}]"
              f"   (arrival lag p99 {percentile(lag, 99):.1f} ms: how late this process started claims)")
    else:
        print(f"  throughput       {rate:.1f} claims/s   target >= {TARGET_RATE:.0f}  "
              f"[{'OK' if rate >= TARGET_RATE else 'MISSED'}]")
    print(f"  latency (ms)     p50 {p50:.1f}  p90 {p90:.1f}  p99 {p99:.1f}  max {ms[-1] if ms else float('nan'):.1f}"
          f"  mean {statistics.fmean(ms) if ms else float('nan'):.1f}   target p99 <= {TARGET_P99_MS:.0f} "
          f"[{'OK' if p99 <= TARGET_P99_MS else 'MISSED'}]")
    if problems:
        print("CORRECTNESS: FAILED")
        for problem in problems:
            print(f"  - {problem}")
        return 1
    print(f"correctness: OK ({entries} ledger entries, every token used once, every balance right, "
          "staff told of every claim, no failed Bot API calls)")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1000, help="customers, one claim each (default 1000)")
    parser.add_argument("--warmup", type=int, default=50, help="claims before the timed ones, not timed (default 50)")
    parser.add_argument("--concurrency", type=int, default=10, help="claims in flight at once (default 10)")
    parser.add_argument("--database-url", default=None, help="default: SQLite in a temporary directory")
    parser.add_argument("--in-process", action="store_true", help="run the bot in this process (shares its core)")
    parser.add_argument("--workers", type=int, default=1,
                        help="WORKERS for the bot process: update worker processes (default 1: none)")
    parser.add_argument("--rate", type=float, default=None,
                        help="open loop: offer claims at this rate per second (ignores --concurrency)")
    parser.add_argument("--profile", metavar="OUT.txt", default=None,
                        help="py-spy record the bot process during the claims (see bench_registration.py)")
    args = parser.parse_args(argv)
    if args.customers < 1 or args.concurrency < 1 or args.warmup < 0:
        parser.error("--customers and --concurrency must be positive, --warmup not negative")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
