"""plan jobs for a date range (issue 12): the range's last day and the plans the job stored, one per day

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plan_job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("date_to", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("plan_ids", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("plan_job", schema=None) as batch_op:
        batch_op.drop_column("plan_ids")
        batch_op.drop_column("date_to")
