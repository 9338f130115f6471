"""Customer segments shared by broadcasts and survey audiences (WHERE clauses on `customers`)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, or_, true

from loyaltybot.db.models import Customer


def tier_filter(code: str, ladder: Sequence[str]) -> ColumnElement[bool]:
    """Customers in tier `code` of the ladder (its codes, lowest first). A NULL tier, or a code
    the ladder no longer has, counts as the first tier (as the program reads it)."""
    if ladder and code == ladder[0]:
        others = list(ladder[1:])
        return or_(Customer.tier.is_(None), Customer.tier.not_in(others)) if others else true()
    return Customer.tier == code
