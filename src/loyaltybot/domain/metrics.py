"""Dashboard metric definitions as pure functions (README "Dashboard metrics").

The database layer counts; these functions turn counts into the numbers an owner reads,
so each definition lives in one place and is tested on hand-made inputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

# Ledger kinds that count as a visit to the shop (one per customer per local day at most).
VISIT_KINDS = ("purchase", "stamp")
# Ledger kinds whose positive deltas are points issued to customers.
EARNING_KINDS = ("purchase", "stamp", "survey", "referral", "bonus")
REDEEM_KIND = "redeem"


@dataclass(frozen=True, slots=True)
class Month:
    """A calendar month in the shop's time zone, with its UTC boundaries [start, end)."""

    year: int
    month: int
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def _month_start(year: int, month: int, tz: ZoneInfo) -> datetime:
    return datetime(year, month, 1, tzinfo=tz).astimezone(UTC)


def _shift(year: int, month: int, by: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + by
    return index // 12, index % 12 + 1


def months_ending_at(now: datetime, tz: ZoneInfo, count: int) -> list[Month]:
    """The `count` local calendar months up to and including the one containing `now`, oldest first."""
    local = now.astimezone(tz)
    months = []
    for back in range(count - 1, -1, -1):
        year, month = _shift(local.year, local.month, -back)
        next_year, next_month = _shift(year, month, 1)
        months.append(Month(year, month, _month_start(year, month, tz), _month_start(next_year, next_month, tz)))
    return months


def period_of(moment: datetime, tz: ZoneInfo) -> str:
    """The local month label ("2026-03") a moment falls in: the period of a monthly survey."""
    local = moment.astimezone(tz)
    return f"{local.year:04d}-{local.month:02d}"


def utc_offset_seconds(tz: ZoneInfo, at: datetime) -> int:
    """The zone's offset at a moment, to bucket UTC timestamps into local days."""
    offset = at.astimezone(tz).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def share(part: int, whole: int) -> float | None:
    """part / whole as a fraction, or None when there is nothing to divide by."""
    return part / whole if whole else None


def retention_rate(active_previous: int, retained: int) -> float | None:
    """Of the customers active last month, the share active again this month."""
    return share(retained, active_previous)


def churn_rate(ever_visited: int, lapsed: int) -> float | None:
    """Of the customers who have visited at least once, the share with no visit in the churn window."""
    return share(lapsed, ever_visited)


def repeat_visit_rate(active: int, repeaters: int) -> float | None:
    """Of the customers active in a month, the share who visited on two or more days."""
    return share(repeaters, active)


def average_visits(visits: int, active: int) -> float | None:
    return visits / active if active else None


def redemption_rate(issued: int, redeemed: int) -> float | None:
    return share(redeemed, issued)


def csat(scores: Iterable[int]) -> float | None:
    """Customer satisfaction: the share of 1–5 ratings that are 4 or 5."""
    values = list(scores)
    return share(sum(1 for s in values if s >= 4), len(values))


def csat_from_counts(satisfied: int, total: int) -> float | None:
    return share(satisfied, total)


def nps(scores: Iterable[int]) -> float | None:
    """Net Promoter Score: % promoters (9–10) minus % detractors (0–6), from -100 to 100."""
    values = list(scores)
    promoters = sum(1 for s in values if s >= 9)
    detractors = sum(1 for s in values if s <= 6)
    return nps_from_counts(promoters, detractors, len(values))


def nps_from_counts(promoters: int, detractors: int, total: int) -> float | None:
    if not total:
        return None
    return 100.0 * (promoters - detractors) / total


def trend(current: float | None, previous: float | None) -> str:
    """Month-over-month arrow: ▲ up, ▼ down, ▶ unchanged, empty when either is unknown."""
    if current is None or previous is None:
        return ""
    if abs(current - previous) < 1e-9:
        return "▶"
    return "▲" if current > previous else "▼"


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    return moment.astimezone(tz).date()


def window_start(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)
