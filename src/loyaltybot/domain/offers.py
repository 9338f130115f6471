"""Rules of the automatic offers: which shop day a run acts on, whose birthday is greeted on a
day, festival slugs and send dates, and the keys that make every automatic message unique.

Pure: dates in, dates and strings out. The festival calendar itself (the `holidays` package)
is read by the service layer.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "BIRTHDAY_CHANGE_COOLDOWN",
    "Festival",
    "birthday_key",
    "birthday_month_days",
    "festival_key",
    "festival_slug",
    "malaysian_english",
    "minutes_left",
    "offer_source_key",
    "reached_hour",
    "redemption_of_reminder",
    "redemption_reminder_key",
    "shop_day",
    "winback_key",
]

# A birthday added or changed this recently earns no offer (stops people gaming it).
BIRTHDAY_CHANGE_COOLDOWN = timedelta(days=30)

# Readable slugs for the festivals Malaysian shops celebrate; others are slugified names.
_SLUG_ALIASES = {
    "eid al-fitr": "hari-raya-aidilfitri",
    "eid al-adha": "hari-raya-haji",
    "national day": "merdeka",
    "christmas day": "christmas",
    "diwali": "deepavali",
    "vesak day": "wesak",
}

# How Malaysians call these in English (the `holidays` package uses the international names).
_MALAYSIAN_ENGLISH = {
    "Eid al-Fitr": "Hari Raya Aidilfitri",
    "Eid al-Adha": "Hari Raya Haji",
    "Diwali": "Deepavali",
}


def malaysian_english(name: str) -> str:
    """`Eid al-Fitr` -> `Hari Raya Aidilfitri`; other names unchanged."""
    return _MALAYSIAN_ENGLISH.get(name, name)


def shop_day(as_of: datetime, tz: ZoneInfo) -> date:
    """The shop-local day a run as of `as_of` acts on.

    `as_of` is an exclusive end: `jobs run NAME --date D` acts as of midnight after D, which
    is still day D; a run at 09:00 acts on today.
    """
    return (as_of - timedelta(microseconds=1)).astimezone(tz).date()


def reached_hour(as_of: datetime, tz: ZoneInfo, hour: int) -> bool:
    """Whether the shop-local clock at `as_of` has reached `hour` on the day `shop_day` names."""
    day = shop_day(as_of, tz)
    return as_of >= datetime.combine(day, time(hour), tzinfo=tz)


def birthday_month_days(day: date) -> list[tuple[int, int]]:
    """The stored (month, day) birthdays greeted on `day`: 29 Feb joins 28 Feb in other years."""
    pairs = [(day.month, day.day)]
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        pairs.append((2, 29))
    return pairs


def birthday_key(year: int) -> str:
    return f"birthday:{year}"


def festival_slug(name: str) -> str:
    """`Eid al-Fitr` -> `hari-raya-aidilfitri`, `Chinese New Year` -> `chinese-new-year`."""
    lowered = name.strip().lower()
    if lowered in _SLUG_ALIASES:
        return _SLUG_ALIASES[lowered]
    return re.sub(r"[^a-z0-9]+", "-", lowered).strip("-")[:40]


def festival_key(slug: str, year: int) -> str:
    return f"festival:{slug}:{year}"


def winback_key(last_visit_day: date) -> str:
    """One inactivity period per last visit: a new visit starts a new period."""
    return f"winback:{last_visit_day.isoformat()}"


def offer_source_key(campaign_key: str, customer_id: int) -> str:
    """The voucher a customer got with an automatic message (one per message)."""
    return f"{campaign_key}:{customer_id}"


# A reserved reward about to lapse: one campaign per redemption, so its key is the exactly-once guard.
REDEMPTION_REMINDER_PREFIX = "reminder:redemption:"


def redemption_reminder_key(redemption_id: int) -> str:
    return f"{REDEMPTION_REMINDER_PREFIX}{redemption_id}"


def redemption_of_reminder(key: str) -> int | None:
    """The redemption a reminder's campaign key names (None for any other key)."""
    rest = key.removeprefix(REDEMPTION_REMINDER_PREFIX)
    return int(rest) if rest != key and rest.isdigit() else None


def minutes_left(expires_at: datetime, now: datetime) -> int:
    """Whole minutes until `expires_at`, rounded down so a customer is never promised more time than
    they have (4 min 50 s left is "4 min"); at least 1 while anything is left."""
    return max(1, math.floor((expires_at - now).total_seconds() / 60))


@dataclass(frozen=True, slots=True)
class Festival:
    """One festival on one date, with its name in both languages and when its offer goes out."""

    slug: str
    day: date
    name_en: str
    name_ms: str
    lead_days: int

    @property
    def send_day(self) -> date:
        return self.day - timedelta(days=self.lead_days)

    @property
    def key(self) -> str:
        return festival_key(self.slug, self.day.year)

    def name(self, language: str) -> str:
        return self.name_ms if language == "ms" else self.name_en
