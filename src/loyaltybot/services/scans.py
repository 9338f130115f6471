"""What a scanned QR code (a `/start <payload>`) means for whoever scanned it."""

from __future__ import annotations

from dataclasses import dataclass

from loyaltybot.db.uow import UnitOfWorkFactory
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.roles import Role
from loyaltybot.domain.tokens import TokenForged, TokenKind, TokenMalformed, decode_payload
from loyaltybot.services.clock import Clock
from loyaltybot.services.customers import mask_phone


class CodeNotValid(DomainError):
    """Unknown, rotated or deleted: nothing to act on."""

    code = "code_not_valid"


class MemberCodeForStaff(DomainError):
    """A customer (or a stranger) scanned a member card: only staff can act on it."""

    code = "member_code_for_staff"


@dataclass(frozen=True, slots=True)
class MemberView:
    """What staff see when they scan a member card."""

    customer_id: int
    first_name: str
    masked_phone: str
    balance: int
    stamps: int
    card_size: int


class ScanService:
    def __init__(
        self, *, writer: UnitOfWorkFactory, reader: UnitOfWorkFactory, secret_key: bytes, card_size: int, clock: Clock
    ) -> None:
        self._writer = writer
        self._reader = reader
        self._key = secret_key
        self._card_size = card_size
        self._clock = clock

    def decode(self, payload: str) -> tuple[TokenKind, str]:
        return decode_payload(payload, self._key)

    async def record_failure(self, actor: int, payload: str, reason: str) -> None:
        """Audit failed and forged scans (the owner's activity view lists them)."""
        async with self._writer() as uow:
            await uow.audit.record(
                actor=actor, action=f"scan.{reason}", now=self._clock(), details={"prefix": payload[:2]}
            )
            await uow.commit()

    async def open_member(self, payload: str, *, actor: int, role: Role) -> MemberView:
        try:
            kind, member_key = self.decode(payload)
        except TokenForged:
            await self.record_failure(actor, payload, "forged")
            raise CodeNotValid() from None
        except TokenMalformed:
            raise CodeNotValid() from None
        if kind is not TokenKind.MEMBER:
            raise CodeNotValid()
        async with self._reader() as uow:
            customer = await uow.customers.by_member_key(member_key)
        if customer is None or customer.status == "deleted" or customer.telegram_id is None:
            await self.record_failure(actor, payload, "unknown")
            raise CodeNotValid()
        if not role.is_staff:
            raise MemberCodeForStaff()
        # Staff see a customer's name, masked phone and balance: who looked, and when, is kept.
        async with self._writer() as uow:
            await uow.audit.record(actor=actor, action="card.viewed", customer_id=customer.id, now=self._clock())
            await uow.commit()
        return MemberView(
            customer_id=customer.id,
            first_name=customer.first_name or "",
            masked_phone=mask_phone(customer.phone),
            balance=customer.balance,
            stamps=customer.stamps,
            card_size=self._card_size,
        )
