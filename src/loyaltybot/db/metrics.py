"""Dashboard aggregates: SQL over indexed columns, the same results on SQLite and PostgreSQL.

Months are local calendar months whose UTC boundaries are computed in Python and passed in;
rows are bucketed with a CASE over those boundaries, so no dialect's date functions are
needed for months. Only the local *day* of a visit needs a dialect expression.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Date, and_, case, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from loyaltybot.db.models import Customer, LedgerEntry, SurveyAnswer
from loyaltybot.domain.metrics import EARNING_KINDS, REDEEM_KIND, VISIT_KINDS, Month


@dataclass(frozen=True, slots=True)
class MonthlyActivity:
    active: int  # customers with at least one visit in the month
    visits: int  # distinct (customer, local day) pairs
    repeaters: int  # customers with visits on two or more days
    retained: int  # customers active in this month and in the previous one


@dataclass(frozen=True, slots=True)
class MonthlyPoints:
    issued: int
    redeemed: int


@dataclass(frozen=True, slots=True)
class MonthlyRatings:
    ratings: int
    satisfied: int  # ratings of 4 or 5
    nps_answers: int
    promoters: int
    detractors: int


@dataclass(frozen=True, slots=True)
class Recency:
    """Customers by their last visit, as of one moment."""

    ever_visited: int
    active_30: int
    active_90: int
    lapsed: int  # last visit older than the churn window


def _bucket(column: Any, months: Sequence[Month]) -> ColumnElement[Any]:
    """The index of the month a timestamp falls in (callers filter to [first.start, last.end))."""
    return case(*[(column < month.end, index) for index, month in enumerate(months)], else_=len(months))


class MetricsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def _local_day(self, column: Any, offset_seconds: int) -> ColumnElement[Any]:
        if self.session.bind.dialect.name == "sqlite":
            return func.date(column, f"{offset_seconds:+d} seconds")
        return cast(column + literal_column(f"interval '{offset_seconds:d} seconds'"), Date)

    async def members(self, months: Sequence[Month], now: datetime) -> tuple[int, list[int], list[int]]:
        """(members now, members at the end of each month, new members per month)."""
        not_deleted_at = lambda moment: and_(  # noqa: E731
            Customer.joined_at < moment, (Customer.deleted_at.is_(None)) | (Customer.deleted_at >= moment)
        )
        columns = [func.sum(case((not_deleted_at(now), 1), else_=0))]
        columns += [func.sum(case((not_deleted_at(m.end), 1), else_=0)) for m in months]
        columns += [
            func.sum(case((and_(Customer.joined_at >= m.start, Customer.joined_at < m.end), 1), else_=0)) for m in months
        ]
        row = (await self.session.execute(select(*columns).select_from(Customer))).one()
        values = [int(v or 0) for v in row]
        n = len(months)
        return values[0], values[1 : 1 + n], values[1 + n :]

    async def unreachable(self) -> int:
        return int(
            (
                await self.session.execute(select(func.count()).select_from(Customer).where(Customer.status == "unreachable"))
            ).scalar_one()
        )

    async def outstanding_points(self) -> int:
        return int(
            (
                await self.session.execute(
                    select(func.coalesce(func.sum(Customer.balance), 0)).where(Customer.status != "deleted")
                )
            ).scalar_one()
        )

    def _customer_months(self, months: Sequence[Month], offset_seconds: int) -> Any:
        """Per customer and month index: the number of local days with a visit (materialised once)."""
        bucket = _bucket(LedgerEntry.created_at, months)
        day = self._local_day(LedgerEntry.created_at, offset_seconds)
        return (
            select(
                LedgerEntry.customer_id.label("customer_id"),
                bucket.label("m"),
                func.count(day.distinct()).label("days"),
            )
            .where(
                LedgerEntry.kind.in_(VISIT_KINDS),
                LedgerEntry.created_at >= months[0].start,
                LedgerEntry.created_at < months[-1].end,
            )
            .group_by(LedgerEntry.customer_id, bucket)
            .cte("customer_months")
            .prefix_with("MATERIALIZED")
        )

    async def activity(self, months: Sequence[Month], offset_seconds: int) -> list[MonthlyActivity]:
        """Active customers, visits, repeaters and customers retained from the month before, per month."""
        current = self._customer_months(months, offset_seconds)
        previous = current.alias("previous")
        rows = (
            await self.session.execute(
                select(
                    current.c.m,
                    func.count(),
                    func.sum(current.c.days),
                    func.sum(case((current.c.days >= 2, 1), else_=0)),
                    func.count(previous.c.customer_id),
                )
                .select_from(
                    current.outerjoin(
                        previous,
                        and_(previous.c.customer_id == current.c.customer_id, previous.c.m == current.c.m - 1),
                    )
                )
                .group_by(current.c.m)
            )
        ).all()
        by_month = {int(m): MonthlyActivity(int(a), int(v or 0), int(r or 0), int(k or 0)) for m, a, v, r, k in rows}
        return [by_month.get(index, MonthlyActivity(0, 0, 0, 0)) for index in range(len(months))]

    async def cohorts(self, months: Sequence[Month], offset_seconds: int) -> tuple[list[int], dict[tuple[int, int], int]]:
        """(customers who joined in each month, {(join month, month): of them active in that month})."""
        joined = _bucket(Customer.joined_at, months)
        sizes_rows = (
            await self.session.execute(
                select(joined, func.count())
                .where(Customer.joined_at >= months[0].start, Customer.joined_at < months[-1].end)
                .group_by(joined)
            )
        ).all()
        sizes = [0] * len(months)
        for index, count in sizes_rows:
            sizes[int(index)] = int(count)
        active = self._customer_months(months, offset_seconds)
        rows = (
            await self.session.execute(
                select(joined, active.c.m, func.count())
                .select_from(active.join(Customer, Customer.id == active.c.customer_id))
                .where(Customer.joined_at >= months[0].start, Customer.joined_at < months[-1].end)
                .group_by(joined, active.c.m)
            )
        ).all()
        return sizes, {(int(c), int(m)): int(n) for c, m, n in rows if int(m) >= int(c)}

    async def points(self, months: Sequence[Month]) -> list[MonthlyPoints]:
        bucket = _bucket(LedgerEntry.created_at, months)
        issued = func.sum(case((and_(LedgerEntry.kind.in_(EARNING_KINDS), LedgerEntry.delta > 0), LedgerEntry.delta), else_=0))
        redeemed = func.sum(case((LedgerEntry.kind == REDEEM_KIND, -LedgerEntry.delta), else_=0))
        rows = (
            await self.session.execute(
                select(bucket, issued, redeemed)
                .where(LedgerEntry.created_at >= months[0].start, LedgerEntry.created_at < months[-1].end)
                .where(LedgerEntry.kind.in_((*EARNING_KINDS, REDEEM_KIND)))
                .group_by(bucket)
            )
        ).all()
        by_month = {int(m): MonthlyPoints(int(i or 0), int(r or 0)) for m, i, r in rows}
        return [by_month.get(index, MonthlyPoints(0, 0)) for index in range(len(months))]

    async def ratings(self, months: Sequence[Month]) -> list[MonthlyRatings]:
        bucket = _bucket(SurveyAnswer.answered_at, months)
        score = SurveyAnswer.score
        is_rating = SurveyAnswer.kind == "rating"
        is_nps = SurveyAnswer.kind == "nps"
        rows = (
            await self.session.execute(
                select(
                    bucket,
                    func.sum(case((is_rating, 1), else_=0)),
                    func.sum(case((and_(is_rating, score >= 4), 1), else_=0)),
                    func.sum(case((is_nps, 1), else_=0)),
                    func.sum(case((and_(is_nps, score >= 9), 1), else_=0)),
                    func.sum(case((and_(is_nps, score <= 6), 1), else_=0)),
                )
                .where(
                    SurveyAnswer.kind.in_(("rating", "nps")),
                    SurveyAnswer.score.is_not(None),
                    SurveyAnswer.answered_at >= months[0].start,
                    SurveyAnswer.answered_at < months[-1].end,
                )
                .group_by(bucket)
            )
        ).all()
        by_month = {int(r[0]): MonthlyRatings(*(int(v or 0) for v in r[1:])) for r in rows}
        return [by_month.get(index, MonthlyRatings(0, 0, 0, 0, 0)) for index in range(len(months))]

    async def recency(self, now: datetime, churn_days: int) -> Recency:
        """Recency as of now, from customers.last_visit_at (set by the counter with every visit)."""
        return await self._recency(Customer.last_visit_at, now, churn_days)

    async def recency_at(self, moment: datetime, churn_days: int) -> Recency:
        """Recency as of an earlier moment: last_visit_at where it is older, else the ledger's last
        visit before the moment (looked up only for customers who visited since)."""
        before = (
            select(func.max(LedgerEntry.created_at))
            .where(
                LedgerEntry.customer_id == Customer.id,
                LedgerEntry.kind.in_(VISIT_KINDS),
                LedgerEntry.created_at < moment,
            )
            .scalar_subquery()
        )
        last = case((Customer.last_visit_at < moment, Customer.last_visit_at), else_=before)
        return await self._recency(last, moment, churn_days)

    async def _recency(self, last: Any, moment: datetime, churn_days: int) -> Recency:
        per_customer = (
            select(last.label("last"))
            .where(Customer.last_visit_at.is_not(None), Customer.status != "deleted")
            .subquery()
        )
        column = per_customer.c.last
        row = (
            await self.session.execute(
                select(
                    func.count(column),
                    func.sum(case((column >= moment - timedelta(days=30), 1), else_=0)),
                    func.sum(case((column >= moment - timedelta(days=90), 1), else_=0)),
                    func.sum(case((column < moment - timedelta(days=churn_days), 1), else_=0)),
                )
            )
        ).one()
        return Recency(*(int(v or 0) for v in row))
