"""CustomerService against a real database: registration, settings, card, history, privacy."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from loyaltybot.db.models import AuditEntry, Customer, LedgerEntry
from loyaltybot.domain.birthday import Birthday, BirthdayError
from loyaltybot.domain.roles import Role
from loyaltybot.domain.tokens import TokenKind
from loyaltybot.services.errors import ContactNotOwn, NotRegistered, PhoneInvalid, PhoneTaken
from loyaltybot.services.scans import CodeNotValid, MemberCodeForStaff

CONSENT_AT = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
PHONE = "+60123456789"
STAFF_ID = 9001

async def register(services: Any, telegram_id: int = 111, *, phone: str = "60123456789", **overrides: Any) -> Any:
    arguments: dict[str, Any] = {
        "telegram_id": telegram_id,
        "contact_user_id": telegram_id,
        "phone": phone,
        "first_name": "Aina",
        "last_name": "Rahman",
        "language": "ms",
        "consent_version": "2026-01",
        "consent_at": CONSENT_AT,
    }
    arguments.update(overrides)
    return await services.customers.register(**arguments)


async def customer_row(fetch: Any, **where: Any) -> Customer:
    rows = await fetch(Customer, *(getattr(Customer, k) == v for k, v in where.items()))
    assert len(rows) == 1, rows
    return rows[0]


def _tamper(payload: str) -> str:
    last = payload[-1]
    return payload[:-1] + ("A" if last != "A" else "B")


# --- registration ---------------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["60123456789", "+60 12-345 6789", "0123456789", "+60123456789", "6012 345 6789"])
async def test_register_normalizes_telegram_contact_formats(services: Any, fetch: Any, count: Any, raw: str) -> None:
    result = await register(services, phone=raw)
    assert result.created is True
    assert result.profile.phone == PHONE
    assert result.profile.telegram_id == 111
    assert result.profile.language == "ms"
    assert result.profile.balance == 0
    assert result.profile.joined_at == services.clock()
    row = await customer_row(fetch, telegram_id=111)
    assert row.phone == PHONE
    assert row.status == "active"
    assert row.consent_at == CONSENT_AT
    assert row.consent_version == "2026-01"
    assert row.marketing_opt_in is True
    assert len(row.member_key) == 16
    audit = await fetch(AuditEntry, AuditEntry.action == "customer.registered")
    assert [(a.actor_telegram_id, a.customer_id) for a in audit] == [(111, row.id)]


async def test_register_unknown_language_falls_back_to_default(services: Any) -> None:
    result = await register(services, language="fr")
    assert result.profile.language == "en"


@pytest.mark.parametrize("contact_user_id", [222, None])
async def test_register_refuses_someone_elses_contact(services: Any, count: Any, contact_user_id: int | None) -> None:
    with pytest.raises(ContactNotOwn):
        await register(services, 111, contact_user_id=contact_user_id)
    assert await count(Customer) == 0
    assert await count(AuditEntry) == 0


@pytest.mark.parametrize("raw", ["", "abc", "12345", "+60 12", "+1 000 000 0000", "999999999999999999"])
async def test_register_refuses_invalid_phone(services: Any, count: Any, raw: str) -> None:
    with pytest.raises(PhoneInvalid):
        await register(services, phone=raw)
    assert await count(Customer) == 0
    assert await count(AuditEntry) == 0


async def test_register_refuses_phone_of_another_account(services: Any, count: Any, fetch: Any) -> None:
    await register(services, 111, phone="60123456789")
    with pytest.raises(PhoneTaken):
        await register(services, 222, phone="+60 12-345 6789")
    assert await count(Customer) == 1
    assert await count(AuditEntry) == 1
    assert (await customer_row(fetch, phone=PHONE)).telegram_id == 111
    assert await services.customers.profile(222) is None


async def test_register_twice_is_idempotent(services: Any, count: Any) -> None:
    first = await register(services, 111)
    services.clock.advance(hours=1)
    second = await register(services, 111, first_name="Changed", phone="60129998888")
    assert second.created is False
    assert second.profile == first.profile
    assert await count(Customer) == 1
    assert await count(AuditEntry, AuditEntry.action == "customer.registered") == 1


async def test_concurrent_registrations_of_one_user_make_one_row(
    services: Any, count: Any, request: pytest.FixtureRequest, backend: str
) -> None:
    results = await asyncio.gather(*(register(services, 111) for _ in range(20)))
    assert sum(r.created for r in results) == 1
    assert len({r.profile.id for r in results}) == 1
    assert await count(Customer) == 1
    assert await count(AuditEntry, AuditEntry.action == "customer.registered") == 1


async def test_same_user_registering_twice_at_once_is_not_phone_taken(
    services: Any, count: Any, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest, backend: str
) -> None:
    """A double tap on "share contact": B has found no customer for the user when A commits."""
    from loyaltybot.db.repositories import CustomerRepository

    original = CustomerRepository.by_phone
    b_between_lookups = asyncio.Event()
    a_committed = asyncio.Event()

    async def by_phone(self: CustomerRepository, phone: str) -> Any:
        if not b_between_lookups.is_set():  # the first caller is B
            b_between_lookups.set()
            try:  # on SQLite A cannot even begin while B holds the write lock: go on after 1 s
                await asyncio.wait_for(a_committed.wait(), 1.0)
            except TimeoutError:
                pass
        return await original(self, phone)

    monkeypatch.setattr(CustomerRepository, "by_phone", by_phone)

    async def a() -> Any:
        await b_between_lookups.wait()
        result = await register(services, 111)
        a_committed.set()
        return result

    results = await asyncio.wait_for(asyncio.gather(a(), register(services, 111)), 20)
    assert sorted(r.created for r in results) == [False, True]
    assert await count(Customer) == 1


async def test_concurrent_registrations_of_one_phone_by_many_users(services: Any, count: Any, fetch: Any) -> None:
    outcomes = await asyncio.gather(
        *(register(services, 1000 + i, phone="60123456789") for i in range(20)), return_exceptions=True
    )
    winners = [o for o in outcomes if not isinstance(o, BaseException)]
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(winners) == 1
    assert winners[0].created is True
    assert all(isinstance(o, PhoneTaken) for o in losers), losers
    assert await count(Customer) == 1
    assert (await customer_row(fetch, phone=PHONE)).telegram_id == winners[0].profile.telegram_id


# --- settings -------------------------------------------------------------------------------


async def test_set_birthday(services: Any, fetch: Any) -> None:
    await register(services)
    birthday = await services.customers.set_birthday(111, "31 Dis 1990", today=date(2026, 3, 15))
    assert birthday == Birthday(day=31, month=12, year=1990)
    row = await customer_row(fetch, telegram_id=111)
    assert (row.birthday_day, row.birthday_month, row.birthday_year) == (31, 12, 1990)
    assert row.birthday_set_at == services.clock()
    assert (await services.customers.profile(111)).birthday == birthday
    # without a year
    await services.customers.set_birthday(111, "29/02", today=date(2026, 3, 15))
    row = await customer_row(fetch, telegram_id=111)
    assert (row.birthday_day, row.birthday_month, row.birthday_year) == (29, 2, None)


@pytest.mark.parametrize("text", ["31/04", "hello", "1/1/2030", "1/1/1850", "12/31"])
async def test_invalid_birthday_leaves_row_unchanged(services: Any, fetch: Any, text: str) -> None:
    await register(services)
    await services.customers.set_birthday(111, "15/06/1995", today=date(2026, 3, 15))
    services.clock.advance(days=1)
    with pytest.raises(BirthdayError):
        await services.customers.set_birthday(111, text, today=date(2026, 3, 16))
    row = await customer_row(fetch, telegram_id=111)
    assert (row.birthday_day, row.birthday_month, row.birthday_year) == (15, 6, 1995)
    assert row.birthday_set_at == services.clock() - timedelta(days=1)


async def test_unregistered_user_gets_not_registered(services: Any) -> None:
    with pytest.raises(NotRegistered):
        await services.customers.set_birthday(404, "1/1", today=date(2026, 3, 15))
    with pytest.raises(NotRegistered):
        await services.customers.set_language(404, "en")
    with pytest.raises(NotRegistered):
        await services.customers.card(404)
    with pytest.raises(NotRegistered):
        await services.customers.history(404)
    with pytest.raises(NotRegistered):
        await services.customers.export_data(404)
    with pytest.raises(NotRegistered):
        await services.customers.delete_account(404)


async def test_set_language(services: Any, fetch: Any) -> None:
    await register(services, language="ms")
    await services.customers.set_language(111, "en")
    assert (await customer_row(fetch, telegram_id=111)).language == "en"
    with pytest.raises(ValueError):
        await services.customers.set_language(111, "xx")
    assert (await customer_row(fetch, telegram_id=111)).language == "en"
    identity = await services.staff.identify(111)
    assert identity.registered and identity.language == "en"


async def test_marketing_opt_out_and_in_are_audited(services: Any, fetch: Any) -> None:
    await register(services)
    services.clock.advance(days=2)
    await services.customers.set_marketing(111, False)
    row = await customer_row(fetch, telegram_id=111)
    assert row.marketing_opt_in is False
    assert row.marketing_changed_at == services.clock()
    # no change: no audit row
    services.clock.advance(days=1)
    await services.customers.set_marketing(111, False)
    assert (await customer_row(fetch, telegram_id=111)).marketing_changed_at == services.clock() - timedelta(days=1)
    await services.customers.set_marketing(111, True)
    assert (await customer_row(fetch, telegram_id=111)).marketing_opt_in is True
    audit = await fetch(AuditEntry, AuditEntry.action.like("customer.marketing%"), order_by=AuditEntry.id)
    assert [(a.action, a.actor_telegram_id, a.customer_id) for a in audit] == [
        ("customer.marketing_opt_out", 111, row.id),
        ("customer.marketing_opt_in", 111, row.id),
    ]


# --- card and member code -------------------------------------------------------------------


async def test_card_payload_is_a_signed_member_code(services: Any, fetch: Any) -> None:
    await register(services)
    card = await services.customers.card(111)
    assert card.first_name == "Aina"
    assert (card.balance, card.stamps, card.card_size) == (0, 0, 10)
    assert card.member_payload.startswith("m_")
    assert len(card.member_payload) <= 64
    kind, member_key = services.scans.decode(card.member_payload)
    assert kind is TokenKind.MEMBER
    assert member_key == (await customer_row(fetch, telegram_id=111)).member_key
    # stable until rotated
    assert (await services.customers.card(111)).member_payload == card.member_payload


@pytest.mark.parametrize("role", [Role.STAFF, Role.OWNER])
async def test_card_payload_opens_for_staff(services: Any, role: Role) -> None:
    registration = await register(services)
    card = await services.customers.card(111)
    view = await services.scans.open_member(card.member_payload, actor=STAFF_ID, role=role)
    assert view.customer_id == registration.profile.id
    assert view.first_name == "Aina"
    assert view.masked_phone == "•••• 6789"
    assert (view.balance, view.stamps, view.card_size) == (0, 0, 10)


async def test_card_payload_refused_for_customer_role(services: Any) -> None:
    await register(services)
    card = await services.customers.card(111)
    with pytest.raises(MemberCodeForStaff):
        await services.scans.open_member(card.member_payload, actor=222, role=Role.CUSTOMER)


async def test_rotate_member_code_invalidates_old_payload(services: Any, fetch: Any) -> None:
    await register(services)
    old = (await services.customers.card(111)).member_payload
    new = await services.customers.rotate_member_code(111)
    assert new != old
    assert (await services.customers.card(111)).member_payload == new
    assert services.scans.decode(new)[1] == (await customer_row(fetch, telegram_id=111)).member_key
    with pytest.raises(CodeNotValid):
        await services.scans.open_member(old, actor=STAFF_ID, role=Role.STAFF)
    actions = [(a.action, a.actor_telegram_id) for a in await fetch(AuditEntry, order_by=AuditEntry.id)]
    assert actions == [
        ("customer.registered", 111),
        ("customer.member_code_rotated", 111),
        ("scan.unknown", STAFF_ID),
    ]


async def test_rotated_member_code_opens(services: Any) -> None:
    registration = await register(services)
    new = await services.customers.rotate_member_code(111)
    view = await services.scans.open_member(new, actor=STAFF_ID, role=Role.STAFF)
    assert view.customer_id == registration.profile.id


async def test_tampered_payload_is_refused_and_audited(services: Any, fetch: Any, count: Any) -> None:
    await register(services)
    payload = (await services.customers.card(111)).member_payload
    forged = _tamper(payload)
    with pytest.raises(CodeNotValid):
        await services.scans.open_member(forged, actor=STAFF_ID, role=Role.STAFF)
    forged_rows = await fetch(AuditEntry, AuditEntry.action == "scan.forged")
    assert [(a.actor_telegram_id, json.loads(a.details or "{}")) for a in forged_rows] == [(STAFF_ID, {"prefix": "m_"})]
    # a malformed payload (not ours at all) is refused without an audit row
    with pytest.raises(CodeNotValid):
        await services.scans.open_member("hello", actor=STAFF_ID, role=Role.STAFF)
    assert await count(AuditEntry, AuditEntry.action.like("scan.%")) == 1
    # signed with another key: forged too
    from loyaltybot.domain.tokens import TokenKind, encode_payload

    other = encode_payload(TokenKind.MEMBER, payload[2:18], b"another-key")
    with pytest.raises(CodeNotValid):
        await services.scans.open_member(other, actor=STAFF_ID, role=Role.STAFF)
    assert await count(AuditEntry, AuditEntry.action == "scan.forged") == 2


async def test_payload_of_another_kind_is_not_a_member_code(services: Any) -> None:
    from loyaltybot.domain.tokens import TokenKind, encode_payload

    await register(services)
    member_key = (await services.customers.card(111)).member_payload[2:18]
    sale = encode_payload(TokenKind.SALE, member_key, b"test-key")
    with pytest.raises(CodeNotValid):
        await services.scans.open_member(sale, actor=STAFF_ID, role=Role.STAFF)


# --- history --------------------------------------------------------------------------------


async def _insert_ledger(services: Any, customer_id: int, n: int) -> list[datetime]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    times = []
    async with services.database.write_sessions() as session:
        balance = 0
        for i in range(n):
            balance += i + 1
            created = base + timedelta(hours=i)
            times.append(created)
            session.add(
                LedgerEntry(
                    customer_id=customer_id,
                    delta=i + 1,
                    kind="purchase",
                    idempotency_key=f"test:{customer_id}:{i}",
                    spend_sen=(i + 1) * 100,
                    stamps_delta=1,
                    balance_after=balance,
                    note=f"entry {i}",
                    created_at=created,
                    expires_at=created + timedelta(days=365),
                )
            )
        await session.commit()
    return times


async def test_history_is_paged_newest_first(services: Any) -> None:
    registration = await register(services)
    other = await register(services, 222, phone="60129998888")
    times = await _insert_ledger(services, registration.profile.id, 25)
    await _insert_ledger(services, other.profile.id, 3)

    first = await services.customers.history(111, 0)
    assert (first.page, first.pages, first.total) == (0, 3, 25)
    assert len(first.items) == 10
    assert [item.created_at for item in first.items] == sorted(times, reverse=True)[:10]
    assert first.items[0].delta == 25 and first.items[0].note == "entry 24"
    assert first.items[0].spend_sen == 2500 and first.items[0].stamps_delta == 1

    second = await services.customers.history(111, 1)
    assert [item.created_at for item in second.items] == sorted(times, reverse=True)[10:20]
    last = await services.customers.history(111, 2)
    assert [item.created_at for item in last.items] == sorted(times, reverse=True)[20:]
    # out-of-range pages clamp
    assert (await services.customers.history(111, 99)).page == 2
    assert (await services.customers.history(111, -1)).page == 0
    all_items = first.items + second.items + last.items
    assert [i.created_at for i in all_items] == sorted(times, reverse=True)


async def test_history_empty(services: Any) -> None:
    await register(services)
    page = await services.customers.history(111)
    assert (page.items, page.page, page.pages, page.total) == ([], 0, 1, 0)


async def test_history_same_timestamp_breaks_tie_by_id(services: Any) -> None:
    registration = await register(services)
    when = datetime(2026, 2, 1, tzinfo=UTC)
    async with services.database.write_sessions() as session:
        for i in range(3):
            session.add(
                LedgerEntry(
                    customer_id=registration.profile.id,
                    delta=i + 1,
                    kind="bonus",
                    idempotency_key=f"tie:{i}",
                    stamps_delta=0,
                    balance_after=i + 1,
                    created_at=when,
                )
            )
        await session.commit()
    page = await services.customers.history(111)
    assert [item.delta for item in page.items] == [3, 2, 1]


# --- privacy --------------------------------------------------------------------------------


async def test_export_data(services: Any) -> None:
    registration = await register(services)
    await services.customers.set_birthday(111, "15/06/1995", today=date(2026, 3, 15))
    await _insert_ledger(services, registration.profile.id, 3)
    exported = await services.customers.export_data(111)
    text = json.dumps(exported)  # JSON-serializable as is
    assert json.loads(text) == exported
    customer = exported["customer"]
    assert customer["telegram_id"] == 111
    assert customer["phone"] == PHONE
    assert customer["first_name"] == "Aina"
    assert customer["last_name"] == "Rahman"
    assert customer["language"] == "ms"
    assert customer["birthday"] == "15/06/1995"
    assert customer["consent_version"] == "2026-01"
    assert customer["consent_at"] == CONSENT_AT.isoformat()
    assert exported["exported_at"] == services.clock().isoformat()
    assert [row["delta"] for row in exported["ledger"]] == [1, 2, 3]
    assert exported["ledger"][0]["created_at"] == datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    assert exported["ledger"][0]["spend_sen"] == 100


async def test_delete_account(services: Any, fetch: Any, count: Any) -> None:
    registration = await register(services)
    await services.customers.set_birthday(111, "15/06/1995", today=date(2026, 3, 15))
    await _insert_ledger(services, registration.profile.id, 4)
    old_payload = (await services.customers.card(111)).member_payload
    services.clock.advance(days=3)

    await services.customers.delete_account(111)

    row = await customer_row(fetch, id=registration.profile.id)
    assert row.telegram_id is None
    assert row.phone is None
    assert row.first_name is None and row.last_name is None
    assert (row.birthday_day, row.birthday_month, row.birthday_year, row.birthday_set_at) == (None, None, None, None)
    assert row.status == "deleted"
    assert row.deleted_at == services.clock()
    assert row.marketing_opt_in is False
    assert await count(LedgerEntry, LedgerEntry.customer_id == registration.profile.id) == 4
    assert await services.customers.profile(111) is None
    deleted_audit = await fetch(AuditEntry, AuditEntry.action == "customer.deleted")
    assert [(a.customer_id, a.actor_telegram_id) for a in deleted_audit] == [(registration.profile.id, None)]

    with pytest.raises(CodeNotValid):
        await services.scans.open_member(old_payload, actor=STAFF_ID, role=Role.STAFF)

    again = await register(services, 111, phone="0123456789")
    assert again.created is True
    assert again.profile.id != registration.profile.id
    assert again.profile.phone == PHONE
    assert again.profile.balance == 0
    assert await count(Customer) == 2
    assert (await services.customers.history(111)).total == 0
    new_payload = (await services.customers.card(111)).member_payload
    assert new_payload != old_payload
    with pytest.raises(CodeNotValid):
        await services.scans.open_member(old_payload, actor=STAFF_ID, role=Role.STAFF)


async def test_new_account_after_delete_has_a_working_card(services: Any) -> None:
    await register(services)
    old_payload = (await services.customers.card(111)).member_payload
    await services.customers.delete_account(111)
    again = await register(services, 111)
    view = await services.scans.open_member(
        (await services.customers.card(111)).member_payload, actor=STAFF_ID, role=Role.STAFF
    )
    assert view.customer_id == again.profile.id
    with pytest.raises(CodeNotValid):
        await services.scans.open_member(old_payload, actor=STAFF_ID, role=Role.STAFF)


async def test_deleted_phone_can_be_taken_by_another_account(services: Any) -> None:
    await register(services, 111)
    await services.customers.delete_account(111)
    result = await register(services, 222, phone="+60 12-345 6789")
    assert result.created is True
    assert result.profile.telegram_id == 222
