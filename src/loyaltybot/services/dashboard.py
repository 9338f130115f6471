"""The owner's dashboard: monthly metrics, charts and a CSV export (README "Dashboard metrics")."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from loyaltybot.config import Program
from loyaltybot.db.metrics import MetricsRepository, MonthlyActivity, MonthlyPoints, MonthlyRatings, Recency
from loyaltybot.db.uow import UnitOfWorkFactory
from loyaltybot.domain import metrics as m
from loyaltybot.services.clock import Clock
from loyaltybot.services.staff import StaffService

MONTHS = 12


@dataclass(frozen=True, slots=True)
class MonthMetrics:
    label: str
    members: int  # at the end of the month (or now, for the current month)
    new_members: int
    active: int
    visits: int
    retention: float | None
    repeat_rate: float | None
    average_visits: float | None
    issued: int
    redeemed: int
    redemption_rate: float | None
    csat: float | None
    ratings: int
    nps: float | None
    nps_answers: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Point-in-time figures: now, and at the end of last month for the arrows."""

    active_30: int
    active_90: int
    churn: float | None
    churn_previous: float | None
    active_30_previous: int
    active_90_previous: int


@dataclass(frozen=True, slots=True)
class Dashboard:
    generated_at: datetime
    churn_window_days: int
    months: list[MonthMetrics]  # oldest first; the last one is the current month
    snapshot: Snapshot
    outstanding: int
    unreachable: int
    members_now: int
    cohort_sizes: list[int]
    cohorts: dict[tuple[int, int], int]

    @property
    def current(self) -> MonthMetrics:
        return self.months[-1]

    @property
    def previous(self) -> MonthMetrics:
        return self.months[-2]


def _month_metrics(
    month: m.Month,
    members: int,
    new: int,
    activity: MonthlyActivity,
    previous: MonthlyActivity | None,
    points: MonthlyPoints,
    ratings: MonthlyRatings,
) -> MonthMetrics:
    return MonthMetrics(
        label=month.label,
        members=members,
        new_members=new,
        active=activity.active,
        visits=activity.visits,
        retention=m.retention_rate(previous.active, activity.retained) if previous is not None else None,
        repeat_rate=m.repeat_visit_rate(activity.active, activity.repeaters),
        average_visits=m.average_visits(activity.visits, activity.active),
        issued=points.issued,
        redeemed=points.redeemed,
        redemption_rate=m.redemption_rate(points.issued, points.redeemed),
        csat=m.csat_from_counts(ratings.satisfied, ratings.ratings),
        ratings=ratings.ratings,
        nps=m.nps_from_counts(ratings.promoters, ratings.detractors, ratings.nps_answers),
        nps_answers=ratings.nps_answers,
    )


class DashboardService:
    def __init__(self, *, reader: UnitOfWorkFactory, staff: StaffService, program: Program, clock: Clock) -> None:
        self._reader = reader
        self._staff = staff
        self._program = program
        self._clock = clock

    async def dashboard(self, actor: int, *, months: int = 2, cohorts: bool = False) -> Dashboard:
        """/stats needs this month and the last; charts and the CSV ask for a year and cohorts."""
        await self._staff.require_owner(actor)
        return await self.compute(months=months, cohorts=cohorts)

    async def compute(self, *, months: int = MONTHS, cohorts: bool = True) -> Dashboard:
        """The dashboard as of now (no role check: for the CLI, benchmarks and tests)."""
        now = self._clock()
        tz = self._program.shop.tz
        churn_days = self._program.feedback.churn_window_days
        calendar = m.months_ending_at(now, tz, months + 1)  # one extra month for the first retention
        offset = m.utc_offset_seconds(tz, now)
        async with self._reader() as uow:
            repo = MetricsRepository(uow.session)
            members_now, members_end, new = await repo.members(calendar, now)
            activity = await repo.activity(calendar, offset)
            points = await repo.points(calendar)
            ratings = await repo.ratings(calendar)
            recency_now = await repo.recency(now, churn_days)
            recency_prev = await repo.recency_at(calendar[-1].start, churn_days)
            sizes, cohort_cells = await repo.cohorts(calendar[1:], offset) if cohorts else ([], {})
            outstanding = await repo.outstanding_points()
            unreachable = await repo.unreachable()
        rows = []
        for index in range(1, len(calendar)):
            rows.append(
                _month_metrics(
                    calendar[index],
                    members_now if index == len(calendar) - 1 else members_end[index],
                    new[index],
                    activity[index],
                    activity[index - 1],
                    points[index],
                    ratings[index],
                )
            )
        return Dashboard(
            generated_at=now,
            churn_window_days=churn_days,
            months=rows,
            snapshot=_snapshot(recency_now, recency_prev),
            outstanding=outstanding,
            unreachable=unreachable,
            members_now=members_now,
            cohort_sizes=sizes,
            cohorts=cohort_cells,
        )

    async def csv_export(self, actor: int) -> bytes:
        board = await self.dashboard(actor, months=MONTHS)
        return monthly_csv(board)


def _snapshot(now: Recency, previous: Recency) -> Snapshot:
    return Snapshot(
        active_30=now.active_30,
        active_90=now.active_90,
        churn=m.churn_rate(now.ever_visited, now.lapsed),
        churn_previous=m.churn_rate(previous.ever_visited, previous.lapsed),
        active_30_previous=previous.active_30,
        active_90_previous=previous.active_90,
    )


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def monthly_csv(board: Dashboard) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "month", "members", "new_members", "active_customers", "visits", "retention_rate",
            "repeat_visit_rate", "average_visits", "points_issued", "points_redeemed", "redemption_rate",
            "csat", "ratings", "nps", "nps_answers",
        ]
    )
    for row in board.months:
        writer.writerow(
            [
                row.label, row.members, row.new_members, row.active, row.visits, _fmt(row.retention),
                _fmt(row.repeat_rate), _fmt(row.average_visits, 2), row.issued, row.redeemed,
                _fmt(row.redemption_rate), _fmt(row.csat), row.ratings, _fmt(row.nps, 1), row.nps_answers,
            ]
        )
    return out.getvalue().encode("utf-8")
