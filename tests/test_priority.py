"""Explicit priority: a city's own score or a caseworker's judgement replaces the risk model's skip penalty."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from daysupport import DAY, REPO, household, problem, worker

from planner import (
    HaversineProvider,
    Reason,
    RiskFactors,
    RiskModel,
    RiskSettings,
    SolveParams,
    Visit,
    compile_instance,
    evaluate,
    problem_from_json,
    solve,
)
from planner.cli import main

TRAVEL = HaversineProvider()
FAST = SolveParams(time_limit_s=30, deterministic=True, solution_limit=20)
RISKY = RiskFactors(sex="M", age_band="50-64", basic_livelihood=True, alcohol=True, housing="goshiwon",
                    social_contact="none")
CALM = RiskFactors(sex="F", age_band="<40", housing="apartment", social_contact="daily")


def _day(*, risky_priority: float | None = None, calm_priority: float | None = None,
         calm_household_priority: float | None = None) -> Any:
    """One worker who can make one visit; a risky household and a calm one want it."""
    hs = [household(0, risk=RISKY), household(1, dlat=0.001, risk=CALM, priority=calm_household_priority)]
    vs = [Visit(id="risky", household_id="h0", priority=risky_priority),
          Visit(id="calm", household_id="h1", priority=calm_priority)]
    return problem(hs, [worker(0, max_visits=1)], vs)


def _served(p: Any) -> tuple[set[str], Any]:
    r = solve(p, TRAVEL, FAST)
    ev = evaluate(p, r.plan, TRAVEL)
    assert ev.ok, [v.message for v in ev.violations]
    return {s.visit_id for rt in r.plan.routes for s in rt.stops}, r.plan


def test_without_priorities_the_risk_model_decides() -> None:
    served, _ = _served(_day())
    assert served == {"risky"}


def test_a_given_priority_replaces_the_risk_models_penalty_and_mixes_with_derived_ones() -> None:
    p = _day(calm_priority=5000.0)
    inst = compile_instance(p, TRAVEL)
    model = RiskModel.default().assess(p.households[0], DAY)
    assert inst.weight[0] == pytest.approx(model.penalty)  # derived (risky, no priority)
    assert inst.weight[1] == 5000.0  # given
    assert inst.risk[1].tier == "self_care"  # the tier still comes from the risk factors
    served, plan = _served(p)
    assert served == {"calm"}
    (left,) = plan.unassigned
    assert left.visit_id == "risky" and left.reason == Reason.OVER_CAPACITY and left.detail
    k = plan.kpis
    # Coverage counts the priority each visit was planned with.
    assert k.risk_total == pytest.approx(5000.0 + model.penalty, abs=1e-3)
    assert k.risk_covered == pytest.approx(5000.0)
    assert k.risk_weighted_coverage == pytest.approx(5000.0 / (5000.0 + model.penalty), abs=1e-4)
    assert k.visits_by_tier["self_care"].served == 1 and k.visits_by_tier["intensive"].served == 0
    assert k.worst_overdue_left_out is not None and k.worst_overdue_left_out.visit_id == "risky"


def test_a_visits_priority_wins_over_its_households() -> None:
    p = _day(calm_household_priority=5000.0)
    assert compile_instance(p, TRAVEL).weight[1] == 5000.0
    assert _served(p)[0] == {"calm"}
    p = _day(calm_household_priority=5000.0, calm_priority=0.5)
    assert compile_instance(p, TRAVEL).weight[1] == 0.5
    assert _served(p)[0] == {"risky"}


def test_a_given_priority_is_not_aged() -> None:
    early = _day(risky_priority=7.0, calm_priority=7.0)
    late = dataclasses.replace(early, date=DAY + dt.timedelta(days=200))
    a, b = compile_instance(early, TRAVEL), compile_instance(late, TRAVEL)
    assert a.weight.tolist() == b.weight.tolist() == [7.0, 7.0]
    derived_early, derived_late = compile_instance(_day(), TRAVEL), compile_instance(
        dataclasses.replace(_day(), date=DAY + dt.timedelta(days=200)), TRAVEL)
    assert derived_late.weight[0] > derived_early.weight[0]  # the risk model's penalty ages


def test_priorities_are_checked_and_written(tmp_path: Path, capsys: Any) -> None:
    data = json.loads((REPO / "fixtures" / "problems" / "tiny.json").read_text(encoding="utf-8"))
    data["visits"][0]["priority"] = 40
    data["households"][1]["priority"] = 2.5
    p = problem_from_json(data)
    assert p.visits[0].priority == 40.0 and p.households[1].priority == 2.5
    data["visits"][0]["priority"] = -3
    f = tmp_path / "p.json"
    f.write_text(json.dumps(data), encoding="utf-8")
    assert main(["plan", str(f), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "priority: must lie in 0..1000000" in err[0], err
    with pytest.raises(ValueError, match="priority"):
        Visit(id="v", household_id="h", priority=float("nan"))


# ---- risk model settings per problem, packaged defaults -------------------------------------------


def test_a_problems_own_cadences_and_weights_apply_to_it_alone() -> None:
    p = _day()
    base = compile_instance(p, TRAVEL)
    mine = dataclasses.replace(p, risk_model=RiskSettings(cadence_days={"intensive": 5}, weight={"self_care": 3.0}))
    own = compile_instance(mine, TRAVEL)
    assert base.risk[0].cadence_days == 10 and own.risk[0].cadence_days == 5
    assert own.risk[0].days_overdue > base.risk[0].days_overdue
    assert own.weight[0] > base.weight[0]  # more cadences overdue: a higher ageing penalty
    assert own.weight[1] == pytest.approx(3.0 * base.weight[1])  # the self-care weight tripled
    assert evaluate(mine, solve(mine, TRAVEL, FAST).plan, TRAVEL).kpis.risk_total == pytest.approx(
        float(own.weight.sum()), abs=1e-3)
    with pytest.raises(ValueError, match="cadence_days"):
        RiskSettings(cadence_days={"regular": 0})


def test_the_risk_defaults_are_packaged_with_the_planner(tmp_path: Path) -> None:
    """An installed planner (the package alone, no fixtures/ beside it) has its risk model."""
    assert (REPO / "planner" / "risk_defaults.toml").is_file()
    assert not (REPO / "fixtures" / "risk.toml").exists()
    assert 'planner = ["risk_defaults.toml"]' in (REPO / "pyproject.toml").read_text(encoding="utf-8")
    shutil.copytree(REPO / "planner", tmp_path / "planner", ignore=shutil.ignore_patterns("__pycache__"))
    code = ("import datetime as dt, planner; m = planner.RiskModel.default(); "
            "print(m.config['cadence_days']['intensive'], planner.__file__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    cadence, where = out.stdout.split()
    assert cadence == "10" and where.startswith(str(tmp_path))
