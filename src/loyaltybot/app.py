"""Composition root: builds everything from Settings. Nothing happens at import time.

`build_app` is used by production (`loyaltybot run`), the end-to-end tests and the
benchmarks alike, so what is tested is what runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import Update
from aiogram.utils.i18n import I18n
from aiohttp import web

from loyaltybot.bot import commands
from loyaltybot.bot.dispatcher import build_dispatcher
from loyaltybot.bot.i18n import build_i18n
from loyaltybot.bot.session import BotApiSession
from loyaltybot.bot.storage import ServiceStorage
from loyaltybot.config import ConfigError, Program, Settings, load_program
from loyaltybot.db.checkpoint import CHECKPOINT_INTERVAL_S
from loyaltybot.db.engine import Database, create_database
from loyaltybot.db.migrate import upgrade_database
from loyaltybot.db.uow import analytics_factory, uow_factories
from loyaltybot.delivery.sender import Sender
from loyaltybot.domain.roles import Role
from loyaltybot.scheduler.jobs import build_scheduler
from loyaltybot.services.activity import ActivityService
from loyaltybot.services.broadcasts import BroadcastService
from loyaltybot.services.clock import Clock, system_clock
from loyaltybot.services.container import Services
from loyaltybot.services.conversations import ConversationService
from loyaltybot.services.counter import CounterService
from loyaltybot.services.customers import CustomerService
from loyaltybot.services.dashboard import DashboardService
from loyaltybot.services.loyalty import LoyaltyService
from loyaltybot.services.offers import OfferService
from loyaltybot.services.outbox import OutboxService
from loyaltybot.services.rewards import RewardService
from loyaltybot.services.scans import ScanService
from loyaltybot.services.security import load_secret_key
from loyaltybot.services.staff import StaffService
from loyaltybot.services.suggestions import SuggestionService
from loyaltybot.services.surveys import SurveyService
from loyaltybot.services.team import TeamService
from loyaltybot.web.server import build_web_app
from loyaltybot.workers import WorkerPool, poll_updates

log = logging.getLogger("loyaltybot")


@dataclass
class Core:
    """Database and services: everything but Telegram (used by the CLI too)."""

    settings: Settings
    program: Program
    db: Database
    services: Services

    async def close(self) -> None:
        await self.db.dispose()


@dataclass
class App:
    core: Core
    bot: Bot
    dispatcher: Dispatcher
    i18n: I18n
    bot_username: str
    sender: Sender
    background: set[asyncio.Task[Any]] = field(default_factory=set)
    scheduler: Any = None
    workers: WorkerPool | None = None  # update worker processes while serving with WORKERS >= 2

    @property
    def services(self) -> Services:
        return self.core.services

    async def close(self) -> None:
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        await self.dispatcher.storage.close()
        await self.bot.session.close()
        await self.core.close()


async def build_core(settings: Settings, *, clock: Clock = system_clock, migrate: bool = True) -> Core:
    program = load_program(settings.program_file)
    owner_ids = settings.owner_id_set
    # SQLite: WAL checkpoints in a thread, not inside a commit on the event loop (db/checkpoint.py).
    db = create_database(settings.async_database_url, checkpoint_interval=CHECKPOINT_INTERVAL_S)
    try:
        if migrate:
            await upgrade_database(db)
        writer, reader = uow_factories(db)
        secret = await load_secret_key(
            writer, settings.secret_key.get_secret_value() if settings.secret_key else None
        )
    except Exception:
        await db.dispose()
        raise
    db.start()
    staff = StaffService(writer=writer, reader=reader, owner_ids=owner_ids, clock=clock)
    outbox = OutboxService(writer=writer, reader=reader, program=program, clock=clock)
    services = Services(
        program=program,
        clock=clock,
        customers=CustomerService(writer=writer, reader=reader, program=program, secret_key=secret, clock=clock),
        staff=staff,
        conversations=ConversationService(writer=writer, reader=reader, clock=clock),
        scans=ScanService(
            writer=writer, reader=reader, secret_key=secret, card_size=program.stamps.card_size, clock=clock
        ),
        counter=CounterService(
            writer=writer, reader=reader, program=program, secret_key=secret, owner_ids=owner_ids, clock=clock
        ),
        team=TeamService(
            writer=writer, reader=reader, program=program, secret_key=secret, owner_ids=owner_ids, clock=clock
        ),
        activity=ActivityService(reader=reader, program=program, owner_ids=owner_ids, clock=clock),
        outbox=outbox,
        broadcasts=BroadcastService(
            writer=writer, reader=reader, outbox=outbox, staff=staff, program=program, clock=clock
        ),
        rewards=RewardService(
            writer=writer, reader=reader, program=program, secret_key=secret, owner_ids=owner_ids, clock=clock
        ),
        loyalty=LoyaltyService(
            writer=writer, reader=reader, program=program, secret_key=secret, owner_ids=owner_ids, clock=clock
        ),
        offers=OfferService(
            writer=writer, reader=reader, program=program, secret_key=secret, owner_ids=owner_ids, clock=clock
        ),
        dashboard=DashboardService(reader=analytics_factory(db), staff=staff, program=program, clock=clock),
        surveys=SurveyService(writer=writer, reader=reader, staff=staff, program=program, clock=clock),
        suggestions=SuggestionService(writer=writer, reader=reader, staff=staff, program=program, clock=clock),
    )
    return Core(settings=settings, program=program, db=db, services=services)


def build_bot(settings: Settings) -> Bot:
    token = settings.require_bot_token()
    session = (
        BotApiSession(api=TelegramAPIServer.from_base(settings.bot_api_url)) if settings.bot_api_url else BotApiSession()
    )
    return Bot(token=token, session=session, default=DefaultBotProperties(parse_mode="HTML"))


def _build_storage(settings: Settings, services: Services) -> BaseStorage:
    if settings.redis_url:
        try:
            from aiogram.fsm.storage.redis import RedisStorage
        except ImportError:  # pragma: no cover - depends on the optional extra
            raise ConfigError("REDIS_URL is set but the redis package is missing: pip install 'loyaltybot[redis]'") from None
        return RedisStorage.from_url(settings.redis_url)
    return ServiceStorage(services.conversations)


async def build_app(settings: Settings, *, clock: Clock = system_clock, migrate: bool = True) -> App:
    bot = build_bot(settings)  # fails fast, before touching the database, when BOT_TOKEN is missing
    settings.webhook_enabled()  # validates the webhook pair
    try:
        core = await build_core(settings, clock=clock, migrate=migrate)
    except Exception:
        await bot.session.close()
        raise
    try:
        me = await bot.me()  # cached: start_polling asks again
        assert me.username, "a bot always has a username"
        i18n = build_i18n(settings.locales_dir, core.program.shop.default_language)
        dispatcher = build_dispatcher(
            services=core.services,
            i18n=i18n,
            storage=_build_storage(settings, core.services),
            bot_username=me.username,
        )
        # aiogram's models are built when first used (loyaltybot/startup.py): build the one
        # every update needs now, with the rest of start-up, not while the first customer waits.
        Update.model_validate({"update_id": 0})
    except BaseException:
        await bot.session.close()
        await core.close()
        raise
    sender = Sender(
        bot=bot,
        outbox=core.services.outbox,
        i18n=i18n,
        owner_language=core.program.shop.default_language,
        rate=settings.broadcast_rate,
        chat_rate=settings.broadcast_chat_rate,
        paid=settings.broadcast_paid,
        in_flight=settings.broadcast_in_flight,
        send_timeout=settings.broadcast_send_timeout,
        offers=core.services.offers,
        bot_username=me.username or "",
    )
    return App(core=core, bot=bot, dispatcher=dispatcher, i18n=i18n, bot_username=me.username, sender=sender)


async def publish_commands(app: App) -> None:
    staff = await app.services.staff.list()
    roles = [(entry.telegram_id, entry.role) for entry in staff]
    roles += [(owner, Role.OWNER) for owner in sorted(app.services.staff.owner_ids)]
    await commands.publish_all(app.bot, app.i18n, roles)


def _start_background(app: App, coro: Any, name: str) -> None:
    task = asyncio.create_task(coro, name=name)
    app.background.add(task)

    def done(finished: asyncio.Task[Any]) -> None:
        app.background.discard(finished)
        if not finished.cancelled() and finished.exception() is not None:
            log.error("background task %s failed", name, exc_info=finished.exception())

    task.add_done_callback(done)


def _start_work(app: App) -> None:
    """Command menus, the outbox sender and the scheduler (whose jobs all catch up at once)."""
    _start_background(app, publish_commands(app), "publish-commands")
    _start_background(app, app.sender.run(), "outbox-sender")
    app.scheduler = build_scheduler(app.services, interval_seconds=app.core.settings.scheduler_interval)
    app.scheduler.start()


async def _first_poll(app: App, polling: asyncio.Task[None], timeout: float = 5.0) -> None:
    """Wait until the first getUpdates is out (or polling ended, or `timeout`): updates that
    queued while the bot was down are then fetched before the start-up catch-up work runs."""
    session = app.bot.session
    if not isinstance(session, BotApiSession):
        return
    first = asyncio.create_task(session.polling.wait())
    try:
        await asyncio.wait({first, polling}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        first.cancel()


async def serve(app: App, stop: asyncio.Event, *, started: float | None = None) -> None:
    """Run until `stop` is set: long polling, or the webhook server when WEBHOOK_URL is set.
    With WORKERS >= 2, updates are handled by worker processes (`loyaltybot.workers`)."""
    settings = app.core.settings
    pool = app.workers = WorkerPool(settings, settings.workers) if settings.workers > 1 else None
    if pool is not None:
        await pool.start()
    try:
        if settings.webhook_enabled():
            await _serve_webhook(app, stop, pool, started)
        else:
            await _serve_polling(app, stop, pool, started)
    finally:
        if pool is not None:
            await pool.close()
            app.workers = None


async def _serve_webhook(app: App, stop: asyncio.Event, pool: WorkerPool | None, started: float | None) -> None:
    settings = app.core.settings
    allowed = app.dispatcher.resolve_used_update_types()
    _start_work(app)
    assert settings.webhook_url and settings.webhook_secret
    secret = settings.webhook_secret.get_secret_value()
    path = urlsplit(settings.webhook_url).path or "/"
    web_app = build_web_app(
        app.dispatcher, app.bot, secret=secret, path=path, forward=pool.submit if pool is not None else None
    )
    runner = web.AppRunner(web_app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, settings.webhook_listen_host, settings.webhook_listen_port)
    await site.start()
    await app.bot.set_webhook(settings.webhook_url, secret_token=secret, allowed_updates=allowed)
    log.info("webhook server listening on %s:%s", settings.webhook_listen_host, settings.webhook_listen_port)
    if started is not None:
        log.info("ready in %.2f s", time.perf_counter() - started)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


async def _serve_polling(app: App, stop: asyncio.Event, pool: WorkerPool | None, started: float | None) -> None:
    settings = app.core.settings
    allowed = app.dispatcher.resolve_used_update_types()
    await app.bot.delete_webhook(drop_pending_updates=False)
    if pool is None:
        polling = asyncio.create_task(
            app.dispatcher.start_polling(
                app.bot,
                handle_signals=False,
                close_bot_session=False,
                polling_timeout=settings.polling_timeout,
                allowed_updates=allowed,
            ),
            name="polling",
        )
    else:
        session = app.bot.session
        polling = asyncio.create_task(
            poll_updates(
                app.bot,
                pool.submit,
                timeout=settings.polling_timeout,
                allowed_updates=allowed,
                on_first_poll=session.polling.set if isinstance(session, BotApiSession) else None,
            ),
            name="polling",
        )
    await _first_poll(app, polling)
    if started is not None:
        log.info("polling started in %.2f s", time.perf_counter() - started)
    _start_work(app)
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait({polling, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if polling in done:
        stopper.cancel()
        polling.result()  # polling ended on its own: surface its error
        return
    if pool is None:
        with contextlib.suppress(RuntimeError):
            await app.dispatcher.stop_polling()
        await polling
    else:
        polling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await polling


GC_YOUNG_THRESHOLD = 10_000


def serving_gc() -> None:
    """The cycle collector once the bot is built (turned off for the imports and set-up).

    What start-up built lives as long as the process: frozen, never scanned again. A unit of
    work that goes through SQLAlchemy's session leaves a few dozen objects in reference cycles
    (the session, connection and transaction objects refer to each other), so the collector
    must run, but Python's default runs it every 700 new container objects, each time
    scanning what the handlers in flight still hold. Timed with `gc.callbacks` in an update
    worker over 1,525 sale claims: 0.17-0.20 s of collections at 700 against 0.06-0.08 s at
    10,000 when each claim's transaction went through the session (the same garbage
    collected); 0.09-0.11 s against 0.005 s now that it does not (nothing to collect). A few
    MB more memory at most."""
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, 10, 10)
    gc.enable()


async def run(settings: Settings) -> None:
    """The `loyaltybot run` command: build, serve until SIGINT/SIGTERM, shut down cleanly."""
    started = time.perf_counter()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    app = await build_app(settings)
    if not gc.isenabled():  # the CLI turned it off for the imports and set-up
        serving_gc()
    log.info("bot @%s ready (database: %s)", app.bot_username, app.core.db.write_engine.dialect.name)
    try:
        await serve(app, stop, started=started)
    finally:
        await app.close()
        log.info("stopped")
