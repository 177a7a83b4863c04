"""The second PyVRP search on the idle core (issue 16): only with an idle core, never worse than a single search
with the same seed, the incumbent handed over at the midpoint, the deterministic mode deterministic."""

from __future__ import annotations

import dataclasses
import os
import random
import subprocess
import sys
import time

import pytest
from daysupport import household, problem, window, worker

from planner import HaversineProvider, SolveParams, Visit, compile_instance, solve
from planner.bound import coverage_bound, full_bound
from planner.solvers.budget import Deadline
from planner.solvers.objective import relaxation_is_exact
from planner.solvers.pyvrp_hybrid import Handover, PyVrpHybridSolver, _cost
from planner.solvers.race import RaceSolver, _Mailbox, idle_cores, others_load, others_running, own_load, second_seed
from planner.solvers.repair import settle

TRAVEL = HaversineProvider()


def _vrptw_day(seed: int, n: int = 24, workers: int = 4, spread: float = 0.02):
    """A small VRPTW-shaped day: no breaks and no continuity (PyVRP's relaxation is exact), windows of an hour or
    two spread over the shift."""
    rng = random.Random(seed)
    hs = [household(i, dlat=rng.uniform(-spread, spread), dlon=rng.uniform(-spread, spread)) for i in range(n)]
    vs = []
    for i in range(n):
        start = rng.choice(("09:00", "10:00", "11:00", "13:00", "14:00", "15:00"))
        end = f"{int(start[:2]) + rng.choice((1, 2)):02d}:00"
        vs.append(Visit(id=f"v{i}", household_id=f"h{i}", time_windows=(window(start, end),), mandatory=True))
    ws = [worker(k, break_window=None, break_s=0) for k in range(workers)]
    return problem(hs, ws, vs)


def _value(inst, raw, params) -> float:
    return settle(inst, raw.routes, params, None)[0]


def test_the_second_search_runs_only_with_an_idle_core(monkeypatch) -> None:
    """On the clock this process searches with the second seed only when the other jobs leave a core idle; on a
    busy machine the one search with the seed runs alone."""
    monkeypatch.setattr("planner.solvers.race.can_fork", lambda processes=None: True)
    seeds: list[int] = []
    solve_once = PyVrpHybridSolver.solve

    def spy(self, inst, params, **kw):
        seeds.append(params.seed)
        return solve_once(self, inst, params, **kw)

    monkeypatch.setattr(PyVrpHybridSolver, "solve", spy)
    p = _vrptw_day(1, n=10, workers=2)
    inst = compile_instance(p, TRAVEL)
    assert relaxation_is_exact(inst, None)
    clock = SolveParams(time_limit_s=1.0, seed=7)
    solve(p, TRAVEL, clock, solver=RaceSolver(processes=2, load=lambda: 0.2))
    assert seeds == [second_seed(7)]  # this process's leg; the child's (seed 7) runs in the child
    seeds.clear()
    r = solve(p, TRAVEL, clock, solver=RaceSolver(processes=2, load=lambda: 1.2))
    assert seeds == [7] and r.plan.routes


def test_the_load_read_by_default_leaves_out_this_process_own_share() -> None:
    """A benchmark that has searched for a minute raised the load itself; the idle cores count the others' load."""
    assert 0.0 <= own_load() <= 2.0 * len(os.sched_getaffinity(0))
    assert others_load() >= 0.0
    assert idle_cores(2, lambda: 0.3) == pytest.approx(1.7)


def test_the_idle_cores_see_a_neighbour_now_and_forget_it_when_it_ends() -> None:
    """By default the idle cores count the other jobs runnable now, not the 1-minute load average, which still
    counted a search that had just ended (a bench running one search after another never raced) and missed a
    neighbour that had just started."""
    alone = others_running(samples=40)
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        beside = others_running(samples=40)
    finally:
        neighbour.kill()
        neighbour.wait()
    after = others_running(samples=40)
    assert beside >= alone + 0.7, (alone, beside)  # a CPU-bound neighbour is runnable at every reading
    assert after <= beside - 0.7, (beside, after)  # ended: gone at once (the load average keeps it for a minute)
    assert idle_cores(2) <= 2.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_searches_are_never_worse_than_one_with_the_same_seed_and_are_deterministic(seed: int,
                                                                                       monkeypatch) -> None:
    inst = compile_instance(_vrptw_day(seed), TRAVEL)
    params = SolveParams(time_limit_s=30, deterministic=True, solution_limit=4, seed=seed)
    single = PyVrpHybridSolver().solve(inst, params, deadline=Deadline.of(params))
    raced = RaceSolver(processes=2).solve(inst, params, deadline=Deadline.of(params))
    again = RaceSolver(processes=2).solve(inst, params, deadline=Deadline.of(params))
    assert raced.routes == again.routes
    assert _value(inst, raced, params) <= _value(inst, single, params)
    # Without a second process the two searches run one after the other and give the same plan.
    monkeypatch.setattr("planner.solvers.race.can_fork", lambda processes=None: False)
    one_core = RaceSolver(processes=1)
    assert one_core.mode(inst, Deadline.of(params)) == "sequential"
    assert one_core.solve(inst, params, deadline=Deadline.of(params)).routes == raced.routes


def test_the_incumbent_is_handed_over_at_the_midpoint_and_the_taker_ends_no_worse() -> None:
    import pyvrp

    inst = compile_instance(_vrptw_day(3, n=30), TRAVEL)
    params = SolveParams(time_limit_s=30, deterministic=True, solution_limit=4)
    box = _Mailbox()
    seen: list[object] = []

    class Spy(_Mailbox):
        def send(self, item: object) -> None:
            seen.append(item)
            box.send(item)

    given = PyVrpHybridSolver(handover=Handover(conn=Spy(), give=True))
    given.solve(inst, params, deadline=Deadline.of(params))
    assert len(seen) == 1 and isinstance(seen[0], pyvrp.Solution)  # once, at the midpoint
    handed = _cost(seen[0])
    taker = PyVrpHybridSolver(handover=Handover(conn=box, give=False))
    took = taker.solve(inst, dataclasses.replace(params, seed=99), deadline=Deadline.of(params))
    assert not box.items  # taken
    assert took.objective is not None and took.objective <= handed


def _search_ends(monkeypatch) -> list[tuple[float, float, float]]:
    """(deadline end, grace, when the search returned) of each PyVRP search in this process."""
    ends: list[tuple[float, float, float]] = []
    solve_once = PyVrpHybridSolver.solve

    def spy(self, inst, params, *, deadline=None, **kw):
        raw = solve_once(self, inst, params, deadline=deadline, **kw)
        ends.append((deadline.ends_at, deadline.grace_s, time.monotonic()))
        return raw

    monkeypatch.setattr(PyVrpHybridSolver, "solve", spy)
    return ends


def test_on_the_clock_a_search_serving_every_visit_runs_into_the_bounds_share(monkeypatch) -> None:
    """Every visit mandatory and PyVRP's relaxation exact: the bound's share is kept after the search, which goes on
    into it while its best plan serves every visit; the bound is then the total (what the LP would also give), and
    the whole call keeps to its budget."""
    ends = _search_ends(monkeypatch)
    p = _vrptw_day(5, n=12, workers=4, spread=0.004)
    limit = 2.0
    r = solve(p, TRAVEL, SolveParams(time_limit_s=limit), solver=RaceSolver(processes=2, load=lambda: 1.9))
    assert not r.plan.unassigned
    (end, grace, returned), = ends
    assert grace == pytest.approx(0.05 * limit)
    assert returned > end + 0.5 * grace  # it searched on past the deadline, into the grace
    inst = compile_instance(p, TRAVEL)
    assert r.plan.kpis.coverage_bound == full_bound(inst).value == coverage_bound(inst, time_limit_s=5).value
    assert r.plan.kpis.coverage_gap == 0
    assert r.elapsed_s <= limit * 1.02 + 0.5


def test_on_the_clock_a_search_leaving_a_visit_out_stops_for_the_bound(monkeypatch) -> None:
    """A mandatory visit no one can reach in its window: the search ends at its deadline, and the bound is computed
    after it within its share (below the total: the visit cannot be served)."""
    ends = _search_ends(monkeypatch)
    p = _vrptw_day(6, n=12, workers=4, spread=0.004)
    far = household(99, dlat=0.5, dlon=0.5)
    late = Visit(id="v99", household_id="h99", time_windows=(window("09:00", "09:05"),), mandatory=True)
    p = problem([*p.households, far], list(p.workers), [*p.visits, late])
    limit = 2.0
    r = solve(p, TRAVEL, SolveParams(time_limit_s=limit), solver=RaceSolver(processes=2, load=lambda: 1.9))
    assert [u.visit_id for u in r.plan.unassigned] == ["v99"]
    (end, grace, returned), = ends
    assert grace > 0 and returned < end + 0.5 * grace
    total = full_bound(compile_instance(p, TRAVEL)).value
    assert r.plan.kpis.coverage_bound is not None
    assert r.plan.kpis.risk_covered <= r.plan.kpis.coverage_bound < total
    assert r.elapsed_s <= limit * 1.02 + 0.5


def test_two_pyvrp_searches_race_on_days_too_big_for_the_race_against_or_tools(monkeypatch) -> None:
    """Above 600 candidate visits OR-Tools' leg is not worth its model; two PyVRP searches still race there."""
    monkeypatch.setattr("planner.solvers.race.can_fork", lambda processes=None: True)
    clock, idle = Deadline.start(10), RaceSolver(processes=2, load=lambda: 0.2)
    big = compile_instance(_vrptw_day(7, n=601, workers=4), TRAVEL)
    assert idle.twin(big) and idle.mode(big, clock) == "race"
    assert RaceSolver(processes=2, load=lambda: 1.0).mode(big, clock) == "alone"  # no idle core
    with_breaks = _vrptw_day(7, n=601, workers=4)
    with_breaks = problem(list(with_breaks.households), [worker(k) for k in range(4)], list(with_breaks.visits))
    vroom_day = compile_instance(with_breaks, TRAVEL)
    assert not idle.twin(vroom_day) and idle.mode(vroom_day, clock) == "alone"
