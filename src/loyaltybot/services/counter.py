"""Earning at the counter: one-time sale QR codes, member-card credits, stamps and vouchers.

Each use case is one transaction. A sale token is single use through a conditional UPDATE;
each credit writes one ledger row under a unique idempotency key and moves the cached
balance with a conditional UPDATE that returns the new balance (`balance_after`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError

from loyaltybot.db.models import Token, Voucher
from loyaltybot.db.repositories import CardHolder
from loyaltybot.db.uow import UnitOfWork
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.money import AmountTooLarge, parse_amount
from loyaltybot.domain.points import PointsRule
from loyaltybot.domain.stamps import StampPolicy, StampReason, add_stamps, decide_stamp, local_day_bounds
from loyaltybot.domain.tokens import TokenKind, encode_payload, new_token_id
from loyaltybot.services.access import require_staff
from loyaltybot.services.base import ShopService
from loyaltybot.services.customers import mask_phone
from loyaltybot.services.errors import NotRegistered
from loyaltybot.services.pointsbook import TierUp, raise_tier, record_credit, tier_multiplier
from loyaltybot.services.scans import CodeNotValid

SALE = "sale"


def _issued_in(data: str | None) -> str | None:
    """The language a sale token was issued in (its `data`), if recorded."""
    if not data:
        return None
    language = json.loads(data).get("language")
    return language if isinstance(language, str) else None


class CodeUsed(DomainError):
    """A one-time code that was already used."""

    code = "code_used"


class CodeExpired(DomainError):
    code = "code_expired"


class OwnSale(DomainError):
    """Staff scanned the sale QR they issued themselves."""

    code = "own_sale"


class IssuerNotStaff(DomainError):
    """The sale was issued by someone who is no longer staff: the code no longer works."""

    code = "code_not_valid"


class OwnCard(DomainError):
    """Staff tried to credit their own member card."""

    code = "own_card"


class AlreadyRecorded(DomainError):
    """The same purchase or stamp was already recorded (a double tap, a re-delivered update)."""

    code = "already_recorded"


class StampNotAllowed(DomainError):
    """Stamp only, refused by the program's limits; `details['next_at']` says when (or None)."""

    code = "stamp_not_allowed"


@dataclass(frozen=True, slots=True)
class IssuedSale:
    token_id: str
    payload: str
    amount_sen: int
    points: int  # at the first tier's multiplier
    expires_at: datetime
    # (tier code, points) for the higher tiers whose multiplier gives more: what the customer gets depends on their tier.
    tier_points: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class VoucherView:
    title_en: str
    title_ms: str
    expires_at: datetime | None

    def title(self, language: str | None) -> str:
        return self.title_ms if language == "ms" else self.title_en


@dataclass(frozen=True, slots=True)
class Credit:
    """What one claim or member credit did; enough to tell the customer and the staff member."""

    customer_id: int
    customer_telegram_id: int
    customer_language: str
    first_name: str
    masked_phone: str
    staff_telegram_id: int | None
    amount_sen: int | None
    points: int
    balance: int
    stamps_added: int
    stamps: int
    card_size: int
    stamp_refused: StampReason | None
    next_stamp_at: datetime | None
    vouchers: tuple[VoucherView, ...]
    staff_language: str | None = None  # set for sale claims when the staff member is also a customer
    tier_up: TierUp | None = None  # the tier reached with this purchase, if it crossed a threshold


class CounterService(ShopService):
    def __init__(self, **dependencies: Any) -> None:
        super().__init__(**dependencies)
        program = self._program
        self.points_rule = PointsRule(program.points.points_per_unit, program.points.unit_sen)
        stamps = program.stamps
        self._stamp_policy = (
            StampPolicy(
                card_size=stamps.card_size,
                min_interval=stamps.min_interval,
                daily_cap=stamps.daily_cap,
                stamps_per_claim=stamps.per_claim,
            )
            if stamps.per_claim > 0
            else None
        )

    @property
    def stamps_enabled(self) -> bool:
        return self._stamp_policy is not None

    def parse_amount(self, text: str) -> int:
        try:
            return parse_amount(text, max_sen=self._program.points.max_sale_sen)
        except AmountTooLarge as error:
            error.details["currency"] = self._program.shop.currency  # the maximum, shown in the shop's money
            raise

    # ------------------------------------------------------------------ sale QR
    async def issue_sale(
        self, actor: int, amount_text: str, *, valid_for: timedelta | None = None, language: str | None = None
    ) -> IssuedSale:
        """Staff enters an amount; a one-time sale token, valid for the program's minutes.

        `language`: the one the staff member reads the bot in now; the "claimed by" notice,
        sent while the customer (not they) talks to the bot, is written in it.
        """
        amount = self.parse_amount(amount_text)
        now = self._clock()
        expires_at = now + (valid_for if valid_for is not None else self._program.sale.validity)
        token_id = new_token_id()
        async with self._writer() as uow:
            await require_staff(uow, self._owner_ids, actor)
            await uow.tokens.add(
                Token(
                    id=token_id,
                    kind=SALE,
                    created_by=actor,
                    amount_sen=amount,
                    created_at=now,
                    expires_at=expires_at,
                    data=json.dumps({"language": language}) if language else None,
                )
            )
            await uow.audit.record(
                actor=actor, action="sale.issued", now=now, details={"token": token_id, "amount_sen": amount}
            )
            await uow.commit()
        (_first, points), *higher = self._tier_points(amount)
        return IssuedSale(
            token_id=token_id,
            payload=encode_payload(TokenKind.SALE, token_id, self._key),
            amount_sen=amount,
            points=points,
            expires_at=expires_at,
            tier_points=tuple(higher),
        )

    def _tier_points(self, amount_sen: int) -> tuple[tuple[str, int], ...]:
        """(tier code, points) for the first tier, then for each higher tier that gets more."""
        levels = self._program.tiers.levels
        base = self.points_rule.points_for(amount_sen, levels[0].multiplier)
        higher = ((level.code, self.points_rule.points_for(amount_sen, level.multiplier)) for level in levels[1:])
        return ((levels[0].code, base), *(pair for pair in higher if pair[1] != base))

    async def claim_sale(self, token_id: str, customer_telegram_id: int) -> Credit:
        """The customer scanned a sale QR: points and a stamp, exactly once."""
        now = self._clock()
        used_by: int | None = None  # who claimed the code, when it was already used
        try:
            async with self._writer() as uow:
                customer = await uow.customers.holder_by_telegram_id(customer_telegram_id)
                claimed = None
                if customer is not None:
                    claimed = await uow.tokens.claim(token_id, kind=SALE, used_by=customer_telegram_id, now=now)
                if claimed is None or claimed[0] is None:
                    # Refused: find out why, for a clear message (nothing was changed).
                    token = await uow.tokens.get(token_id)
                    if token is None or token.kind != SALE or token.amount_sen is None:
                        raise CodeNotValid()
                    if token.created_by == customer_telegram_id:
                        raise OwnSale()
                    if customer is None:
                        raise NotRegistered()
                    used_by = token.used_by
                    raise CodeUsed() if token.used_at is not None else CodeExpired()
                amount_sen, issuer, data = claimed
                issuer_language = None
                if issuer is not None:
                    stored_language, issuer_role = await uow.staff.identity_of(issuer)
                    issuer_language = _issued_in(data) or stored_language
                    if issuer not in self._owner_ids and issuer_role is None:
                        # Removed staff lose every staff action at once, their open sale codes included.
                        raise IssuerNotStaff()
                credit = await self._credit(
                    uow,
                    customer,
                    points=self._points_for(customer, amount_sen),
                    spend_sen=amount_sen,
                    staff_id=issuer,
                    kind="purchase",
                    key=f"sale:{token_id}",
                    now=now,
                )
                # The language the staff member reads the "claimed by" notice in.
                credit = replace(credit, staff_language=issuer_language)
                await uow.audit.record(
                    actor=customer_telegram_id,
                    action="sale.claimed",
                    customer_id=customer.id,
                    now=now,
                    details={"token": token_id, "staff": issuer, "points": credit.points},
                )
                await uow.commit()
                return credit
        except CodeNotValid:
            await self._record(customer_telegram_id, "scan.unknown", {"prefix": "s_"})
            raise
        except OwnSale:
            await self._record(customer_telegram_id, "refused.own_sale", {"token": token_id})
            raise
        # Failed scans of a genuine code, for the owner's activity view: a code used by somebody
        # else (a photo of it passed round?), too late, or issued by someone no longer staff.
        except CodeUsed:
            if used_by != customer_telegram_id:  # not the claimer scanning it twice
                await self._record(customer_telegram_id, "scan.used", {"token": token_id})
            raise
        except CodeExpired:
            await self._record(customer_telegram_id, "scan.expired", {"token": token_id})
            raise
        except IssuerNotStaff:
            await self._record(customer_telegram_id, "scan.revoked", {"token": token_id})
            raise
        except IntegrityError:  # the same credit recorded meanwhile: this scan came second
            await self._record(customer_telegram_id, "scan.used", {"token": token_id})
            raise CodeUsed() from None

    # ------------------------------------------------------------------ member QR
    async def credit_member(
        self, actor: int, member_key: str, *, amount_text: str | None, request_key: str
    ) -> Credit:
        """Staff scanned a member card: add a purchase (amount) or, with no amount, a stamp only.

        `request_key` names the staff action (the card message it came from), so the same
        purchase is never recorded twice however often the button is pressed.
        """
        amount = self.parse_amount(amount_text) if amount_text is not None else None
        now = self._clock()
        key = f"member:{actor}:{request_key}"
        try:
            async with self._writer() as uow:
                await require_staff(uow, self._owner_ids, actor)
                customer = await uow.customers.holder_by_member_key(member_key)
                if customer is None or customer.status == "deleted" or customer.telegram_id is None:
                    raise CodeNotValid()
                if customer.telegram_id == actor:
                    raise OwnCard()
                if await uow.ledger.has_key(key):
                    raise AlreadyRecorded()
                credit = await self._credit(
                    uow,
                    customer,
                    points=self._points_for(customer, amount) if amount is not None else 0,
                    spend_sen=amount,
                    staff_id=actor,
                    kind="purchase" if amount is not None else "stamp",
                    key=key,
                    now=now,
                    stamp_required=amount is None,
                )
                await uow.audit.record(
                    actor=actor,
                    action="member.purchase" if amount is not None else "member.stamp",
                    customer_id=customer.id,
                    now=now,
                    details={"amount_sen": amount, "points": credit.points, "stamps": credit.stamps_added},
                )
                await uow.commit()
                return credit
        except OwnCard:
            await self._record(actor, "refused.own_card", None)
            raise
        except IntegrityError:
            raise AlreadyRecorded() from None

    # ------------------------------------------------------------------ the credit itself
    def _points_for(self, customer: CardHolder, spend_sen: int) -> int:
        """Purchase points with the customer's tier multiplier (the tier they hold before it)."""
        return self.points_rule.points_for(spend_sen, tier_multiplier(self._program, customer.tier))

    async def _credit(
        self,
        uow: UnitOfWork,
        customer: CardHolder,
        *,
        points: int,
        spend_sen: int | None,
        staff_id: int | None,
        kind: str,
        key: str,
        now: datetime,
        stamp_required: bool = False,
    ) -> Credit:
        assert customer.telegram_id is not None
        program = self._program
        size = program.stamps.card_size
        # The customer's row is locked (PostgreSQL) since it was read, so the stamp limits
        # below see every earlier claim of this customer; SQLite writers are serialized.
        card = customer.stamps
        stamps_added, refused, next_at = 0, None, None
        policy = self._stamp_policy
        if policy is not None:
            day_start, day_end = local_day_bounds(now, program.shop.tz)
            last, today = await uow.ledger.stamp_state(customer.id, day_start=day_start, day_end=day_end)
            decision = decide_stamp(policy, now, last, today, tz=program.shop.tz)
            if decision.granted:
                stamps_added = decision.stamps
            else:
                refused = decision.reason
            next_at = decision.next_allowed_at
        if stamp_required and stamps_added == 0:
            raise StampNotAllowed(next_at=next_at)
        result = add_stamps(card % size, stamps_added, size)
        completed = result.cards_completed + card // size
        balance = await uow.customers.credit(customer.id, points=points, stamps=result.new_count, visited_at=now)
        if balance is None:
            raise CodeNotValid()
        await record_credit(
            uow,
            program,
            customer.id,
            points,
            balance=balance,
            kind=kind,
            key=key,
            now=now,
            spend_sen=spend_sen,
            stamps=stamps_added,
            staff_id=staff_id,
        )
        tier_up = await raise_tier(uow, program, customer.id, customer.tier, now) if spend_sen else None
        reward = program.stamps.reward
        vouchers = []
        for number in range(completed):
            await uow.vouchers.add(
                Voucher(
                    customer_id=customer.id,
                    kind="stamp_card",
                    title_en=reward.en,
                    title_ms=reward.ms,
                    code=new_token_id(),
                    source_key=f"{key}:{number}",
                    issued_at=now,
                )
            )
            vouchers.append(VoucherView(title_en=reward.en, title_ms=reward.ms, expires_at=None))
        return Credit(
            customer_id=customer.id,
            customer_telegram_id=customer.telegram_id,
            customer_language=customer.language,
            first_name=customer.first_name or "",
            masked_phone=mask_phone(customer.phone),
            staff_telegram_id=staff_id,
            amount_sen=spend_sen,
            points=points,
            balance=balance,
            stamps_added=stamps_added,
            stamps=result.new_count,
            card_size=size,
            stamp_refused=refused,
            next_stamp_at=next_at if refused is not None else None,
            vouchers=tuple(vouchers),
            tier_up=tier_up,
        )

    async def _record(self, actor: int, action: str, details: dict[str, str] | None) -> None:
        """Audit a refused attempt in its own transaction (the refused one changed nothing)."""
        async with self._writer() as uow:
            await uow.audit.record(actor=actor, action=action, now=self._clock(), details=details)
            await uow.commit()
