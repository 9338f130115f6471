"""Automatic offers: one campaign per key (`birthday:2027`, `festival:deepavali:2027`,
`winback:2026-09-23`), a personal voucher and a delivery per customer, both queued with
INSERT … SELECT so a run over 100,000 customers never loads them into Python. Reminders of
reserved rewards about to lapse: one campaign per redemption (`reminder:redemption:<id>`).
Flush, never commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    cast,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    true,
    update,
)

from loyaltybot.db.base import UTCDateTime
from loyaltybot.db.models import Campaign, Customer, Delivery, OfferSetting, PointLot, Redemption, Reward, Voucher
from loyaltybot.db.repositories import _Repository
from loyaltybot.db.upsert import dialect_insert, insert_or_ignore

AUTOMATIC_AUDIENCE = "automatic"


def reachable_promotion_audience() -> list[ColumnElement[bool]]:
    """Customers a promotion may go to: active, with a chat, opted in to promotions."""
    return [Customer.status == "active", Customer.telegram_id.is_not(None), Customer.marketing_opt_in.is_(True)]


def birthdays_on(month_days: Sequence[tuple[int, int]], changed_before: datetime) -> list[ColumnElement[bool]]:
    """Birthdays on these (month, day) pairs, set or changed before `changed_before` (unknown = long ago)."""
    return [
        or_(*(and_(Customer.birthday_month == m, Customer.birthday_day == d) for m, d in month_days)),
        or_(Customer.birthday_set_at.is_(None), Customer.birthday_set_at <= changed_before),
    ]


def reachable_audience() -> list[ColumnElement[bool]]:
    """Customers a service message may go to (whatever their promotions choice)."""
    return [Customer.status == "active", Customer.telegram_id.is_not(None)]


def points_expiring_between(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    lots = select(PointLot.customer_id).where(
        PointLot.remaining > 0, PointLot.expires_at >= start, PointLot.expires_at < end
    )
    return [Customer.id.in_(lots)]


def vouchers_expiring_between(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    vouchers = select(Voucher.customer_id).where(
        Voucher.used_at.is_(None), Voucher.expires_at >= start, Voucher.expires_at < end
    )
    return [Customer.id.in_(vouchers)]


def last_visit_between(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    return [Customer.last_visit_at >= start, Customer.last_visit_at < end]


@dataclass(frozen=True, slots=True)
class LapsingRedemption:
    id: int
    customer_id: int
    name_en: str
    name_ms: str


class OfferRepository(_Repository):
    async def campaign_for(
        self, *, key: str, kind: str, text_en: str, text_ms: str, now: datetime, promotional: bool = True
    ) -> Campaign:
        """The campaign of this key, created on first use. Its texts are fixed by the first run.

        Two runs at once (the scheduler and `jobs run`) may both find none: INSERT … ON CONFLICT
        DO NOTHING lets one create it (on PostgreSQL the other waits for that transaction, then
        reads its row), so neither fails on the unique key.
        """
        by_key = select(Campaign).where(Campaign.key == key)
        campaign = (await self.session.execute(by_key)).scalar_one_or_none()
        if campaign is None:
            values = {
                "key": key,
                "kind": kind,
                "promotional": promotional,
                "status": "done",
                "audience": AUTOMATIC_AUDIENCE,
                "text_en": text_en,
                "text_ms": text_ms,
                "created_at": now,
                "total": 0,
            }
            await insert_or_ignore(self.session, Campaign.__table__, values, keys=["key"])  # type: ignore[arg-type]
            campaign = (await self.session.execute(by_key)).scalar_one()
        return campaign

    async def worth_a_campaign(self, key: str, audience: list[ColumnElement[bool]]) -> bool:
        """Whether a run should touch the campaign of `key`: it exists already, or someone is
        in the audience. A day with nobody to greet then writes nothing, not even a campaign
        row that is dropped again (on PostgreSQL each would use up a campaign number)."""
        campaign = select(Campaign.id).where(Campaign.key == key).exists()
        anyone = select(Customer.id).where(*audience).exists()
        return bool((await self.session.execute(select(or_(campaign, anyone)))).scalar())

    async def drop_if_empty(self, campaign: Campaign) -> None:
        """A campaign that queued nothing on its first run is not kept (no empty daily rows)."""
        if not campaign.total:
            await self.session.delete(campaign)
            await self.session.flush()

    async def issue_vouchers(
        self,
        where: list[ColumnElement[bool]],
        *,
        campaign_key: str,
        kind: str,
        title_en: str,
        title_ms: str,
        now: datetime,
        expires_at: datetime,
    ) -> int:
        """One voucher per selected customer, `source_key` = "<campaign key>:<customer id>" (unique)."""
        dialect = self.session.bind.dialect.name
        code: Any
        if dialect == "postgresql":
            code = func.substr(func.md5(cast(func.random(), String()) + cast(Customer.id, String())), 1, 16)
        else:
            code = func.lower(func.hex(func.randomblob(8)))
        source = select(
            Customer.id,
            literal(kind),
            literal(title_en),
            literal(title_ms),
            code,
            literal(campaign_key + ":", String()) + cast(Customer.id, String()),
            literal(now, UTCDateTime()),
            literal(expires_at, UTCDateTime()),
        ).where(*where, true())
        columns = ["customer_id", "kind", "title_en", "title_ms", "code", "source_key", "issued_at", "expires_at"]
        statement = dialect_insert(self.session, Voucher).from_select(columns, source).on_conflict_do_nothing()
        result = await self.session.execute(statement)
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def voucher_by_source(self, source_key: str) -> Voucher | None:
        return (
            await self.session.execute(select(Voucher).where(Voucher.source_key == source_key))
        ).scalar_one_or_none()

    async def switches(self) -> dict[str, bool]:
        rows = await self.session.execute(
            select(OfferSetting.key, OfferSetting.enabled).where(OfferSetting.enabled.is_not(None))
        )
        return {r[0]: bool(r[1]) for r in rows}

    async def setting(self, key: str) -> OfferSetting | None:
        return await self.session.get(OfferSetting, key)

    async def setting_for_update(self, key: str, *, actor: int, now: datetime) -> OfferSetting:
        """The row of `key`, created empty (program values) if missing; stamped with the change."""
        setting = await self.session.get(OfferSetting, key)
        if setting is None:
            setting = OfferSetting(key=key)
            self.session.add(setting)
        setting.changed_by, setting.changed_at = actor, now
        return setting

    # ------------------------------------------------------------------ reserved rewards about to lapse
    async def lapsing_redemptions(self, after: datetime, until: datetime, key_prefix: str) -> list[LapsingRedemption]:
        """Pending redemptions expiring in (after, until] whose customer a service message may reach
        and that have no reminder campaign (`<key_prefix><id>`) yet, soonest first."""
        reminded = exists().where(Campaign.key == literal(key_prefix, String()) + cast(Redemption.id, String()))
        rows = await self.session.execute(
            select(Redemption.id, Redemption.customer_id, Reward.name_en, Reward.name_ms)
            .join(Reward, Reward.id == Redemption.reward_id)
            .join(Customer, Customer.id == Redemption.customer_id)
            .where(
                Redemption.status == "pending",
                Redemption.expires_at > after,
                Redemption.expires_at <= until,
                *reachable_audience(),
                ~reminded,
            )
            .order_by(Redemption.expires_at, Redemption.id)
        )
        return [LapsingRedemption(int(r[0]), int(r[1]), str(r[2]), str(r[3])) for r in rows.all()]

    async def queue_reminder(
        self, *, key: str, kind: str, customer_id: int, text_en: str, text_ms: str, now: datetime
    ) -> bool:
        """A service campaign of one message to one customer, created at most once per key: the
        INSERT … ON CONFLICT (key) DO NOTHING decides, so overlapping runs queue it once. False
        when the key was taken already or the customer can no longer be reached."""
        values = {
            "key": key,
            "kind": kind,
            "promotional": False,
            "status": "sending",
            "audience": AUTOMATIC_AUDIENCE,
            "text_en": text_en,
            "text_ms": text_ms,
            "created_at": now,
            "started_at": now,
            "total": 1,
        }
        statement = dialect_insert(self.session, Campaign).values(**values).on_conflict_do_nothing(
            index_elements=["key"]
        )
        campaign_id = (await self.session.execute(statement.returning(Campaign.id))).scalar_one_or_none()
        if campaign_id is None:
            return False
        source = select(
            literal(campaign_id), Customer.id, literal("pending"), literal(0), literal(now, UTCDateTime())
        ).where(Customer.id == customer_id, *reachable_audience())
        columns = ["campaign_id", "customer_id", "status", "attempts", "next_attempt_at"]
        queued = (await self.session.execute(insert(Delivery).from_select(columns, source))).rowcount  # type: ignore[attr-defined]
        if not queued:  # the customer became unreachable since they were selected: nothing to send
            await self.session.execute(
                update(Campaign).where(Campaign.id == campaign_id).values(status="done", total=0, finished_at=now)
            )
        return bool(queued)
