"""access: api key expiry and revocation, user deactivation (issue 9: personal data and access)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: Keys created before this revision expire this long after they were made (the default TTL).
LEGACY_KEY_TTL = dt.timedelta(days=90)


def upgrade() -> None:
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deactivated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("token_version", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
    # Existing keys get the default lifetime instead of living for ever.
    key_id_column, created_column = sa.column("id", sa.String), sa.column("created_at", sa.DateTime(timezone=True))
    keys = sa.table("api_key", key_id_column, created_column, sa.column("expires_at", sa.DateTime(timezone=True)))
    conn = op.get_bind()
    for key_id, created_at in conn.execute(sa.select(key_id_column, created_column)).all():
        conn.execute(
            keys.update().where(keys.c.id == key_id).values(expires_at=created_at + LEGACY_KEY_TTL)
        )


def downgrade() -> None:
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_column("revoked_at")
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("user", schema=None) as batch_op:
        batch_op.drop_column("token_version")
        batch_op.drop_column("deactivated_at")
