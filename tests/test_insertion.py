"""The vectorised insertion index and the pruned break search agree with the plain definitions."""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import random

from daysupport import household, problem, window, worker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_solve import small_problems

from planner import HaversineProvider, SolveParams, Visit, compile_instance, schedule, solve
from planner.insertion import InsertionIndex
from planner.schedule import _forward, _Route, schedule_route, working_time

TRAVEL = HaversineProvider()


@contextlib.contextmanager
def _patched(module, name: str, value):
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


def _some_two_windows(p, seed: int):
    """The same day with some visits open in two separate windows (morning or afternoon)."""
    rng = random.Random(seed)
    visits = tuple(
        dataclasses.replace(v, time_windows=(window(f"{a:02d}:00", f"{a + 1:02d}:00"), window(f"{b:02d}:00", f"{b:02d}:40")))
        if rng.random() < 0.5 else v
        for v in p.visits
        for a, b in [(rng.randint(9, 11), rng.randint(13, 16))]
    )
    return dataclasses.replace(p, visits=visits)


def _limits_ok(inst, w: int, order: tuple[int, ...]) -> bool:
    wk = inst.worker(w)
    return (wk.max_visits is None or len(order) <= wk.max_visits) and (
        wk.capacity is None or sum(inst.visit(v).load for v in order) <= wk.capacity)


def _routes_of(p, inst) -> list[tuple[int, ...]]:
    plan = solve(p, TRAVEL, SolveParams(time_limit_s=30, deterministic=True, solution_limit=10)).plan
    vidx = {v.id: i for i, v in enumerate(p.visits)}
    by_worker = {r.worker_id: tuple(vidx[s.visit_id] for s in r.stops) for r in plan.routes}
    return [by_worker.get(wk.id, ()) for wk in p.workers]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems(max_visits=7), st.integers(0, 2**16))
def test_every_feasible_insertion_is_a_candidate_with_its_detour(p, seed) -> None:
    p = _some_two_windows(p, seed)
    inst = compile_instance(p, TRAVEL)
    routes = _routes_of(p, inst)
    # Drop a few served visits too, so that every visit has somewhere it was known to fit.
    rng = random.Random(seed)
    routes = [tuple(v for v in r if rng.random() < 0.6) for r in routes]
    index = InsertionIndex(inst, routes)
    served = {v for r in routes for v in r}
    for v in range(inst.n_visits):
        if v in served:
            continue
        cands = index.candidates(v)
        got = {(w, pos): d for d, w, pos in cands}
        assert [c[0] for c in cands] == sorted(c[0] for c in cands)
        for w in sorted(inst.allowed[v]):
            tt = inst.travel_table(w)
            order = routes[w]
            locs = [int(inst.start_loc[w]), *(int(inst.visit_loc[x]) for x in order), int(inst.end_loc[w])]
            for pos in range(len(order) + 1):
                cand = (*order[:pos], v, *order[pos:])
                if schedule_route(inst, w, cand).ok and _limits_ok(inst, w, cand):
                    assert (w, pos) in got, f"feasible insertion of {v} into worker {w} at {pos} was pruned"
                if (w, pos) in got:
                    a, b, m = locs[pos], locs[pos + 1], int(inst.visit_loc[v])
                    assert got[(w, pos)] == int(tt[a, m]) + int(tt[m, b]) - int(tt[a, b])
        for _, w, _pos in cands:
            assert w in inst.allowed[v]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems(max_visits=7), st.integers(0, 2**16))
def test_relaxed_candidates_keep_at_most_per_worker(p, seed) -> None:
    inst = compile_instance(p, TRAVEL)
    index = InsertionIndex(inst, _routes_of(p, inst))
    for v in range(inst.n_visits):
        cands = index.candidates(v, relax=True, per_worker=1, limit=5)
        workers = [w for _, w, _ in cands]
        assert len(workers) == len(set(workers)) and len(cands) <= 5


def _grid_best(inst, w: int, order: tuple[int, ...], step_s: int = 300):
    """Every break placement and every departure on a ``step_s`` grid, each timed from that departure:
    the best (return, working time), or (working time, return) under a working-time limit."""
    wk = inst.worker(w)
    tt = inst.travel_table(w)
    dist = inst.matrices[wk.travel_mode.value].distance_m
    locs = [int(inst.start_loc[w]), *(int(inst.visit_loc[v]) for v in order), int(inst.end_loc[w])]
    legs = [(int(tt[a, b]), int(dist[a, b])) for a, b in itertools.pairwise(locs)]
    r = _Route(order=order, legs=legs, windows=[inst.windows[v] for v in order],
               service=[int(inst.service_s[v, w]) for v in order])
    gaps = list(range(len(order) + 1)) if wk.break_s > 0 else [None]
    best = None
    for g in gaps:
        for d in range(wk.shift.start_s, wk.shift.end_s + 1, step_s):
            t = _forward(wk, r, g, d)
            if not t.ok or t.return_s > wk.shift.end_s:
                continue
            work = working_time(wk, t.depart_s, t.return_s, wk.break_s if t.break_start_s is not None else None)
            if wk.max_work_s is not None and work > wk.max_work_s:
                continue
            key = (t.return_s, work) if wk.max_work_s is None else (work, t.return_s)
            if best is None or key < best:
                best = key
    return best


def _no_pruning(worker, r):
    return {}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems(max_visits=7), st.integers(0, 2**16))
def test_pruned_break_search_matches_trying_every_gap(p, seed) -> None:
    p = _some_two_windows(p, seed)
    inst = compile_instance(p, TRAVEL)
    rng = random.Random(seed)
    for w in range(inst.n_workers):
        for _ in range(6):
            order = tuple(rng.sample(range(inst.n_visits), rng.randint(1, inst.n_visits)))
            got = schedule_route(inst, w, order)
            with _patched(schedule, "_hopeless_gaps", _no_pruning):
                want = schedule_route(inst, w, order)
            assert got == want


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems(max_visits=6), st.integers(0, 2**16), st.booleans())
def test_schedule_returns_earliest_then_works_least(p, seed, limited) -> None:
    """Against every departure on a 5-minute grid: never a later return, never more working time for it,
    and the limits hold; a feasible grid timing means the scheduler finds one too."""
    p = _some_two_windows(p, seed)
    if limited:  # a working-time limit that binds on long days
        p = dataclasses.replace(p, workers=tuple(dataclasses.replace(x, max_work_s=4 * 3600) for x in p.workers))
    inst = compile_instance(p, TRAVEL)
    rng = random.Random(seed)
    for w in range(inst.n_workers):
        wk = inst.worker(w)
        for _ in range(3):
            order = tuple(rng.sample(range(inst.n_visits), rng.randint(1, min(4, inst.n_visits))))
            got, grid = schedule_route(inst, w, order), _grid_best(inst, w, order)
            if grid is None:
                continue
            assert got.ok, got.failure
            work = working_time(wk, got.depart_s, got.return_s, wk.break_s if got.break_start_s is not None else None)
            assert got.depart_s >= wk.shift.start_s and got.return_s <= wk.shift.end_s
            assert wk.max_work_s is None or work <= wk.max_work_s
            if wk.max_work_s is None:
                assert (got.return_s, work) <= grid
            else:  # the least working time first
                assert work <= grid[0]


def test_repair_alone_fills_a_day_from_nothing() -> None:
    # 30 households in a line, two workers with lunch: the greedy repair alone must build a valid day.
    hs = [household(i, dlat=0.001 * i) for i in range(30)]
    ws = [worker(0, break_window=window("12:00", "13:30"), break_s=1800),
          worker(1, shift=window("13:00", "18:00"), break_window=None, break_s=0)]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}", duration_s=1800) for i in range(30)]
    p = problem(hs, ws, vs)
    inst = compile_instance(p, TRAVEL)
    from planner.solvers.repair import repair

    routes: list[tuple[int, ...]] = [(), ()]
    timings = [schedule_route(inst, w, ()) for w in range(2)]
    repair(inst, routes, timings)
    assert all(schedule_route(inst, w, r).ok for w, r in enumerate(routes))
    assert 10 <= sum(map(len, routes)) < 30


def test_repair_stopped_early_keeps_every_route_valid_and_tried_the_riskiest_first() -> None:
    # The stop is polled before each dropped visit (on the clock, the budget's end): after k polls k visits at
    # most were placed, every route still times out, and a repair that may not start changes nothing.
    hs = [household(i, dlat=0.001 * i) for i in range(30)]
    ws = [worker(0, break_window=window("12:00", "13:30"), break_s=1800),
          worker(1, shift=window("13:00", "18:00"), break_window=None, break_s=0)]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}", duration_s=1800) for i in range(30)]
    inst = compile_instance(problem(hs, ws, vs), TRAVEL)
    from planner.solvers.repair import repair

    routes: list[tuple[int, ...]] = [(), ()]
    timings = [schedule_route(inst, w, ()) for w in range(2)]
    repair(inst, routes, timings, stop=lambda: True)
    assert routes == [(), ()]
    polls = itertools.count()
    repair(inst, routes, timings, stop=lambda: next(polls) >= 4)
    assert 1 <= sum(map(len, routes)) <= 4
    assert all(schedule_route(inst, w, r).ok for w, r in enumerate(routes))
    full: list[tuple[int, ...]] = [(), ()]
    repair(inst, full, [schedule_route(inst, w, ()) for w in range(2)])
    assert sum(map(len, routes)) < sum(map(len, full))
