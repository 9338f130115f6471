"""The outbox's use cases, for the one sender that drains it (delivery/) and for anything that
queues messages to many customers (broadcasts now; birthday and festival offers later).

Every step is its own short transaction. The order that makes "never send twice" hold:
claim (pending → sending, committed) → send → record the outcome. A row still `sending` when
the process starts again is reported as `unknown` and never retried.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from loyaltybot.config import Program
from loyaltybot.db.models import Campaign
from loyaltybot.db.outbox import audience_filter
from loyaltybot.db.uow import UnitOfWork, UnitOfWorkFactory
from loyaltybot.domain.outbox import Audience, Outcome, Tally, backoff_delay, gives_up
from loyaltybot.services.clock import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Content:
    """What a campaign sends; `text_ms` falls back to `text_en` when there is no Malay version."""

    campaign_id: int
    promotional: bool
    text_en: str
    text_ms: str | None
    photo: str | None
    button_kind: str | None
    button_text: str | None
    button_url: str | None
    survey_id: int | None = None  # a survey invitation: the survey its button opens
    reward_points: int = 0  # … and the points for completing it
    # Automatic offers ("birthday", "festival", "winback") carry a voucher; a "lapse-reminder" is
    # written when it is sent, from its redemption.
    kind: str = "broadcast"

    def text_for(self, language: str) -> str:
        return self.text_ms if language == "ms" and self.text_ms else self.text_en


@dataclass(frozen=True, slots=True)
class Job:
    delivery_id: int
    campaign_id: int
    customer_id: int
    chat_id: int
    language: str
    attempt: int  # 1 for the first try


@dataclass(frozen=True, slots=True)
class Result:
    job: Job
    outcome: Outcome
    message_id: int | None = None
    error: str | None = None
    retry_after: float | None = None  # for Outcome.PAUSE


@dataclass(frozen=True, slots=True)
class Progress:
    campaign_id: int
    status: str
    chat_id: int
    message_id: int
    tally: Tally


def content_of(campaign: Campaign) -> Content:
    return Content(
        campaign_id=campaign.id,
        promotional=campaign.promotional,
        text_en=campaign.text_en,
        text_ms=campaign.text_ms,
        photo=campaign.photo,
        button_kind=campaign.button_kind,
        button_text=campaign.button_text,
        button_url=campaign.button_url,
        survey_id=campaign.survey_id,
        kind=campaign.kind,
    )


class OutboxService:
    def __init__(self, *, writer: UnitOfWorkFactory, reader: UnitOfWorkFactory, program: Program, clock: Clock) -> None:
        self._writer = writer
        self._reader = reader
        self._program = program
        self._clock = clock

    def _tiers(self) -> list[str]:
        return [level.code for level in self._program.tiers.levels]

    def _month(self, now: datetime) -> int:
        return now.astimezone(self._program.shop.tz).month

    # ------------------------------------------------------------------ queueing
    async def count_audience(self, audience: Audience, *, promotional: bool = True) -> int:
        now = self._clock()
        async with self._reader() as uow:
            return await uow.outbox.count_audience(
                audience_filter(
                    audience, now=now, month=self._month(now), promotional=promotional, tiers=self._tiers()
                )
            )

    async def start_campaign_in(self, uow: UnitOfWork, campaign: Campaign, now: datetime) -> int:
        """Queue a campaign's audience inside the caller's transaction; returns how many rows."""
        where = audience_filter(
            Audience.decode(campaign.audience),
            now=now,
            month=self._month(now),
            promotional=campaign.promotional,
            tiers=self._tiers(),
        )
        queued = await uow.outbox.enqueue(campaign.id, where, now)
        campaign.status, campaign.started_at = "sending", now
        campaign.total = (campaign.total or 0) + queued
        if queued == 0:
            campaign.status, campaign.finished_at = "done", now
        return queued

    async def start_due(self) -> list[int]:
        """Scheduled campaigns whose time has come (also those missed while the bot was down)."""
        now = self._clock()
        started = []
        async with self._writer() as uow:
            for campaign in await uow.outbox.due_scheduled(now):
                await self.start_campaign_in(uow, campaign, now)
                started.append(campaign.id)
            await uow.commit()
        if started:
            log.info("started scheduled campaigns %s", started)
        return started

    # ------------------------------------------------------------------ the sender's steps
    async def recover(self) -> int:
        """At start-up, before sending anything: rows left in flight become `unknown`."""
        async with self._writer() as uow:
            unknown = await uow.outbox.mark_in_flight_unknown(self._clock())
            await uow.commit()
        if unknown:
            log.warning("%d deliveries were in flight when the sender stopped: reported as unknown", unknown)
        return unknown

    async def content(self, campaign_id: int) -> Content | None:
        async with self._reader() as uow:
            campaign = await uow.outbox.campaign(campaign_id)
            if campaign is None:
                return None
            content = content_of(campaign)
            if campaign.survey_id is not None:
                survey = await uow.surveys.get(campaign.survey_id)
                if survey is not None:
                    content = replace(content, reward_points=survey.reward_points)
            return content

    async def next_jobs(self, limit: int, after_id: int = 0) -> list[Job]:
        """Due rows in order. Rows whose customer opted out or became unreachable since they
        were queued are skipped, and rows of a cancelled campaign cancelled, right here."""
        now = self._clock()
        async with self._reader() as uow:
            due = await uow.outbox.due(now, limit, after_id)
        jobs, skipped, cancelled = [], [], []
        for row in due:
            if not row.campaign_live:
                cancelled.append(row.id)
            elif not row.eligible or row.chat_id is None:
                skipped.append(row.id)
            else:
                jobs.append(Job(row.id, row.campaign_id, row.customer_id, row.chat_id, row.language, row.attempts + 1))
        if skipped or cancelled:
            async with self._writer() as uow:
                for delivery_id in skipped:
                    await uow.outbox.finish(delivery_id, "skipped", now, from_status="pending")
                for delivery_id in cancelled:
                    await uow.outbox.finish(delivery_id, "cancelled", now, from_status="pending")
                await uow.commit()
        return jobs

    async def next_due_at(self) -> datetime | None:
        async with self._reader() as uow:
            return await uow.outbox.next_due_at()

    async def claim(self, job: Job, results: Sequence[Result] = ()) -> bool:
        return bool(await self.claim_many([job], results))

    async def claim_many(self, jobs: Sequence[Job], results: Sequence[Result] = ()) -> list[Job]:
        """pending → sending, committed before the sends; earlier outcomes ride along.

        Returns the jobs this caller won (a row someone else claimed first is left out).
        """
        now = self._clock()
        async with self._writer() as uow:
            await self._record_in(uow, results, now)
            won = await uow.outbox.claim_many([job.delivery_id for job in jobs], now)
            await uow.commit()
        return [job for job in jobs if job.delivery_id in won]

    async def unclaim(self, jobs: Sequence[Job]) -> None:
        """Claimed but certainly not sent (a clean stop): back to pending, attempt not counted."""
        now = self._clock()
        async with self._writer() as uow:
            for job in jobs:
                await uow.outbox.release(job.delivery_id, next_attempt_at=now, error=None, count_attempt=False)
            await uow.commit()

    async def record(self, results: Sequence[Result]) -> None:
        """Outcomes of sends, in one transaction."""
        if not results:
            return
        async with self._writer() as uow:
            await self._record_in(uow, results, self._clock())
            await uow.commit()

    async def _record_in(self, uow: UnitOfWork, results: Sequence[Result], now: datetime) -> None:
        for result in results:
            job = result.job
            outcome = result.outcome
            if outcome is Outcome.SENT:
                await uow.outbox.finish(job.delivery_id, "sent", now, message_id=result.message_id)
            elif outcome in (Outcome.BLOCKED, Outcome.UNREACHABLE):
                await uow.outbox.finish(job.delivery_id, "blocked", now, error=result.error)
                await uow.outbox.mark_customer_unreachable(job.customer_id, now)
            elif outcome is Outcome.WITHDRAWN:
                await uow.outbox.finish(job.delivery_id, "cancelled", now, error=result.error)
            elif outcome is Outcome.PAUSE:
                # Telegram refused before delivering: not an attempt, retry after the pause.
                await uow.outbox.release(
                    job.delivery_id,
                    next_attempt_at=now + timedelta(seconds=result.retry_after or 1),
                    error=result.error,
                    count_attempt=False,
                )
            elif outcome is Outcome.RETRY and not gives_up(job.attempt):
                await uow.outbox.release(
                    job.delivery_id,
                    next_attempt_at=now + timedelta(seconds=backoff_delay(job.attempt)),
                    error=result.error,
                    count_attempt=True,
                )
            else:
                await uow.outbox.finish(job.delivery_id, "failed", now, error=result.error)

    async def close_finished(self) -> list[int]:
        """Campaigns with nothing left to send become `done`."""
        now = self._clock()
        closed = []
        async with self._writer() as uow:
            for campaign in await uow.outbox.sending_campaigns():
                if not await uow.outbox.has_open_deliveries(campaign.id):
                    campaign.status, campaign.finished_at = "done", now
                    closed.append(campaign.id)
            await uow.commit()
        return closed

    # ------------------------------------------------------------------ the owner's progress message
    async def progress(self) -> list[Progress]:
        async with self._reader() as uow:
            items = []
            for campaign in await uow.outbox.unreported_campaigns():
                assert campaign.progress_chat_id is not None and campaign.progress_message_id is not None
                items.append(
                    Progress(
                        campaign_id=campaign.id,
                        status=campaign.status,
                        chat_id=campaign.progress_chat_id,
                        message_id=campaign.progress_message_id,
                        tally=Tally.from_counts(await uow.outbox.tally(campaign.id)),
                    )
                )
            return items

    async def mark_reported(self, campaign_id: int) -> None:
        async with self._writer() as uow:
            campaign = await uow.outbox.campaign(campaign_id)
            if campaign is not None and campaign.reported_at is None:
                campaign.reported_at = self._clock()
            await uow.commit()

    async def set_reachable(self, telegram_id: int, reachable: bool) -> None:
        """Telegram told us the customer (un)blocked the bot."""
        now = self._clock()
        async with self._writer() as uow:
            if reachable:
                await uow.outbox.mark_customer_reachable(telegram_id)
            else:
                customer = await uow.customers.by_telegram_id(telegram_id)
                if customer is not None:
                    await uow.outbox.mark_customer_unreachable(customer.id, now)
            await uow.commit()
