"""Rewards: the owner's catalogue, customers redeeming points, staff confirming at the counter.

A redemption moves pending -> confirmed | cancelled | expired exactly once, each move one
transaction:
- reserve: lock the customer row, take one unit of stock with a conditional UPDATE (never
  oversold), drain the oldest lots, write a "redeem" ledger entry (negative);
- confirm: one conditional UPDATE on the pending, unexpired row (confirmed at most once);
- cancel / expire: one conditional UPDATE on the pending row, then a "reversal" entry, the
  lots restored and the unit of stock given back.
Closing a redemption also withdraws its lapse reminder if that is still waiting in the outbox
(OfferService.send_lapse_reminders), in the same transaction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from loyaltybot.db.models import Customer, LedgerEntry, Redemption, Reward
from loyaltybot.db.uow import UnitOfWork
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.lots import InsufficientPoints
from loyaltybot.domain.offers import redemption_reminder_key
from loyaltybot.domain.tokens import TokenKind, encode_payload, new_token_id
from loyaltybot.services.access import require_owner, require_staff
from loyaltybot.services.base import ShopService
from loyaltybot.services.customers import mask_phone
from loyaltybot.services.errors import NotRegistered
from loyaltybot.services.pointsbook import movements_from_json, movements_json, put_back, take_points
from loyaltybot.services.scans import CodeNotValid


class SoldOut(DomainError):
    code = "reward_sold_out"


class NotEnoughPoints(DomainError):
    """`details['missing']`: points still needed."""

    code = "reward_not_enough_points"


class TierLocked(DomainError):
    """`details['tier']`: the code of the tier the reward needs."""

    code = "reward_tier_locked"


class LimitReached(DomainError):
    code = "reward_limit_reached"


class RewardUnavailable(DomainError):
    """Unknown, paused, not started yet or ended."""

    code = "reward_unavailable"


class RedemptionClosed(DomainError):
    """`details['status']`: confirmed, cancelled or expired (or pending past its expiry)."""

    code = "redemption_closed"


class OwnRedemption(DomainError):
    """Staff tried to confirm their own redemption or use their own voucher."""

    code = "own_redemption"


class RewardFieldInvalid(DomainError):
    """The owner typed a value the field does not accept; `details['field']` says which."""

    code = "reward_field_invalid"


FIELDS = ("name_en", "name_ms", "description_en", "description_ms", "cost", "photo", "stock", "limit", "starts",
          "ends", "min_tier")
OPTIONAL_FIELDS = frozenset({"description_en", "description_ms", "stock", "limit", "starts", "ends", "min_tier", "photo"})
_DATE_RE = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$")


@dataclass(frozen=True, slots=True)
class Localized:
    en: str
    ms: str

    def get(self, language: str | None) -> str:
        return self.ms if language == "ms" else self.en


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    id: int
    name: Localized
    description: Localized
    cost: int
    photo_file_id: str | None
    state: str  # available | short | sold_out | tier_locked | limit_reached
    missing: int
    stock_left: int | None
    min_tier: Localized | None


@dataclass(frozen=True, slots=True)
class PendingRedemption:
    id: int
    name: Localized
    points: int
    expires_at: datetime
    payload: str


@dataclass(frozen=True, slots=True)
class Catalogue:
    language: str
    available: int
    items: tuple[CatalogueItem, ...]
    pending: tuple[PendingRedemption, ...]


@dataclass(frozen=True, slots=True)
class Reserved:
    redemption_id: int
    name: Localized
    points: int
    balance: int
    expires_at: datetime
    payload: str


@dataclass(frozen=True, slots=True)
class RedemptionView:
    """What staff see when they scan a redemption QR, and what the customer is told after."""

    code: str
    name: Localized
    points: int
    status: str
    expires_at: datetime
    first_name: str
    masked_phone: str
    customer_telegram_id: int | None
    customer_language: str
    balance: int
    photo_file_id: str | None = None


@dataclass(frozen=True, slots=True)
class RewardAdmin:
    id: int
    name_en: str
    name_ms: str
    description_en: str
    description_ms: str
    cost: int
    photo_file_id: str | None
    stock: int | None
    reserved: int
    per_customer_limit: int | None
    starts_at: datetime | None
    ends_at: datetime | None
    min_tier: str | None
    active: bool
    confirmed: int
    pending: int

    @property
    def stock_left(self) -> int | None:
        return None if self.stock is None else max(self.stock - self.reserved, 0)


def _localized_name(reward: Reward) -> Localized:
    return Localized(reward.name_en, reward.name_ms)


def _admin(reward: Reward, counts: dict[str, int]) -> RewardAdmin:
    return RewardAdmin(
        id=reward.id,
        name_en=reward.name_en,
        name_ms=reward.name_ms,
        description_en=reward.description_en,
        description_ms=reward.description_ms,
        cost=reward.cost,
        photo_file_id=reward.photo_file_id,
        stock=reward.stock,
        reserved=reward.reserved,
        per_customer_limit=reward.per_customer_limit,
        starts_at=reward.starts_at,
        ends_at=reward.ends_at,
        min_tier=reward.min_tier,
        active=reward.active,
        confirmed=counts.get("confirmed", 0),
        pending=counts.get("pending", 0),
    )


class RewardService(ShopService):
    def payload(self, code: str) -> str:
        return encode_payload(TokenKind.REDEEM, code, self._key)

    def tier_name(self, code: str | None) -> Localized:
        level = self._program.tiers.level(code)
        return Localized(level.name.en, level.name.ms)

    # ------------------------------------------------------------------ owner: catalogue
    def parse_field(self, field: str, text: str | None) -> Any:
        """The typed value of one catalogue field from the owner's text; "-" (or None) clears optional ones."""
        if field not in FIELDS:
            raise RewardFieldInvalid(field=field)
        raw = (text or "").strip()
        if raw in ("", "-"):
            if field in OPTIONAL_FIELDS:
                return "" if field.startswith("description") else None
            raise RewardFieldInvalid(field=field)
        if field in ("name_en", "name_ms"):
            if len(raw) > 128:
                raise RewardFieldInvalid(field=field)
            return raw
        if field.startswith("description"):
            if len(raw) > 1000:
                raise RewardFieldInvalid(field=field)
            return raw
        if field in ("cost", "stock", "limit"):
            digits = raw.replace(",", "").replace(" ", "")
            if not digits.isdigit():
                raise RewardFieldInvalid(field=field)
            value = int(digits)
            if (field != "stock" and value < 1) or value > 10_000_000:
                raise RewardFieldInvalid(field=field)
            return value
        if field in ("starts", "ends"):
            match = _DATE_RE.match(raw)
            if match is None:
                raise RewardFieldInvalid(field=field)
            try:
                day = date(int(match.group(3)), int(match.group(2)), int(match.group(1)))
            except ValueError:
                raise RewardFieldInvalid(field=field) from None
            if field == "ends":
                day += timedelta(days=1)  # valid through the whole last day
            return datetime.combine(day, time(0), tzinfo=self._program.shop.tz)
        if field == "min_tier":
            codes = [level.code for level in self._program.tiers.levels]
            if raw.lower() not in codes:
                raise RewardFieldInvalid(field=field)
            return None if raw.lower() == codes[0] else raw.lower()
        return raw  # photo: a Telegram file id

    async def create(self, actor: int, values: dict[str, Any]) -> RewardAdmin:
        now = self._clock()
        reward = Reward(
            name_en=values["name_en"],
            name_ms=values["name_ms"],
            description_en=values.get("description_en") or "",
            description_ms=values.get("description_ms") or "",
            cost=values["cost"],
            photo_file_id=values.get("photo"),
            stock=values.get("stock"),
            reserved=0,
            per_customer_limit=values.get("limit"),
            starts_at=values.get("starts"),
            ends_at=values.get("ends"),
            min_tier=values.get("min_tier"),
            active=True,
            created_by=actor,
            created_at=now,
            updated_at=now,
        )
        if reward.starts_at and reward.ends_at and reward.ends_at <= reward.starts_at:
            raise RewardFieldInvalid(field="ends")
        async with self._writer() as uow:
            await require_owner(uow, self._owner_ids, actor)
            await uow.rewards.add(reward)
            await uow.audit.record(
                actor=actor, action="reward.created", now=now, details={"reward": reward.id, "cost": reward.cost}
            )
            await uow.commit()
            return _admin(reward, {})

    async def update(self, actor: int, reward_id: int, field: str, value: Any) -> RewardAdmin:
        column = {"limit": "per_customer_limit", "starts": "starts_at", "ends": "ends_at", "photo": "photo_file_id"}.get(
            field, field
        )
        if field not in FIELDS:
            raise RewardFieldInvalid(field=field)
        now = self._clock()
        async with self._writer() as uow:
            await require_owner(uow, self._owner_ids, actor)
            reward = await uow.rewards.get(reward_id)
            if reward is None:
                raise RewardUnavailable()
            if field == "stock" and value is not None and value < reward.reserved:
                raise RewardFieldInvalid(field=field, reserved=reward.reserved)
            setattr(reward, column, value)
            if reward.starts_at and reward.ends_at and reward.ends_at <= reward.starts_at:
                raise RewardFieldInvalid(field=field)
            reward.updated_at = now
            await uow.audit.record(
                actor=actor,
                action="reward.updated",
                now=now,
                details={"reward": reward_id, "field": field, "value": value if field != "photo" else "photo"},
            )
            await uow.session.flush()
            counts = (await uow.redemptions.counts_by_reward()).get(reward_id, {})
            await uow.commit()
            return _admin(reward, counts)

    async def set_active(self, actor: int, reward_id: int, active: bool) -> RewardAdmin:
        now = self._clock()
        async with self._writer() as uow:
            await require_owner(uow, self._owner_ids, actor)
            reward = await uow.rewards.get(reward_id)
            if reward is None:
                raise RewardUnavailable()
            reward.active = active
            reward.updated_at = now
            await uow.audit.record(
                actor=actor, action="reward.resumed" if active else "reward.paused", now=now, details={"reward": reward_id}
            )
            counts = (await uow.redemptions.counts_by_reward()).get(reward_id, {})
            await uow.commit()
            return _admin(reward, counts)

    async def list_all(self, actor: int) -> list[RewardAdmin]:
        async with self._reader() as uow:
            await require_owner(uow, self._owner_ids, actor)
            counts = await uow.redemptions.counts_by_reward()
            return [_admin(reward, counts.get(reward.id, {})) for reward in await uow.rewards.all()]

    async def get(self, actor: int, reward_id: int) -> RewardAdmin:
        async with self._reader() as uow:
            await require_owner(uow, self._owner_ids, actor)
            reward = await uow.rewards.get(reward_id)
            if reward is None:
                raise RewardUnavailable()
            counts = (await uow.redemptions.counts_by_reward()).get(reward_id, {})
            return _admin(reward, counts)

    # ------------------------------------------------------------------ customer: browse and redeem
    def _window_open(self, reward: Reward, now: datetime) -> bool:
        return (reward.starts_at is None or reward.starts_at <= now) and (reward.ends_at is None or now < reward.ends_at)

    async def catalogue(self, telegram_id: int) -> Catalogue:
        now = self._clock()
        tiers = self._program.tiers
        async with self._reader() as uow:
            customer = await uow.customers.by_telegram_id(telegram_id)
            if customer is None:
                raise NotRegistered()
            available = customer.balance - await uow.lots.expired_unswept(customer.id, now)
            taken = await uow.redemptions.taken_by_customer(customer.id)
            items = []
            active = await uow.rewards.active()
            by_id = {reward.id: reward for reward in active}
            for reward in active:
                if not self._window_open(reward, now):
                    continue
                stock_left = None if reward.stock is None else max(reward.stock - reward.reserved, 0)
                if stock_left == 0:
                    state = "sold_out"
                elif reward.min_tier and tiers.rank(customer.tier) < tiers.rank(reward.min_tier):
                    state = "tier_locked"
                elif reward.per_customer_limit is not None and taken.get(reward.id, 0) >= reward.per_customer_limit:
                    state = "limit_reached"
                elif reward.cost > available:
                    state = "short"
                else:
                    state = "available"
                items.append(
                    CatalogueItem(
                        id=reward.id,
                        name=_localized_name(reward),
                        description=Localized(reward.description_en, reward.description_ms),
                        cost=reward.cost,
                        photo_file_id=reward.photo_file_id,
                        state=state,
                        missing=max(reward.cost - available, 0),
                        stock_left=stock_left,
                        min_tier=self.tier_name(reward.min_tier) if reward.min_tier else None,
                    )
                )
            pending = []
            for redemption in await uow.redemptions.pending_for_customer(customer.id, now):
                found = by_id.get(redemption.reward_id) or await uow.rewards.get(redemption.reward_id)
                assert found is not None
                reward = found
                pending.append(
                    PendingRedemption(
                        id=redemption.id,
                        name=_localized_name(reward),
                        points=redemption.points,
                        expires_at=redemption.expires_at,
                        payload=self.payload(redemption.code),
                    )
                )
            return Catalogue(customer.language, available, tuple(items), tuple(pending))

    async def redeem(self, telegram_id: int, reward_id: int) -> Reserved:
        """Reserve the reward: points taken (oldest first), one unit of stock held, a QR to show."""
        now = self._clock()
        tiers = self._program.tiers
        async with self._writer() as uow:
            customer = await uow.customers.by_telegram_id_for_update(telegram_id)
            if customer is None or customer.status == "deleted":
                raise NotRegistered()
            reward = await uow.rewards.get(reward_id)
            if reward is None or not reward.active or not self._window_open(reward, now):
                raise RewardUnavailable()
            if reward.min_tier and tiers.rank(customer.tier) < tiers.rank(reward.min_tier):
                raise TierLocked(tier=reward.min_tier)
            if reward.per_customer_limit is not None:
                taken = (await uow.redemptions.taken_by_customer(customer.id)).get(reward.id, 0)
                if taken >= reward.per_customer_limit:
                    raise LimitReached()
            if not await uow.rewards.take_one(reward.id):
                raise SoldOut()
            try:
                movements = await take_points(uow, customer.id, reward.cost, now)
            except InsufficientPoints as error:
                raise NotEnoughPoints(missing=reward.cost - int(error.details.get("available", 0))) from None
            balance = await uow.customers.apply_points(customer.id, -reward.cost)
            if balance is None:
                raise NotEnoughPoints(missing=reward.cost)
            redemption = await uow.redemptions.add(
                Redemption(
                    reward_id=reward.id,
                    customer_id=customer.id,
                    code=new_token_id(),
                    points=reward.cost,
                    status="pending",
                    lots=movements_json(movements),
                    created_at=now,
                    expires_at=now + self._program.rewards.redemption_validity,
                )
            )
            await uow.ledger.add(
                LedgerEntry(
                    customer_id=customer.id,
                    delta=-reward.cost,
                    kind="redeem",
                    idempotency_key=f"redeem:{redemption.id}",
                    balance_after=balance,
                    note=f"reward {reward.id}",
                    created_at=now,
                )
            )
            await uow.audit.record(
                actor=telegram_id,
                action="reward.reserved",
                customer_id=customer.id,
                now=now,
                details={"reward": reward.id, "redemption": redemption.id, "points": reward.cost},
            )
            await uow.commit()
            return Reserved(
                redemption_id=redemption.id,
                name=_localized_name(reward),
                points=reward.cost,
                balance=balance,
                expires_at=redemption.expires_at,
                payload=self.payload(redemption.code),
            )

    async def _release(self, uow: UnitOfWork, customer: Customer, redemption: Redemption, *, status: str,
                       now: datetime, actor: int | None) -> int:
        """Give a closed redemption's points back: reversal entry, lots restored, stock returned."""
        await put_back(uow, movements_from_json(redemption.lots))
        balance = await uow.customers.apply_points(customer.id, redemption.points)
        assert balance is not None
        await uow.ledger.add(
            LedgerEntry(
                customer_id=customer.id,
                delta=redemption.points,
                kind="reversal",
                idempotency_key=f"release:{redemption.id}",
                balance_after=balance,
                note=f"redemption {status}",
                created_at=now,
            )
        )
        await uow.rewards.give_back_one(redemption.reward_id)
        await uow.outbox.withdraw_campaign(redemption_reminder_key(redemption.id), now)
        await uow.audit.record(
            actor=actor,
            action=f"reward.{status}",
            customer_id=customer.id,
            now=now,
            details={"redemption": redemption.id, "points": redemption.points},
        )
        return balance

    async def cancel(self, telegram_id: int, redemption_id: int) -> int:
        """The customer cancels a pending redemption; their points come back. The new balance."""
        now = self._clock()
        async with self._writer() as uow:
            customer = await uow.customers.by_telegram_id_for_update(telegram_id)
            if customer is None:
                raise NotRegistered()
            redemption = await uow.redemptions.get(redemption_id)
            if redemption is None or redemption.customer_id != customer.id:
                raise CodeNotValid()
            if not await uow.redemptions.close(redemption.id, status="cancelled", now=now):
                await uow.session.refresh(redemption)
                raise RedemptionClosed(status=redemption.status)
            balance = await self._release(uow, customer, redemption, status="cancelled", now=now, actor=telegram_id)
            await uow.commit()
            return balance

    async def expire_due(self, as_of: datetime | None = None) -> int:
        """Release every pending redemption past its expiry (the job); each in its own transaction."""
        as_of = as_of or self._clock()
        async with self._reader() as uow:
            due = await uow.redemptions.expired_pending(as_of)
        released = 0
        for redemption_id, customer_id in due:
            async with self._writer() as uow:
                customer = await uow.customers.by_id_for_update(customer_id)
                assert customer is not None
                redemption = await uow.redemptions.get(redemption_id)
                assert redemption is not None
                if not await uow.redemptions.close(redemption_id, status="expired", now=as_of, require_expired=True):
                    continue  # confirmed or cancelled meanwhile
                await self._release(uow, customer, redemption, status="expired", now=self._clock(), actor=None)
                await uow.commit()
                released += 1
        return released

    # ------------------------------------------------------------------ staff: scan and confirm
    async def _view(self, uow: UnitOfWork, redemption: Redemption) -> RedemptionView:
        reward = await uow.rewards.get(redemption.reward_id)
        customer = await uow.customers.by_id(redemption.customer_id)
        assert reward is not None and customer is not None
        return RedemptionView(
            code=redemption.code,
            name=_localized_name(reward),
            points=redemption.points,
            status=redemption.status,
            expires_at=redemption.expires_at,
            first_name=customer.first_name or "",
            masked_phone=mask_phone(customer.phone),
            customer_telegram_id=customer.telegram_id,
            customer_language=customer.language,
            balance=customer.balance,
            photo_file_id=reward.photo_file_id,
        )

    async def open(self, actor: int, code: str) -> RedemptionView:
        """Staff scanned a redemption QR: the reward and the customer, if it is still pending."""
        now = self._clock()
        async with self._reader() as uow:
            await require_staff(uow, self._owner_ids, actor)
            redemption = await uow.redemptions.by_code(code)
            if redemption is None:
                raise CodeNotValid()
            view = await self._view(uow, redemption)
        if view.status != "pending" or view.expires_at <= now:
            raise RedemptionClosed(status=view.status if view.status != "pending" else "expired")
        return view

    async def confirm(self, actor: int, code: str) -> RedemptionView:
        """Complete a pending redemption; of any number of concurrent confirmations one wins."""
        now = self._clock()
        async with self._writer() as uow:
            await require_staff(uow, self._owner_ids, actor)
            redemption = await uow.redemptions.by_code(code)
            if redemption is None:
                raise CodeNotValid()
            holder = await uow.customers.by_id(redemption.customer_id)
            if holder is not None and holder.telegram_id == actor:
                raise OwnRedemption()
            if not await uow.redemptions.close(redemption.id, status="confirmed", now=now, by=actor,
                                               require_unexpired=True):
                await uow.session.refresh(redemption)
                raise RedemptionClosed(status=redemption.status if redemption.status != "pending" else "expired")
            await uow.outbox.withdraw_campaign(redemption_reminder_key(redemption.id), now)
            await uow.audit.record(
                actor=actor,
                action="reward.confirmed",
                customer_id=redemption.customer_id,
                now=now,
                details={"redemption": redemption.id, "reward": redemption.reward_id},
            )
            await uow.session.refresh(redemption)
            view = await self._view(uow, redemption)
            await uow.commit()
            return view
