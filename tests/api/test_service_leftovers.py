"""Leftovers of the trustworthy-service work: the schema's way down and up again with data in it, and a worker
PATCH without serializer warnings (enum columns come back from the database as strings)."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path
from typing import Any

import apisupport
import sqlalchemy as sa
from alembic.config import Config
from apisupport import TINY, World

from api.db import current_revision, downgrade, session_scope, upgrade
from api.services import loading
from planner import RiskModel

backend, client, world = apisupport.backend, apisupport.client, apisupport.world


def _counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one()
                for t in ("team", "worker", "household", "household_private", "visit_request")}


def test_every_migration_goes_down_and_up_again_with_data_present(backend: dict[str, Any], tmp_path: Path) -> None:
    with apisupport.empty_engine(backend, tmp_path, prefix="salpimi_migr") as engine:
        upgrade(engine)
        head = current_revision(engine)
        with session_scope(engine) as session:
            loading.load_problem_data(session, json.loads(TINY.read_text(encoding="utf-8")),
                                      risk_model=RiskModel.default(), team_name="migrations")
        before = _counts(engine)
        assert before["household"] > 0 and before["visit_request"] > 0
        downgrade(engine, "0001")  # 0005's way down failed on SQLite once households had rows
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


def _all_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        tables = [t for t in sa.inspect(conn).get_table_names() if t != "alembic_version"]
        return {t: conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}


def _revisions() -> list[str]:
    """0001 ... head, oldest first."""
    from alembic.script import ScriptDirectory

    from api.db import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return [s.revision for s in reversed(list(ScriptDirectory.from_config(cfg).walk_revisions()))]


def _fill_every_table(backend: dict[str, Any]) -> str:
    """Data of every feature up to the newest migration: a published plan and an edit of it, a job, an outcome,
    a report, feeds and their events, API keys, joint visits (crew, due, late cost), precedences, a scenario
    and a run, and the audit entries of all that.  Returns the published plan's id."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from api.models import Scenario, ScenarioRun

    app = create_app(apisupport.make_settings(backend))
    with TestClient(app, raise_server_exceptions=False) as c:
        manager = apisupport.bootstrap_manager(c)
        team_a = apisupport.load_team(c, manager.headers, "A")
        team_b = apisupport.load_team(c, manager.headers, "B")
        w = World(client=c, team_a=team_a, team_b=team_b,
                  workers_a=apisupport.refs(c, manager.headers, f"/v1/teams/{team_a}/workers"),
                  workers_b=apisupport.refs(c, manager.headers, f"/v1/teams/{team_b}/workers"),
                  households_a=apisupport.refs(c, manager.headers, f"/v1/teams/{team_a}/households"))
        w.actors["manager"] = manager
        w.actors["dispatcher_a"] = apisupport.add_user(c, manager.headers, "dispatcher", team_id=team_a)
        nurse, cm = w.workers_a["t-nurse"], w.workers_a["t-cm"]
        household = w.households_a["t-h1"]
        joint = w.post(f"/v1/teams/{team_a}/visit-requests", "dispatcher_a", json={
            "household_id": household, "date": apisupport.DAY, "due": "11:00", "late_cost": 2,
            "crew": [{"worker_id": nurse}, {"role": "case_manager"}]})
        assert joint.status_code == 201, joint.text
        visits = w.get(f"/v1/teams/{team_a}/visit-requests", "dispatcher_a", params={"date": apisupport.DAY}).json()
        ids = [v["id"] for v in visits["data"] if v["id"] != joint.json()["id"]]
        r = c.put(f"/v1/teams/{team_a}/precedences", headers=w["dispatcher_a"],
                  json={"data": [{"first": ids[0], "then": ids[1], "min_gap_s": 600}]})
        assert r.status_code == 200, r.text
        for url in (f"/v1/workers/{nurse}/feed", f"/v1/workers/{cm}/feed"):
            assert w.post(url, "dispatcher_a").status_code == 201
        r = w.post(f"/v1/users/{w.actors['dispatcher_a'].user_id}/api-keys",
                   "dispatcher_a", json={"name": "migrations"})
        assert r.status_code == 201, r.text
        plan = apisupport.plan_day(w)
        stop = plan["routes"][0]["stops"][0]["visit_id"] if plan["routes"][0]["stops"] else \
            next(s["visit_id"] for route in plan["routes"] for s in route["stops"])
        r = w.post(f"/v1/plans/{plan['id']}/outcomes", "dispatcher_a", json={"kind": "done", "visit_id": stop})
        assert r.status_code == 201, r.text
        edit = {k: plan[k] for k in ("routes", "unassigned", "kpis")}
        r = w.post(f"/v1/plans/{plan['id']}/versions", "dispatcher_a", json=edit)  # a hand-edited version
        assert r.status_code == 201, r.text
        r = w.post("/v1/reports", "dispatcher_a", json={"household_id": household, "reporter_kind": "utility_worker",
                                                          "summary": "gas meter unread", "date": apisupport.DAY})
        assert r.status_code == 201, r.text
        with session_scope(app.state.engine) as session:
            scenario = Scenario(name="migrations", base_name="tiny", team_id=team_a, start=dt.date(2026, 11, 23),
                                weeks=1, seeds=1, spec={"name": "migrations"}, created_by=manager.user_id)
            session.add(scenario)
            session.flush()
            session.add(ScenarioRun(scenario_id=scenario.id, status="succeeded", seeds=1, policies=["cadence"],
                                    progress={}, result={"aggregates": []}, created_by=manager.user_id))
        assert w.get("/v1/audit", "manager").json()["count"] > 0
        return str(plan["id"])


def test_each_migration_goes_down_and_up_one_step_at_a_time_with_every_features_data(
    backend: dict[str, Any], tmp_path: Path,
) -> None:
    """0010 ... 0002 down one revision at a time and up again, with rows in every table the newest schema has:
    every table a step keeps keeps its rows, the tables a step drops are the step's own, and at the head the
    service reads the published plan it had."""
    with apisupport.empty_engine(backend, tmp_path, prefix="salpimi_migr") as engine:
        upgrade(engine)
        local = {"name": backend["name"], "data_dir": tmp_path,
                 "database_url": None if backend["name"] == "sqlite" else engine.url.render_as_string(False)}
        plan_id = _fill_every_table(local)
        full = _all_counts(engine)
        for table in ("plan", "plan_job", "outcome", "feed_token", "feed_event", "api_key", "team_input",
                      "scenario", "scenario_run", "audit_log", "visit_request"):
            assert full.get(table, 0) > 0, (table, full)
        revisions = _revisions()
        assert revisions[0] == "0001" and revisions[-1] == current_revision(engine)
        seen = {revisions[-1]: full}
        for rev in reversed(revisions[:-1]):  # one step down at a time
            downgrade(engine, rev)  # 0003's failed on SQLite once API keys had rows
            assert current_revision(engine) == rev
            now = _all_counts(engine)
            above = seen[min(seen)]
            assert set(now) <= set(above), rev
            assert {t: now[t] for t in now} == {t: above[t] for t in now}, rev
            seen[rev] = now
        for rev in revisions[1:]:  # and up again
            upgrade(engine, rev)
            now = _all_counts(engine)
            kept = {t: n for t, n in seen[rev].items() if t in seen[revisions[0]]}  # tables that never went away
            assert {t: now[t] for t in kept} == kept, rev
        app_backend = local
        from fastapi.testclient import TestClient

        from api.main import create_app

        with TestClient(create_app(apisupport.make_settings(app_backend)), raise_server_exceptions=False) as c:
            manager = apisupport.bootstrap_manager(c)
            r = c.get(f"/v1/plans/{plan_id}", headers=manager.headers)
            assert r.status_code == 200 and r.json()["published"] is True, r.text
