"""The owner's broadcasts: count an audience, send now or schedule, cancel, list with results.

Callback data and commands are user input: every use case re-checks that the actor is an owner.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from loyaltybot.config import Program
from loyaltybot.db.models import Campaign
from loyaltybot.db.uow import UnitOfWorkFactory
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.outbox import Audience, ScheduleInvalid, Tally, parse_schedule
from loyaltybot.services.clock import Clock
from loyaltybot.services.outbox import OutboxService
from loyaltybot.services.staff import StaffService


class BroadcastNotFound(DomainError):
    code = "broadcast_not_found"


class BroadcastFinished(DomainError):
    code = "broadcast_finished"


class BroadcastEmpty(DomainError):
    code = "broadcast_empty"


class ScheduleRefused(DomainError):
    """`details["reason"]`: malformed | past | too_far."""

    code = "schedule_invalid"


@dataclass(frozen=True, slots=True)
class Draft:
    """A broadcast as the owner composed it (kept in the conversation state until sent)."""

    text_en: str
    audience: Audience
    text_ms: str | None = None
    photo: str | None = None
    button_kind: str | None = None  # "url" | "rewards"
    button_text: str | None = None
    button_url: str | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    id: int
    status: str
    audience: Audience
    created_at: datetime
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    tally: Tally


class BroadcastService:
    def __init__(
        self,
        *,
        writer: UnitOfWorkFactory,
        reader: UnitOfWorkFactory,
        outbox: OutboxService,
        staff: StaffService,
        program: Program,
        clock: Clock,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._outbox = outbox
        self._staff = staff
        self._program = program
        self._clock = clock

    async def count(self, actor: int, audience: Audience) -> int:
        await self._staff.require_owner(actor)
        return await self._outbox.count_audience(audience)

    def parse_when(self, text: str) -> datetime:
        try:
            return parse_schedule(text, now=self._clock(), tz=self._program.shop.tz)
        except ScheduleInvalid as error:
            raise ScheduleRefused(reason=error.reason) from None

    def _campaign(self, actor: int, draft: Draft, *, status: str, now: datetime) -> Campaign:
        return Campaign(
            key=f"broadcast:{secrets.token_hex(8)}",
            kind="broadcast",
            promotional=True,
            status=status,
            audience=draft.audience.encode(),
            text_en=draft.text_en,
            text_ms=draft.text_ms,
            photo=draft.photo,
            button_kind=draft.button_kind,
            button_text=draft.button_text,
            button_url=draft.button_url,
            created_by=actor,
            created_at=now,
            total=0,
        )

    async def send_now(self, actor: int, draft: Draft) -> Summary:
        """Queue every recipient (one INSERT … SELECT) and hand the campaign to the sender."""
        await self._staff.require_owner(actor)
        now = self._clock()
        async with self._writer() as uow:
            campaign = await uow.outbox.add_campaign(self._campaign(actor, draft, status="sending", now=now))
            queued = await self._outbox.start_campaign_in(uow, campaign, now)
            if queued == 0:
                raise BroadcastEmpty()  # rolls back: no empty campaign left behind
            await uow.audit.record(
                actor=actor, action="broadcast.sent", now=now, details={"campaign": campaign.id, "recipients": queued}
            )
            await uow.commit()
            return self._summary(campaign, Tally(pending=queued))

    async def schedule(self, actor: int, draft: Draft, when: datetime) -> Summary:
        await self._staff.require_owner(actor)
        now = self._clock()
        if when <= now:
            raise ScheduleRefused(reason="past")
        async with self._writer() as uow:
            campaign = self._campaign(actor, draft, status="scheduled", now=now)
            campaign.scheduled_at = when
            campaign = await uow.outbox.add_campaign(campaign)
            await uow.audit.record(
                actor=actor, action="broadcast.scheduled", now=now, details={"campaign": campaign.id}
            )
            await uow.commit()
            return self._summary(campaign, Tally())

    async def attach_progress(self, actor: int, campaign_id: int, chat_id: int, message_id: int) -> None:
        """The owner's message the sender keeps up to date, then turns into the final report."""
        await self._staff.require_owner(actor)
        async with self._writer() as uow:
            campaign = await uow.outbox.campaign(campaign_id)
            if campaign is None:
                raise BroadcastNotFound()
            campaign.progress_chat_id, campaign.progress_message_id = chat_id, message_id
            campaign.reported_at = None
            await uow.commit()

    async def cancel(self, actor: int, campaign_id: int) -> Summary:
        """Before it starts, or while it is sending: what has not gone out yet never will."""
        await self._staff.require_owner(actor)
        now = self._clock()
        async with self._writer() as uow:
            campaign = await uow.outbox.campaign(campaign_id)
            if campaign is None or campaign.kind != "broadcast":
                raise BroadcastNotFound()
            if campaign.status not in ("scheduled", "sending"):
                raise BroadcastFinished()
            await uow.outbox.cancel_pending(campaign.id, now)
            campaign.status, campaign.cancelled_at = "cancelled", now
            await uow.audit.record(actor=actor, action="broadcast.cancelled", now=now, details={"campaign": campaign.id})
            await uow.commit()
            tally = Tally.from_counts(await uow.outbox.tally(campaign.id))
            return self._summary(campaign, tally)

    async def get(self, actor: int, campaign_id: int) -> Summary:
        await self._staff.require_owner(actor)
        async with self._reader() as uow:
            campaign = await uow.outbox.campaign(campaign_id)
            if campaign is None:
                raise BroadcastNotFound()
            return self._summary(campaign, Tally.from_counts(await uow.outbox.tally(campaign.id)))

    async def recent(self, actor: int, limit: int = 10) -> list[Summary]:
        await self._staff.require_owner(actor)
        async with self._reader() as uow:
            return [
                self._summary(campaign, Tally.from_counts(await uow.outbox.tally(campaign.id)))
                for campaign in await uow.outbox.recent_campaigns(limit)
                if campaign.kind == "broadcast"
            ]

    async def unreachable_customers(self, actor: int) -> int:
        """Customers who blocked the bot or whose chat is gone: no broadcast reaches them."""
        await self._staff.require_owner(actor)
        async with self._reader() as uow:
            return await uow.outbox.count_unreachable()

    @staticmethod
    def _summary(campaign: Campaign, tally: Tally) -> Summary:
        return Summary(
            id=campaign.id,
            status=campaign.status,
            audience=Audience.decode(campaign.audience),
            created_at=campaign.created_at,
            scheduled_at=campaign.scheduled_at,
            started_at=campaign.started_at,
            finished_at=campaign.finished_at,
            tally=tally,
        )
