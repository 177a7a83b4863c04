"""The VROOM + OR-Tools hybrid: plans always pass the evaluator; hard rules hold; deterministic mode."""

from __future__ import annotations

from daysupport import assert_plan_clean as _ok
from daysupport import hm, household, problem, window, worker
from hypothesis import HealthCheck, given, settings
from test_solve import small_problems

from planner import HaversineProvider, SolveParams, Visit, compile_instance, solve
from planner.solvers.race import RaceSolver
from planner.solvers.vroom_hybrid import VroomHybridSolver, build_vroom_input, vroom_routes

TRAVEL = HaversineProvider()
#: A small work budget (the time limit only a safety cap): tiny days need no fixed second each.
QUICK = SolveParams(time_limit_s=30, deterministic=True, solution_limit=20)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_vroom_hybrid_plans_on_random_small_problems_have_zero_violations(p) -> None:
    _ok(p, solve(p, TRAVEL, QUICK, solver=VroomHybridSolver()))


def test_vroom_hybrid_keeps_skills_breaks_windows_and_required_worker() -> None:
    hs = [household(i, dlat=0.002 * i, dlon=-0.001 * i) for i in range(8)]
    ws = [worker(0), worker(1, skills=frozenset({"nursing", "dementia_care"}))]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}", duration_s=2400) for i in range(8)]
    vs[0] = Visit(id="v0", household_id="h0", required_skills=frozenset({"dementia_care"}))
    vs[1] = Visit(id="v1", household_id="h1", time_windows=(window("12:10", "12:40"), window("15:00", "15:30")))
    vs[2] = Visit(id="v2", household_id="h2", required_worker_id="w0", mandatory=True)
    p = problem(hs, ws, vs)
    r = solve(p, TRAVEL, QUICK, solver=VroomHybridSolver())
    _ok(p, r)
    assert r.plan.meta["solver"] == "vroom+ortools"
    by_visit = {s.visit_id: rt for rt in r.plan.routes for s in rt.stops}
    assert by_visit["v0"].worker_id == "w1"
    assert by_visit["v2"].worker_id == "w0"
    v1 = next(s for s in by_visit["v1"].stops if s.visit_id == "v1")
    assert hm("15:00") <= v1.start_s <= hm("15:30")  # 12:10-12:40 collides with every lunch
    for rt in r.plan.routes:
        assert rt.break_start_s is not None and hm("12:00") <= rt.break_start_s <= hm("12:30")


def test_vroom_sees_qualified_workers_and_visit_limits() -> None:
    hs = [household(i, dlat=0.001 * i) for i in range(6)]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}", required_worker_id="w1" if i < 2 else None) for i in range(6)]
    inst = compile_instance(problem(hs, [worker(0, max_visits=2), worker(1)], vs), TRAVEL)
    assert build_vroom_input(inst).jobs == 6
    routes = vroom_routes(inst, seconds=None)
    assert len(routes[0]) <= 2
    assert {0, 1} <= set(routes[1])


def test_vroom_hybrid_deterministic_mode_is_reproducible() -> None:
    hs = [household(i, dlat=0.002 * (i % 5), dlon=0.002 * (i // 5)) for i in range(20)]
    p = problem(hs, [worker(0, max_visits=6), worker(1, max_visits=6)],
                [Visit(id=f"v{i}", household_id=f"h{i}") for i in range(20)])
    params = SolveParams(time_limit_s=30, deterministic=True, solution_limit=100, seed=5)
    a = solve(p, TRAVEL, params, solver=VroomHybridSolver()).plan.to_json()
    b = solve(p, TRAVEL, params, solver=VroomHybridSolver()).plan.to_json()
    assert a["routes"] == b["routes"] and a["unassigned"] == b["unassigned"]


def test_race_with_vroom_challenger_on_one_core_plans_and_stops() -> None:
    hs = [household(i, dlat=0.002 * i) for i in range(5)]
    p = problem(hs, [worker(0)], [Visit(id=f"v{i}", household_id=f"h{i}") for i in range(5)])
    # On the clock one core runs the hybrid alone (a split would halve each leg's time).
    r = solve(p, TRAVEL, SolveParams(time_limit_s=0.3), solver=RaceSolver(processes=1))
    _ok(p, r)
    assert r.plan.meta["solver"] == "vroom+ortools"
    # Told to stop, it stops at once with the plan it has: a work budget it could not finish in a day shows it.
    polls: list[int] = []

    def stop() -> bool:
        polls.append(1)
        return True

    endless = SolveParams(time_limit_s=24 * 3600, deterministic=True, solution_limit=10**9)
    r = solve(p, TRAVEL, endless, solver=RaceSolver(processes=1), should_stop=stop)
    _ok(p, r)
    assert r.stopped_early and r.plan.meta["stopped_early"] is True
    assert 1 <= len(polls) <= 3
