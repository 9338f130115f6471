"""Status over time: points expiry (FIFO lots) and tiers from rolling spend, plus vouchers at the counter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.tiers import rolling_window_start
from loyaltybot.domain.tokens import TokenKind, encode_payload
from loyaltybot.services.access import require_staff
from loyaltybot.services.base import ShopService
from loyaltybot.services.customers import mask_phone
from loyaltybot.services.pointsbook import expire_customer
from loyaltybot.services.rewards import OwnRedemption
from loyaltybot.services.scans import CodeNotValid


class VoucherClosed(DomainError):
    """`details['status']`: "used" or "expired"."""

    code = "voucher_closed"


@dataclass(frozen=True, slots=True)
class TierReview:
    customers: int
    upgraded: int
    downgraded: int


@dataclass(frozen=True, slots=True)
class VoucherView:
    code: str
    title_en: str
    title_ms: str
    expires_at: datetime | None
    first_name: str
    masked_phone: str
    customer_telegram_id: int | None
    customer_language: str

    def title(self, language: str | None) -> str:
        return self.title_ms if language == "ms" else self.title_en


class LoyaltyService(ShopService):
    # ------------------------------------------------------------------ points expiry (job)
    async def expire_points(self, as_of: datetime | None = None) -> tuple[int, int]:
        """Expire every lot past its date: (customers touched, points expired). Idempotent.

        One transaction per customer, under their row lock, so a redemption at the same
        moment sees either all or none of the sweep.
        """
        as_of = as_of or self._clock()
        async with self._reader() as uow:
            customer_ids = await uow.lots.customers_with_expired(as_of)
        touched = points = 0
        for customer_id in customer_ids:
            async with self._writer() as uow:
                customer = await uow.customers.by_id_for_update(customer_id)
                assert customer is not None
                removed = await expire_customer(uow, customer, as_of=as_of, now=self._clock())
                await uow.commit()
            if removed:
                touched += 1
                points += removed
        return touched, points

    # ------------------------------------------------------------------ tiers (job)
    async def review_tiers(self, as_of: datetime | None = None) -> TierReview:
        """Recompute every customer's tier from spend in the window ending `as_of` (downgrades too)."""
        as_of = as_of or self._clock()
        tiers = self._program.tiers
        start = rolling_window_start(as_of, tiers.window_months)
        upgraded = downgraded = 0
        async with self._writer() as uow:
            spend = await uow.ledger.spend_by_customer(start, as_of)
            base = tiers.levels[0].code
            ladder = tiers.ladder
            changes = []
            for customer_id, stored in await uow.customers.tiers():
                old = tiers.level(stored).code
                new = ladder.tier_for(spend.get(customer_id, 0)).code
                if new != old:
                    changes.append((customer_id, stored, old, new))
            for customer_id, stored, old, new in changes:
                if not await uow.customers.set_tier(customer_id, None if new == base else new, expected=stored):
                    continue  # changed by a purchase since it was read: that one is newer
                if tiers.rank(new) > tiers.rank(old):
                    upgraded += 1
                else:
                    downgraded += 1
            if changes:
                await uow.audit.record(
                    actor=None, action="tiers.reviewed", now=self._clock(),
                    details={"as_of": as_of.isoformat(), "upgraded": upgraded, "downgraded": downgraded},
                )
            await uow.commit()
            return TierReview(customers=upgraded + downgraded, upgraded=upgraded, downgraded=downgraded)

    # ------------------------------------------------------------------ vouchers at the counter
    def voucher_payload(self, code: str) -> str:
        return encode_payload(TokenKind.VOUCHER, code, self._key)

    async def open_voucher(self, actor: int, code: str) -> VoucherView:
        now = self._clock()
        async with self._reader() as uow:
            await require_staff(uow, self._owner_ids, actor)
            voucher = await uow.vouchers.by_code(code)
            if voucher is None:
                raise CodeNotValid()
            customer = await uow.customers.by_id(voucher.customer_id)
            assert customer is not None
        if voucher.used_at is not None:
            raise VoucherClosed(status="used")
        if voucher.expires_at is not None and voucher.expires_at <= now:
            raise VoucherClosed(status="expired")
        return VoucherView(
            code=voucher.code,
            title_en=voucher.title_en,
            title_ms=voucher.title_ms,
            expires_at=voucher.expires_at,
            first_name=customer.first_name or "",
            masked_phone=mask_phone(customer.phone),
            customer_telegram_id=customer.telegram_id,
            customer_language=customer.language,
        )

    async def use_voucher(self, actor: int, code: str) -> VoucherView:
        """Staff hands over what the voucher promises: used once, whatever the concurrency."""
        view = await self.open_voucher(actor, code)
        if view.customer_telegram_id == actor:
            raise OwnRedemption()
        now = self._clock()
        async with self._writer() as uow:
            await require_staff(uow, self._owner_ids, actor)
            voucher = await uow.vouchers.by_code(code)
            assert voucher is not None
            if not await uow.vouchers.use(voucher.id, used_by=actor, now=now):
                raise VoucherClosed(status="used")
            await uow.audit.record(
                actor=actor, action="voucher.used", customer_id=voucher.customer_id, now=now,
                details={"voucher": voucher.id, "kind": voucher.kind},
            )
            await uow.commit()
        return view
