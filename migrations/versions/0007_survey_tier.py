"""surveys: a tier audience (surveys.tier; audience 'tier'); invitations through the outbox (campaigns.survey_id)

Revision ID: 0007
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tier", sa.String(length=16), nullable=True))
        batch_op.drop_constraint(batch_op.f("ck_surveys_audience_known"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_surveys_audience_known"), "audience IN ('all', 'recent', 'tier')"
        )
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("survey_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_campaigns_survey_id"), ["survey_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_campaigns_survey_id_surveys"), "surveys", ["survey_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_campaigns_survey_id_surveys"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_campaigns_survey_id"))
        batch_op.drop_column("survey_id")
    op.execute("UPDATE surveys SET audience = 'all' WHERE audience = 'tier'")
    with op.batch_alter_table("surveys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_surveys_audience_known"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_surveys_audience_known"), "audience IN ('all', 'recent')")
        batch_op.drop_column("tier")
