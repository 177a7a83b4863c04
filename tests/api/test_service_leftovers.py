"""Leftovers of the trustworthy-service work: the schema's way down and up again with data in it, and a worker
PATCH without serializer warnings (enum columns come back from the database as strings)."""

from __future__ import annotations

import contextlib
import json
import secrets
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apisupport
import sqlalchemy as sa
from alembic import command
from apisupport import TINY, World

from api.config import Settings
from api.db import _alembic_config, current_revision, make_engine, session_scope, upgrade
from api.services import loading
from planner import RiskModel

backend, client, world = apisupport.backend, apisupport.client, apisupport.world


@contextlib.contextmanager
def empty_engine(backend: dict[str, Any], tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty database of the backend's kind, for this test alone."""
    if backend["name"] == "sqlite":
        engine = make_engine(Settings(data_dir=tmp_path, database_url=None))
        yield engine
        engine.dispose()
        return
    import psycopg

    name = f"salpimi_migr_{secrets.token_hex(4)}"
    with psycopg.connect(apisupport.PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        engine = make_engine(Settings(data_dir=tmp_path, database_url=apisupport._pg_url(name)))
        try:
            yield engine
        finally:
            engine.dispose()
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("team", "worker", "household", "household_private", "visit_request")}


def test_every_migration_goes_down_and_up_again_with_data_present(backend: dict[str, Any], tmp_path: Path) -> None:
    with empty_engine(backend, tmp_path) as engine:
        upgrade(engine)
        head = current_revision(engine)
        with session_scope(engine) as session:
            loading.load_problem_data(session, json.loads(TINY.read_text(encoding="utf-8")),
                                      risk_model=RiskModel.default(), team_name="migrations")
        before = _counts(engine)
        assert before["household"] > 0 and before["visit_request"] > 0
        with engine.begin() as conn:  # 0005's way down failed on SQLite once households had rows
            command.downgrade(_alembic_config(conn), "0001")
        assert current_revision(engine) == "0001"
        assert _counts(engine) == before
        upgrade(engine)
        assert current_revision(engine) == head
        assert _counts(engine) == before


def test_a_worker_patch_warns_about_nothing(world: World) -> None:
    worker_id = world.workers_a["t-nurse"]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        r = world.patch(f"/v1/workers/{worker_id}", "dispatcher_a",
                        json={"role": "visiting_nurse", "travel_mode": "walk", "max_visits": 7, "shift_end": "17:30"})
    assert r.status_code == 200, r.text
    assert r.json()["max_visits"] == 7 and r.json()["role"] == "visiting_nurse"
    assert [str(w.message) for w in seen] == []
