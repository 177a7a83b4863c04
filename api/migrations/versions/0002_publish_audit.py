"""publishing and audit log hardening (issue 9: nothing lost)

One published version per team and day, enforced by a partial unique index; the audit log
refuses ``TRUNCATE`` on PostgreSQL and the ``REPLACE`` conflict path on SQLite.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_PUBLISHED = sa.text("published")

# SQLite: ``INSERT OR REPLACE`` / ``REPLACE INTO`` delete the conflicting row without firing
# DELETE triggers (unless recursive_triggers is on, which is per connection).  Refuse any insert
# whose id or rowid already exists: it could only be a replacement (or an upsert).
_SQLITE_NO_REPLACE = (
    "CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log "
    "WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id OR rowid = NEW.rowid) "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
)
# PostgreSQL: row triggers do not fire on TRUNCATE; a statement trigger does.  (The table's owner
# can still disable triggers: run the service as a role that does not own the tables, see
# ``salpimi db grant``.)
_PG_NO_TRUNCATE = (
    "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()"
)


def upgrade() -> None:
    bind = op.get_bind()
    # Earlier versions could leave several versions of a day published (concurrent publishes):
    # keep the newest, so the unique index can be built.
    bind.execute(
        sa.text(
            "UPDATE plan SET published = :no WHERE published AND EXISTS ("
            "SELECT 1 FROM plan AS newer WHERE newer.team_id = plan.team_id AND newer.date = plan.date "
            "AND newer.published AND newer.version > plan.version)"
        ),
        {"no": False},
    )
    op.create_index(
        "uq_plan_published",
        "plan",
        ["team_id", "date"],
        unique=True,
        sqlite_where=_PUBLISHED,
        postgresql_where=_PUBLISHED,
    )
    if bind.dialect.name == "sqlite":
        op.execute(_SQLITE_NO_REPLACE)
    elif bind.dialect.name == "postgresql":
        op.execute(_PG_NO_TRUNCATE)
        op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_replace")
    elif bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
    op.drop_index(
        "uq_plan_published", table_name="plan", sqlite_where=_PUBLISHED, postgresql_where=_PUBLISHED
    )
