"""plan jobs name their search (issue 10): the engine, the deterministic mode and its work budget

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plan_job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("solver", sa.String(32), nullable=False, server_default="auto"))
        batch_op.add_column(sa.Column("deterministic", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("solution_limit", sa.Integer(), nullable=False, server_default="2000"))


def downgrade() -> None:
    with op.batch_alter_table("plan_job", schema=None) as batch_op:
        batch_op.drop_column("solution_limit")
        batch_op.drop_column("deterministic")
        batch_op.drop_column("solver")
