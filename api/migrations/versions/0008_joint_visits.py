"""joint visits and same-day precedences (issue 13): a visit request's crew, soft due time and late cost; a
team's precedences between visit requests; a calendar event's partner roles

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("visit_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("crew", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("due", sa.String(length=5), nullable=True))
        batch_op.add_column(sa.Column("late_cost", sa.Float(), nullable=True))
    with op.batch_alter_table("team_input", schema=None) as batch_op:
        batch_op.add_column(sa.Column("precedences", sa.JSON(), nullable=True))
    with op.batch_alter_table("feed_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("partner_roles", sa.String(length=64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("feed_event", schema=None) as batch_op:
        batch_op.drop_column("partner_roles")
    with op.batch_alter_table("team_input", schema=None) as batch_op:
        batch_op.drop_column("precedences")
    with op.batch_alter_table("visit_request", schema=None) as batch_op:
        batch_op.drop_column("late_cost")
        batch_op.drop_column("due")
        batch_op.drop_column("crew")
