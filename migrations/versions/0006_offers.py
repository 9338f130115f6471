"""offers: the owner's settings of automatic offers (on/off of birthday, win-back, each festival; texts);
an index for reminders of vouchers about to expire

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('offer_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=True),
    sa.Column('message_en', sa.Text(), nullable=True),
    sa.Column('message_ms', sa.Text(), nullable=True),
    sa.Column('voucher_en', sa.String(length=255), nullable=True),
    sa.Column('voucher_ms', sa.String(length=255), nullable=True),
    sa.Column('changed_by', sa.BigInteger(), nullable=True),
    sa.Column('changed_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_offer_settings'))
    )
    op.create_index('ix_vouchers_expires_at', 'vouchers', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_vouchers_expires_at', table_name='vouchers')
    op.drop_table('offer_settings')
