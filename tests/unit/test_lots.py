"""Tests for FIFO points lots and expiry."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.lots import (
    InsufficientPoints,
    Lot,
    LotMovement,
    UpcomingExpiry,
    add_months,
    available,
    balance,
    consume,
    expire,
    new_lot,
    next_expiry,
    restore,
)

T0 = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)


def _lots() -> list[Lot]:
    return [
        Lot(1, 100, datetime(2025, 6, 1, tzinfo=UTC)),
        Lot(2, 50, datetime(2025, 7, 1, tzinfo=UTC)),
        Lot(3, 30, datetime(2025, 8, 1, tzinfo=UTC)),
    ]


# --- add_months ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "months", "expected"),
    [
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2025, 5, 31), -3, date(2025, 2, 28)),
        (date(2024, 2, 29), 12, date(2025, 2, 28)),
        (date(2025, 12, 15), 1, date(2026, 1, 15)),
        (date(2025, 1, 15), -1, date(2024, 12, 15)),
        (date(2025, 1, 15), 0, date(2025, 1, 15)),
        (date(2025, 3, 31), 13, date(2026, 4, 30)),
    ],
)
def test_add_months(value: date, months: int, expected: date) -> None:
    assert add_months(value, months) == expected


def test_add_months_datetime_keeps_time_and_tz() -> None:
    dt = datetime(2025, 1, 31, 23, 59, 1, tzinfo=UTC)
    assert add_months(dt, 1) == datetime(2025, 2, 28, 23, 59, 1, tzinfo=UTC)


# --- new_lot ----------------------------------------------------------------


def test_new_lot_expires_12_calendar_months_later() -> None:
    lot = new_lot(7, 25, datetime(2024, 2, 29, 9, 0, tzinfo=UTC))
    assert lot == Lot(7, 25, datetime(2025, 2, 28, 9, 0, tzinfo=UTC))
    assert new_lot(8, 5, T0, validity_months=6).expires_at == datetime(2025, 7, 15, 12, tzinfo=UTC)


@pytest.mark.parametrize(("points", "months"), [(0, 12), (-1, 12), (5, 0)])
def test_new_lot_validation(points: int, months: int) -> None:
    with pytest.raises(ValueError):
        new_lot(1, points, T0, validity_months=months)


def test_lot_validation() -> None:
    with pytest.raises(ValueError):
        Lot(1, -1, T0)
    with pytest.raises(ValueError):
        Lot(1, 1, datetime(2025, 1, 1))


# --- consume -----------------------------------------------------------------


def test_consume_oldest_first() -> None:
    updated, taken = consume(_lots(), 120, T0)
    assert taken == [LotMovement(1, 100), LotMovement(2, 20)]
    assert taken == [(1, 100), (2, 20)]  # plain tuples compare equal too
    assert [lot.remaining for lot in updated] == [0, 30, 30]
    assert balance(updated) == 60


def test_consume_orders_by_expiry_not_input_order() -> None:
    lots = list(reversed(_lots()))
    updated, taken = consume(lots, 10, T0)
    assert taken == [(1, 10)]
    assert [lot.id for lot in updated] == [3, 2, 1]  # order preserved


def test_consume_ties_keep_input_order() -> None:
    same = datetime(2025, 6, 1, tzinfo=UTC)
    lots = [Lot("b", 5, same), Lot("a", 5, same)]
    assert consume(lots, 7, T0)[1] == [("b", 5), ("a", 2)]


def test_consume_skips_expired_lots_even_before_sweep() -> None:
    now = datetime(2025, 6, 1, tzinfo=UTC)  # lot 1 expires exactly now
    updated, taken = consume(_lots(), 60, now)
    assert taken == [(2, 50), (3, 10)]
    assert updated[0].remaining == 100


def test_consume_insufficient() -> None:
    now = datetime(2025, 6, 1, tzinfo=UTC)
    with pytest.raises(InsufficientPoints) as info:
        consume(_lots(), 81, now)
    assert info.value.code == "points_insufficient"
    assert info.value.details == {"available": 80, "requested": 81}
    assert isinstance(info.value, DomainError)


def test_consume_zero_is_noop_and_negative_refused() -> None:
    lots = _lots()
    assert consume(lots, 0, T0) == (lots, [])
    with pytest.raises(ValueError):
        consume(lots, -1, T0)


def test_duplicate_ids_refused() -> None:
    with pytest.raises(ValueError):
        consume([Lot(1, 1, T0), Lot(1, 1, T0)], 1, T0 - timedelta(days=1))


# --- expire -----------------------------------------------------------------


def test_expire() -> None:
    now = datetime(2025, 7, 1, tzinfo=UTC)
    updated, expired = expire(_lots(), now)
    assert expired == [(1, 100), (2, 50)]
    assert [lot.remaining for lot in updated] == [0, 0, 30]
    # running again finds nothing new
    assert expire(updated, now)[1] == []


def test_expire_not_yet() -> None:
    assert expire(_lots(), T0) == (_lots(), [])


# --- restore ----------------------------------------------------------------


def test_restore_undoes_consume() -> None:
    lots = _lots()
    updated, taken = consume(lots, 120, T0)
    assert restore(updated, taken) == lots


def test_restore_into_expired_lot_is_swept_next_run() -> None:
    lots = _lots()
    updated, taken = consume(lots, 120, T0)
    later = datetime(2025, 6, 15, tzinfo=UTC)  # lot 1 has expired meanwhile
    restored = restore(updated, taken)
    assert balance(restored) == 180
    assert available(restored, later) == 80
    swept, expired = expire(restored, later)
    assert expired == [(1, 100)]
    assert balance(swept) == 80


def test_restore_unknown_lot() -> None:
    with pytest.raises(ValueError):
        restore(_lots(), [(99, 1)])
    with pytest.raises(ValueError):
        restore(_lots(), [(1, -1)])


# --- next_expiry --------------------------------------------------------------


def test_next_expiry() -> None:
    assert next_expiry(_lots(), T0) == UpcomingExpiry(100, datetime(2025, 6, 1, tzinfo=UTC))
    assert next_expiry(_lots(), datetime(2025, 6, 1, tzinfo=UTC)) == (
        50,
        datetime(2025, 7, 1, tzinfo=UTC),
    )
    assert next_expiry(_lots(), datetime(2025, 8, 1, tzinfo=UTC)) is None
    assert next_expiry([], T0) is None


def test_next_expiry_sums_lots_with_same_instant_and_skips_empty() -> None:
    when = datetime(2025, 6, 1, tzinfo=UTC)
    lots = [Lot(1, 0, when - timedelta(days=1)), Lot(2, 10, when), Lot(3, 5, when)]
    assert next_expiry(lots, T0) == (15, when)


# --- property: random operation sequences against a simple model -------------


@dataclass
class Model:
    """Independent bookkeeping: a balance and which earns are still valid."""

    balance: int = 0
    redemptions: list[list[LotMovement]] = field(default_factory=list)


earn = st.tuples(st.just("earn"), st.integers(min_value=1, max_value=500),
                 st.integers(min_value=1, max_value=14))  # fmt: skip
spend = st.tuples(st.just("consume"), st.integers(min_value=0, max_value=800))
cancel = st.tuples(st.just("restore"), st.integers(min_value=0, max_value=10))
sweep = st.tuples(st.just("expire"))
tick = st.tuples(st.just("tick"), st.integers(min_value=0, max_value=24 * 200))
operations = st.lists(st.one_of(earn, spend, cancel, sweep, tick), max_size=60)


@given(operations)
@settings(max_examples=200)
def test_lots_invariant_under_random_operations(ops: list[tuple]) -> None:  # type: ignore[type-arg]
    now = T0
    lots: list[Lot] = []
    model = Model()
    next_id = 0
    for op in ops:
        kind = op[0]
        if kind == "earn":
            _, points, months = op
            lots.append(new_lot(next_id, points, now, validity_months=months))
            next_id += 1
            model.balance += points
        elif kind == "consume":
            points = op[1]
            spendable = sum(lot.remaining for lot in lots if now < lot.expires_at)
            if spendable < points:
                with pytest.raises(InsufficientPoints):
                    consume(lots, points, now)
                continue
            before = {lot.id: lot for lot in lots}
            lots, taken = consume(lots, points, now)
            model.balance -= points
            model.redemptions.append(taken)
            assert sum(amount for _, amount in taken) == points
            assert all(amount > 0 for _, amount in taken)
            # never from an expired lot
            assert all(now < before[lot_id].expires_at for lot_id, _ in taken)
            # oldest first: all but the last lot taken were drained completely,
            # and no unexpired lot that expires earlier than a taken lot kept points
            after = {lot.id: lot for lot in lots}
            assert all(after[lot_id].remaining == 0 for lot_id, _ in taken[:-1])
            if taken:
                latest = max(before[lot_id].expires_at for lot_id, _ in taken)
                taken_ids = {lot_id for lot_id, _ in taken}
                for lot in lots:
                    if lot.id not in taken_ids and now < lot.expires_at and lot.remaining:
                        assert lot.expires_at >= latest
        elif kind == "restore":
            if not model.redemptions:
                continue
            taken = model.redemptions.pop(op[1] % len(model.redemptions))
            lots = restore(lots, taken)
            model.balance += sum(amount for _, amount in taken)
        elif kind == "expire":
            due = sum(lot.remaining for lot in lots if lot.expires_at <= now)
            lots, expired = expire(lots, now)
            assert sum(amount for _, amount in expired) == due
            model.balance -= due
            assert all(now < lot.expires_at for lot in lots if lot.remaining)
        else:
            now += timedelta(hours=op[1])

        assert all(lot.remaining >= 0 for lot in lots)
        assert balance(lots) == model.balance
        assert model.balance >= 0
        assert 0 <= available(lots, now) <= balance(lots)
        upcoming = next_expiry(lots, now)
        if available(lots, now) == 0:
            assert upcoming is None
        else:
            assert upcoming is not None
            assert 0 < upcoming.points <= available(lots, now)
            assert upcoming.expires_at > now
