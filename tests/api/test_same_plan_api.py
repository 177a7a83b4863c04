"""An API plan job and `salpimi plan` give the same plan for the same day, seed and deterministic work budget."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import apisupport
from apisupport import DAY, REPO, World, wait_for_job

import planner
from api.db import session_scope
from api.models import Plan, VisitStatus
from api.services.jobs import build_problem
from api.services.registry import get_team

# Fixtures (apisupport.py; no conftest.py here, which would shadow tests/conftest.py).
backend, client, world = apisupport.backend, apisupport.client, apisupport.world

SEARCH = {"seed": 3, "time_limit_s": 60, "deterministic": True, "solution_limit": 20}


def _cli_plan(problem: planner.Problem, folder: Path) -> dict[str, Any]:
    """`salpimi plan --deterministic` on ``problem`` in a fresh process (the command a dispatcher would run)."""
    source, out = folder / "day.json", folder / "plan.json"
    source.write_text(json.dumps(planner.problem_to_json(problem)), encoding="utf-8")
    args = ["plan", str(source), "--deterministic", "--solution-limit", str(SEARCH["solution_limit"]),
            "--time-limit", str(SEARCH["time_limit_s"]), "--seed", str(SEARCH["seed"]), "--quiet", "--out", str(out)]
    r = subprocess.run([sys.executable, "-c", "import sys; from api.cli import main; sys.exit(main(sys.argv[1:]))",
                        *args], cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_a_deterministic_plan_job_gives_the_plan_salpimi_plan_gives(world: World, tmp_path: Path) -> None:
    engine = world.client.app.state.engine  # type: ignore[attr-defined]
    with session_scope(engine) as session:  # the day exactly as the job will see it
        team = get_team(session, world.team_a)
        problem = build_problem(session, team, dt.date.fromisoformat(DAY),
                                statuses=(VisitStatus.OPEN.value,))
    r = world.post("/v1/plan-jobs", "dispatcher_a", json={"team_id": world.team_a, "date": DAY, **SEARCH})
    assert r.status_code == 202, r.text
    assert r.json()["deterministic"] is True and r.json()["solver"] == "auto"
    job = wait_for_job(world.client, world["dispatcher_a"], r.json()["id"])
    assert job["status"] == "succeeded", job
    with session_scope(engine) as session:
        row = session.get(Plan, job["plan_id"])
        assert row is not None
        from_api = planner.plan_to_json(planner.plan_from_json({**row.data, "date": row.date.isoformat()}))
    from_cli = _cli_plan(problem, tmp_path)
    # The service adds the evaluator's count of violations to the plan's meta; the rest is the planner's own.
    assert from_api["meta"].pop("violations") == 0
    assert from_api == from_cli
    assert from_cli["meta"]["deterministic"] is True and from_cli["meta"]["seed"] == 3
