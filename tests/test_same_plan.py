"""One input, seed and work budget, one plan: from the command line on one core or two, and from the race either way."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from daysupport import REPO, household, problem, window, worker

from planner import HaversineProvider, SolveParams, Visit, compile_instance, problem_to_json, solve
from planner.solvers.race import RaceSolver, can_fork, challenger_for

TRAVEL = HaversineProvider()
TINY = REPO / "fixtures" / "problems" / "tiny.json"
QUICK = SolveParams(time_limit_s=60, deterministic=True, solution_limit=20, seed=3)
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1

# `salpimi plan` in a fresh process, on the cores given (the race counts the cores it may use).
_PLAN_ON = """
import os, sys
os.sched_setaffinity(0, {int(c) for c in sys.argv[1].split(",")})
from planner.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _plan_on(cores: str, problem_file: Path, out: Path, *extra: str) -> dict:
    args = ["plan", str(problem_file), "--deterministic", "--solution-limit", "20", "--time-limit", "60",
            "--seed", "3", "--quiet", "--out", str(out), *extra]
    r = subprocess.run([sys.executable, "-c", _PLAN_ON, cores, *args], cwd=REPO,
                       capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr
    return json.loads(out.read_text(encoding="utf-8"))


def _day_without_breaks():
    """A day PyVRP can express whole (no lunch, no preferred worker): the race's challenger is PyVRP's hybrid."""
    hs = [household(i, dlat=0.0021 * (i % 4), dlon=0.0017 * (i // 4)) for i in range(10)]
    ws = [worker(0, break_window=None, break_s=0, max_visits=4),
          worker(1, break_window=None, break_s=0, shift=window("10:00", "17:00"))]
    return problem(hs, ws, [Visit(id=f"v{i}", household_id=f"h{i}") for i in range(10)])


def _day_with_breaks():
    """A day with lunch breaks and a time window: the race's challenger is VROOM's hybrid."""
    hs = [household(i, dlat=0.0019 * (i % 5), dlon=0.0023 * (i // 5)) for i in range(12)]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}") for i in range(12)]
    vs[3] = Visit(id="v3", household_id="h3", time_windows=(window("14:00", "15:00"),))
    return problem(hs, [worker(0, max_visits=5), worker(1, shift=window("09:30", "17:30"))], vs)


@pytest.mark.parametrize("day", [_day_without_breaks, _day_with_breaks], ids=["pyvrp", "vroom"])
def test_the_race_gives_one_plan_whether_its_legs_run_side_by_side_or_one_after_the_other(day) -> None:
    p = day()
    inst = compile_instance(p, TRAVEL)
    assert challenger_for(inst) == ("pyvrp" if day is _day_without_breaks else "vroom")
    one = solve(p, TRAVEL, QUICK, solver=RaceSolver(processes=1)).plan.to_json()
    if can_fork(2):
        two = solve(p, TRAVEL, QUICK, solver=RaceSolver(processes=2)).plan.to_json()
        assert one == two
    again = solve(p, TRAVEL, QUICK).plan.to_json()  # params.solver "auto": the race, on this machine's cores
    assert again == one


@pytest.mark.skipif(CORES < 2 or not hasattr(os, "sched_setaffinity"), reason="needs two cores and CPU affinity")
def test_salpimi_plan_deterministic_is_the_same_on_one_core_and_on_two(tmp_path: Path) -> None:
    day = tmp_path / "day.json"
    day.write_text(json.dumps(problem_to_json(_day_with_breaks())), encoding="utf-8")
    both = sorted(os.sched_getaffinity(0))[:2]
    for source in (TINY, day):
        one = _plan_on(str(both[0]), source, tmp_path / "one.json")
        two = _plan_on(f"{both[0]},{both[1]}", source, tmp_path / "two.json")
        assert one == two
        assert one["meta"]["deterministic"] is True and one["meta"]["seed"] == 3


def test_every_engine_is_reproducible_in_the_deterministic_mode() -> None:
    p = _day_with_breaks()
    for name in ("ortools", "pyvrp", "vroom", "race"):
        params = SolveParams(time_limit_s=60, deterministic=True, solution_limit=20, seed=1, solver=name)
        first = solve(p, TRAVEL, params).plan.to_json()
        assert solve(p, TRAVEL, params).plan.to_json() == first, name
