"""One definition of working time: the solvers' routes survive the final re-timing unchanged, and the
evaluator counts what the scheduler counts."""

from __future__ import annotations

import dataclasses
import random

import pytest
from daysupport import hm, household, problem, window, worker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_solve import small_problems

from planner import HaversineProvider, SolveParams, Visit, compile_instance, evaluate, solve
from planner.schedule import schedule_route, working_time
from planner.solvers.ortools_routing import OrToolsSolver

TRAVEL = HaversineProvider()
QUICK = SolveParams(time_limit_s=5, deterministic=True, solution_limit=60)


def _waiting_day(max_work_s: int) -> object:
    """One nurse, two visits: the second only opens at 11:00, so leaving at 09:00 means waiting an hour."""
    hs = [household(1, dlat=0.002), household(2, dlat=0.004)]
    vs = [Visit(id="v1", household_id="h1", duration_s=1800, time_windows=(window("09:00", "12:00"),)),
          Visit(id="v2", household_id="h2", duration_s=1800, time_windows=(window("11:00", "11:10"),))]
    w = worker(1, break_window=None, break_s=0, max_work_s=max_work_s)
    return problem(hs, [w], vs)


def test_a_worker_leaves_later_rather_than_wait_on_the_clock() -> None:
    p = _waiting_day(max_work_s=2 * 3600)
    inst = compile_instance(p, TRAVEL)
    t = schedule_route(inst, 0, (0, 1))
    assert t.ok, t.failure  # counted from a 09:00 departure it would be 2 h 30 min of work
    assert t.starts[1] == hm("11:00") and t.ends[0] + t.legs[1][0] == t.starts[1]  # no waiting at all
    assert t.depart_s > hm("09:00")
    work = working_time(inst.worker(0), t.depart_s, t.return_s, None)
    assert work == sum(s for s, _ in t.legs) + 2 * 1800 <= 2 * 3600


def test_the_evaluator_counts_working_time_as_the_scheduler_does() -> None:
    p = _waiting_day(max_work_s=2 * 3600)
    r = solve(p, TRAVEL, QUICK)
    assert r.plan.kpis.visits_assigned == 2
    assert evaluate(p, r.plan, TRAVEL).ok
    early = dataclasses.replace(r.plan.routes[0], depart_s=hm("09:00"))  # same visits, the clock from 09:00
    ev = evaluate(p, dataclasses.replace(r.plan, routes=(early,)), TRAVEL)
    assert [v.code for v in ev.violations] == ["max_work"]


@st.composite
def limited_days(draw, *, breaks: bool):  # type: ignore[no-untyped-def]
    """Random small days whose working-time limit binds, with one or two windows per visit."""
    p = draw(small_problems(max_visits=7))
    rng = random.Random(draw(st.integers(0, 2**16)))
    visits = tuple(
        dataclasses.replace(v, time_windows=(window(f"{a:02d}:00", f"{a:02d}:50"), window(f"{a + 3:02d}:00",
                                                                                          f"{a + 3:02d}:40")))
        if rng.random() < 0.3 else v
        for v in p.visits for a in [rng.randint(9, 13)]
    )
    limit = draw(st.sampled_from([2 * 3600, 3 * 3600, 4 * 3600]))
    workers = tuple(
        dataclasses.replace(w, max_work_s=limit) if breaks
        else dataclasses.replace(w, max_work_s=limit, break_window=None, break_s=0)
        for w in p.workers
    )
    households = tuple(dataclasses.replace(h, preferred_worker_id=None) for h in p.households)
    return dataclasses.replace(p, visits=visits, workers=workers, households=households)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limited_days(breaks=True))
def test_every_ortools_route_survives_re_timing_unchanged(p) -> None:
    inst = compile_instance(p, TRAVEL)
    raw = OrToolsSolver().solve(inst, QUICK)
    for w, order in enumerate(raw.routes):
        t = schedule_route(inst, w, order)
        assert t.ok, (w, order, t.failure)
    r = solve(p, TRAVEL, QUICK, solver=OrToolsSolver())
    for w, order in enumerate(raw.routes):  # the plan keeps the solver's visits, in its order (repair may add)
        route = r.plan.route_of(inst.worker(w).id)
        planned = iter([s.visit_id for s in route.stops] if route else [])
        assert all(inst.visit(v).id in planned for v in order)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(limited_days(breaks=False))
def test_every_pyvrp_route_survives_re_timing_unchanged(p) -> None:
    pyvrp = pytest.importorskip("pyvrp")
    from planner.solvers.pyvrp_hybrid import _routes_from, build_relaxation

    inst = compile_instance(p, TRAVEL)
    model = build_relaxation(inst)
    if model is None:
        return
    assert model.exact
    best = pyvrp.solve(model.data, pyvrp.stop.MaxIterations(300), seed=0, display=False).best
    if not best.is_feasible():
        return
    for w, order in enumerate(_routes_from(model, best, inst.n_workers)):
        t = schedule_route(inst, w, order)
        assert t.ok, (w, order, t.failure)
        if order and inst.worker(w).max_work_s is not None:
            assert working_time(inst.worker(w), t.depart_s, t.return_s, None) <= inst.worker(w).max_work_s
