"""Automatic offers: birthdays, festivals and win-back, queued in the outbox with a personal voucher.

Each run is one transaction that decides from the database what is due as of an instant: the
scheduler is only a clock. A campaign per key (`birthday:2027`, `festival:deepavali:2027`,
`winback:2026-09-23`) and one delivery and one voucher per campaign × customer make reruns,
restarts and overlapping runs harmless. Offers are promotions: only opted-in customers get them,
and the sender re-checks the opt-in right before each send.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from loyaltybot.config import LocalizedText, OfferText
from loyaltybot.db.offers import (
    birthdays_on,
    last_visit_between,
    points_expiring_between,
    reachable_audience,
    reachable_promotion_audience,
    vouchers_expiring_between,
)
from loyaltybot.db.uow import UnitOfWork
from loyaltybot.domain.errors import DomainError
from loyaltybot.domain.offers import (
    BIRTHDAY_CHANGE_COOLDOWN,
    REDEMPTION_REMINDER_PREFIX,
    Festival,
    birthday_key,
    birthday_month_days,
    festival_slug,
    malaysian_english,
    minutes_left,
    offer_source_key,
    reached_hour,
    redemption_of_reminder,
    redemption_reminder_key,
    shop_day,
    winback_key,
)
from loyaltybot.domain.tokens import TokenKind, encode_payload
from loyaltybot.services.access import require_owner
from loyaltybot.services.base import ShopService

log = logging.getLogger(__name__)

OFFER_KINDS = frozenset({"birthday", "festival", "winback"})
# A reserved reward about to lapse: a service message written when it is sent (see send_lapse_reminders).
LAPSE_REMINDER = "lapse-reminder"
BIRTHDAY = "birthday"
FESTIVAL = "festival"
WINBACK = "winback"


class OfferTextInvalid(DomainError):
    """An owner's text with an unknown or broken {placeholder}; `details['reason']` says which."""

    code = "offer_text_invalid"


@dataclass(frozen=True, slots=True)
class OfferTexts:
    message_en: str
    message_ms: str
    voucher_en: str
    voucher_ms: str


def switch_key_of(festival: Festival) -> str:
    return f"festival:{festival.slug}"


class UnknownAutomation(DomainError):
    code = "unknown_automation"


@dataclass(frozen=True, slots=True)
class Automations:
    """What the owner sees in /admin → Automations."""

    hour: int
    birthday_on: bool
    winback_on: bool
    winback_days: int
    festivals: list[tuple[Festival, bool]]  # upcoming, by send date, with the switch


@dataclass(frozen=True, slots=True)
class OfferPreview:
    text: str
    voucher_title: str


@dataclass(frozen=True, slots=True)
class OfferRun:
    """What one run queued: new messages (deliveries) per campaign key."""

    queued: dict[str, int]
    note: str = ""

    @property
    def total(self) -> int:
        return sum(self.queued.values())

    def summary(self) -> str:
        if self.note:
            return self.note
        if not self.queued:
            return "nothing due"
        return ", ".join(f"{key}: {count} queued" for key, count in sorted(self.queued.items()))


@dataclass(frozen=True, slots=True)
class LapseReminder:
    """What the sender needs to write a lapse reminder: the redemption (for its QR button) and the
    whole minutes left as it is sent."""

    redemption_id: int
    minutes_left: int


@dataclass(frozen=True, slots=True)
class OfferVoucher:
    """The voucher that goes with an automatic message: its QR payload and title."""

    payload: str
    title_en: str
    title_ms: str
    expires_at: datetime | None

    def title(self, language: str) -> str:
        return self.title_ms if language == "ms" else self.title_en


class OfferService(ShopService):
    def _program_offer(self, kind: str) -> OfferText:
        offers = self._program.offers
        return {BIRTHDAY: offers.birthday, FESTIVAL: offers.festival, WINBACK: offers.winback}[kind]

    async def _offer(self, uow: UnitOfWork, kind: str) -> OfferText:
        """The program's offer with the owner's texts from /admin → Automations, where set."""
        offer = self._program_offer(kind)
        setting = await uow.offers.setting(kind)
        if setting is None or setting.message_en is None:
            return offer
        return offer.model_copy(
            update={
                "message": LocalizedText(en=setting.message_en, ms=setting.message_ms or setting.message_en),
                "voucher": LocalizedText(
                    en=setting.voucher_en or offer.voucher.en, ms=setting.voucher_ms or offer.voucher.ms
                ),
            }
        )

    async def _switched_on(self, key: str, default: bool) -> bool:
        async with self._reader() as uow:
            return (await uow.offers.switches()).get(key, default)

    # ------------------------------------------------------------------ which days a run covers
    def _days(self, as_of: datetime) -> list[date] | None:
        """Shop days this run acts on (today, and yesterday when the program replays missed days),
        or None before the day's hour: the run at the hour, or at start-up after it, does the work."""
        tz = self._program.shop.tz
        if not reached_hour(as_of, tz, self._program.offers.hour):
            return None
        today = shop_day(as_of, tz)
        return [today - timedelta(days=1), today] if self._program.offers.replay_missed else [today]

    def _render(self, template: str, *, festival: str = "", days: int) -> str:
        return template.format(shop=html.escape(self._program.shop.name), festival=html.escape(festival), days=days)

    def _expiry(self, day: date, offer: OfferText) -> datetime:
        """Valid for `validity_days` shop days, the day it is sent included."""
        return datetime.combine(day + timedelta(days=offer.validity_days), time(0), tzinfo=self._program.shop.tz)

    async def _queue(
        self,
        uow: UnitOfWork,
        *,
        key: str,
        kind: str,
        offer: OfferText,
        day: date,
        where: list,  # type: ignore[type-arg]
        now: datetime,
        festival: Festival | None = None,
    ) -> int:
        days = offer.validity_days
        audience = reachable_promotion_audience() + where
        if not await uow.offers.worth_a_campaign(key, audience):
            return 0
        campaign = await uow.offers.campaign_for(
            key=key,
            kind=kind,
            text_en=self._render(offer.message.en, festival=festival.name_en if festival else "", days=days),
            text_ms=self._render(offer.message.ms, festival=festival.name_ms if festival else "", days=days),
            now=now,
        )
        if campaign.status == "cancelled":
            return 0
        await uow.offers.issue_vouchers(
            audience,
            campaign_key=key,
            kind=kind,
            title_en=self._render(offer.voucher.en, festival=festival.name_en if festival else "", days=days),
            title_ms=self._render(offer.voucher.ms, festival=festival.name_ms if festival else "", days=days),
            now=now,
            expires_at=self._expiry(day, offer),
        )
        queued = await uow.outbox.enqueue(campaign.id, audience, now)
        if queued:
            campaign.status, campaign.finished_at = "sending", None
            campaign.started_at = campaign.started_at or now
            campaign.total = (campaign.total or 0) + queued
        else:
            await uow.offers.drop_if_empty(campaign)
        return queued

    # ------------------------------------------------------------------ birthdays
    async def send_birthdays(self, as_of: datetime | None = None) -> OfferRun:
        """Greet today's birthdays (29 Feb on 28 Feb in other years), once per customer per year."""
        as_of = as_of or self._clock()
        if not await self._switched_on(BIRTHDAY, self._program.offers.birthday.enabled):
            return OfferRun({}, "birthday offers are switched off")
        days = self._days(as_of)
        if days is None:
            return OfferRun({}, f"not yet: birthday offers go out at {self._program.offers.hour:02d}:00")
        now = self._clock()
        queued: dict[str, int] = {}
        async with self._writer() as uow:
            offer = await self._offer(uow, BIRTHDAY)
            for day in days:
                start_of_day = datetime.combine(day, time(0), tzinfo=self._program.shop.tz)
                key = birthday_key(day.year)
                where = birthdays_on(birthday_month_days(day), start_of_day - BIRTHDAY_CHANGE_COOLDOWN)
                count = await self._queue(uow, key=key, kind="birthday", offer=offer, day=day, where=where, now=now)
                queued[key] = queued.get(key, 0) + count
            await uow.commit()
        log.info("birthday offers queued: %s", queued)
        return OfferRun({k: v for k, v in queued.items() if v})

    # ------------------------------------------------------------------ festivals
    def calendar(self, year: int) -> list[tuple[Festival, bool]]:
        """Every festival of `year` an offer can be made for, with the program's default on/off:
        first days from the `holidays` calendar of the program's country and state (names in
        English and Malay) and the shop's custom events (on by default)."""
        import holidays  # imported when first needed: ~0.1 s, off the bot's start-up path

        offers = self._program.offers
        enabled = set(offers.festivals)
        found: dict[str, tuple[Festival, bool]] = {}
        where = self._program.holidays
        english = holidays.country_holidays(where.country, subdiv=where.subdivision, years=year, language="en_US")
        # Countries without a Malay translation give their default names: English is used then.
        malay = holidays.country_holidays(where.country, subdiv=where.subdivision, years=year, language="ms_MY")
        for day, names in sorted(english.items()):
            names_en = names.split("; ")
            names_ms = malay.get(day, names).split("; ")
            if len(names_ms) != len(names_en):
                names_ms = names_en
            for name_en, name_ms in zip(names_en, names_ms, strict=True):
                if "(" in name_en:  # second days, observed days, additional holidays
                    continue
                slug = festival_slug(name_en)
                if slug not in found:
                    festival = Festival(slug, day, malaysian_english(name_en), name_ms, offers.festival_lead_days)
                    found[slug] = (festival, slug in enabled)
        for event in offers.custom_events:
            if event.year not in (None, year):
                continue
            try:
                day = date(year, event.month, event.day)
            except ValueError:  # 29 Feb in a common year
                day = date(year, 2, 28)
            festival = Festival(event.slug, day, event.name.en, event.name.ms, offers.festival_lead_days)
            found[event.slug] = (festival, True)
        return sorted(found.values(), key=lambda item: (item[0].day, item[0].slug))

    def festivals_in(self, year: int, switches: dict[str, bool] | None = None) -> list[Festival]:
        """The festivals of `year` whose offer is on (the owner's switch, else the program)."""
        switches = switches or {}
        return [
            festival
            for festival, default in self.calendar(year)
            if switches.get(switch_key_of(festival), default)
        ]

    def upcoming_festivals(self, *, within_days: int = 365) -> list[Festival]:
        """Enabled festivals (by the program) whose offer is sent from today on, with their send dates."""
        return [festival for festival, on in self._upcoming(within_days) if on]

    def _upcoming(self, within_days: int, switches: dict[str, bool] | None = None) -> list[tuple[Festival, bool]]:
        switches = switches or {}
        today = shop_day(self._clock(), self._program.shop.tz)
        horizon = today + timedelta(days=within_days)
        items = self.calendar(today.year) + self.calendar(today.year + 1)
        return sorted(
            (
                (festival, switches.get(switch_key_of(festival), default))
                for festival, default in items
                if today <= festival.send_day <= horizon
            ),
            key=lambda item: (item[0].send_day, item[0].slug),
        )

    async def send_festivals(self, as_of: datetime | None = None) -> OfferRun:
        """Queue the offers of festivals whose send date (N days before) is today."""
        as_of = as_of or self._clock()
        if not self._program.offers.festival.enabled:
            return OfferRun({}, "festival offers are switched off")
        days = self._days(as_of)
        if days is None:
            return OfferRun({}, f"not yet: festival offers go out at {self._program.offers.hour:02d}:00")
        now = self._clock()
        queued: dict[str, int] = {}
        async with self._writer() as uow:
            offer = await self._offer(uow, FESTIVAL)
            switches = await uow.offers.switches()
            due = [
                festival
                for day in days
                for year in sorted({day.year, day.year + 1})
                for festival in self.festivals_in(year, switches)
                if festival.send_day == day
            ]
            for festival in due:
                queued[festival.key] = await self._queue(
                    uow, key=festival.key, kind="festival", offer=offer, day=festival.send_day, where=[], now=now,
                    festival=festival,
                )
            await uow.commit()
        log.info("festival offers queued: %s", queued)
        return OfferRun(queued)

    # ------------------------------------------------------------------ win-back
    async def send_winback(self, as_of: datetime | None = None) -> OfferRun:
        """Customers whose last visit was exactly `winback_days` shop days ago: one offer per period
        (the period is named by the last visit, so a new visit starts a new one)."""
        as_of = as_of or self._clock()
        if not await self._switched_on(WINBACK, self._program.offers.winback.enabled):
            return OfferRun({}, "win-back offers are switched off")
        days = self._days(as_of)
        if days is None:
            return OfferRun({}, f"not yet: win-back offers go out at {self._program.offers.hour:02d}:00")
        tz = self._program.shop.tz
        now = self._clock()
        queued: dict[str, int] = {}
        async with self._writer() as uow:
            offer = await self._offer(uow, WINBACK)
            for day in days:
                visit_day = day - timedelta(days=self._program.offers.winback_days)
                start = datetime.combine(visit_day, time(0), tzinfo=tz)
                end = datetime.combine(visit_day + timedelta(days=1), time(0), tzinfo=tz)
                key = winback_key(visit_day)
                queued[key] = await self._queue(
                    uow, key=key, kind="winback", offer=offer, day=day, where=last_visit_between(start, end), now=now
                )
            await uow.commit()
        log.info("win-back offers queued: %s", queued)
        return OfferRun({k: v for k, v in queued.items() if v})

    # ------------------------------------------------------------------ reminders
    async def send_reminders(self, as_of: datetime | None = None) -> OfferRun:
        """Service reminders, once per customer and expiry day: points expiring in `points_days`
        days (`reminder:points:<day>`), an unused voucher expiring in `voucher_days` days
        (`reminder:voucher:<day>`). Not promotions: sent whatever the marketing choice."""
        as_of = as_of or self._clock()
        settings = self._program.offers.reminders
        if not settings.enabled:
            return OfferRun({}, "reminders are switched off")
        days = self._days(as_of)
        if days is None:
            return OfferRun({}, f"not yet: reminders go out at {self._program.offers.hour:02d}:00")
        tz = self._program.shop.tz
        now = self._clock()
        queued: dict[str, int] = {}
        async with self._writer() as uow:
            for day in days:
                for name, ahead, text, expiring in (
                    ("points", settings.points_days, settings.points, points_expiring_between),
                    ("voucher", settings.voucher_days, settings.voucher, vouchers_expiring_between),
                ):
                    # Things expiring during the shop day `ahead` days from now (in their last day).
                    expiry_day = day + timedelta(days=ahead)
                    start = datetime.combine(expiry_day, time(0), tzinfo=tz)
                    end = start + timedelta(days=1)
                    key = f"reminder:{name}:{expiry_day.isoformat()}"
                    audience = reachable_audience() + expiring(start, end)
                    if not await uow.offers.worth_a_campaign(key, audience):
                        continue
                    campaign = await uow.offers.campaign_for(
                        key=key,
                        kind="reminder",
                        text_en=text.en.format(days=ahead),
                        text_ms=text.ms.format(days=ahead),
                        now=now,
                        promotional=False,
                    )
                    count = await uow.outbox.enqueue(campaign.id, audience, now)
                    if count:
                        campaign.status, campaign.finished_at = "sending", None
                        campaign.started_at = campaign.started_at or now
                        campaign.total = (campaign.total or 0) + count
                        queued[key] = count
                    else:
                        await uow.offers.drop_if_empty(campaign)
            await uow.commit()
        log.info("reminders queued: %s", queued)
        return OfferRun(queued)

    # ------------------------------------------------------------------ reserved rewards about to lapse
    async def send_lapse_reminders(self, as_of: datetime | None = None) -> OfferRun:
        """Remind customers of a reserved reward (a pending redemption) lapsing within
        `[offers.reminders] redemption_minutes`: once per redemption, whatever the marketing choice.

        Exactly once: each reminder is its own campaign keyed `reminder:redemption:<id>`, created by
        INSERT … ON CONFLICT DO NOTHING with its one delivery in the same transaction. A campaign per
        redemption rather than a `reminded_at` column on `redemptions`: the outbox allows one delivery
        per campaign × customer, so two redemptions of one customer need two campaigns anyway, and
        the unique key then is the guard itself, with no migration. It also lets a redemption that
        closes (confirmed, cancelled, expired) withdraw its reminder by key in the same transaction
        (RewardService). The message is written when it is sent, with the minutes left then; the
        sender withdraws it instead if the redemption closed in between.

        The scheduler runs this every minute: a run with nothing due only reads.
        """
        as_of = as_of or self._clock()
        lead = self._program.redemption_reminder_lead
        if lead is None:
            return OfferRun({}, "redemption reminders are switched off")
        until = as_of + lead
        async with self._reader() as uow:
            if not await uow.offers.lapsing_redemptions(as_of, until, REDEMPTION_REMINDER_PREFIX):
                return OfferRun({})
        now = self._clock()
        queued = 0
        async with self._writer() as uow:
            # Read again under the write transaction: one closed since the first look is left out.
            for redemption in await uow.offers.lapsing_redemptions(as_of, until, REDEMPTION_REMINDER_PREFIX):
                queued += await uow.offers.queue_reminder(
                    key=redemption_reminder_key(redemption.id),
                    kind=LAPSE_REMINDER,
                    customer_id=redemption.customer_id,
                    # The reward's names, escaped: the sender puts them in the message (HTML).
                    text_en=html.escape(redemption.name_en),
                    text_ms=html.escape(redemption.name_ms),
                    now=now,
                )
            await uow.commit()
        if queued:
            log.info("redemption reminders queued: %d", queued)
        return OfferRun({"reminder:redemption": queued} if queued else {})

    async def lapse_reminder(self, campaign_id: int) -> LapseReminder | None:
        """For the sender, right before it sends a lapse reminder: its redemption and the minutes
        left, or None when the redemption is no longer pending or has run out (not sent then)."""
        now = self._clock()
        async with self._reader() as uow:
            campaign = await uow.outbox.campaign(campaign_id)
            if campaign is None or campaign.kind != LAPSE_REMINDER:
                return None
            redemption_id = redemption_of_reminder(campaign.key)
            redemption = await uow.redemptions.get(redemption_id) if redemption_id is not None else None
        if redemption is None or redemption.status != "pending" or redemption.expires_at <= now:
            return None
        return LapseReminder(redemption_id=redemption.id, minutes_left=minutes_left(redemption.expires_at, now))

    # ------------------------------------------------------------------ the sender's attachment
    async def voucher_for(self, campaign_id: int, customer_id: int) -> OfferVoucher | None:
        """The personal voucher an automatic message carries (None for other campaigns)."""
        async with self._reader() as uow:
            campaign = await uow.outbox.campaign(campaign_id)
            if campaign is None or campaign.kind not in OFFER_KINDS:
                return None
            voucher = await uow.offers.voucher_by_source(offer_source_key(campaign.key, customer_id))
        if voucher is None:
            return None
        return OfferVoucher(
            payload=encode_payload(TokenKind.VOUCHER, voucher.code, self._key),
            title_en=voucher.title_en,
            title_ms=voucher.title_ms,
            expires_at=voucher.expires_at,
        )

    # ------------------------------------------------------------------ the owner's Automations
    async def automations(self, actor: int) -> Automations:
        offers = self._program.offers
        async with self._reader() as uow:
            await require_owner(uow, self._owner_ids, actor)
            switches = await uow.offers.switches()
        return Automations(
            hour=offers.hour,
            birthday_on=switches.get(BIRTHDAY, offers.birthday.enabled),
            winback_on=switches.get(WINBACK, offers.winback.enabled),
            winback_days=offers.winback_days,
            festivals=self._upcoming(365, switches) if offers.festival.enabled else [],
        )

    def _festival(self, key: str) -> Festival:
        for festival, _ in self._upcoming(366):
            if switch_key_of(festival) == key:
                return festival
        raise UnknownAutomation(key=key)

    async def switch(self, actor: int, key: str, enabled: bool) -> None:
        """Turn one automatic offer on or off (audited)."""
        if key not in (BIRTHDAY, WINBACK):
            self._festival(key)
        now = self._clock()
        async with self._writer() as uow:
            await require_owner(uow, self._owner_ids, actor)
            setting = await uow.offers.setting_for_update(key, actor=actor, now=now)
            setting.enabled = enabled
            await uow.audit.record(actor=actor, action="offers.switched", now=now, details={"key": key, "enabled": enabled})
            await uow.commit()

    async def preview(self, actor: int, key: str, language: str) -> OfferPreview:
        """The message and voucher title a customer in `language` gets for this automatic offer."""
        festival_name = ""
        kind = key
        if key not in (BIRTHDAY, WINBACK):
            kind, festival_name = FESTIVAL, self._festival(key).name(language)
        async with self._reader() as uow:
            await require_owner(uow, self._owner_ids, actor)
            offer = await self._offer(uow, kind)
        days = offer.validity_days
        return OfferPreview(
            text=self._render(offer.message.get(language), festival=festival_name, days=days),
            voucher_title=self._render(offer.voucher.get(language), festival=festival_name, days=days),
        )

    def check_text(self, text: str) -> str:
        """An owner's text for an offer, rendered with sample values (for a preview); its placeholders
        must be {shop}, {festival} or {days}."""
        if not text.strip():
            raise OfferTextInvalid(reason="empty")
        try:
            return self._render(text, festival="Hari Raya Aidilfitri", days=14)
        except (KeyError, IndexError, ValueError) as error:
            raise OfferTextInvalid(reason=str(error)) from None

    async def texts(self, actor: int, kind: str) -> OfferTexts:
        """The texts an offer kind uses now (the owner's, else the program's)."""
        if kind not in (BIRTHDAY, FESTIVAL, WINBACK):
            raise UnknownAutomation(key=kind)
        async with self._reader() as uow:
            await require_owner(uow, self._owner_ids, actor)
            offer = await self._offer(uow, kind)
        return OfferTexts(offer.message.en, offer.message.ms, offer.voucher.en, offer.voucher.ms)

    async def set_texts(self, actor: int, kind: str, texts: OfferTexts) -> None:
        """The owner's message and voucher, in both languages, for birthday, festival or win-back offers
        (audited). Offers already queued keep the texts they were queued with."""
        if kind not in (BIRTHDAY, FESTIVAL, WINBACK):
            raise UnknownAutomation(key=kind)
        for text in (texts.message_en, texts.message_ms, texts.voucher_en, texts.voucher_ms):
            self.check_text(text)
        if max(len(texts.voucher_en), len(texts.voucher_ms)) > 255:
            raise OfferTextInvalid(reason="voucher too long")
        now = self._clock()
        async with self._writer() as uow:
            await require_owner(uow, self._owner_ids, actor)
            setting = await uow.offers.setting_for_update(kind, actor=actor, now=now)
            setting.message_en, setting.message_ms = texts.message_en, texts.message_ms
            setting.voucher_en, setting.voucher_ms = texts.voucher_en, texts.voucher_ms
            await uow.audit.record(actor=actor, action="offers.texts_changed", now=now, details={"kind": kind})
            await uow.commit()
