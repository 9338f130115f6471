"""Customer use cases: registration, card, history, settings, privacy (export and erase)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import phonenumbers
from sqlalchemy.exc import IntegrityError

from loyaltybot.config import LANGUAGES, Program
from loyaltybot.db.models import Customer, Voucher
from loyaltybot.db.uow import UnitOfWorkFactory
from loyaltybot.domain.birthday import Birthday, parse_birthday
from loyaltybot.domain.tiers import rolling_window_start
from loyaltybot.domain.tokens import TokenKind, encode_payload, new_token_id
from loyaltybot.services.clock import Clock
from loyaltybot.services.errors import ContactNotOwn, NotRegistered, PhoneInvalid, PhoneTaken


def normalize_phone(raw: str, region: str) -> str:
    """E.164 of a phone number. Telegram sends contacts as international digits without '+'."""
    digits = "".join(ch for ch in raw if ch.isdigit() or ch == "+")
    if not digits:
        raise PhoneInvalid()
    candidates = [digits] if digits.startswith("+") else ["+" + digits, digits]
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, None if candidate.startswith("+") else region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise PhoneInvalid()


def mask_phone(phone: str | None) -> str:
    """Show only the last four digits to staff: "•••• 4567"."""
    if not phone:
        return "—"
    return "•••• " + phone[-4:]


def new_member_key() -> str:
    return secrets.token_urlsafe(12)


@dataclass(frozen=True, slots=True)
class Profile:
    id: int
    telegram_id: int
    first_name: str
    phone: str
    language: str
    birthday: Birthday | None
    marketing_opt_in: bool
    balance: int
    stamps: int
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class Card:
    first_name: str
    balance: int
    stamps: int
    card_size: int
    member_payload: str
    vouchers: tuple[tuple[str, datetime | None], ...] = ()  # (title in the customer's language, expiry)
    voucher_payloads: tuple[str, ...] = ()  # the `v_` QR payload of each voucher above, same order
    tier: TierStatus | None = None
    next_expiry: tuple[int, datetime] | None = None  # (points, when) of the soonest expiry


@dataclass(frozen=True, slots=True)
class TierStatus:
    """The customer's tier in their language, and how far the next one is (sen of spend)."""

    name: str
    perks: str
    next_name: str | None
    sen_missing: int
    percent: int


@dataclass(frozen=True, slots=True)
class HistoryItem:
    created_at: datetime
    kind: str
    delta: int
    balance_after: int
    spend_sen: int | None
    stamps_delta: int
    note: str | None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    items: list[HistoryItem]
    page: int
    pages: int
    total: int


@dataclass(frozen=True, slots=True)
class Registration:
    profile: Profile
    created: bool


def _birthday_of(customer: Customer) -> Birthday | None:
    if customer.birthday_day is None or customer.birthday_month is None:
        return None
    return Birthday(day=customer.birthday_day, month=customer.birthday_month, year=customer.birthday_year)


def _profile(customer: Customer) -> Profile:
    assert customer.telegram_id is not None and customer.phone is not None
    return Profile(
        id=customer.id,
        telegram_id=customer.telegram_id,
        first_name=customer.first_name or "",
        phone=customer.phone,
        language=customer.language,
        birthday=_birthday_of(customer),
        marketing_opt_in=customer.marketing_opt_in,
        balance=customer.balance,
        stamps=customer.stamps,
        joined_at=customer.joined_at,
    )


class CustomerService:
    HISTORY_PAGE_SIZE = 10

    def __init__(
        self,
        *,
        writer: UnitOfWorkFactory,
        reader: UnitOfWorkFactory,
        program: Program,
        secret_key: bytes,
        clock: Clock,
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._program = program
        self._key = secret_key
        self._clock = clock

    def member_payload(self, member_key: str) -> str:
        return encode_payload(TokenKind.MEMBER, member_key, self._key)

    async def profile(self, telegram_id: int) -> Profile | None:
        async with self._reader() as uow:
            customer = await uow.customers.by_telegram_id(telegram_id)
            return None if customer is None else _profile(customer)

    async def register(
        self,
        *,
        telegram_id: int,
        contact_user_id: int | None,
        phone: str,
        first_name: str,
        last_name: str | None,
        language: str,
        consent_version: str,
        consent_at: datetime,
    ) -> Registration:
        """Create the customer from a shared contact. Idempotent for the same Telegram user."""
        if contact_user_id != telegram_id:
            raise ContactNotOwn()
        e164 = normalize_phone(phone, self._program.shop.phone_region)
        if language not in LANGUAGES:
            language = self._program.shop.default_language
        now = self._clock()
        for _attempt in range(2):
            async with self._writer() as uow:
                existing = await uow.customers.by_telegram_id(telegram_id)
                if existing is not None:
                    return Registration(_profile(existing), created=False)
                holder = await uow.customers.by_phone(e164)
                if holder is not None:
                    raise PhoneTaken()
                customer = Customer(
                    telegram_id=telegram_id,
                    phone=e164,
                    first_name=first_name[:128],
                    last_name=(last_name or None) and last_name[:128],
                    language=language,
                    consent_at=consent_at,
                    consent_version=consent_version,
                    marketing_opt_in=True,
                    marketing_changed_at=now,
                    status="active",
                    balance=0,
                    stamps=0,
                    member_key=new_member_key(),
                    joined_at=now,
                )
                try:
                    await uow.customers.add(customer)
                except IntegrityError:
                    # Lost a race with a concurrent registration; look again.
                    continue
                await uow.audit.record(actor=telegram_id, action="customer.registered", customer_id=customer.id, now=now)
                welcome = self._program.vouchers
                if welcome.welcome_enabled:
                    await uow.vouchers.add(
                        Voucher(
                            customer_id=customer.id,
                            kind="welcome",
                            title_en=welcome.welcome.en,
                            title_ms=welcome.welcome.ms,
                            code=new_token_id(),
                            source_key=f"welcome:{customer.id}",
                            issued_at=now,
                            expires_at=now + welcome.welcome_validity,
                        )
                    )
                await uow.commit()
                return Registration(_profile(customer), created=True)
        raise PhoneTaken()

    async def _get(self, uow: Any, telegram_id: int) -> Customer:
        customer = await uow.customers.by_telegram_id(telegram_id)
        if customer is None:
            raise NotRegistered()
        return customer

    async def set_birthday(self, telegram_id: int, text: str, *, today: date) -> Birthday:
        birthday = parse_birthday(text, today=today)
        async with self._writer() as uow:
            customer = await self._get(uow, telegram_id)
            customer.birthday_day, customer.birthday_month, customer.birthday_year = (
                birthday.day,
                birthday.month,
                birthday.year,
            )
            customer.birthday_set_at = self._clock()
            await uow.commit()
        return birthday

    async def set_language(self, telegram_id: int, language: str) -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unsupported language {language!r}")
        async with self._writer() as uow:
            customer = await self._get(uow, telegram_id)
            customer.language = language
            await uow.commit()

    async def set_marketing(self, telegram_id: int, opt_in: bool) -> None:
        async with self._writer() as uow:
            customer = await self._get(uow, telegram_id)
            if customer.marketing_opt_in != opt_in:
                customer.marketing_opt_in = opt_in
                customer.marketing_changed_at = self._clock()
                await uow.audit.record(
                    actor=telegram_id,
                    action="customer.marketing_opt_in" if opt_in else "customer.marketing_opt_out",
                    customer_id=customer.id,
                    now=self._clock(),
                )
            await uow.commit()

    async def card(self, telegram_id: int) -> Card:
        now = self._clock()
        tiers = self._program.tiers
        language = None
        async with self._reader() as uow:
            customer = await self._get(uow, telegram_id)
            language = customer.language
            vouchers = await uow.vouchers.active_for_customer(customer.id, now)
            spend = await uow.ledger.spend_since(customer.id, rolling_window_start(now, tiers.window_months))
            # The stored tier (raised at once by a purchase, lowered by the daily review) is what
            # the customer holds; progress is towards the tier above it.
            held = tiers.level(customer.tier)
            rank = tiers.rank(held.code)
            next_level = tiers.levels[rank + 1] if rank + 1 < len(tiers.levels) else None
            missing = max(next_level.min_spend * 100 - spend, 0) if next_level is not None else 0
            if next_level is None:
                percent = 100
            else:
                span = (next_level.min_spend - held.min_spend) * 100
                percent = max(0, min(99, (spend - held.min_spend * 100) * 100 // span))
            return Card(
                first_name=customer.first_name or "",
                balance=customer.balance,
                stamps=customer.stamps,
                card_size=self._program.stamps.card_size,
                member_payload=self.member_payload(customer.member_key),
                vouchers=tuple(
                    (voucher.title_ms if customer.language == "ms" else voucher.title_en, voucher.expires_at)
                    for voucher in vouchers
                ),
                voucher_payloads=tuple(encode_payload(TokenKind.VOUCHER, v.code, self._key) for v in vouchers),
                tier=TierStatus(
                    name=held.name.get(language),
                    perks=held.perks.get(language),
                    next_name=next_level.name.get(language) if next_level is not None else None,
                    sen_missing=missing,
                    percent=percent,
                ),
                next_expiry=await self._next_expiry(uow, customer.id, now),
            )

    async def _next_expiry(self, uow: Any, customer_id: int, now: datetime) -> tuple[int, datetime] | None:
        """Points expiring on the soonest expiry day (shop time zone), and when the first of them go."""
        soonest = await uow.lots.soonest_expiry(customer_id, now)
        if soonest is None:
            return None
        tz = self._program.shop.tz
        local_day = soonest.astimezone(tz).date()
        day_end = datetime.combine(local_day + timedelta(days=1), time(0), tzinfo=tz)
        return await uow.lots.expiring_between(customer_id, now, day_end), soonest

    async def rotate_member_code(self, telegram_id: int) -> str:
        """A new member QR; the old one stops working at once."""
        async with self._writer() as uow:
            customer = await self._get(uow, telegram_id)
            customer.member_key = new_member_key()
            await uow.audit.record(
                actor=telegram_id, action="customer.member_code_rotated", customer_id=customer.id, now=self._clock()
            )
            await uow.commit()
            return self.member_payload(customer.member_key)

    async def history(self, telegram_id: int, page: int = 0) -> HistoryPage:
        size = self.HISTORY_PAGE_SIZE
        async with self._reader() as uow:
            customer = await self._get(uow, telegram_id)
            total = await uow.ledger.count_for_customer(customer.id)
            pages = max(1, -(-total // size))
            page = min(max(page, 0), pages - 1)
            rows = await uow.ledger.page_for_customer(customer.id, offset=page * size, limit=size)
            return HistoryPage(
                items=[
                    HistoryItem(
                        created_at=row.created_at,
                        kind=row.kind,
                        delta=row.delta,
                        balance_after=row.balance_after,
                        spend_sen=row.spend_sen,
                        stamps_delta=row.stamps_delta,
                        note=row.note,
                    )
                    for row in rows
                ],
                page=page,
                pages=pages,
                total=total,
            )

    async def export_data(self, telegram_id: int) -> dict[str, Any]:
        """Everything stored about the customer, as JSON-ready data (PDPA access request)."""
        async with self._reader() as uow:
            customer = await self._get(uow, telegram_id)
            ledger = await uow.ledger.all_for_customer(customer.id)
            birthday = _birthday_of(customer)
            return {
                "exported_at": self._clock().isoformat(),
                "shop": self._program.shop.name,
                "customer": {
                    "telegram_id": customer.telegram_id,
                    "phone": customer.phone,
                    "first_name": customer.first_name,
                    "last_name": customer.last_name,
                    "language": customer.language,
                    "birthday": birthday.format() if birthday else None,
                    "marketing_opt_in": customer.marketing_opt_in,
                    "consent_at": customer.consent_at.isoformat() if customer.consent_at else None,
                    "consent_version": customer.consent_version,
                    "joined_at": customer.joined_at.isoformat(),
                    "last_visit_at": customer.last_visit_at.isoformat() if customer.last_visit_at else None,
                    "points_balance": customer.balance,
                    "stamps": customer.stamps,
                },
                "ledger": [
                    {
                        "created_at": row.created_at.isoformat(),
                        "kind": row.kind,
                        "delta": row.delta,
                        "balance_after": row.balance_after,
                        "spend_sen": row.spend_sen,
                        "stamps_delta": row.stamps_delta,
                        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
                    }
                    for row in ledger
                ],
                "vouchers": [
                    {
                        "kind": voucher.kind,
                        "title": voucher.title_en,
                        "issued_at": voucher.issued_at.isoformat(),
                        "expires_at": voucher.expires_at.isoformat() if voucher.expires_at else None,
                        "used_at": voucher.used_at.isoformat() if voucher.used_at else None,
                    }
                    for voucher in await uow.vouchers.all_for_customer(customer.id)
                ],
                "redemptions": [
                    {
                        "reward_id": redemption.reward_id,
                        "points": redemption.points,
                        "status": redemption.status,
                        "created_at": redemption.created_at.isoformat(),
                        "closed_at": redemption.closed_at.isoformat() if redemption.closed_at else None,
                    }
                    for redemption in await uow.redemptions.all_for_customer(customer.id)
                ],
                "tier": self._program.tiers.level(customer.tier).code,
            }

    async def delete_account(self, telegram_id: int) -> None:
        """Erase personal data. Ledger rows stay (anonymous: they point at an empty row)."""
        now = self._clock()
        async with self._writer() as uow:
            customer = await self._get(uow, telegram_id)
            customer.telegram_id = None
            customer.phone = None
            customer.first_name = None
            customer.last_name = None
            customer.birthday_day = customer.birthday_month = customer.birthday_year = None
            customer.birthday_set_at = None
            customer.marketing_opt_in = False
            customer.marketing_changed_at = now
            customer.status = "deleted"
            customer.deleted_at = now
            customer.member_key = new_member_key()
            await uow.audit.record(actor=None, action="customer.deleted", customer_id=customer.id, now=now)
            await uow.commit()
