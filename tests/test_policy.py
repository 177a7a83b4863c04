"""The default solver's policy: race only with idle cores, the challenger for the day's shape, VROOM's portfolio
within its share, the full objective's local search (never worse, every rule kept), and the budget held."""

from __future__ import annotations

import time

import pytest
from daysupport import assert_plan_clean as _ok
from daysupport import household, problem, vroom_start, worker
from hypothesis import HealthCheck, given, settings
from test_solve import small_problems

from planner import HaversineProvider, SolveParams, Visit, compile_instance, solve
from planner.evaluate import evaluate_instance
from planner.plan import Plan, Reason, Unassigned
from planner.schedule import schedule_route
from planner.solve import _route_from
from planner.solvers.budget import Deadline
from planner.solvers.improve import improve, recreate
from planner.solvers.objective import full_objective
from planner.solvers.race import RaceSolver, challenger_for, idle_cores
from planner.solvers.vroom_hybrid import VroomHybridSolver, deepest, fits, priorities_of

TRAVEL = HaversineProvider()
CLOCK = SolveParams(time_limit_s=2)
DETERMINISTIC = SolveParams(time_limit_s=30, deterministic=True, solution_limit=20)


def _day(n: int = 8, *, breaks: bool = True, max_visits: int | None = None):
    hs = [household(i, dlat=0.002 * (i % 4), dlon=0.0015 * (i // 4)) for i in range(n)]
    extra = {} if breaks else {"break_window": None, "break_s": 0}
    ws = [worker(0, max_visits=max_visits, **extra), worker(1, max_visits=max_visits, **extra)]
    return problem(hs, ws, [Visit(id=f"v{i}", household_id=f"h{i}") for i in range(n)])


# ---- the race only where idle cores are -------------------------------------------------------

@pytest.mark.parametrize(("load", "mode"), [(0.2, "race"), (0.5, "race"), (0.6, "alone"), (1.9, "alone"),
                                            (7.0, "alone")])
def test_on_the_clock_the_race_needs_an_idle_core_for_each_leg(load: float, mode: str, monkeypatch) -> None:
    monkeypatch.setattr("planner.solvers.race.can_fork", lambda processes=None: True)
    inst = compile_instance(_day(), TRAVEL)
    assert idle_cores(2, lambda: load) == pytest.approx(2 - load)
    assert RaceSolver(processes=2, load=lambda: load).mode(inst, Deadline.start(10)) == mode


def test_the_load_never_changes_the_deterministic_mode(monkeypatch) -> None:
    monkeypatch.setattr("planner.solvers.race.can_fork", lambda processes=None: True)
    inst = compile_instance(_day(), TRAVEL)
    work = Deadline.start(30, work=20)
    assert {RaceSolver(processes=2, load=lambda x=x: x).mode(inst, work) for x in (0.0, 1.0, 9.0)} == {"race"}
    monkeypatch.setattr("planner.solvers.race.can_fork", lambda processes=None: False)
    assert RaceSolver(processes=1, load=lambda: 9.0).mode(inst, work) == "sequential"


def test_a_busy_machine_runs_the_challenger_alone_and_race_halves_instead(monkeypatch) -> None:
    monkeypatch.setattr("planner.solvers.race.can_fork", lambda processes=None: True)
    inst = compile_instance(_day(), TRAVEL)
    assert RaceSolver(processes=2, load=lambda: 3.0, halve=True).mode(inst, Deadline.start(10)) == "sequential"
    p = _day()
    r = solve(p, TRAVEL, CLOCK, solver=RaceSolver(processes=2, load=lambda: 3.0))
    _ok(p, r)
    assert r.plan.meta["solver"] in ("vroom+ortools", "greedy")  # alone: no plain OR-Tools leg


def test_the_challenger_follows_the_day_shape() -> None:
    assert challenger_for(compile_instance(_day(breaks=True), TRAVEL)) == "vroom"
    assert challenger_for(compile_instance(_day(breaks=False), TRAVEL)) == "pyvrp"


# ---- VROOM's portfolio --------------------------------------------------------------------------

def test_a_run_fits_when_its_levels_estimated_time_does() -> None:
    assert fits(0, 2.0, 2.5) and not fits(0, 2.0, 2.4)  # a 25 % margin on the first run's time
    assert fits(1, 1.0, 3.2) and not fits(2, 1.0, 3.2)  # level 1 about 2.5x level 0, level 2 about 6x
    assert deepest(5, 1.0, 100.0) == 5 and deepest(5, 1.0, 3.2) == 1 and deepest(5, 1.0, 1.0) == -1


def _runs(monkeypatch, params: SolveParams, seconds: float) -> list[tuple[int, str]]:
    """The (level, mapping) of each VROOM run of the portfolio, each run taking 0.05 s."""
    import planner.solvers.vroom_hybrid as vh

    hs = [household(i, dlat=0.001 * i) for i in range(6)]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}", priority=float(3 ** i)) for i in range(6)]
    inst = compile_instance(problem(hs, [worker(0)], vs), TRAVEL)
    names = ("rank98", "rank30", "rank10", "logall", "log", "linear")  # log = logall without urgent visits
    seen: list[tuple[int, str]] = []

    def fake(inst_, *, seconds, exploration_level, threads, priorities):
        time.sleep(0.05)
        seen.append((exploration_level, next(n for n in names if priorities_of(inst, n) == priorities)))
        return [[] for _ in range(inst_.n_workers)]

    monkeypatch.setattr(vh, "vroom_routes", fake)
    VroomHybridSolver(mappings=("rank98", "log", "linear"))._portfolio(
        inst, params, None, Deadline.start(seconds, work=params.solution_limit if params.deterministic else None),
        None)
    return seen


def test_on_the_clock_the_portfolio_runs_every_mapping_at_level_0_then_deeper_levels_that_fit(monkeypatch) -> None:
    # 0.05 s a run: level 5 is expected to take 40 x 1.25 x 0.05 = 2.5 s, which fits beside the polish's 40 % of 10 s
    # each time: first what VROOM alone does (log priorities up to the largest penalty: the lean plan), then every
    # mapping by its level-0 objective.
    # (Without urgent visits log and logall agree: VROOM runs the same priorities at a level once.)
    assert _runs(monkeypatch, CLOCK, 10.0) == [(0, "rank98"), (0, "logall"), (0, "linear"),
                                               (5, "logall"), (5, "rank98"), (5, "linear")]
    # Coverage resolution off: no lean plan to keep.
    assert _runs(monkeypatch, SolveParams(time_limit_s=2, coverage_resolution=0), 10.0) == [
        (0, "rank98"), (0, "logall"), (0, "linear"), (5, "rank98"), (5, "logall"), (5, "linear")]
    # Too little left after the first run for another: the first run alone.
    assert _runs(monkeypatch, CLOCK, 0.07) == [(0, "rank98")]
    # Deterministic: the reproducible level with every rank granularity, whatever the time.
    assert _runs(monkeypatch, DETERMINISTIC, 0.1) == [(0, "rank98"), (0, "rank30"), (0, "rank10")]


def test_priority_mappings_rank_riskier_visits_no_lower_and_keep_the_top_for_urgent_ones() -> None:
    hs = [household(i, dlat=0.001 * i) for i in range(5)]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}", priority=float(10 ** i)) for i in range(4)]
    vs.append(Visit(id="v4", household_id="h4", urgent=True))
    inst = compile_instance(problem(hs, [worker(0)], vs), TRAVEL)
    for name in ("rank98", "rank10", "log", "linear"):
        pr = priorities_of(inst, name)
        assert pr[4] == 100
        assert [pr[v] for v in range(4)] == sorted(pr[v] for v in range(4)), name
        assert all(1 <= pr[v] <= 99 for v in range(4))
    assert priorities_of(inst, "linear")[3] == 99 and priorities_of(inst, "linear")[0] == 1
    with pytest.raises(ValueError, match="mapping"):
        priorities_of(inst, "rank0")
    with pytest.raises(ValueError, match="mappings"):
        VroomHybridSolver(mappings=("cubic",))


def test_on_the_clock_the_vroom_hybrid_plans_within_the_budget() -> None:
    p = _day(12, max_visits=4)
    limit = 1.5
    solve(p, TRAVEL, SolveParams(time_limit_s=0.3), solver=VroomHybridSolver())  # imports OR-Tools and VROOM
    t0 = time.perf_counter()
    r = solve(p, TRAVEL, SolveParams(time_limit_s=limit), solver=VroomHybridSolver())
    assert time.perf_counter() - t0 <= limit * 1.02 + 0.5
    _ok(p, r)


# ---- the full objective's local search ----------------------------------------------------------

def test_improve_puts_a_riskier_visit_in_place_of_a_safer_one_when_only_one_fits() -> None:
    hs = [household(0, dlat=0.003), household(1, dlat=-0.003)]
    vs = [Visit(id="v0", household_id="h0", priority=1.0), Visit(id="v1", household_id="h1", priority=50.0)]
    inst = compile_instance(problem(hs, [worker(0, max_visits=1)], vs), TRAVEL)
    assert improve(inst, [[0]], DETERMINISTIC) == ((1,),)


def test_improve_shortens_a_route_that_zigzags() -> None:
    hs = [household(i, dlat=0.004 * (1 if i % 2 else -1) * (1 + i // 2)) for i in range(4)]
    p = problem(hs, [worker(0, break_window=None, break_s=0)], [Visit(id=f"v{i}", household_id=f"h{i}")
                                                                for i in range(4)])
    inst = compile_instance(p, TRAVEL)
    before = full_objective(inst, [[0, 1, 2, 3]], DETERMINISTIC)
    after = improve(inst, [[0, 1, 2, 3]], DETERMINISTIC)
    assert sorted(after[0]) == [0, 1, 2, 3]
    assert full_objective(inst, after, DETERMINISTIC) < before


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_improve_never_worsens_the_full_objective_and_keeps_every_rule(p) -> None:
    inst = compile_instance(p, TRAVEL)
    start = vroom_start(inst)
    after = improve(inst, start, DETERMINISTIC)
    assert full_objective(inst, after, DETERMINISTIC) <= full_objective(inst, start, DETERMINISTIC)
    assert full_objective(inst, after, DETERMINISTIC) < 1 << 62


def test_improve_stops_when_asked_and_leaves_routes_feasible() -> None:
    p = _day(12)
    inst = compile_instance(p, TRAVEL)
    start = [[0, 5, 2], [7, 1]]
    assert improve(inst, start, DETERMINISTIC, stop=lambda: True) == ((0, 5, 2), (7, 1))
    assert full_objective(inst, improve(inst, start, DETERMINISTIC), DETERMINISTIC) <= full_objective(
        inst, start, DETERMINISTIC)


# ---- ruin and recreate on the full objective -------------------------------------------------------

def _two_for_one():
    """One worker, nine hours, no lunch: two safe 4-hour visits fill the day; a risky 6-hour one fits only alone."""
    hs = [household(i, dlat=0.001 * i) for i in range(3)]
    vs = [Visit(id="v0", household_id="h0", priority=1.0, duration_s=4 * 3600),
          Visit(id="v1", household_id="h1", priority=1.0, duration_s=4 * 3600),
          Visit(id="v2", household_id="h2", priority=50.0, duration_s=6 * 3600)]
    return compile_instance(problem(hs, [worker(0, break_window=None, break_s=0)], vs), TRAVEL)


def test_recreate_takes_two_safer_visits_out_for_a_riskier_one_the_local_search_cannot_place() -> None:
    inst = _two_for_one()
    # The local search swaps one visit for one: the risky visit beside either safe one overruns the shift.
    assert improve(inst, [[0, 1]], DETERMINISTIC) == ((0, 1),)
    after = recreate(inst, [[0, 1]], DETERMINISTIC, stop=lambda: False, rounds=5)
    assert after == ((2,),)
    assert full_objective(inst, after, DETERMINISTIC) < full_objective(inst, [[0, 1]], DETERMINISTIC)


def test_recreate_stops_when_asked() -> None:
    inst = _two_for_one()
    assert recreate(inst, [[0, 1]], DETERMINISTIC, stop=lambda: True) == ((0, 1),)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_recreate_never_worsens_the_full_objective_and_keeps_every_rule(p) -> None:
    inst = compile_instance(p, TRAVEL)
    start = vroom_start(inst)
    after = recreate(inst, start, DETERMINISTIC, stop=lambda: False, rounds=15, seed=3)
    assert full_objective(inst, after, DETERMINISTIC) <= full_objective(inst, start, DETERMINISTIC)
    assert full_objective(inst, after, DETERMINISTIC) < 1 << 62
    assert after == recreate(inst, start, DETERMINISTIC, stop=lambda: False, rounds=15, seed=3)
    routes = tuple(_route_from(inst, w, order, schedule_route(inst, w, order)) for w, order in enumerate(after) if order)
    served = {s.visit_id for rt in routes for s in rt.stops}
    left = tuple(Unassigned(visit_id=v.id, household_id=v.household_id, reason=Reason.OVER_CAPACITY, detail="",
                            mandatory=v.mandatory, urgent=v.urgent) for v in p.visits if v.id not in served)
    ev = evaluate_instance(inst, Plan(date=p.date, routes=routes, unassigned=left))
    assert not ev.violations, [v.message for v in ev.violations]
