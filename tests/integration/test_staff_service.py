"""StaffService: owners from OWNER_IDS, staff from the table; removal takes effect at once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from loyaltybot.db.models import AuditEntry, StaffMember
from loyaltybot.domain.roles import Role
from loyaltybot.services.errors import StaffNotFound

OWNER_ID = 1000  # see conftest: owner_ids=frozenset({1000})
STAFF_A = 2001
STAFF_B = 2002


async def test_owner_comes_from_owner_ids(services: Any, count: Any) -> None:
    identity = await services.staff.identify(OWNER_ID)
    assert identity.role is Role.OWNER
    assert identity.registered is False
    assert identity.language is None
    assert await services.staff.role_of(OWNER_ID) is Role.OWNER
    assert await count(StaffMember) == 0  # nothing stored for environment owners


async def test_stranger_is_a_customer(services: Any) -> None:
    assert await services.staff.role_of(424242) is Role.CUSTOMER


async def test_add_staff(services: Any, fetch: Any) -> None:
    entry = await services.staff.add(STAFF_A, added_by=OWNER_ID, display_name="Siti")
    assert (entry.telegram_id, entry.role, entry.display_name) == (STAFF_A, Role.STAFF, "Siti")
    assert entry.added_at == services.clock()
    assert await services.staff.role_of(STAFF_A) is Role.STAFF
    [row] = await fetch(StaffMember)
    assert (row.telegram_id, row.role, row.active, row.added_by, row.display_name) == (
        STAFF_A,
        "staff",
        True,
        OWNER_ID,
        "Siti",
    )
    [audit] = await fetch(AuditEntry)
    assert (audit.action, audit.actor_telegram_id, json.loads(audit.details or "{}")) == (
        "staff.added.staff",
        OWNER_ID,
        {"staff": STAFF_A},
    )


async def test_add_owner_role(services: Any, fetch: Any) -> None:
    entry = await services.staff.add(STAFF_B, role=Role.OWNER, added_by=OWNER_ID)
    assert entry.role is Role.OWNER
    assert await services.staff.role_of(STAFF_B) is Role.OWNER
    assert [a.action for a in await fetch(AuditEntry)] == ["staff.added.owner"]


async def test_customer_role_cannot_be_added(services: Any, count: Any) -> None:
    with pytest.raises(ValueError):
        await services.staff.add(STAFF_A, role=Role.CUSTOMER, added_by=OWNER_ID)
    assert await count(StaffMember) == 0
    assert await count(AuditEntry) == 0


async def test_removed_staff_is_a_customer_at_once(services: Any, fetch: Any) -> None:
    await services.staff.add(STAFF_A, added_by=OWNER_ID)
    assert await services.staff.role_of(STAFF_A) is Role.STAFF
    services.clock.advance(hours=2)
    await services.staff.remove(STAFF_A, removed_by=OWNER_ID)
    assert await services.staff.role_of(STAFF_A) is Role.CUSTOMER
    [row] = await fetch(StaffMember)
    assert row.active is False
    assert row.removed_at == services.clock()
    audit = [(a.action, a.actor_telegram_id) for a in await fetch(AuditEntry, order_by=AuditEntry.id)]
    assert audit == [("staff.added.staff", OWNER_ID), ("staff.removed", OWNER_ID)]


async def test_remove_unknown_or_already_removed(services: Any, count: Any) -> None:
    with pytest.raises(StaffNotFound):
        await services.staff.remove(STAFF_A, removed_by=OWNER_ID)
    await services.staff.add(STAFF_A, added_by=OWNER_ID)
    await services.staff.remove(STAFF_A, removed_by=OWNER_ID)
    with pytest.raises(StaffNotFound):
        await services.staff.remove(STAFF_A, removed_by=OWNER_ID)
    assert await count(AuditEntry) == 2  # the refused removals left no audit rows


async def test_re_adding_removed_staff(services: Any, fetch: Any) -> None:
    await services.staff.add(STAFF_A, added_by=OWNER_ID, display_name="Siti")
    await services.staff.remove(STAFF_A, removed_by=OWNER_ID)
    services.clock.advance(days=1)
    entry = await services.staff.add(STAFF_A, added_by=STAFF_B)
    assert entry.display_name == "Siti"  # kept when not given again
    assert entry.added_at == services.clock()
    assert await services.staff.role_of(STAFF_A) is Role.STAFF
    [row] = await fetch(StaffMember)  # reactivated, not duplicated
    assert (row.active, row.removed_at, row.added_by) == (True, None, STAFF_B)
    actions = [a.action for a in await fetch(AuditEntry, order_by=AuditEntry.id)]
    assert actions == ["staff.added.staff", "staff.removed", "staff.added.staff"]


async def test_promote_staff_to_owner(services: Any, fetch: Any) -> None:
    await services.staff.add(STAFF_A, added_by=OWNER_ID)
    await services.staff.add(STAFF_A, role=Role.OWNER, added_by=OWNER_ID)
    assert await services.staff.role_of(STAFF_A) is Role.OWNER
    assert len(await fetch(StaffMember)) == 1


async def test_list_with_no_staff(services: Any) -> None:
    assert await services.staff.list() == []


async def test_list_staff(services: Any) -> None:
    await services.staff.add(STAFF_A, added_by=OWNER_ID, display_name="Siti")
    services.clock.advance(minutes=1)
    await services.staff.add(STAFF_B, role=Role.OWNER, added_by=OWNER_ID)
    services.clock.advance(minutes=1)
    await services.staff.add(OWNER_ID, role=Role.OWNER, added_by=None)  # also in OWNER_IDS
    await services.staff.add(3003, added_by=OWNER_ID)
    await services.staff.remove(3003, removed_by=OWNER_ID)
    listed = await services.staff.list()
    assert [(e.telegram_id, e.role, e.display_name) for e in listed] == [
        (STAFF_A, Role.STAFF, "Siti"),
        (STAFF_B, Role.OWNER, None),
    ]


async def test_staff_who_is_also_a_registered_customer(services: Any) -> None:
    from datetime import UTC, datetime

    await services.customers.register(
        telegram_id=STAFF_A,
        contact_user_id=STAFF_A,
        phone="60123456789",
        first_name="Siti",
        last_name=None,
        language="ms",
        consent_version="v1",
        consent_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    await services.staff.add(STAFF_A, added_by=OWNER_ID)
    identity = await services.staff.identify(STAFF_A)
    assert (identity.role, identity.registered, identity.language) == (Role.STAFF, True, "ms")
