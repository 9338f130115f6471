"""Customer birthdays: lenient parsing of what people type, strict validation.

Customers type their birthday into a chat, in whatever form they are used
to in Malaysia: day first, numeric or with an English or Malay month name,
with or without a year (many prefer not to share it). Parsing is lenient in
form but strict in meaning: the date must exist, must not be in the future
and must belong to a plausible living person, because a birthday reward can
only be claimed once a year and a typo would otherwise lock it to the wrong
day.

Accepted forms (case-insensitive, surrounding spaces ignored):

* ``D/M``, ``D-M``, ``D.M`` and the same with ``/YYYY`` (one separator
  style throughout); day and month have 1 or 2 digits. Day always comes
  first, so ``12/31`` is rejected as an invalid date rather than guessed.
* ISO ``YYYY-MM-DD``.
* ``D Month`` and ``D Month YYYY`` with English or Malay month names or
  abbreviations (``31 Dec``, ``31 December 1990``, ``31 Dis 1990``,
  ``1 Ogos``); a trailing dot after the month and a comma before the year
  are tolerated, as are ``-``/``/``/``.`` between the parts.

Two-digit years are rejected: ``31/12/20`` could be 1920 or 2020.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from loyaltybot.domain.errors import DomainError

__all__ = [
    "MAX_AGE",
    "MIN_YEAR",
    "MONTH_NAMES",
    "Birthday",
    "BirthdayError",
    "BirthdayFuture",
    "BirthdayInvalidDate",
    "BirthdayMalformed",
    "BirthdayTooOld",
    "parse_birthday",
]

MIN_YEAR = 1900
MAX_AGE = 120

# A leap year used to validate day/month when no year is given, so 29/02 is
# accepted for people who keep their birth year private.
_LEAP_YEAR = 2000

# fmt: off
MONTH_NAMES: dict[str, int] = {
    # English, full and abbreviated
    "january": 1, "jan": 1,
    "february": 2, "feb": 2,
    "march": 3, "mar": 3,
    "april": 4, "apr": 4,
    "may": 5,
    "june": 6, "jun": 6,
    "july": 7, "jul": 7,
    "august": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9,
    "october": 10, "oct": 10,
    "november": 11, "nov": 11,
    "december": 12, "dec": 12,
    # Malay, full and abbreviated (shared spellings above are not repeated)
    "januari": 1,
    "februari": 2,
    "mac": 3,
    "mei": 5,
    "julai": 7,
    "ogos": 8, "ogo": 8,
    "oktober": 10, "okt": 10,
    "disember": 12, "dis": 12,
}
"""Lower-case English and Malay month names and abbreviations."""
# fmt: on


class BirthdayError(DomainError):
    """Base class for unusable birthday input."""

    code = "birthday_error"


class BirthdayMalformed(BirthdayError):
    """Not in any accepted birthday format."""

    code = "birthday_malformed"


class BirthdayInvalidDate(BirthdayError):
    """Well-formed but not a real or plausible date (31/04, 29/02/1990, 1850)."""

    code = "birthday_invalid_date"


class BirthdayTooOld(BirthdayInvalidDate):
    """A real date, but before 1900 or over 120 years ago: almost surely a typo.

    A subclass of :class:`BirthdayInvalidDate` (callers catching that still
    work) with its own code so the bot can ask to check the *year* instead
    of claiming the date does not exist.
    """

    code = "birthday_too_old"


class BirthdayFuture(BirthdayError):
    """A date after today cannot be a birthday."""

    code = "birthday_future"


@dataclass(frozen=True, slots=True)
class Birthday:
    """Day and month of birth, with the year only if the customer gave it.

    Construction validates that the day exists in the month (29 Feb only
    in leap years, or without a year); plausibility relative to today is
    checked by :func:`parse_birthday`, which knows today's date.
    """

    day: int
    month: int
    year: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise BirthdayInvalidDate(day=self.day, month=self.month, year=self.year)
        check_year = self.year if self.year is not None else _LEAP_YEAR
        if not 1 <= check_year <= 9999:
            raise BirthdayInvalidDate(day=self.day, month=self.month, year=self.year)
        if not 1 <= self.day <= calendar.monthrange(check_year, self.month)[1]:
            raise BirthdayInvalidDate(day=self.day, month=self.month, year=self.year)

    def greeting_date(self, year: int) -> date:
        """The day to celebrate in ``year``: 29 Feb falls back to 28 Feb.

        28 Feb rather than 1 Mar keeps the greeting inside the birth month,
        which is how the birthday-month rewards are counted.
        """
        if self.month == 2 and self.day == 29 and not calendar.isleap(year):
            return date(year, 2, 28)
        return date(year, self.month, self.day)

    def next_greeting_date(self, today: date) -> date:
        """The next greeting date on or after ``today``."""
        this_year = self.greeting_date(today.year)
        return this_year if this_year >= today else self.greeting_date(today.year + 1)

    def age_on(self, on: date) -> int | None:
        """Completed years on ``on`` (``None`` without a birth year)."""
        if self.year is None:
            return None
        before_birthday = (on.month, on.day) < (self.month, self.day)
        return on.year - self.year - (1 if before_birthday else 0)

    def format(self) -> str:
        """``"31/12"`` or ``"31/12/1990"``; always accepted by :func:`parse_birthday`."""
        text = f"{self.day:02d}/{self.month:02d}"
        return text if self.year is None else f"{text}/{self.year:04d}"


_NUMERIC = re.compile(
    r"(?P<d>[0-9]{1,2})(?P<sep>[/.\-])(?P<m>[0-9]{1,2})(?:(?P=sep)(?P<y>[0-9]{4}))?",
    re.ASCII,
)
_ISO = re.compile(r"(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2})", re.ASCII)
_NAMED = re.compile(
    r"(?P<d>[0-9]{1,2})(?:\s*[/.\-]\s*|\s+|(?=[a-z]))"
    r"(?P<mon>[a-z]+)\.?"
    r"(?:(?:\s*,\s*|\s*[/.\-]\s*|\s+)(?P<y>[0-9]{4}))?",
    re.ASCII,
)


def parse_birthday(text: str, *, today: date) -> Birthday:
    """Parse a typed birthday (see module docstring) and validate it.

    ``today`` is the shop-local current date, passed in so the rules stay
    clock-free. Raises :class:`BirthdayMalformed`, :class:`BirthdayInvalidDate`
    (impossible date), its subclass :class:`BirthdayTooOld` (year before 1900
    or age above 120, code ``birthday_too_old``) or :class:`BirthdayFuture`.
    """
    if not isinstance(text, str):
        raise BirthdayMalformed(text=repr(text))
    cleaned = " ".join(text.strip().lower().split())

    match = _ISO.fullmatch(cleaned) or _NUMERIC.fullmatch(cleaned)
    if match is not None:
        day, month = int(match.group("d")), int(match.group("m"))
    else:
        match = _NAMED.fullmatch(cleaned)
        if match is None or match.group("mon") not in MONTH_NAMES:
            raise BirthdayMalformed(text=text)
        day, month = int(match.group("d")), MONTH_NAMES[match.group("mon")]
    year = int(match.group("y")) if match.group("y") else None

    birthday = Birthday(day=day, month=month, year=year)  # validates the calendar
    if year is not None:
        if year > today.year:
            raise BirthdayFuture(text=text)
        if year < MIN_YEAR:
            raise BirthdayTooOld(text=text, min_year=MIN_YEAR)
        if date(year, month, day) > today:
            raise BirthdayFuture(text=text)
        age = birthday.age_on(today)
        if age is not None and age > MAX_AGE:
            raise BirthdayTooOld(text=text, max_age=MAX_AGE)
    return birthday
