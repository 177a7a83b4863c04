"""The append-only audit log, no personal data in it, and the serve/db/load/user commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import apisupport
import pytest
import sqlalchemy as sa
from apisupport import TINY, World, assert_problem, tiny_problem

from api import cli
from api.db import head_revision

# Fixtures (apisupport.py; no conftest.py here, which would shadow tests/conftest.py).
backend, client, world = apisupport.backend, apisupport.client, apisupport.world


def test_reads_and_changes_of_household_data_are_audited(world: World) -> None:
    hh = world.households_a["t-h1"]
    dispatcher = world.actors["dispatcher_a"]
    assert world.get(f"/v1/households/{hh}", "dispatcher_a").status_code == 200
    assert world.get(f"/v1/households/{hh}/private", "dispatcher_a").status_code == 200
    r = world.patch(f"/v1/households/{hh}/private", "dispatcher_a", json={"contact": "010-9999-0000"})
    assert r.status_code == 200, r.text
    log = world.get(f"/v1/audit?actor_id={dispatcher.user_id}", "manager").json()
    entries = {(e["action"], e["resource"], e["resource_id"]) for e in log["data"]}
    assert ("read", "household", hh) in entries
    assert ("read", "household_private", hh) in entries
    assert ("update", "household_private", hh) in entries
    assert all(e["at"].endswith("+09:00") for e in log["data"])
    assert "010-9999-0000" not in str(log)  # ids and field names only
    private = world.get(f"/v1/audit?resource=household_private&resource_id={hh}", "manager").json()
    assert private["count"] >= 2


def test_the_audit_log_refuses_updates_and_deletes(world: World) -> None:
    world.get(f"/v1/households/{world.households_a['t-h1']}", "dispatcher_a")
    engine = world.client.app.state.engine  # type: ignore[attr-defined]
    for statement in ("UPDATE audit_log SET detail = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError), engine.begin() as conn:
            conn.exec_driver_sql(statement)
    assert world.get("/v1/audit", "manager").json()["count"] > 0


def test_problem_json_for_a_report_on_an_unknown_household(world: World) -> None:
    assert_problem(world.post("/v1/reports", "dispatcher_a",
                              json={"household_id": "hh_nope", "reporter_kind": "utility_worker"}), 404)


def _db_args(backend: dict[str, Any], tmp_path: Path) -> list[str]:
    args = ["--data-dir", str(tmp_path)]
    if backend["database_url"]:
        args += ["--database-url", backend["database_url"]]
    return args


def test_cli_upgrade_load_and_add_user(backend: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _db_args(backend, tmp_path)
    assert cli.main(["db", "upgrade", *args]) == 0
    assert f"revision {head_revision()}" in capsys.readouterr().out
    problem = tmp_path / "tiny.json"
    problem.write_text(TINY.read_text(encoding="utf-8") if TINY.is_file() else __import__("json").dumps(tiny_problem()))
    assert cli.main(["load", str(problem), "--name", "cli-team", *args]) == 0
    out = capsys.readouterr().out
    assert "2 workers, 6 households, 6 visit requests" in out
    username = f"cli-mgr-{tmp_path.name[-6:]}"
    assert cli.main(["user", "add", username, "--role", "manager", "--api-key", *args]) == 0
    out = capsys.readouterr().out
    assert "password:" in out and "API key:  slp_" in out


def test_cli_bad_input_is_one_line_and_exit_2(backend: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _db_args(backend, tmp_path)
    assert cli.main(["load", str(tmp_path / "missing.json"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err
    broken = tmp_path / "broken.json"
    broken.write_text('{"households": [], "workers": [], "visits": [{"id": "v", "household_id": "nobody"}], '
                      '"date": "2026-11-24"}')
    assert cli.main(["load", str(broken), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nobody" in err
    assert cli.main(["user", "add", "x-field", "--role", "field_worker", *args]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert cli.main(["db", "upgrade", "--database-url", "postgresql://nobody@127.0.0.1:1/none"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot connect" in err
