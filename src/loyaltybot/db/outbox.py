"""The outbox: campaigns and their deliveries. Set-based SQL throughout; flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    func,
    literal,
    or_,
    select,
    true,
    update,
)

from loyaltybot.db.base import UTCDateTime
from loyaltybot.db.models import Campaign, Customer, Delivery
from loyaltybot.db.repositories import _Repository
from loyaltybot.db.segments import tier_filter
from loyaltybot.db.upsert import dialect_insert
from loyaltybot.domain.outbox import Audience


def audience_filter(
    audience: Audience, *, now: datetime, month: int, promotional: bool = True, tiers: Sequence[str] = ()
) -> list[ColumnElement[bool]]:
    """WHERE clauses on `customers` selecting an audience. `month` is this month in shop time;
    `tiers` the program's tier codes, lowest first."""
    clauses: list[ColumnElement[bool]] = [Customer.status == "active", Customer.telegram_id.is_not(None)]
    if promotional:
        clauses.append(Customer.marketing_opt_in.is_(True))
    kind, value = audience.kind, audience.value
    if kind in ("en", "ms"):
        clauses.append(Customer.language == kind)
    elif kind == "birthday":
        clauses.append(Customer.birthday_month == month)
    elif kind == "inactive":
        assert value is not None
        cutoff = now - timedelta(days=value)
        clauses.append(
            or_(Customer.last_visit_at < cutoff, and_(Customer.last_visit_at.is_(None), Customer.joined_at < cutoff))
        )
    elif kind == "joined":
        assert value is not None
        clauses.append(Customer.joined_at >= now - timedelta(days=value))
    elif kind == "balance":
        assert value is not None
        clauses.append(Customer.balance >= value)
    elif kind == "tier":
        assert audience.tier is not None
        clauses.append(tier_filter(audience.tier, tiers))
    return clauses


@dataclass(frozen=True, slots=True)
class DueDelivery:
    id: int
    campaign_id: int
    customer_id: int
    attempts: int
    chat_id: int | None
    language: str
    eligible: bool  # customer still reachable (and opted in, for a promotion)
    campaign_live: bool  # campaign still sending (not cancelled)


class OutboxRepository(_Repository):
    # ------------------------------------------------------------------ campaigns
    async def add_campaign(self, campaign: Campaign) -> Campaign:
        self.session.add(campaign)
        await self.session.flush()
        return campaign

    async def campaign(self, campaign_id: int) -> Campaign | None:
        return await self.session.get(Campaign, campaign_id)

    async def campaign_by_key(self, key: str) -> Campaign | None:
        return (await self.session.execute(select(Campaign).where(Campaign.key == key))).scalar_one_or_none()

    async def recent_campaigns(self, limit: int, kind: str = "broadcast") -> Sequence[Campaign]:
        """The latest campaigns of one kind (automatic offers make many campaigns of their own)."""
        statement = select(Campaign).where(Campaign.kind == kind).order_by(Campaign.id.desc()).limit(limit)
        return (await self.session.execute(statement)).scalars().all()

    async def due_scheduled(self, now: datetime) -> Sequence[Campaign]:
        return (
            (
                await self.session.execute(
                    select(Campaign)
                    .where(Campaign.status == "scheduled", Campaign.scheduled_at <= now)
                    .order_by(Campaign.scheduled_at, Campaign.id)
                )
            )
            .scalars()
            .all()
        )

    async def sending_campaigns(self) -> Sequence[Campaign]:
        return (await self.session.execute(select(Campaign).where(Campaign.status == "sending"))).scalars().all()

    async def unreported_campaigns(self) -> Sequence[Campaign]:
        """Campaigns whose owner's progress message still needs an update."""
        return (
            (
                await self.session.execute(
                    select(Campaign).where(
                        Campaign.progress_message_id.is_not(None),
                        Campaign.reported_at.is_(None),
                        Campaign.status != "scheduled",
                    )
                )
            )
            .scalars()
            .all()
        )

    async def count_audience(self, where: list[ColumnElement[bool]]) -> int:
        return (await self.session.execute(select(func.count()).select_from(Customer).where(*where))).scalar_one()

    # ------------------------------------------------------------------ deliveries
    async def enqueue(self, campaign_id: int, where: list[ColumnElement[bool]], now: datetime) -> int:
        """One INSERT … SELECT: the database streams the recipients, Python never holds them.

        A customer already queued for this campaign is left alone (unique campaign × customer).
        """
        source = select(
            literal(campaign_id),
            Customer.id,
            literal("pending"),
            literal(0),
            literal(now, UTCDateTime()),
        ).where(*where, true())  # the WHERE keeps SQLite's INSERT…SELECT…ON CONFLICT unambiguous
        columns = ["campaign_id", "customer_id", "status", "attempts", "next_attempt_at"]
        statement = dialect_insert(self.session, Delivery).from_select(columns, source).on_conflict_do_nothing()
        result = await self.session.execute(statement)
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def due(self, now: datetime, limit: int, after_id: int = 0) -> list[DueDelivery]:
        eligible = and_(
            Customer.status == "active",
            Customer.telegram_id.is_not(None),
            or_(Campaign.promotional.is_(False), Customer.marketing_opt_in.is_(True)),
        )
        rows = await self.session.execute(
            select(
                Delivery.id,
                Delivery.campaign_id,
                Delivery.customer_id,
                Delivery.attempts,
                Customer.telegram_id,
                Customer.language,
                eligible,
                Campaign.status == "sending",
            )
            .join(Customer, Customer.id == Delivery.customer_id)
            .join(Campaign, Campaign.id == Delivery.campaign_id)
            .where(Delivery.status == "pending", Delivery.next_attempt_at <= now, Delivery.id > after_id)
            .order_by(Delivery.id)
            .limit(limit)
        )
        return [DueDelivery(r[0], r[1], r[2], r[3], r[4], r[5], bool(r[6]), bool(r[7])) for r in rows]

    async def next_due_at(self) -> datetime | None:
        return (
            await self.session.execute(
                select(func.min(Delivery.next_attempt_at)).where(Delivery.status == "pending")
            )
        ).scalar_one_or_none()

    async def claim_many(self, delivery_ids: Sequence[int], now: datetime) -> set[int]:
        """pending → sending, only where nobody did it first; committed before the sends happen."""
        if not delivery_ids:
            return set()
        # Re-checked here, not only when the batch was read: a customer who opts out or blocks
        # the bot, or an owner who cancels, takes effect for every row not yet claimed.
        campaign_live = (
            select(Campaign.id)
            .where(Campaign.id == Delivery.campaign_id, Campaign.status == "sending")
            .correlate(Delivery)
            .exists()
        )
        customer_reachable = (
            select(Customer.id)
            .where(Customer.id == Delivery.customer_id, Customer.status == "active", Customer.telegram_id.is_not(None))
            .correlate(Delivery)
            .exists()
        )
        consent = or_(
            select(Campaign.id)
            .where(Campaign.id == Delivery.campaign_id, Campaign.promotional.is_(False))
            .correlate(Delivery)
            .exists(),
            select(Customer.id)
            .where(Customer.id == Delivery.customer_id, Customer.marketing_opt_in.is_(True))
            .correlate(Delivery)
            .exists(),
        )
        result = await self.session.execute(
            update(Delivery)
            .where(Delivery.id.in_(delivery_ids), Delivery.status == "pending", campaign_live, customer_reachable, consent)
            .values(status="sending", claimed_at=now, attempts=Delivery.attempts + 1)
            .returning(Delivery.id)
        )
        return set(result.scalars().all())

    async def finish(
        self,
        delivery_id: int,
        status: str,
        now: datetime,
        *,
        message_id: int | None = None,
        error: str | None = None,
        from_status: str = "sending",
    ) -> bool:
        result = await self.session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == from_status)
            .values(status=status, finished_at=now, message_id=message_id, error=error[:255] if error else None)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def release(self, delivery_id: int, *, next_attempt_at: datetime, error: str | None, count_attempt: bool) -> None:
        """sending → pending again: Telegram refused before delivering (429, 5xx, network)."""
        values: dict[str, Any] = {"status": "pending", "next_attempt_at": next_attempt_at, "error": error}
        if not count_attempt:
            values["attempts"] = Delivery.attempts - 1
        await self.session.execute(
            update(Delivery).where(Delivery.id == delivery_id, Delivery.status == "sending").values(**values)
        )

    async def mark_in_flight_unknown(self, now: datetime) -> int:
        """After a crash: whatever was being sent may or may not have arrived. Never resend it."""
        result = await self.session.execute(
            update(Delivery).where(Delivery.status == "sending").values(status="unknown", finished_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def cancel_pending(self, campaign_id: int, now: datetime) -> int:
        result = await self.session.execute(
            update(Delivery)
            .where(Delivery.campaign_id == campaign_id, Delivery.status == "pending")
            .values(status="cancelled", finished_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def withdraw_campaign(self, key: str, now: datetime) -> int:
        """The campaign of `key`, if still sending, is cancelled with its unsent rows (a reminder
        whose reason went away). Returns how many rows will not be sent."""
        campaigns = select(Campaign.id).where(Campaign.key == key, Campaign.status == "sending")
        result = await self.session.execute(
            update(Delivery)
            .where(Delivery.campaign_id.in_(campaigns), Delivery.status == "pending")
            .values(status="cancelled", finished_at=now)
        )
        await self.session.execute(
            update(Campaign)
            .where(Campaign.key == key, Campaign.status == "sending")
            .values(status="cancelled", cancelled_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def tally(self, campaign_id: int) -> dict[str, int]:
        rows = await self.session.execute(
            select(Delivery.status, func.count())
            .where(Delivery.campaign_id == campaign_id)
            .group_by(Delivery.status)
        )
        return {status: int(count) for status, count in rows}

    async def survey_invitations(self, survey_id: int) -> tuple[int, int]:
        """(queued, sent) invitations of a survey, over all its periods."""
        row = (
            await self.session.execute(
                select(func.count(), func.count().filter(Delivery.status == "sent"))
                .select_from(Delivery)
                .join(Campaign, Campaign.id == Delivery.campaign_id)
                .where(Campaign.survey_id == survey_id)
            )
        ).one()
        return int(row[0]), int(row[1])

    async def cancel_survey_invitations(self, survey_id: int, now: datetime) -> int:
        """A closed survey: invitations not sent yet never will be."""
        campaigns = select(Campaign.id).where(Campaign.survey_id == survey_id, Campaign.status == "sending")
        result = await self.session.execute(
            update(Delivery)
            .where(Delivery.campaign_id.in_(campaigns), Delivery.status == "pending")
            .values(status="cancelled", finished_at=now)
        )
        await self.session.execute(
            update(Campaign)
            .where(Campaign.survey_id == survey_id, Campaign.status == "sending")
            .values(status="cancelled", cancelled_at=now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def has_open_deliveries(self, campaign_id: int) -> bool:
        return (
            await self.session.execute(
                select(Delivery.id)
                .where(Delivery.campaign_id == campaign_id, Delivery.status.in_(("pending", "sending")))
                .limit(1)
            )
        ).first() is not None

    async def mark_customer_unreachable(self, customer_id: int, now: datetime) -> None:
        await self.session.execute(
            update(Customer)
            .where(Customer.id == customer_id, Customer.status == "active")
            .values(status="unreachable", unreachable_at=now)
        )

    async def count_unreachable(self) -> int:
        return (
            await self.session.execute(
                select(func.count()).select_from(Customer).where(Customer.status == "unreachable")
            )
        ).scalar_one()

    async def mark_customer_reachable(self, telegram_id: int) -> bool:
        result = await self.session.execute(
            update(Customer)
            .where(Customer.telegram_id == telegram_id, Customer.status == "unreachable")
            .values(status="active", unreachable_at=None)
        )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]
