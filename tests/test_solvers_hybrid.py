"""The PyVRP + OR-Tools hybrid and the race: plans always pass the evaluator; hard rules hold."""

from __future__ import annotations

import pytest
from daysupport import assert_plan_clean as _ok
from daysupport import hm, household, problem, window, worker
from hypothesis import HealthCheck, given, settings
from test_solve import small_problems

from planner import HaversineProvider, SolveParams, TravelModeName, Visit, compile_instance, solve

pytest.importorskip("pyvrp")

from planner.solvers.objective import full_objective
from planner.solvers.pyvrp_hybrid import PyVrpHybridSolver, build_relaxation
from planner.solvers.race import RaceSolver

TRAVEL = HaversineProvider()
#: A small work budget (the time limit only a safety cap): tiny days need no fixed second each.
QUICK = SolveParams(time_limit_s=30, deterministic=True, solution_limit=20)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_hybrid_plans_on_random_small_problems_have_zero_violations(p) -> None:
    _ok(p, solve(p, TRAVEL, QUICK, solver=PyVrpHybridSolver()))


def test_hybrid_keeps_skills_breaks_and_windows() -> None:
    hs = [household(i, dlat=0.002 * i, dlon=-0.001 * i) for i in range(8)]
    ws = [worker(0), worker(1, skills=frozenset({"nursing", "dementia_care"}))]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}", duration_s=2400) for i in range(8)]
    vs[0] = Visit(id="v0", household_id="h0", required_skills=frozenset({"dementia_care"}))
    vs[1] = Visit(id="v1", household_id="h1", time_windows=(window("12:10", "12:40"), window("15:00", "15:30")))
    vs[2] = Visit(id="v2", household_id="h2", required_worker_id="w0", mandatory=True)
    p = problem(hs, ws, vs)
    r = solve(p, TRAVEL, QUICK, solver=PyVrpHybridSolver())
    _ok(p, r)
    by_visit = {s.visit_id: rt for rt in r.plan.routes for s in rt.stops}
    assert by_visit["v0"].worker_id == "w1"
    assert by_visit["v2"].worker_id == "w0"
    v1 = next(s for s in by_visit["v1"].stops if s.visit_id == "v1")
    assert hm("15:00") <= v1.start_s <= hm("15:30")  # 12:10-12:40 collides with every lunch
    for rt in r.plan.routes:
        assert rt.break_start_s is not None and hm("12:00") <= rt.break_start_s <= hm("12:30")


def test_relaxation_groups_identical_workers_and_marks_exactness() -> None:
    hs = [household(i, dlat=0.001 * i) for i in range(4)]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}", mandatory=i == 0) for i in range(4)]
    no_break = dict(break_window=None, break_s=0)
    inst = compile_instance(problem(hs, [worker(0, **no_break), worker(1, **no_break)], vs), TRAVEL)
    model = build_relaxation(inst)
    assert model is not None and model.exact
    assert model.type_workers == ((0, 1),)
    assert sum(c.required for c in model.data.clients()) == 1
    inst = compile_instance(problem(hs, [worker(0), worker(1, travel_mode=TravelModeName.DRIVE)], vs), TRAVEL)
    model = build_relaxation(inst)
    assert model is not None and not model.exact and len(model.type_workers) == 2


def test_hybrid_deterministic_mode_is_reproducible() -> None:
    hs = [household(i, dlat=0.002 * (i % 5), dlon=0.002 * (i // 5)) for i in range(20)]
    p = problem(hs, [worker(0, max_visits=6), worker(1, max_visits=6)],
                [Visit(id=f"v{i}", household_id=f"h{i}") for i in range(20)])
    params = SolveParams(time_limit_s=30, deterministic=True, solution_limit=100, seed=5)
    a = solve(p, TRAVEL, params, solver=PyVrpHybridSolver()).plan.to_json()
    b = solve(p, TRAVEL, params, solver=PyVrpHybridSolver()).plan.to_json()
    assert a["routes"] == b["routes"] and a["unassigned"] == b["unassigned"]


def test_race_keeps_the_better_plan_and_passes_the_evaluator() -> None:
    hs = [household(i, dlat=0.002 * (i % 4), dlon=0.002 * (i // 4)) for i in range(12)]
    p = problem(hs, [worker(0), worker(1)], [Visit(id=f"v{i}", household_id=f"h{i}") for i in range(12)])
    r = solve(p, TRAVEL, QUICK, solver=RaceSolver(processes=2))
    _ok(p, r)
    assert r.plan.meta["solver"] in {"ortools", "pyvrp+ortools", "vroom+ortools"}
    routes = [[] for _ in p.workers]
    vidx = {v.id: i for i, v in enumerate(p.visits)}
    for rt in r.plan.routes:
        routes[int(rt.worker_id[1:])] = [vidx[s.visit_id] for s in rt.stops]
    assert full_objective(r.instance, routes, SolveParams()) < 1 << 62


def test_race_with_one_core_still_plans() -> None:
    hs = [household(i, dlat=0.002 * i) for i in range(5)]
    p = problem(hs, [worker(0)], [Visit(id=f"v{i}", household_id=f"h{i}") for i in range(5)])
    _ok(p, solve(p, TRAVEL, QUICK, solver=RaceSolver(processes=1)))
