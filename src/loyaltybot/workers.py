"""Update workers: `loyaltybot run` on several cores (WORKERS=N, N >= 2).

A Python process handles one thing at a time, so one bot process uses one core however many
the machine has. With WORKERS=N the `run` process keeps everything that must exist once:
fetching updates (long polling, or the webhook server), the scheduler, the outbox sender
and the command menus. It hands each update, as the JSON Telegram sent, to one of N worker
processes. A worker is the same app (same factory, dispatcher, services and database) minus
those singletons: it only handles updates.

Every update of a user goes to the same worker (`shard_of`). A user's updates are therefore
still handled one at a time and in order, and the conversation state a worker caches in
memory is never changed by another process.

Wire format, on the worker's standard input: one line with the settings as JSON (the pipe is
private to the two processes, so the token never appears in a command line or the
environment), then one line of JSON per update. End of input means stop: finish the
updates in hand, close, exit 0. A worker that dies is started again; the updates it held
are lost, as they would be if a single bot process died.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import signal
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiogram import Bot

    from loyaltybot.config import Settings

log = logging.getLogger("loyaltybot.workers")

_WORKER_MAIN = "from loyaltybot.workers import main; main()"
RESTART_DELAY = 1.0
LONGEST_RESTART_DELAY = 30.0
STEADY_AFTER = 30.0  # a worker that ran this long before dying is restarted after RESTART_DELAY
STOP_TIMEOUT = 20.0


def shard_of(update: dict[str, Any], count: int) -> int:
    """The worker for an update: by the user it comes from, else by its chat."""
    for key, value in update.items():
        if key == "update_id" or not isinstance(value, dict):
            continue
        for holder in ("from", "user", "chat"):
            who = value.get(holder)
            if isinstance(who, dict) and isinstance(who.get("id"), int):
                return who["id"] % count
        message = value.get("message")  # a callback query without `from` is not sent by Telegram
        if isinstance(message, dict):
            chat = message.get("chat")
            if isinstance(chat, dict) and isinstance(chat.get("id"), int):
                return chat["id"] % count
    return 0


def settings_line(settings: Settings) -> bytes:
    from pydantic import SecretStr

    values: dict[str, Any] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, Path):
            value = str(value)
        values[name] = value
    return json.dumps(values).encode() + b"\n"


class _Worker:
    def __init__(self, index: int, first_line: bytes) -> None:
        self.index = index
        self._first_line = first_line
        self.process: asyncio.subprocess.Process | None = None
        self._pending: list[bytes] = []

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", _WORKER_MAIN, str(self.index), stdin=asyncio.subprocess.PIPE
        )
        assert self.process.stdin is not None
        self.process.stdin.write(self._first_line)
        for line in self._pending:
            self.process.stdin.write(line)
        self._pending.clear()

    def send(self, line: bytes) -> None:
        process = self.process
        if process is None or process.returncode is not None or process.stdin is None:
            self._pending.append(line)  # (re)starting: sent as soon as it runs
            return
        process.stdin.write(line)

    async def stop(self, timeout: float) -> int | None:
        process = self.process
        if process is None:
            return None
        if process.stdin is not None:
            process.stdin.close()
        try:
            return await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            log.error("update worker %d did not stop within %.0f s; killing it", self.index, timeout)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            return await process.wait()


class WorkerPool:
    """N worker processes, each fed the updates of its share of users."""

    def __init__(self, settings: Settings, count: int) -> None:
        if count < 2:
            raise ValueError("a pool has at least two workers")
        first = settings_line(settings)
        self._workers = [_Worker(index, first) for index in range(count)]
        self._watchers: set[asyncio.Task[None]] = set()
        self._closing = False

    @property
    def size(self) -> int:
        return len(self._workers)

    @property
    def processes(self) -> list[asyncio.subprocess.Process | None]:
        """The current process of each worker, by shard (None before its first start)."""
        return [worker.process for worker in self._workers]

    async def start(self) -> None:
        for worker in self._workers:
            await worker.start()
            task = asyncio.create_task(self._watch(worker), name=f"update-worker-{worker.index}")
            self._watchers.add(task)
        log.info("%d update workers started", len(self._workers))

    def submit(self, update: dict[str, Any]) -> None:
        line = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        self._workers[shard_of(update, len(self._workers))].send(line)

    async def _watch(self, worker: _Worker) -> None:
        loop = asyncio.get_running_loop()
        delay = RESTART_DELAY
        while True:
            assert worker.process is not None
            began = loop.time()
            code = await worker.process.wait()
            if self._closing:
                return
            # One that keeps failing at start-up (a broken install, an unreachable database)
            # is retried less and less often, up to every 30 s; one that ran a while at once.
            delay = RESTART_DELAY if loop.time() - began > STEADY_AFTER else min(delay * 2, LONGEST_RESTART_DELAY)
            log.error(
                "update worker %d exited with status %s; starting it again in %.0f s", worker.index, code, delay
            )
            await asyncio.sleep(delay)
            if self._closing:
                return
            try:
                await worker.start()
            except OSError:
                log.exception("update worker %d could not be started", worker.index)
                return

    async def close(self, timeout: float = STOP_TIMEOUT) -> None:
        """End of input to every worker; wait until they have handled what they hold and exited."""
        self._closing = True
        codes = await asyncio.gather(*(worker.stop(timeout) for worker in self._workers))
        for task in self._watchers:
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
        for worker, code in zip(self._workers, codes, strict=True):
            if code not in (0, None):
                log.error("update worker %d exited with status %s", worker.index, code)


async def poll_updates(
    bot: Bot,
    submit: Callable[[dict[str, Any]], None],
    *,
    timeout: int,
    allowed_updates: Iterable[str] | None,
    on_first_poll: Callable[[], None] | None = None,
) -> None:
    """Long polling that passes each update on as the JSON Telegram sent, without parsing it
    into aiogram's models (the workers do that). Errors are retried like aiogram's polling:
    logged, then a growing pause (1 s to 5 s). Runs until cancelled."""
    from aiogram.dispatcher.dispatcher import DEFAULT_BACKOFF_CONFIG
    from aiogram.methods import GetUpdates
    from aiogram.utils.backoff import Backoff

    from loyaltybot.bot.session import BotApiSession

    session = bot.session
    if not isinstance(session, BotApiSession):
        raise TypeError("poll_updates needs the app's BotApiSession")
    backoff = Backoff(DEFAULT_BACKOFF_CONFIG)  # the pauses of aiogram's own polling
    params: dict[str, Any] = {"timeout": timeout}
    if allowed_updates is not None:
        params["allowed_updates"] = list(allowed_updates)
    request_timeout = timeout + float(session.timeout or 60)
    method = GetUpdates(timeout=timeout)
    failed = False
    while True:
        try:
            if on_first_poll is not None:
                on_first_poll()
                on_first_poll = None
            body = json.dumps(params).encode()
            status, content = await session.post(bot, method, body, "application/json", request_timeout)
            reply = json.loads(content)
            if not isinstance(reply, dict) or not reply.get("ok"):
                # aiogram turns Telegram's error into the matching exception (conflict, 401, 5xx...)
                session.check_response(bot, GetUpdates(**params), status, content)
                raise ValueError(f"unexpected getUpdates reply (HTTP {status})")
            updates = reply["result"]
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the network or the Bot API: log, pause, try again
            failed = True
            log.error("Failed to fetch updates - %s: %s", type(error).__name__, error)
            await backoff.asleep()
            continue
        if failed:
            log.info("Connection established again")
            backoff.reset()
            failed = False
        for update in updates:
            submit(update)
            params["offset"] = int(update["update_id"]) + 1


# --------------------------------------------------------------------------- the worker process


async def _serve_worker(index: int) -> int:
    from loyaltybot.cli import configure_logging
    from loyaltybot.config import Settings

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 24)
    stdin = open(0, "rb", buffering=0, closefd=False)  # noqa: SIM115 - the pipe lives as long as the process
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
    first = await reader.readline()
    if not first:
        return 0  # the run process stopped before sending anything
    settings = Settings(_env_file=None, **json.loads(first))  # type: ignore[call-arg]
    configure_logging(settings.log_level)

    from loyaltybot import startup

    startup.install()
    from aiogram.methods import TelegramMethod
    from aiogram.types import Update

    from loyaltybot.app import build_app, serving_gc

    app = await build_app(settings, migrate=False)  # the run process migrated the database
    serving_gc()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Ctrl-C reaches the whole process group, and a service manager may signal every
        # process: either way, finish what is in hand; the run process restarts or stops us.
        loop.add_signal_handler(sig, reader.feed_eof)
    log.info("update worker %d ready", index)

    async def handle(raw: dict[str, Any]) -> None:
        try:
            update = Update.model_validate(raw, context={"bot": app.bot})
            result = await app.dispatcher.feed_update(app.bot, update)
            if isinstance(result, TelegramMethod):
                await app.dispatcher.silent_call_request(app.bot, result)
        except Exception:
            log.exception("update %s failed", raw.get("update_id"))

    tasks: set[asyncio.Task[None]] = set()
    try:
        while line := await reader.readline():
            task = asyncio.create_task(handle(json.loads(line)))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_TIMEOUT - 2)
    finally:
        await app.close()
    return 0


def main() -> None:
    gc.disable()  # imports and set-up, as in `loyaltybot run`; turned back on once built
    index = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    try:
        code = asyncio.run(_serve_worker(index))
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
