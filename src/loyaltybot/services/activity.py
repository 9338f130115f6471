"""The owner's view of today at the counter: sales and claims per staff, and what looks unusual."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from loyaltybot.config import Program
from loyaltybot.db.uow import UnitOfWorkFactory
from loyaltybot.domain.stamps import local_day_bounds
from loyaltybot.services.access import require_owner
from loyaltybot.services.clock import Clock
from loyaltybot.services.counter import SALE
from loyaltybot.services.customers import mask_phone


@dataclass
class StaffDay:
    telegram_id: int
    name: str
    sales_issued: int = 0
    sales_claimed: int = 0
    member_credits: int = 0
    spend_sen: int = 0


@dataclass(frozen=True, slots=True)
class FrequentCustomer:
    name: str
    masked_phone: str
    claims: int


@dataclass(frozen=True, slots=True)
class RepeatedCredit:
    staff_name: str
    customer_name: str
    credits: int


@dataclass(frozen=True, slots=True)
class FailedScans:
    telegram_id: int
    name: str | None  # their staff name or first name as a customer, if any
    forged: int  # a code that is not the bot's (tampered with or made up)
    unknown: int  # well-formed, but no such code
    used: int  # a sale code somebody else had already claimed
    expired: int  # a sale code too late, or issued by someone no longer staff


@dataclass(frozen=True, slots=True)
class SelfCredit:
    """Staff who tried to claim their own sale or credit their own card (refused and audited)."""

    name: str
    attempts: int


@dataclass
class ActivityReport:
    day: datetime
    staff: list[StaffDay] = field(default_factory=list)
    frequent_customers: list[FrequentCustomer] = field(default_factory=list)
    repeated_credits: list[RepeatedCredit] = field(default_factory=list)
    failed_scans: list[FailedScans] = field(default_factory=list)
    self_credits: list[SelfCredit] = field(default_factory=list)
    claims_threshold: int = 0
    repeat_threshold: int = 0


class ActivityService:
    def __init__(
        self, *, reader: UnitOfWorkFactory, program: Program, owner_ids: frozenset[int], clock: Clock
    ) -> None:
        self._reader = reader
        self._program = program
        self._owner_ids = owner_ids
        self._clock = clock

    async def today(self, actor: int) -> ActivityReport:
        now = self._clock()
        tz = self._program.shop.tz
        start, end = local_day_bounds(now, tz)
        claims_threshold = self._program.activity.claims_per_day_threshold
        repeat_threshold = self._program.activity.same_customer_threshold
        report = ActivityReport(
            day=start.astimezone(tz), claims_threshold=claims_threshold, repeat_threshold=repeat_threshold
        )
        async with self._reader() as uow:
            await require_owner(uow, self._owner_ids, actor)
            staff_names = await uow.staff.display_names()  # removed staff too: they may have acted today
            people: dict[int, str | None] = {}

            async def person(telegram_id: int) -> str | None:
                """A staff member's name, else their first name as a customer (owners need not be staff)."""
                if telegram_id not in people:
                    found = staff_names.get(telegram_id)
                    if found is None:
                        customer = await uow.customers.by_telegram_id(telegram_id)
                        found = customer.first_name if customer is not None and customer.first_name else None
                    people[telegram_id] = found
                return people[telegram_id]

            per_staff: dict[int, StaffDay] = {}

            async def staff_day(telegram_id: int) -> StaffDay:
                if telegram_id not in per_staff:
                    per_staff[telegram_id] = StaffDay(telegram_id, await person(telegram_id) or str(telegram_id))
                return per_staff[telegram_id]

            for issuer, claimed in await uow.tokens.issued_between(SALE, start, end):
                if issuer is None:
                    continue
                day = await staff_day(issuer)
                day.sales_issued += 1
                day.sales_claimed += int(claimed)
            per_customer: Counter[int] = Counter()
            pairs: Counter[tuple[int, int]] = Counter()
            for customer_id, staff_id, _kind, spend in await uow.ledger.credits_between(start, end):
                per_customer[customer_id] += 1
                if staff_id is None:
                    continue
                pairs[(staff_id, customer_id)] += 1
                (await staff_day(staff_id)).spend_sen += spend
            member_actions = Counter(
                entry.actor_telegram_id
                for entry in await uow.audit.between(start, end, prefix="member.")
                if entry.actor_telegram_id is not None
            )
            for staff_id, count in member_actions.items():
                if staff_id is not None:
                    (await staff_day(staff_id)).member_credits = count

            async def customer_label(customer_id: int) -> tuple[str, str]:
                customer = await uow.customers.by_id(customer_id)
                if customer is None:
                    return "?", "—"
                return customer.first_name or "—", mask_phone(customer.phone)

            for customer_id, count in per_customer.most_common():
                if count <= claims_threshold:
                    break
                label, phone = await customer_label(customer_id)
                report.frequent_customers.append(FrequentCustomer(label, phone, count))
            for (staff_id, customer_id), count in pairs.most_common():
                if count <= repeat_threshold:
                    break
                label, _phone = await customer_label(customer_id)
                staff_name = await person(staff_id) or str(staff_id)
                report.repeated_credits.append(RepeatedCredit(staff_name, label, count))

            failures: dict[int, Counter[str]] = {}
            for entry in await uow.audit.between(start, end, prefix="scan."):
                if entry.actor_telegram_id is None:
                    continue
                failures.setdefault(entry.actor_telegram_id, Counter())[entry.action.removeprefix("scan.")] += 1
            for telegram_id, reasons in sorted(failures.items(), key=lambda item: -sum(item[1].values())):
                report.failed_scans.append(
                    FailedScans(
                        telegram_id,
                        await person(telegram_id),
                        forged=reasons["forged"],
                        unknown=reasons["unknown"],
                        used=reasons["used"],
                        expired=reasons["expired"] + reasons["revoked"],
                    )
                )
            refused = Counter(
                entry.actor_telegram_id
                for entry in await uow.audit.between(start, end, prefix="refused.own_")
                if entry.actor_telegram_id is not None
            )
            for telegram_id, attempts in refused.most_common():
                report.self_credits.append(SelfCredit(await person(telegram_id) or str(telegram_id), attempts))
        report.staff = sorted(per_staff.values(), key=lambda day: (-day.sales_claimed - day.member_credits, day.name))
        return report
