"""Membership tiers earned by spend over a rolling window.

A customer's tier is decided by how much they spent in the last 12 calendar
months (rolling, so loyal regulars keep their status and lapsed ones drift
down without a yearly cliff). Each tier carries a points multiplier. The
ladder is validated up front so a misconfigured shop cannot produce a
customer with no tier or two tiers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from loyaltybot.domain.lots import add_months

__all__ = [
    "DEFAULT_LADDER",
    "DEFAULT_WINDOW_MONTHS",
    "Tier",
    "TierLadder",
    "TierProgress",
    "rolling_window_start",
]

DEFAULT_WINDOW_MONTHS = 12


@dataclass(frozen=True, slots=True)
class Tier:
    """A tier reached once rolling spend is at least ``min_spend_sen``."""

    code: str
    min_spend_sen: int
    multiplier: Decimal

    def __post_init__(self) -> None:
        # Exact decimals only: a float multiplier would make points depend on
        # binary rounding.
        if isinstance(self.multiplier, bool) or not isinstance(self.multiplier, (Decimal, int)):
            raise TypeError(
                f"tier {self.code!r}: multiplier must be a Decimal, "
                f"got {type(self.multiplier).__name__}"
            )
        if isinstance(self.multiplier, int):
            object.__setattr__(self, "multiplier", Decimal(self.multiplier))
        if not self.code:
            raise ValueError("tier code must not be empty")
        if self.min_spend_sen < 0:
            raise ValueError(f"tier {self.code!r}: min_spend_sen must be >= 0")


@dataclass(frozen=True, slots=True)
class TierProgress:
    """Where a customer stands between their tier and the next, for a progress bar.

    ``ratio`` is an exact fraction in ``[0, 1]`` (1 at the top tier);
    ``percent`` is it floored to a whole percent so the bar never shows 100 %
    before the tier is actually reached.
    """

    current: Tier
    next: Tier | None
    sen_missing: int
    ratio: Fraction

    @property
    def percent(self) -> int:
        return int(self.ratio * 100)


class TierLadder:
    """An ordered, validated set of tiers.

    Rules: at least one tier; the first starts at 0 so every customer has a
    tier; thresholds strictly increase (equal thresholds would make the tier
    ambiguous); codes are unique (they are stored on customers); multipliers
    are >= 1 (a tier is a reward, never a penalty).
    """

    __slots__ = ("_tiers",)

    def __init__(self, tiers: Iterable[Tier]) -> None:
        ordered = tuple(tiers)
        if not ordered:
            raise ValueError("a tier ladder needs at least one tier")
        if ordered[0].min_spend_sen != 0:
            raise ValueError("the first tier must start at 0 sen")
        for lower, upper in zip(ordered, ordered[1:]):
            if upper.min_spend_sen <= lower.min_spend_sen:
                raise ValueError(
                    "tiers must be sorted by strictly increasing min_spend_sen "
                    f"({lower.code!r} then {upper.code!r})"
                )
        codes = [tier.code for tier in ordered]
        if len(set(codes)) != len(codes):
            raise ValueError(f"tier codes must be unique: {codes}")
        for tier in ordered:
            if tier.multiplier < 1:
                raise ValueError(f"tier {tier.code!r}: multiplier must be >= 1")
        self._tiers = ordered

    @property
    def tiers(self) -> tuple[Tier, ...]:
        return self._tiers

    def __repr__(self) -> str:
        return f"TierLadder({list(self._tiers)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TierLadder) and self._tiers == other._tiers

    def __hash__(self) -> int:
        return hash(self._tiers)

    def get(self, code: str) -> Tier:
        """Look a tier up by its stored code (``KeyError`` if unknown)."""
        for tier in self._tiers:
            if tier.code == code:
                return tier
        raise KeyError(code)

    def tier_for(self, spend_sen: int) -> Tier:
        """The highest tier whose threshold ``spend_sen`` reaches.

        Negative spend (refunds in the window exceeding purchases) counts as 0.
        """
        spend = max(spend_sen, 0)
        current = self._tiers[0]
        for tier in self._tiers[1:]:
            if spend >= tier.min_spend_sen:
                current = tier
            else:
                break
        return current

    def next_tier(self, spend_sen: int) -> tuple[Tier | None, int]:
        """The next tier up and the sen still missing; ``(None, 0)`` at the top."""
        spend = max(spend_sen, 0)
        for tier in self._tiers:
            if tier.min_spend_sen > spend:
                return tier, tier.min_spend_sen - spend
        return None, 0

    def progress(self, spend_sen: int) -> TierProgress:
        """Progress from the current tier's threshold to the next one's."""
        spend = max(spend_sen, 0)
        current = self.tier_for(spend)
        upcoming, missing = self.next_tier(spend)
        if upcoming is None:
            ratio = Fraction(1)
        else:
            span = upcoming.min_spend_sen - current.min_spend_sen
            ratio = Fraction(spend - current.min_spend_sen, span)
        return TierProgress(current=current, next=upcoming, sen_missing=missing, ratio=ratio)


DEFAULT_LADDER = TierLadder(
    [
        Tier("bronze", 0, Decimal("1")),
        Tier("silver", 500_00, Decimal("1.25")),
        Tier("gold", 1_500_00, Decimal("1.5")),
    ]
)
"""Bronze from RM 0 (×1), Silver from RM 500 (×1.25), Gold from RM 1,500 (×1.5)."""


def rolling_window_start(now: datetime, months: int = DEFAULT_WINDOW_MONTHS) -> datetime:
    """Start of the spend window ending at ``now``: ``months`` calendar months back.

    The day of month is clamped (31 May - 3 months = 28/29 Feb). Spend at or
    after the returned instant counts towards the tier.
    """
    if months < 1:
        raise ValueError(f"months must be >= 1, got {months}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return add_months(now, -months)
