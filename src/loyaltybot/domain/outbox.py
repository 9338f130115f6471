"""Rules of the outbound pipeline: audiences, pacing, retries, and what Telegram's errors mean.

Pure functions and small value objects; the sender (delivery/) and the services apply them.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

# ---------------------------------------------------------------------------- audiences

# Kinds of audience and whether they take a number (days or points).
AUDIENCE_KINDS: dict[str, bool] = {
    "all": False,  # every opted-in customer
    "en": False,  # language English
    "ms": False,  # language Malay
    "birthday": False,  # birthday in the current month (shop time)
    "inactive": True,  # no visit for N days (never visited: joined more than N days ago)
    "joined": True,  # joined in the last N days
    "balance": True,  # balance at least N points
    "tier": False,  # in one tier of the program's ladder (takes a tier code, not a number)
}
_TIER_CODE = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
MAX_AUDIENCE_VALUE = 100_000


class AudienceInvalid(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Audience:
    kind: str = "all"
    value: int | None = None
    tier: str | None = None  # the tier code, for kind "tier" only

    def __post_init__(self) -> None:
        if self.kind not in AUDIENCE_KINDS:
            raise AudienceInvalid(f"unknown audience {self.kind!r}")
        if (self.kind == "tier") != (self.tier is not None):
            raise AudienceInvalid("a tier audience needs a tier code, and only it takes one")
        if self.tier is not None and not _TIER_CODE.match(self.tier):
            raise AudienceInvalid(f"bad tier code {self.tier!r}")
        needs_value = AUDIENCE_KINDS[self.kind]
        if needs_value and (self.value is None or not 0 <= self.value <= MAX_AUDIENCE_VALUE):
            raise AudienceInvalid(f"audience {self.kind!r} needs a number from 0 to {MAX_AUDIENCE_VALUE}")
        if not needs_value and self.value is not None:
            raise AudienceInvalid(f"audience {self.kind!r} takes no number")

    def encode(self) -> str:
        if self.tier is not None:
            return f"{self.kind}:{self.tier}"
        return self.kind if self.value is None else f"{self.kind}:{self.value}"

    @classmethod
    def decode(cls, raw: str) -> Audience:
        kind, _, value = raw.partition(":")
        if kind == "tier":
            return cls(kind, tier=value or None)
        if value and not value.isdigit():
            raise AudienceInvalid(f"bad audience {raw!r}")
        return cls(kind, int(value) if value else None)


def parse_count(text: str) -> int | None:
    """A whole number the owner typed (days or points), or None."""
    cleaned = text.strip().replace(",", "").replace(" ", "")
    if not cleaned.isdigit() or len(cleaned) > 6:
        return None
    value = int(cleaned)
    return value if value <= MAX_AUDIENCE_VALUE else None


# ---------------------------------------------------------------------------- scheduling

_WHEN = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{4}))?\s+(\d{1,2})[:.](\d{2})\s*$")


class ScheduleInvalid(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "malformed" | "past" | "too_far"


MAX_SCHEDULE_AHEAD = timedelta(days=366)


def parse_schedule(text: str, *, now: datetime, tz: tzinfo) -> datetime:
    """Owner's "25/12 18:00" or "25/12/2026 18:00" in shop time → an aware UTC-comparable datetime.

    Without a year, the next such date that is still ahead.
    """
    match = _WHEN.match(text)
    if match is None:
        raise ScheduleInvalid("malformed")
    day, month, year, hour, minute = (int(g) if g else None for g in match.groups())
    assert day is not None and month is not None and hour is not None and minute is not None
    local_now = now.astimezone(tz)
    try:
        clock = time(hour, minute)
        if year is None:
            candidate = datetime.combine(date(local_now.year, month, day), clock, tz)
            if candidate <= local_now:
                candidate = datetime.combine(date(local_now.year + 1, month, day), clock, tz)
        else:
            candidate = datetime.combine(date(year, month, day), clock, tz)
    except ValueError:
        raise ScheduleInvalid("malformed") from None
    if candidate <= now:
        raise ScheduleInvalid("past")
    if candidate - now > MAX_SCHEDULE_AHEAD:
        raise ScheduleInvalid("too_far")
    return candidate


# ---------------------------------------------------------------------------- pacing


class TokenBucket:
    """Smooth pacing: `rate` sends a second, at most `burst` at once. Time is passed in."""

    def __init__(self, rate: float, burst: float = 1.0, *, now: float = 0.0) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._last = now

    def _refill(self, now: float) -> None:
        if now > self._last:
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 when one is available now)."""
        self._refill(now)
        return 0.0 if self._tokens >= 1 else (1 - self._tokens) / self.rate

    def take(self, now: float) -> None:
        self._refill(now)
        self._tokens -= 1

    def drain(self, now: float) -> None:
        """Forget any saved-up burst (after a pause Telegram imposed)."""
        self._refill(now)
        self._tokens = min(self._tokens, 0.0)


# ---------------------------------------------------------------------------- outcomes


class Outcome(enum.Enum):
    SENT = "sent"
    PAUSE = "pause"  # 429: not sent; pause everything for retry_after, then retry the row
    BLOCKED = "blocked"  # 403: the customer blocked the bot
    UNREACHABLE = "unreachable"  # 400 chat not found / user deactivated
    RETRY = "retry"  # 5xx or network trouble: retry with backoff
    FAILED = "failed"  # any other refusal: this message will never go through
    WITHDRAWN = "withdrawn"  # not sent: its reason went away since it was queued (a redemption closed)


def classify_error(status: int | None, description: str) -> Outcome:
    """What a failed send means. `status` is None for network errors and timeouts."""
    text = description.lower()
    if status == 429:
        return Outcome.PAUSE
    if status == 403:
        if "deactivated" in text:
            return Outcome.UNREACHABLE
        return Outcome.BLOCKED
    if status == 400 and ("chat not found" in text or "user not found" in text or "deactivated" in text):
        return Outcome.UNREACHABLE
    if status is None or status >= 500:
        return Outcome.RETRY
    return Outcome.FAILED


MAX_ATTEMPTS = 5
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0


def backoff_delay(attempt: int) -> float:
    """Delay before retry number `attempt` (1-based): 1, 2, 4, 8 … seconds, capped."""
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1))


def gives_up(attempts: int) -> bool:
    return attempts >= MAX_ATTEMPTS


# ---------------------------------------------------------------------------- reports

DELIVERY_STATES = ("pending", "sending", "sent", "failed", "blocked", "unknown", "skipped", "cancelled")


@dataclass(frozen=True, slots=True)
class Tally:
    """How a campaign's deliveries stand. The parts always add up to `total`."""

    pending: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    unknown: int = 0
    skipped: int = 0
    cancelled: int = 0

    @property
    def total(self) -> int:
        return sum(getattr(self, state) for state in DELIVERY_STATES)

    @property
    def remaining(self) -> int:
        return self.pending + self.sending

    @property
    def finished(self) -> bool:
        return self.remaining == 0

    @classmethod
    def from_counts(cls, counts: dict[str, int]) -> Tally:
        return cls(**{state: int(counts.get(state, 0)) for state in DELIVERY_STATES})
