"""rewards: catalogue, redemptions, FIFO point lots, customer tier

Existing balances get one lot per customer, expiring 12 months after the upgrade, so that
the lots sum to the balance on upgraded databases too.

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('rewards',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name_en', sa.String(length=128), nullable=False),
    sa.Column('name_ms', sa.String(length=128), nullable=False),
    sa.Column('description_en', sa.String(length=1000), nullable=False),
    sa.Column('description_ms', sa.String(length=1000), nullable=False),
    sa.Column('cost', sa.Integer(), nullable=False),
    sa.Column('photo_file_id', sa.String(length=255), nullable=True),
    sa.Column('stock', sa.Integer(), nullable=True),
    sa.Column('reserved', sa.Integer(), nullable=False),
    sa.Column('per_customer_limit', sa.Integer(), nullable=True),
    sa.Column('starts_at', sa.DateTime(), nullable=True),
    sa.Column('ends_at', sa.DateTime(), nullable=True),
    sa.Column('min_tier', sa.String(length=16), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.BigInteger(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('cost > 0', name=op.f('ck_rewards_cost_positive')),
    sa.CheckConstraint('reserved >= 0', name=op.f('ck_rewards_reserved_not_negative')),
    sa.CheckConstraint('stock IS NULL OR reserved <= stock', name=op.f('ck_rewards_stock_not_oversold')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rewards'))
    )
    with op.batch_alter_table('rewards', schema=None) as batch_op:
        batch_op.create_index('ix_rewards_active', ['active'], unique=False)

    op.create_table('redemptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reward_id', sa.Integer(), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('lots', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('confirmed_by', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'confirmed', 'cancelled', 'expired')", name=op.f('ck_redemptions_status_known')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_redemptions_customer_id_customers'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['reward_id'], ['rewards.id'], name=op.f('fk_redemptions_reward_id_rewards'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_redemptions')),
    sa.UniqueConstraint('code', name=op.f('uq_redemptions_code'))
    )
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.create_index('ix_redemptions_customer_reward', ['customer_id', 'reward_id', 'status'], unique=False)
        batch_op.create_index('ix_redemptions_reward_status', ['reward_id', 'status'], unique=False)
        batch_op.create_index('ix_redemptions_status_expires', ['status', 'expires_at'], unique=False)

    op.create_table('point_lots',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('ledger_id', sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('remaining', sa.Integer(), nullable=False),
    sa.Column('earned_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('remaining <= points', name=op.f('ck_point_lots_remaining_within_points')),
    sa.CheckConstraint('remaining >= 0', name=op.f('ck_point_lots_remaining_not_negative')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_point_lots_customer_id_customers'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['ledger_id'], ['ledger.id'], name=op.f('fk_point_lots_ledger_id_ledger'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_point_lots'))
    )
    with op.batch_alter_table('point_lots', schema=None) as batch_op:
        batch_op.create_index('ix_point_lots_customer_expires', ['customer_id', 'expires_at'], unique=False)
        batch_op.create_index('ix_point_lots_expires_open', ['expires_at', 'remaining'], unique=False)

    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier', sa.String(length=16), nullable=True))

    _lots_for_existing_balances()


def _lots_for_existing_balances() -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    month = now.month - 1 + 12
    year, month0 = now.year + month // 12, month % 12
    expires = now.replace(year=year, month=month0 + 1, day=min(now.day, 28))
    customers = sa.table("customers", sa.column("id", sa.Integer()), sa.column("balance", sa.Integer()))
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
    rows = bind.execute(sa.select(customers.c.id, customers.c.balance).where(customers.c.balance > 0)).all()
    if rows:
        bind.execute(
            lots.insert(),
            [
                {"customer_id": cid, "ledger_id": None, "points": balance, "remaining": balance,
                 "earned_at": now, "expires_at": expires}
                for cid, balance in rows
            ],
        )



def downgrade() -> None:
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_column('tier')

    with op.batch_alter_table('point_lots', schema=None) as batch_op:
        batch_op.drop_index('ix_point_lots_expires_open')
        batch_op.drop_index('ix_point_lots_customer_expires')

    op.drop_table('point_lots')
    with op.batch_alter_table('redemptions', schema=None) as batch_op:
        batch_op.drop_index('ix_redemptions_status_expires')
        batch_op.drop_index('ix_redemptions_reward_status')
        batch_op.drop_index('ix_redemptions_customer_reward')

    op.drop_table('redemptions')
    with op.batch_alter_table('rewards', schema=None) as batch_op:
        batch_op.drop_index('ix_rewards_active')

    op.drop_table('rewards')
