"""planning inputs users bring: a given priority on households and visit requests, and a team's own
travel matrix and risk model settings from a loaded problem file (issue 10)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("household", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Float(), nullable=True))
    with op.batch_alter_table("visit_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Float(), nullable=True))
    op.create_table(
        "team_input",
        sa.Column("team_id", sa.String(length=40), nullable=False),
        sa.Column("travel_matrix", sa.JSON(), nullable=True),
        sa.Column("risk_model", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"]),
        sa.PrimaryKeyConstraint("team_id"),
    )


def downgrade() -> None:
    op.drop_table("team_input")
    # ALTER TABLE ... DROP COLUMN in place (SQLite 3.35+), never a copy of the table: recreating household or
    # visit_request drops the old table, whose rows other tables' foreign keys point at, which SQLite refuses
    # with data present.
    with op.batch_alter_table("visit_request", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("priority")
    with op.batch_alter_table("household", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("priority")
