"""Roles at the counter, checked by the services themselves (SQLite, and PostgreSQL when configured).

Protected: `credit_member` re-checks the actor's role inside its own transaction, so a
customer, a stranger or a removed staff member pressing (or forging) a member-card button
changes nothing -- no ledger row, no balance or stamp change, no credit audit row; and a
staff invite is single use even when many people accept it at the same instant.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from loyaltybot.config import Program
from loyaltybot.db.engine import Database
from loyaltybot.db.models import (
    AuditEntry,
    Customer,
    LedgerEntry,
    StaffMember,
    Token,
    Voucher,
)
from loyaltybot.db.uow import uow_factories
from loyaltybot.domain.tokens import TokenKind, decode_payload
from loyaltybot.services.counter import CodeUsed
from loyaltybot.services.errors import NotAllowed
from loyaltybot.services.team import AlreadyStaff, TeamService

from .counter_support import OWNER, SECRET, STAFF, Counter, build_counter

ALICE = 101  # the customer whose card is scanned
BOB = 102  # a registered customer, not staff
STRANGER = 103  # never registered, not staff
CREDIT_ACTIONS = ("member.purchase", "member.stamp")


async def _member_key(env: Counter, telegram_id: int) -> str:
    kind, key = decode_payload((await env.customers.card(telegram_id)).member_payload, SECRET)
    assert kind == TokenKind.MEMBER
    return key


async def _snapshot(db: Database) -> tuple[int, int, int, int, tuple[tuple[int, int, int], ...]]:
    """Everything a credit could change: ledger rows, credit audit rows, vouchers, each customer's card."""
    async with db.read_sessions() as session:
        ledger = (await session.execute(select(func.count()).select_from(LedgerEntry))).scalar_one()
        audits = (
            await session.execute(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.action.in_(CREDIT_ACTIONS))
            )
        ).scalar_one()
        vouchers = (await session.execute(select(func.count()).select_from(Voucher))).scalar_one()
        visits = (
            await session.execute(select(func.count()).select_from(Customer).where(Customer.last_visit_at.is_not(None)))
        ).scalar_one()
        cards = tuple(
            (row[0], row[1], row[2])
            for row in (
                await session.execute(
                    select(Customer.telegram_id, Customer.balance, Customer.stamps).order_by(Customer.telegram_id)
                )
            ).all()
        )
    return ledger, audits, vouchers, visits, cards


@pytest.fixture
async def env(database: Database) -> Counter:
    env = await build_counter(database)
    await env.register(ALICE)
    await env.register(BOB)
    return env


@pytest.mark.parametrize("amount_text", ["25.50", None], ids=["purchase", "stamp-only"])
@pytest.mark.parametrize("actor", [BOB, STRANGER, ALICE], ids=["customer", "stranger", "card-owner"])
async def test_credit_member_refuses_non_staff(env: Counter, actor: int, amount_text: str | None) -> None:
    key = await _member_key(env, ALICE)
    before = await _snapshot(env.db)

    with pytest.raises(NotAllowed):
        await env.counter.credit_member(actor, key, amount_text=amount_text, request_key="forged")

    assert await _snapshot(env.db) == before
    assert before[0] == 0  # nothing was ever credited
    await env.check_invariants()


@pytest.mark.parametrize("amount_text", ["25.50", None], ids=["purchase", "stamp-only"])
async def test_credit_member_refuses_removed_staff(env: Counter, amount_text: str | None) -> None:
    key = await _member_key(env, ALICE)
    # While staff, the same call works (so the refusal below is about the role, nothing else).
    first = await env.counter.credit_member(STAFF, key, amount_text="10", request_key="card-1")
    assert (first.points, first.stamps_added) == (10, 1)

    await env.staff.remove(STAFF, removed_by=OWNER)
    env.clock.advance(timedelta(hours=5))  # past the stamp interval: a stamp would be allowed now
    before = await _snapshot(env.db)
    assert before[0] == 1 and before[1] == 1

    with pytest.raises(NotAllowed):
        await env.counter.credit_member(STAFF, key, amount_text=amount_text, request_key="card-2")
    # Not even a button of the card shown while they were staff (the same request key).
    with pytest.raises(NotAllowed):
        await env.counter.credit_member(STAFF, key, amount_text=amount_text, request_key="card-1")

    assert await _snapshot(env.db) == before
    await env.check_invariants()


async def test_re_added_staff_can_credit_again(env: Counter) -> None:
    """The refusal follows the current role, not a stale one (guards against a test passing vacuously)."""
    key = await _member_key(env, ALICE)
    await env.staff.remove(STAFF, removed_by=OWNER)
    with pytest.raises(NotAllowed):
        await env.counter.credit_member(STAFF, key, amount_text=None, request_key="a")
    await env.staff.add(STAFF, added_by=OWNER, display_name="Sam")
    credit = await env.counter.credit_member(STAFF, key, amount_text=None, request_key="a")
    assert (credit.stamps_added, credit.stamps, credit.balance) == (1, 1, 0)


# --------------------------------------------------------------------------- invites


def _team(env: Counter) -> TeamService:
    writer, reader = uow_factories(env.db)
    return TeamService(
        writer=writer, reader=reader, program=Program(), secret_key=SECRET, owner_ids=frozenset({OWNER}), clock=env.clock
    )


async def _invite_token(team: TeamService) -> str:
    invite = await team.create_invite(OWNER)
    kind, token_id = decode_payload(invite.payload, SECRET)
    assert kind == TokenKind.INVITE
    return token_id


async def _active_staff(db: Database) -> set[int]:
    async with db.read_sessions() as session:
        rows = await session.execute(select(StaffMember.telegram_id).where(StaffMember.active.is_(True)))
        return set(rows.scalars().all())


async def _count_audit(db: Database, action: str) -> int:
    async with db.read_sessions() as session:
        return int(
            (
                await session.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action))
            ).scalar_one()
        )


async def test_twenty_people_accept_one_invite_at_once(env: Counter) -> None:
    team = _team(env)
    token_id = await _invite_token(team)
    staff_before = await _active_staff(env.db)
    openers = [5000 + n for n in range(20)]

    results = await asyncio.gather(
        *(team.accept_invite(token_id, opener, f"P{opener}") for opener in openers), return_exceptions=True
    )

    joined = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(joined) == 1, results
    assert all(isinstance(error, CodeUsed) for error in refused), refused
    winner = joined[0].telegram_id
    assert await _active_staff(env.db) == staff_before | {winner}
    async with env.db.read_sessions() as session:
        token = await session.get(Token, token_id)
        members = (await session.execute(select(func.count()).select_from(StaffMember))).scalar_one()
    assert token is not None and token.used_by == winner
    assert members == len(staff_before) + 1
    assert await _count_audit(env.db, "staff.joined") == 1
    # Afterwards the invite is spent for everybody else.
    with pytest.raises(CodeUsed):
        await team.check_invite(token_id, openers[0] if openers[0] != winner else openers[1])


async def test_one_person_accepting_twenty_times_at_once_joins_once(env: Counter) -> None:
    team = _team(env)
    token_id = await _invite_token(team)
    staff_before = await _active_staff(env.db)

    results = await asyncio.gather(*(team.accept_invite(token_id, 6000, "Dan") for _ in range(20)), return_exceptions=True)

    joined = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(joined) == 1, results
    assert all(isinstance(error, (CodeUsed, AlreadyStaff)) for error in refused), refused
    assert await _active_staff(env.db) == staff_before | {6000}
    async with env.db.read_sessions() as session:
        rows = (await session.execute(select(func.count()).select_from(StaffMember).where(StaffMember.telegram_id == 6000))).scalar_one()
    assert rows == 1
    assert await _count_audit(env.db, "staff.joined") == 1


async def test_a_spent_invite_stays_spent_for_a_removed_joiner(env: Counter) -> None:
    """Removing the person who joined does not make their invite usable again."""
    team = _team(env)
    token_id = await _invite_token(team)
    await team.accept_invite(token_id, 7000, "Eve")
    await team.remove(OWNER, 7000)
    for opener in (7000, 7001):
        with pytest.raises(CodeUsed):
            await team.accept_invite(token_id, opener, "again")
    assert 7000 not in await _active_staff(env.db)
    assert 7001 not in await _active_staff(env.db)
