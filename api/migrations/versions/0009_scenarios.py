"""what-if capacity scenarios and sweeps for managers (issue 14): scenarios and their runs

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    moment = sa.DateTime(timezone=True)
    op.create_table(
        "scenario",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.String(2000), nullable=False, server_default=""),
        sa.Column("base_name", sa.String(128), nullable=False, server_default=""),
        sa.Column("team_id", sa.String(40), sa.ForeignKey("team.id"), nullable=True),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("weeks", sa.Integer(), nullable=False),
        sa.Column("seeds", sa.Integer(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(40), nullable=True),
        sa.Column("created_at", moment, nullable=False),
    )
    op.create_index("ix_scenario_team_id", "scenario", ["team_id"])
    op.create_table(
        "scenario_run",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("scenario_id", sa.String(40), sa.ForeignKey("scenario.id"), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("seeds", sa.Integer(), nullable=False),
        sa.Column("policies", sa.JSON(), nullable=False),
        sa.Column("staff", sa.JSON(), nullable=True),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(1000), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_by", sa.String(40), nullable=True),
        sa.Column("created_at", moment, nullable=False),
        sa.Column("started_at", moment, nullable=True),
        sa.Column("finished_at", moment, nullable=True),
        sa.Column("updated_at", moment, nullable=False),
    )
    op.create_index("ix_scenario_run_scenario_id", "scenario_run", ["scenario_id"])


def downgrade() -> None:
    op.drop_index("ix_scenario_run_scenario_id", table_name="scenario_run")
    op.drop_table("scenario_run")
    op.drop_index("ix_scenario_team_id", table_name="scenario")
    op.drop_table("scenario")
