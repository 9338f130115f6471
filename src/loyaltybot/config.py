"""Settings from the environment (and `.env`), and the program rules from `program.toml`.

Settings are deployment facts (tokens, URLs); the program is the shop's loyalty rules.
Both are validated at start-up: a bad value stops the process with the key and the reason.
"""

from __future__ import annotations

import calendar
import string
import tomllib
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from loyaltybot.domain.tiers import Tier, TierLadder

LANGUAGES = ("en", "ms")

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ConfigError(Exception):
    """A configuration problem an operator must fix; the message is one readable line."""


class Settings(BaseSettings):
    """Deployment settings. Names are the public contract in DESIGN.md."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    bot_token: SecretStr | None = None
    bot_api_url: str | None = None
    database_url: str = "sqlite+aiosqlite:///loyaltybot.db"
    owner_ids: str = ""
    program_file: Path = Path("program.toml")
    secret_key: SecretStr | None = None
    redis_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen_host: str = "0.0.0.0"
    webhook_listen_port: int = 8080
    log_level: str = "INFO"
    locales_dir: Path = PROJECT_ROOT / "locales"
    polling_timeout: int = 30
    # The outbox sender (DESIGN "Outbound messages"): Telegram allows about 30 messages a second
    # overall and 1 a second per chat. BROADCAST_PAID uses Telegram's paid broadcasts (Stars), up
    # to 1000 a second: raise BROADCAST_RATE with it.
    broadcast_rate: float = Field(30.0, gt=0, le=1000)
    broadcast_chat_rate: float = Field(1.0, gt=0, le=30)
    broadcast_paid: bool = False
    broadcast_in_flight: int = Field(8, ge=1, le=100)
    broadcast_send_timeout: float = Field(15.0, gt=0)
    scheduler_interval: float = Field(30.0, gt=0)
    # Update worker processes (loyaltybot.workers): 1 handles updates in the `run` process itself.
    workers: int = Field(1, ge=1, le=64)

    @property
    def owner_id_set(self) -> frozenset[int]:
        ids: set[int] = set()
        for part in self.owner_ids.replace(";", ",").split(","):
            part = part.strip()
            if not part:
                continue
            if not part.lstrip("-").isdigit():
                raise ConfigError(f"OWNER_IDS: {part!r} is not a Telegram user id (digits only, comma-separated)")
            ids.add(int(part))
        return frozenset(ids)

    @property
    def async_database_url(self) -> str:
        return normalize_database_url(self.database_url)

    def require_bot_token(self) -> str:
        if self.bot_token is None or not self.bot_token.get_secret_value().strip():
            raise ConfigError(
                "BOT_TOKEN is not set: create a bot with @BotFather in Telegram (/newbot), "
                "then put its token in BOT_TOKEN (environment or .env)."
            )
        return self.bot_token.get_secret_value().strip()

    def webhook_enabled(self) -> bool:
        if self.webhook_url and not self.webhook_secret:
            raise ConfigError("WEBHOOK_URL is set but WEBHOOK_SECRET is not: set both to use webhook mode.")
        return bool(self.webhook_url)


def normalize_database_url(url: str) -> str:
    """Accept the usual spellings and pick the async driver the project ships."""
    if url.startswith("sqlite:///") or url == "sqlite://":
        return "sqlite+aiosqlite" + url[len("sqlite") :]
    if url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://") :]
    return url


# --------------------------------------------------------------------------- program.toml


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalizedText(_Section):
    en: str
    ms: str

    def get(self, language: str) -> str:
        return self.ms if language == "ms" else self.en


class ShopSection(_Section):
    name: str = Field("My Shop", min_length=1, max_length=64)
    currency: str = Field("MYR", pattern=r"^[A-Z]{3}$")
    timezone: str = "Asia/Kuala_Lumpur"
    phone_region: str = "MY"
    default_language: Literal["en", "ms"] = "en"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Kuala_Lumpur)") from None
        return value

    @field_validator("phone_region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        value = value.upper()
        if value not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown phone region {value!r} (use a two-letter country code such as MY)")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class HolidaysSection(_Section):
    country: str = Field("MY", pattern=r"^[A-Z]{2}$")
    subdivision: str | None = None


class PointsSection(_Section):
    points_per_unit: int = Field(1, ge=1, le=1000)
    unit_sen: int = Field(100, ge=1)
    max_sale_sen: int = Field(1_000_000, ge=1)
    expiry_months: int = Field(12, ge=0, le=120)


class StampsSection(_Section):
    card_size: int = Field(10, ge=2, le=50)
    min_interval_hours: float = Field(4, ge=0)
    daily_cap: int | None = Field(None, ge=1)  # stamps per customer per shop day; unset = no cap (DESIGN.md defaults)
    per_claim: int = Field(1, ge=0, le=10)
    reward: LocalizedText = LocalizedText(en="1 free drink", ms="1 minuman percuma")

    @property
    def min_interval(self) -> timedelta:
        return timedelta(hours=self.min_interval_hours)


class SaleSection(_Section):
    validity_minutes: int = Field(10, ge=1, le=24 * 60)

    @property
    def validity(self) -> timedelta:
        return timedelta(minutes=self.validity_minutes)


class StaffSection(_Section):
    invite_validity_hours: int = Field(24, ge=1, le=24 * 30)

    @property
    def invite_validity(self) -> timedelta:
        return timedelta(hours=self.invite_validity_hours)


class ActivitySection(_Section):
    # The owner's activity view flags a customer with more claims than this in one day,
    # and a staff member crediting the same customer more than this many times a day.
    claims_per_day_threshold: int = Field(5, ge=1, le=1000)
    same_customer_threshold: int = Field(3, ge=1, le=1000)


class TierLevel(_Section):
    """One rung of the tier ladder: reached with ``min_spend`` (whole currency units) in the window."""

    code: str = Field(pattern=r"^[a-z][a-z0-9_]{0,15}$")
    name: LocalizedText
    min_spend: int = Field(ge=0, le=10_000_000)
    multiplier: Decimal = Field(Decimal("1"), ge=1, le=10, decimal_places=2)
    perks: LocalizedText = LocalizedText(en="", ms="")


def _default_tiers() -> list[TierLevel]:
    return [
        TierLevel(
            code="bronze",
            name=LocalizedText(en="Bronze", ms="Gangsa"),
            min_spend=0,
            multiplier=Decimal("1"),
            perks=LocalizedText(en="Points on every purchase", ms="Mata untuk setiap pembelian"),
        ),
        TierLevel(
            code="silver",
            name=LocalizedText(en="Silver", ms="Perak"),
            min_spend=500,
            multiplier=Decimal("1.25"),
            perks=LocalizedText(en="1.25× points on every purchase", ms="1.25× mata untuk setiap pembelian"),
        ),
        TierLevel(
            code="gold",
            name=LocalizedText(en="Gold", ms="Emas"),
            min_spend=1500,
            multiplier=Decimal("1.5"),
            perks=LocalizedText(
                en="1.5× points on every purchase and Gold-only rewards",
                ms="1.5× mata untuk setiap pembelian dan ganjaran khas Emas",
            ),
        ),
    ]


class TiersSection(_Section):
    """Tiers from spend in the rolling window (not from the points balance)."""

    window_months: int = Field(12, ge=1, le=60)
    levels: list[TierLevel] = Field(default_factory=_default_tiers, min_length=1, max_length=10)

    @model_validator(mode="after")
    def _valid_ladder(self) -> TiersSection:
        TierLadder(Tier(level.code, level.min_spend * 100, level.multiplier) for level in self.levels)
        return self

    @property
    def ladder(self) -> TierLadder:
        return TierLadder(Tier(level.code, level.min_spend * 100, level.multiplier) for level in self.levels)

    def level(self, code: str | None) -> TierLevel:
        """The stored tier code's level; an unknown or missing code (the ladder changed) is the first tier."""
        for level in self.levels:
            if level.code == code:
                return level
        return self.levels[0]

    def rank(self, code: str | None) -> int:
        for index, level in enumerate(self.levels):
            if level.code == code:
                return index
        return 0


class RewardsSection(_Section):
    redemption_validity_minutes: int = Field(15, ge=1, le=24 * 60)

    @property
    def redemption_validity(self) -> timedelta:
        return timedelta(minutes=self.redemption_validity_minutes)


class VouchersSection(_Section):
    welcome_enabled: bool = True
    welcome: LocalizedText = LocalizedText(
        en="10% off your first purchase", ms="Diskaun 10% untuk pembelian pertama"
    )
    welcome_validity_days: int = Field(30, ge=1, le=3650)

    @property
    def welcome_validity(self) -> timedelta:
        return timedelta(days=self.welcome_validity_days)


_OFFER_PLACEHOLDERS = frozenset({"shop", "festival", "days"})


def _check_placeholders(text: LocalizedText, allowed: frozenset[str]) -> LocalizedText:
    for value in (text.en, text.ms):
        try:
            names = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as exc:
            raise ValueError(f"unbalanced braces in {value!r}") from exc
        unknown = names - allowed
        if unknown:
            raise ValueError(f"unknown placeholder {{{min(unknown)}}}; use {', '.join(sorted(allowed))}")
    return text


class OfferText(_Section):
    """An automatic offer: the message (HTML, placeholders {shop}, {festival}, {days}) and its voucher."""

    enabled: bool = True
    message: LocalizedText
    voucher: LocalizedText
    validity_days: int = Field(14, ge=1, le=365)

    @field_validator("message", "voucher")
    @classmethod
    def _placeholders(cls, value: LocalizedText) -> LocalizedText:
        return _check_placeholders(value, _OFFER_PLACEHOLDERS)


def _birthday_offer() -> OfferText:
    return OfferText(
        message=LocalizedText(
            en="🎂 <b>Happy birthday!</b> {shop} has a present for you: show this voucher at the counter "
            "within {days} days.",
            ms="🎂 <b>Selamat Hari Jadi!</b> {shop} ada hadiah untuk anda: tunjukkan baucar ini di kaunter "
            "dalam masa {days} hari.",
        ),
        voucher=LocalizedText(en="Birthday treat: 1 free drink", ms="Hadiah hari jadi: 1 minuman percuma"),
        validity_days=14,
    )


def _festival_offer() -> OfferText:
    return OfferText(
        message=LocalizedText(
            en="🎉 <b>{festival}</b> is coming! Celebrate with {shop}: show this voucher at the counter "
            "within {days} days.",
            ms="🎉 <b>{festival}</b> semakin hampir! Raikan bersama {shop}: tunjukkan baucar ini di kaunter "
            "dalam masa {days} hari.",
        ),
        voucher=LocalizedText(en="Festive offer: 10% off", ms="Tawaran perayaan: diskaun 10%"),
        validity_days=10,
    )


def _winback_offer() -> OfferText:
    return OfferText(
        message=LocalizedText(
            en="👋 We miss you at {shop}! Come back within {days} days and show this voucher at the counter.",
            ms="👋 Kami rindu anda di {shop}! Datang semula dalam masa {days} hari dan tunjukkan baucar ini di kaunter.",
        ),
        voucher=LocalizedText(en="Welcome back: 15% off", ms="Selamat kembali: diskaun 15%"),
        validity_days=14,
    )


def _default_festivals() -> list[str]:
    return ["hari-raya-aidilfitri", "chinese-new-year", "deepavali", "christmas", "merdeka", "malaysia-day"]


class CustomEvent(_Section):
    """A shop's own event: every year on month/day, or once when `year` is given."""

    slug: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,39}$")
    name: LocalizedText
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)
    year: int | None = Field(None, ge=2000, le=2100)

    @model_validator(mode="after")
    def _real_date(self) -> CustomEvent:
        days = calendar.monthrange(self.year or 2000, self.month)[1]
        if self.day > days:
            raise ValueError(f"{self.day}/{self.month} is not a date")
        return self


class RemindersSection(_Section):
    """Service reminders (not promotions: sent whatever the marketing choice), placeholders {days}."""

    enabled: bool = True
    points_days: int = Field(14, ge=1, le=90)  # points expiring this many days ahead
    points: LocalizedText = LocalizedText(
        en="⏳ Some of your points expire in {days} days. Use them before they go: see /rewards.",
        ms="⏳ Sebahagian mata anda akan tamat tempoh dalam {days} hari. Gunakannya sebelum hilang: lihat /rewards.",
    )
    voucher_days: int = Field(3, ge=1, le=30)  # an unused voucher expiring this many days ahead
    voucher: LocalizedText = LocalizedText(
        en="🎟 A voucher of yours expires in {days} days. Show it at the counter before then: see /card.",
        ms="🎟 Baucar anda akan tamat tempoh dalam {days} hari. Tunjukkannya di kaunter sebelum itu: lihat /card.",
    )
    # A reserved reward (a pending redemption) lapsing within this many minutes: one message with the
    # minutes left and a button showing its QR code again (0 = off). Its text is in the translations.
    # Must be less than [rewards] redemption_validity_minutes: see Program.redemption_reminder_lead.
    redemption_minutes: int = Field(5, ge=0, le=24 * 60)

    @field_validator("points", "voucher")
    @classmethod
    def _placeholders(cls, value: LocalizedText) -> LocalizedText:
        return _check_placeholders(value, frozenset({"days"}))


class OffersSection(_Section):
    """Automatic offers: birthdays, festivals (the `holidays` calendar plus custom events), win-back."""

    hour: int = Field(9, ge=0, le=23)  # shop time: when the day's offers go out
    replay_missed: bool = False  # a day missed while the bot was down is sent late the next day
    birthday: OfferText = Field(default_factory=_birthday_offer)
    festival: OfferText = Field(default_factory=_festival_offer)
    festival_lead_days: int = Field(3, ge=0, le=30)
    festivals: list[str] = Field(default_factory=_default_festivals, max_length=50)
    custom_events: list[CustomEvent] = Field(default_factory=list, max_length=50)
    winback: OfferText = Field(default_factory=_winback_offer)
    winback_days: int = Field(60, ge=7, le=730)
    reminders: RemindersSection = Field(default_factory=lambda: RemindersSection())

    @model_validator(mode="after")
    def _unique_slugs(self) -> OffersSection:
        slugs = [event.slug for event in self.custom_events]
        if len(slugs) != len(set(slugs)):
            raise ValueError("custom_events: each slug once")
        return self


class PrivacySection(_Section):
    notice_version: str = Field("2026-11", min_length=1, max_length=32)


class FeedbackSection(_Section):
    churn_window_days: int = Field(60, ge=7, le=730)
    suggestion_bonus_points: int = Field(20, ge=0, le=100_000)
    max_survey_reward_points: int = Field(1000, ge=0, le=100_000)


class Program(_Section):
    """The shop's loyalty rules. Built-in defaults serve a café in Kuala Lumpur."""

    shop: ShopSection = ShopSection()
    holidays: HolidaysSection = HolidaysSection()
    points: PointsSection = PointsSection()
    stamps: StampsSection = StampsSection()
    privacy: PrivacySection = PrivacySection()
    sale: SaleSection = SaleSection()
    staff: StaffSection = StaffSection()
    activity: ActivitySection = ActivitySection()
    tiers: TiersSection = TiersSection()
    rewards: RewardsSection = RewardsSection()
    vouchers: VouchersSection = VouchersSection()
    feedback: FeedbackSection = FeedbackSection()
    offers: OffersSection = OffersSection()

    @model_validator(mode="after")
    def _consistent(self) -> Program:
        reminders, validity = self.offers.reminders, self.rewards.redemption_validity_minutes
        # Only a lead the file sets is refused: a file from before the reminder existed, with a
        # validity of 5 minutes or less, keeps working (the reminder is off then).
        if "redemption_minutes" in reminders.model_fields_set and reminders.redemption_minutes >= validity:
            raise ValueError(
                f"offers.reminders.redemption_minutes ({reminders.redemption_minutes}) must be less than "
                f"rewards.redemption_validity_minutes ({validity}); 0 turns the reminder off"
            )
        return self

    @property
    def redemption_reminder_lead(self) -> timedelta | None:
        """How long before a reserved reward lapses its reminder goes; None when it is off: 0 minutes,
        reminders switched off, or the default lead not shorter than the redemption validity."""
        reminders = self.offers.reminders
        minutes = reminders.redemption_minutes
        if not reminders.enabled or not minutes or minutes >= self.rewards.redemption_validity_minutes:
            return None
        return timedelta(minutes=minutes)


def _format_validation_error(source: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        path = ".".join(str(p) for p in item["loc"])
        message = item["msg"]
        if not path:  # a rule across sections (Program._consistent) names its keys itself
            lines.append(f"{source}: {message.removeprefix('Value error, ')}")
            continue
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{source}: {path}: {message}")
    return "; ".join(lines)


def load_program(path: Path) -> Program:
    """Read and validate `program.toml`; a missing file means the built-in defaults."""
    if not path.exists():
        return Program()
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    try:
        return Program.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(str(path), exc)) from None
