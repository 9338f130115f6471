"""points lots for survey rewards and suggestion bonuses credited without one

Until this revision a survey reward or an adopted suggestion's bonus added to the balance
and the ledger but opened no lot, so those points could not be redeemed (redemptions drain
lots) and never expired. Each customer whose lots hold less than their balance gets a lot
for each such ledger entry, oldest first, up to the difference, expiring when the entry
says (already past: the next expiry sweep expires them, with a ledger entry, as usual).

Revision ID: 0008
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    customers = sa.table("customers", sa.column("id", sa.Integer()), sa.column("balance", sa.Integer()))
    ledger = sa.table(
        "ledger",
        sa.column("id", sa.Integer()),
        sa.column("customer_id", sa.Integer()),
        sa.column("delta", sa.Integer()),
        sa.column("kind", sa.String()),
        sa.column("created_at", sa.DateTime()),
        sa.column("expires_at", sa.DateTime()),
    )
    lots = sa.table(
        "point_lots",
        sa.column("customer_id", sa.Integer()),
        sa.column("ledger_id", sa.Integer()),
        sa.column("points", sa.Integer()),
        sa.column("remaining", sa.Integer()),
        sa.column("earned_at", sa.DateTime()),
        sa.column("expires_at", sa.DateTime()),
    )
    bind = op.get_bind()
    held = (
        sa.select(sa.func.coalesce(sa.func.sum(lots.c.remaining), 0))
        .where(lots.c.customer_id == customers.c.id)
        .scalar_subquery()
    )
    short = bind.execute(
        sa.select(customers.c.id, customers.c.balance - held).where(customers.c.balance > held)
    ).all()
    for customer_id, missing in short:
        entries = bind.execute(
            sa.select(ledger.c.id, ledger.c.delta, ledger.c.created_at, ledger.c.expires_at)
            .where(
                ledger.c.customer_id == customer_id,
                ledger.c.delta > 0,
                ledger.c.kind.in_(("survey", "bonus")),
                ~sa.exists().where(lots.c.ledger_id == ledger.c.id),
            )
            .order_by(ledger.c.id)
        ).all()
        rows = []
        for ledger_id, delta, created_at, expires_at in entries:
            if missing <= 0:
                break
            remaining = min(delta, missing)
            missing -= remaining
            rows.append(
                {
                    "customer_id": customer_id,
                    "ledger_id": ledger_id,
                    "points": delta,
                    "remaining": remaining,
                    "earned_at": created_at,
                    "expires_at": expires_at,
                }
            )
        if rows:
            bind.execute(lots.insert(), rows)


def downgrade() -> None:
    # The lots are right at any revision: they stay (points keep being spendable).
    pass
