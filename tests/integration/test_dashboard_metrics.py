"""Dashboard metrics on a small hand-built dataset (`seed_hand_dataset` in tests/conftest.py);
every expected number is worked out by hand.

Shop time zone Asia/Kuala_Lumpur (UTC+8). "Now" is 2026-03-15 08:30 UTC (16:30 local), so the
current month is March 2026, which starts at 2026-02-28 16:00 UTC.

Customers (joined; visits = purchase/stamp ledger rows, local dates):
  A  joined 01-10  visits Jan 12; Feb 3 (purchase + stamp: one visit); Feb 20; Mar 10
  B  joined 01-20  visits Jan 21; Feb 14
  C  joined 02-05  visits Feb 6; Mar 1 (02-28 17:00 UTC and 03-01 03:00 UTC: one local day); Mar 2
  D  joined 03-02  no visits, unreachable
  E  joined 2025-12-01  visit 2025-12-05 only
  F  joined 03-05, deleted 03-10
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loyaltybot.config import Program
from loyaltybot.db.engine import Database
from loyaltybot.db.uow import uow_factories
from loyaltybot.services.dashboard import DashboardService, monthly_csv
from loyaltybot.services.staff import StaffService

NOW = datetime(2026, 3, 15, 8, 30, tzinfo=UTC)
OWNER_ID = 1000


@pytest.fixture
async def board(database: Database, seed_hand_dataset):  # type: ignore[no-untyped-def]
    await seed_hand_dataset(database)
    writer, reader = uow_factories(database)
    clock = lambda: NOW  # noqa: E731
    staff = StaffService(writer=writer, reader=reader, owner_ids=frozenset({OWNER_ID}), clock=clock)
    service = DashboardService(reader=reader, staff=staff, program=Program(), clock=clock)
    return await service.dashboard(OWNER_ID, months=12, cohorts=True)


async def test_members_and_reachability(board) -> None:  # type: ignore[no-untyped-def]
    # Now: A B C D E (F is deleted) = 5. End of February: A B C E = 4 (D and F joined in March).
    assert board.members_now == 5
    assert board.current.members == 5
    assert board.previous.members == 4
    # New in March: D and F (joined, even if F left since) = 2; in February: C = 1.
    assert board.current.new_members == 2
    assert board.previous.new_members == 1
    assert board.unreachable == 1  # D


async def test_monthly_activity_counts_one_visit_per_local_day(board) -> None:  # type: ignore[no-untyped-def]
    march, february = board.current, board.previous
    # March: A (Mar 10) and C (Mar 1, Mar 2; 02-28 17:00 UTC is Mar 1 local) are active.
    assert march.active == 2
    assert march.visits == 3  # A 1 + C 2
    assert march.repeat_rate == pytest.approx(1 / 2)  # C
    assert march.average_visits == pytest.approx(3 / 2)
    # February: A (Feb 3 counted once, Feb 20), B (Feb 14), C (Feb 6).
    assert february.active == 3
    assert february.visits == 4
    assert february.repeat_rate == pytest.approx(1 / 3)  # A
    assert february.average_visits == pytest.approx(4 / 3)


async def test_retention(board) -> None:  # type: ignore[no-untyped-def]
    # Of February's active A, B, C, March saw A and C: 2/3. January's A, B both came in February: 1.
    assert board.current.retention == pytest.approx(2 / 3)
    assert board.previous.retention == pytest.approx(1.0)


async def test_recency_and_churn(board) -> None:  # type: ignore[no-untyped-def]
    snap = board.snapshot
    # Last visits: A Mar 10, B Feb 14, C Mar 2, E Dec 5. 30 days before now is Feb 13 08:30 UTC.
    assert snap.active_30 == 3  # A B C
    assert snap.active_90 == 3  # Dec 5 is before Dec 15
    # Churn window 60 days: before Jan 14, only E. 1 of the 4 who ever visited.
    assert board.churn_window_days == 60
    assert snap.churn == pytest.approx(1 / 4)
    # At the start of March (02-28 16:00 UTC), C's last visit was Feb 6; E still the only lapsed: 1/4.
    assert snap.churn_previous == pytest.approx(1 / 4)
    assert snap.active_30_previous == 3


async def test_points(board) -> None:  # type: ignore[no-untyped-def]
    # March: purchases 10 (A) + 10 + 10 (C) + survey 5 + bonus 20 = 55 issued; redeemed 8; expiry not counted.
    assert board.current.issued == 55
    assert board.current.redeemed == 8
    assert board.current.redemption_rate == pytest.approx(8 / 55)
    # February: 10 + 10 (A) + 10 (B) + 10 (C) = 40 issued, 5 redeemed.
    assert board.previous.issued == 40
    assert board.previous.redeemed == 5
    assert board.previous.redemption_rate == pytest.approx(5 / 40)
    # Liability: balances of customers not deleted: 17 + 25 + 30 + 0 + 10 = 82.
    assert board.outstanding == 82


async def test_satisfaction(board) -> None:  # type: ignore[no-untyped-def]
    # March ratings 5, 4, 2: two of three are 4-5. NPS answers 10, 9, 7, 3: (2 promoters - 1 detractor) / 4.
    assert board.current.csat == pytest.approx(2 / 3)
    assert board.current.nps == pytest.approx(25.0)
    assert board.previous.csat == pytest.approx(1.0)
    assert board.previous.nps is None


async def test_cohorts(board) -> None:  # type: ignore[no-untyped-def]
    labels = [month.label for month in board.months]
    jan, feb, mar = labels.index("2026-01"), labels.index("2026-02"), labels.index("2026-03")
    dec = labels.index("2025-12")
    assert board.cohort_sizes[jan] == 2 and board.cohort_sizes[feb] == 1 and board.cohort_sizes[mar] == 2
    assert board.cohorts[(jan, jan)] == 2
    assert board.cohorts[(jan, feb)] == 2
    assert board.cohorts[(jan, mar)] == 1  # A only
    assert board.cohorts[(feb, feb)] == 1 and board.cohorts[(feb, mar)] == 1
    assert board.cohorts[(dec, dec)] == 1
    assert (mar, mar) not in board.cohorts


async def test_stats_needs_only_two_months(database: Database, board) -> None:  # type: ignore[no-untyped-def]
    writer, reader = uow_factories(database)
    clock = lambda: NOW  # noqa: E731
    staff = StaffService(writer=writer, reader=reader, owner_ids=frozenset({OWNER_ID}), clock=clock)
    short = await DashboardService(reader=reader, staff=staff, program=Program(), clock=clock).dashboard(OWNER_ID)
    assert [m.label for m in short.months] == ["2026-02", "2026-03"]
    assert short.months == board.months[-2:]
    assert short.snapshot == board.snapshot


async def test_only_owners_see_the_dashboard(database: Database) -> None:
    from loyaltybot.services.errors import NotAllowed

    writer, reader = uow_factories(database)
    clock = lambda: NOW  # noqa: E731
    staff = StaffService(writer=writer, reader=reader, owner_ids=frozenset({OWNER_ID}), clock=clock)
    service = DashboardService(reader=reader, staff=staff, program=Program(), clock=clock)
    for call in (service.dashboard(2001), service.csv_export(2001)):
        with pytest.raises(NotAllowed):
            await call


async def test_csv_has_a_row_per_month(board) -> None:  # type: ignore[no-untyped-def]
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(monthly_csv(board).decode())))
    assert len(rows) == 12
    assert rows[-1]["month"] == "2026-03"
    assert rows[-1]["points_issued"] == "55"
    assert rows[-1]["retention_rate"] == "0.6667"
