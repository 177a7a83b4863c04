"""calendar feeds: feed tokens and the events each worker's calendar shows (issue 11)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_LIVE = sa.text("revoked_at IS NULL")


def upgrade() -> None:
    op.create_table(
        "feed_token",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("team_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("worker_id", sa.String(length=40), nullable=True),
        sa.Column("user_id", sa.String(length=40), nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=40), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["team_id"], ["team.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_feed_token_token_hash", "feed_token", ["token_hash"], unique=True)
    op.create_index(
        "uq_feed_token_live", "feed_token", ["team_id", "subject"], unique=True,
        sqlite_where=_LIVE, postgresql_where=_LIVE,
    )
    op.create_table(
        "feed_event",
        sa.Column("team_id", sa.String(length=40), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("item_id", sa.String(length=40), nullable=False),
        sa.Column("worker_id", sa.String(length=40), nullable=False),
        sa.Column("household_id", sa.String(length=40), nullable=True),
        sa.Column("dong", sa.String(length=64), nullable=False),
        sa.Column("visit_kind", sa.String(length=32), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("travel_s", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("plan_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("team_id", "date", "item_id", "worker_id"),
    )
    op.create_index("ix_feed_event_worker_date", "feed_event", ["worker_id", "date"])
    backfill(op.get_bind())


def _utc(value: Any) -> dt.datetime:
    """A stored datetime as an aware UTC one (SQLite keeps them naive, in UTC)."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def backfill(conn: sa.Connection) -> None:
    """Feeds show the versions published before this revision from the start (sequence 0,
    stamped with their publication time); later publishes are tracked by the application."""
    sqlite = conn.dialect.name == "sqlite"
    plans = conn.execute(
        sa.text("SELECT id, team_id, date, data, published_at, created_at FROM plan WHERE published")
    ).all()
    moment = sa.DateTime(timezone=True)
    events = sa.table(
        "feed_event",
        *(sa.column(c, sa.String) for c in ("team_id", "item_id", "worker_id", "household_id", "dong", "visit_kind",
                                            "plan_id")),
        sa.column("date", sa.Date), sa.column("travel_s", sa.Integer), sa.column("sequence", sa.Integer),
        sa.column("cancelled", sa.Boolean),
        *(sa.column(c, moment) for c in ("start", "end", "created_at", "changed_at", "cancelled_at")),
    )
    for plan_id, team_id, stored_day, stored_data, published_at, created_at in plans:
        data: dict[str, Any] = (
            json.loads(stored_data) if isinstance(stored_data, str) else stored_data if isinstance(stored_data, dict)
            else {}
        )
        day = dt.date.fromisoformat(stored_day) if isinstance(stored_day, str) else stored_day
        stamp = _utc(published_at or created_at)
        stops = [s for r in data.get("routes", []) for s in r.get("stops", [])]
        places: dict[str, str] = dict(conn.execute(
            sa.text("SELECT id, dong FROM household WHERE id IN :ids").bindparams(sa.bindparam("ids", expanding=True)),
            {"ids": [s["household_id"] for s in stops] or [""]},
        ).all())
        kinds: dict[str, str] = dict(conn.execute(
            sa.text("SELECT id, kind FROM visit_request WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": [s["visit_id"] for s in stops] or [""]},
        ).all())
        rows = []
        for route in data.get("routes", []):
            worker_id = route["worker_id"]
            items = [
                (s["visit_id"], s.get("household_id"), places.get(s.get("household_id"), ""),
                 kinds.get(s["visit_id"], "routine"), s["start"], s["end"], int(s.get("travel_s") or 0))
                for s in route.get("stops", [])
            ]
            if items and route.get("break"):
                items.append(("break", None, "", "", route["break"]["start"], route["break"]["end"], 0))
            for item_id, household_id, dong, kind, start, end, travel_s in items:
                start_utc, end_utc = _utc(dt.datetime.fromisoformat(start)), _utc(dt.datetime.fromisoformat(end))
                when = stamp.replace(tzinfo=None) if sqlite else stamp
                rows.append({
                    "team_id": team_id, "date": day, "item_id": item_id, "worker_id": worker_id,
                    "household_id": household_id, "dong": dong or "", "visit_kind": kind or "", "travel_s": travel_s,
                    "start": start_utc.replace(tzinfo=None) if sqlite else start_utc,
                    "end": end_utc.replace(tzinfo=None) if sqlite else end_utc,
                    "sequence": 0, "cancelled": False, "plan_id": plan_id, "created_at": when,
                    "changed_at": when, "cancelled_at": None,
                })
        if rows:
            conn.execute(events.insert(), rows)


def downgrade() -> None:
    op.drop_index("ix_feed_event_worker_date", table_name="feed_event")
    op.drop_table("feed_event")
    op.drop_index("uq_feed_token_live", table_name="feed_token")
    op.drop_index("ix_feed_token_token_hash", table_name="feed_token")
    op.drop_table("feed_token")
