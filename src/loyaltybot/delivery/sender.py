"""The one sender that drains the outbox (DESIGN "Outbound messages: one pipeline").

Pacing: a global token bucket (default 30/s) and one per chat (default 1/s); a 429 pauses
everything for `retry_after`. Rows are claimed (committed as `sending`) a few at a time
(`in_flight`) just before they are sent, and outcomes are recorded in the next claim's
transaction. So after a crash at most the rows in flight (the current chunk plus sends whose
outcome was not yet written, ≤ 2 × `in_flight`) are left `sending`; the next start reports
them as `unknown` and never resends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from aiogram import Bot
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import BufferedInputFile, Message
from aiogram.utils.i18n import I18n

from loyaltybot.bot.promotions import (
    cancel_keyboard,
    lapse_reminder_keyboard,
    lapse_reminder_text,
    message_keyboard,
    message_text,
    offer_caption,
    progress_text,
    report_text,
)
from loyaltybot.domain.outbox import Outcome, TokenBucket, classify_error
from loyaltybot.domain.tokens import deep_link
from loyaltybot.render.qr import qr_png
from loyaltybot.services.offers import LAPSE_REMINDER, OFFER_KINDS, OfferService
from loyaltybot.services.outbox import Content, Job, OutboxService, Progress, Result

log = logging.getLogger(__name__)

BATCH = 200
ERROR_PAUSE = 5.0


class RateLimiter:
    """Global and per-chat pacing plus Telegram's pauses; FIFO among waiting senders."""

    def __init__(self, rate: float, chat_rate: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        # A little burst absorbs timer jitter and a slow commit without ever exceeding the rate
        # over a second (Telegram's own buckets allow far more).
        self._global = TokenBucket(rate, burst=min(3.0, max(1.0, rate / 10)), now=clock())
        self._chat_rate = chat_rate
        # Chats by last use; a bucket that has refilled is the same as a new one and is dropped,
        # so memory stays flat whatever the number of recipients.
        self._chats: OrderedDict[int, TokenBucket] = OrderedDict()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.pauses = 0

    def pause(self, seconds: float) -> None:
        now = self._clock()
        until = now + seconds
        if until > self._paused_until:
            self._paused_until = until
            self.pauses += 1
            log.warning("Telegram asked to slow down: pausing all sends for %.0f s", seconds)
        self._global.drain(now)

    async def acquire(self, chat_id: int) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                    continue
                self._forget_refilled(now)
                chat = self._chats.get(chat_id)
                if chat is None:
                    chat = self._chats[chat_id] = TokenBucket(self._chat_rate, burst=1.0, now=now)
                wait = max(self._global.wait_time(now), chat.wait_time(now))
                if wait <= 0:
                    self._global.take(now)
                    chat.take(now)
                    self._chats.move_to_end(chat_id)
                    return
                await asyncio.sleep(wait)

    @property
    def chats_tracked(self) -> int:
        return len(self._chats)

    def _forget_refilled(self, now: float) -> None:
        while self._chats:
            chat_id, bucket = next(iter(self._chats.items()))
            if bucket.wait_time(now) > 0:
                return  # used more recently than any later one has refilled
            del self._chats[chat_id]


class Sender:
    def __init__(
        self,
        *,
        bot: Bot,
        outbox: OutboxService,
        i18n: I18n,
        owner_language: str,
        rate: float = 30.0,
        chat_rate: float = 1.0,
        paid: bool = False,
        in_flight: int = 8,
        send_timeout: float = 15.0,
        idle_poll: float = 0.5,
        progress_interval: float = 2.0,
        offers: OfferService | None = None,
        bot_username: str = "",
    ) -> None:
        self._bot = bot
        self._outbox = outbox
        self._i18n = i18n
        self._owner_language = owner_language
        self.limiter = RateLimiter(rate, chat_rate)
        self._paid = paid
        self._slots = asyncio.Semaphore(in_flight)
        self._send_timeout = send_timeout
        self._idle_poll = idle_poll
        self._progress_interval = progress_interval
        self._claim_size = in_flight
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsent: list[Job] = []
        self._results: list[Result] = []
        self._contents: dict[int, Content | None] = {}
        self._shown: dict[int, str] = {}
        self._offers = offers
        self._bot_username = bot_username

    # ------------------------------------------------------------------ main loop
    async def run(self) -> None:
        await self._outbox.recover()
        progress = asyncio.create_task(self._progress_loop(), name="broadcast-progress")
        try:
            while True:
                try:
                    await self._drain_once()
                except Exception:
                    # The database went away for a moment (a restart, a lock held too long):
                    # keep the sender alive. What it claimed and did not send goes back.
                    log.exception("the outbox sender hit an error; retrying in %.0f s", ERROR_PAUSE)
                    await self._return_unsent()
                    await asyncio.sleep(ERROR_PAUSE)
        finally:
            # Stopping (shutdown or cancel): rows claimed but not sent go back to pending; the
            # sends already made finish and are recorded.
            progress.cancel()
            with contextlib.suppress(BaseException):
                await progress
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=self._send_timeout + 1)
            with contextlib.suppress(Exception):
                await self._flush()
            await self._return_unsent()

    async def _drain_once(self) -> None:
        jobs = await self._outbox.next_jobs(BATCH)
        if not jobs:
            if self._tasks:
                # Nothing more to claim: record the last sends as soon as they are done, so the
                # owner's counts are current, instead of after the next idle pause.
                await asyncio.wait(set(self._tasks), timeout=self._idle_poll)
            await self._flush()
            await self._outbox.close_finished()
            await asyncio.sleep(self._idle_poll)
            return
        for start in range(0, len(jobs), self._claim_size):
            await self._claim_and_send(jobs[start : start + self._claim_size])
        await self._outbox.close_finished()

    async def _return_unsent(self) -> None:
        if self._unsent:
            unsent, self._unsent = self._unsent, []
            with contextlib.suppress(Exception):
                await self._outbox.unclaim(unsent)

    async def _claim_and_send(self, chunk: list[Job]) -> None:
        """Claim a few rows in one transaction (with the outcomes recorded since the last one),
        then send them paced. One commit per chunk keeps the rate whatever the disk's fsync."""
        results, self._results = self._results, []
        try:
            claimed = await self._outbox.claim_many(chunk, results)
        except BaseException:
            self._results = results + self._results
            raise
        self._unsent = list(claimed)
        while self._unsent:
            job = self._unsent[0]
            await self.limiter.acquire(job.chat_id)
            await self._slots.acquire()
            self._unsent.pop(0)
            task = asyncio.create_task(self._send(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush(self) -> None:
        if self._results:
            results, self._results = self._results, []
            try:
                await self._outbox.record(results)
            except BaseException:
                self._results = results + self._results
                raise

    # ------------------------------------------------------------------ one message
    async def _content(self, campaign_id: int) -> Content | None:
        if campaign_id not in self._contents:
            if len(self._contents) > 64:
                self._contents.clear()
            self._contents[campaign_id] = await self._outbox.content(campaign_id)
        return self._contents[campaign_id]

    async def _send(self, job: Job) -> None:
        try:
            result = await self._attempt(job)
        except Exception as error:  # a bug, not Telegram: never retried blindly
            log.exception("delivery %s failed unexpectedly", job.delivery_id)
            result = Result(job, Outcome.FAILED, error=type(error).__name__)
        finally:
            self._slots.release()
        self._results.append(result)

    async def _attempt(self, job: Job) -> Result:
        content = await self._content(job.campaign_id)
        if content is None:
            return Result(job, Outcome.FAILED, error="campaign missing")
        text = message_text(content, self._i18n, job.language)
        markup = message_keyboard(content, self._i18n, job.language)
        if content.kind == LAPSE_REMINDER:
            # Written now, with the minutes left now; not sent once the redemption has closed.
            if self._offers is None:
                return Result(job, Outcome.FAILED, error="redemption reminders need the offer service")
            lapse = await self._offers.lapse_reminder(job.campaign_id)
            if lapse is None:
                return Result(job, Outcome.WITHDRAWN, error="redemption closed")
            text = lapse_reminder_text(content, self._i18n, job.language, lapse.minutes_left)
            markup = lapse_reminder_keyboard(self._i18n, job.language, lapse.redemption_id)
        paid = True if self._paid else None
        voucher = None
        if self._offers is not None and content.kind in OFFER_KINDS:
            voucher = await self._offers.voucher_for(job.campaign_id, job.customer_id)
            if voucher is None:
                return Result(job, Outcome.FAILED, error="voucher missing")
        try:
            message: Message
            if voucher is not None:
                message = await self._bot.send_photo(
                    job.chat_id,
                    BufferedInputFile(qr_png(deep_link(self._bot_username, voucher.payload)), filename="voucher.png"),
                    caption=offer_caption(text, voucher.title(job.language)),
                    reply_markup=markup,
                    allow_paid_broadcast=paid,
                    request_timeout=int(self._send_timeout),
                )
            elif content.photo:
                message = await self._bot.send_photo(
                    job.chat_id,
                    content.photo,
                    caption=text,
                    reply_markup=markup,
                    allow_paid_broadcast=paid,
                    request_timeout=int(self._send_timeout),
                )
            else:
                message = await self._bot.send_message(
                    job.chat_id,
                    text,
                    reply_markup=markup,
                    allow_paid_broadcast=paid,
                    request_timeout=int(self._send_timeout),
                )
        except TelegramRetryAfter as error:
            self.limiter.pause(error.retry_after)
            return Result(job, Outcome.PAUSE, error="429", retry_after=error.retry_after)
        except TelegramForbiddenError as error:
            return Result(job, classify_error(403, error.message), error=error.message)
        except TelegramBadRequest as error:
            return Result(job, classify_error(400, error.message), error=error.message)
        except (TelegramServerError, TelegramNetworkError) as error:
            return Result(job, Outcome.RETRY, error=error.message)
        except TelegramAPIError as error:
            return Result(job, Outcome.FAILED, error=error.message)
        return Result(job, Outcome.SENT, message_id=message.message_id)

    # ------------------------------------------------------------------ the owner's progress message
    async def _progress_loop(self) -> None:
        while True:
            await asyncio.sleep(self._progress_interval)
            try:
                for item in await self._outbox.progress():
                    await self._show_progress(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not update a broadcast's progress")

    async def _show_progress(self, item: Progress) -> None:
        final = item.status != "sending" and item.tally.finished
        with self._i18n.context(), self._i18n.use_locale(self._owner_language):
            text = progress_text(item.campaign_id, item.status, item.tally)
            markup = None if final else cancel_keyboard(item.campaign_id)
            # A broadcast cancelled before it started has nothing to report beyond "cancelled".
            report = report_text(item.campaign_id, item.tally) if final and item.tally.total else None
        if self._shown.get(item.campaign_id) != text:
            await self.limiter.acquire(item.chat_id)
            try:
                await self._bot.edit_message_text(
                    text=text, chat_id=item.chat_id, message_id=item.message_id, reply_markup=markup
                )
            except TelegramRetryAfter as error:
                self.limiter.pause(error.retry_after)
                return
            except TelegramBadRequest as error:
                if "not modified" not in error.message:
                    log.info("progress message %s: %s", item.campaign_id, error.message)
            self._shown[item.campaign_id] = text
        if final and report is None:
            await self._outbox.mark_reported(item.campaign_id)
            self._shown.pop(item.campaign_id, None)
        if report is not None:
            await self.limiter.acquire(item.chat_id)
            try:
                await self._bot.send_message(item.chat_id, report)
            except TelegramRetryAfter as error:
                self.limiter.pause(error.retry_after)
                return
            except TelegramAPIError as error:
                log.info("report of broadcast %s not sent: %s", item.campaign_id, error.message)
            await self._outbox.mark_reported(item.campaign_id)
            self._shown.pop(item.campaign_id, None)
