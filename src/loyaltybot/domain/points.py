"""How many points a purchase earns.

Points are earned per *whole* spending unit (by default 1 point per whole
RM 1), then scaled by an optional multiplier (tier bonus, double-points
promotion) and rounded **down**. Rounding down everywhere means the shop never
gives away more than it advertised, and the result is reproducible from the
stored integer amounts alone. Multipliers are exact (``Decimal`` or
``Fraction``); floats are refused because ``1.1 * 100`` is not 110.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

__all__ = ["PointsRule", "to_fraction"]


def to_fraction(value: Fraction | Decimal | int) -> Fraction:
    """Convert an exact multiplier to a ``Fraction``; refuse floats and bools.

    Kept public so other domain modules (e.g. stacking tier and promotion
    multipliers) convert multipliers the same way.
    """
    if isinstance(value, bool) or not isinstance(value, (Fraction, Decimal, int)):
        raise TypeError(
            f"multiplier must be int, Decimal or Fraction, got {type(value).__name__}"
        )
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"multiplier must be finite, got {value}")
    return Fraction(value)


@dataclass(frozen=True, slots=True)
class PointsRule:
    """``points_per_unit`` points for every whole ``unit_sen`` spent."""

    points_per_unit: int = 1
    unit_sen: int = 100

    def __post_init__(self) -> None:
        # Validate at construction so a bad shop setting fails when it is
        # saved, not at the till in front of a customer.
        if self.points_per_unit < 0:
            raise ValueError(f"points_per_unit must be >= 0, got {self.points_per_unit}")
        if self.unit_sen < 1:
            raise ValueError(f"unit_sen must be >= 1, got {self.unit_sen}")

    def points_for(self, spend_sen: int, multiplier: Fraction | Decimal | int = 1) -> int:
        """Points earned for ``spend_sen``: floor(whole units × rate × multiplier).

        RM 25.50 earns 25 points by default, and 31 with a 1.25 multiplier
        (25 × 1.25 = 31.25, rounded down). Never negative: a negative spend or
        multiplier is a programming error and raises ``ValueError``.
        """
        if spend_sen < 0:
            raise ValueError(f"spend_sen must be >= 0, got {spend_sen}")
        factor = to_fraction(multiplier)
        if factor < 0:
            raise ValueError(f"multiplier must be >= 0, got {multiplier}")
        units = spend_sen // self.unit_sen
        return math.floor(units * self.points_per_unit * factor)
