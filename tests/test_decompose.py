"""Big days in parts: the parts cover the day exactly, each visit has a qualified worker in its part, a part is the
whole day's view, and plans made in parts hold every rule (in a forked process per part or one after the other)."""

from __future__ import annotations

import time

import numpy as np
from daysupport import assert_plan_clean as _ok
from daysupport import household, problem, window, worker
from hypothesis import HealthCheck, given, settings
from test_solve import small_problems

from planner import HaversineProvider, Location, Role, SolveParams, TravelModeName, Visit, compile_instance, solve
from planner.solvers import decompose
from planner.solvers.budget import Deadline
from planner.solvers.decompose import DecomposeSolver, split_day, sub_instance

TRAVEL = HaversineProvider()
#: A small work budget per part (the time limit only a safety cap).
QUICK = SolveParams(time_limit_s=60, deterministic=True, solution_limit=15)


def two_neighbourhoods():
    """Thirty visits in two neighbourhoods 2 km apart, workers based in each; skills, a language, a named worker,
    a window, an impossible visit (nobody has its skill) and one outside every shift."""
    hs, vs = [], []
    for i in range(30):
        east = i % 2
        hs.append(household(i, dlat=0.0007 * (i % 5), dlon=0.02 * east + 0.0006 * (i // 5),
                            languages=("zh",) if i == 7 else ("ko",)))
        vs.append(Visit(id=f"v{i}", household_id=f"h{i}", duration_s=1800 + 600 * (i % 3),
                        required_skills=frozenset({"counselling"}) if i % 7 == 3 else frozenset()))
    vs[4] = Visit(id="v4", household_id="h4", required_worker_id="w3")
    vs[5] = Visit(id="v5", household_id="h5", time_windows=(window("14:00", "15:00"),))
    vs[6] = Visit(id="v6", household_id="h6", required_skills=frozenset({"sign_language"}))
    vs[8] = Visit(id="v8", household_id="h8", time_windows=(window("20:00", "21:00"),))
    east = Location(lat=hs[1].location.lat, lon=hs[1].location.lon)
    ws = [worker(0), worker(1, skills=frozenset({"nursing", "counselling"})),
          worker(2, start=east, end=east, role=Role.CASE_MANAGER),
          worker(3, start=east, end=east, travel_mode=TravelModeName.DRIVE),
          worker(4, start=east, end=east, languages=("ko", "zh"), max_visits=4),
          worker(5, shift=window("13:00", "18:00"), break_window=None, break_s=0)]
    return problem(hs, ws, vs)


def test_parts_cover_the_day_exactly_and_each_visit_has_a_qualified_worker_in_its_part() -> None:
    p = two_neighbourhoods()
    inst = compile_instance(p, TRAVEL)
    parts = split_day(inst, part_visits=8, seed=3)
    assert len(parts) >= 2
    visits = np.concatenate([x.visits for x in parts])
    workers = np.concatenate([x.workers for x in parts])
    candidates = [v for v in range(inst.n_visits) if inst.allowed[v] and inst.windows[v]]
    assert sorted(visits.tolist()) == candidates  # every candidate exactly once, v6 (no qualified worker) in none
    assert 6 not in candidates and len(candidates) == 29
    assert sorted(workers.tolist()) == list(range(inst.n_workers))  # every worker exactly once
    for part in parts:
        assert len(part.visits) and len(part.workers)
        for v in part.visits:
            assert inst.allowed[v] & set(part.workers.tolist()), v
    # The visit for a named worker is in that worker's part.
    assert next(x for x in parts if 4 in x.visits.tolist()).workers.tolist().count(3) == 1
    # Seeded: the same split every time.
    again = split_day(inst, part_visits=8, seed=3)
    assert all(np.array_equal(a.visits, b.visits) and np.array_equal(a.workers, b.workers)
               for a, b in zip(parts, again, strict=True))


def test_a_part_is_a_view_of_the_whole_day() -> None:
    inst = compile_instance(two_neighbourhoods(), TRAVEL)
    for part in split_day(inst, part_visits=8, seed=0):
        sub = sub_instance(inst, part)
        assert sub.n_visits == len(part.visits) and sub.n_workers == len(part.workers)
        for i, v in enumerate(part.visits):
            assert sub.visit(i) is inst.visit(int(v))
            assert sub.windows[i] == inst.windows[v] and sub.penalty[i] == inst.penalty[v]
            assert {int(part.workers[w]) for w in sub.allowed[i]} == inst.allowed[v] & set(part.workers.tolist())
            for j, w in enumerate(part.workers):
                assert sub.service_s[i, j] == inst.service_s[v, w]
                a, b = int(sub.start_loc[j]), int(sub.visit_loc[i])
                assert sub.travel(j, a, b) == inst.travel(int(w), int(inst.start_loc[w]), int(inst.visit_loc[v]))


def test_a_day_planned_in_parts_holds_every_rule_forked_or_in_one_process() -> None:
    p = two_neighbourhoods()
    forked = solve(p, TRAVEL, QUICK, solver=DecomposeSolver(part_visits=8, processes=2))
    alone = solve(p, TRAVEL, QUICK, solver=DecomposeSolver(part_visits=8, processes=1))
    for r in (forked, alone):
        _ok(p, r)
        assert r.plan.meta["solver"].startswith("decompose (")
        assert r.plan.meta["status"] == "ok"
        assert r.plan.kpis.visits_assigned >= 20
    # Deterministic: the work budget decides, so the plan is the same whether the parts ran side by side or not.
    assert forked.plan.routes == alone.plan.routes


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems(max_visits=8))
def test_random_small_days_in_parts_have_zero_violations(p) -> None:
    _ok(p, solve(p, TRAVEL, QUICK, solver=DecomposeSolver(part_visits=2, processes=1)))


def test_the_default_solver_plans_in_parts_only_big_days_without_joint_visits(monkeypatch) -> None:
    p = two_neighbourhoods()
    inst = compile_instance(p, TRAVEL)
    assert not decompose.wanted(inst)  # 29 candidate visits
    monkeypatch.setattr(decompose, "DECOMPOSE_FROM", 20)
    assert decompose.wanted(inst)
    assert not decompose.wanted(inst, initial=[[] for _ in range(inst.n_workers)])  # re-planning: no parts
    r = solve(p, TRAVEL, QUICK)
    _ok(p, r)
    assert r.plan.meta["solver"].startswith("decompose (")


def city_blocks(n_blocks: int = 8, per_block: int = 20):
    """``n_blocks`` neighbourhoods 1.5 km apart with ``per_block`` visits each (every fifth urgent) and two
    workers based in each: a day that splits into one part per neighbourhood."""
    hs, vs, ws = [], [], []
    for b in range(n_blocks):
        centre = Location(lat=37.46 + 0.014 * (b // 4), lon=126.93 + 0.017 * (b % 4))
        for k in range(per_block):
            i = b * per_block + k
            hs.append(household(i, dlat=centre.lat - 37.4784 + 0.0004 * (k % 5),
                                dlon=centre.lon - 126.9516 + 0.0005 * (k // 5)))
            vs.append(Visit(id=f"v{i}", household_id=f"h{i}", duration_s=1200, urgent=k % 5 == 0))
        ws += [worker(2 * b, start=centre, end=centre), worker(2 * b + 1, start=centre, end=centre)]
    return problem(hs, ws, vs)


def test_parts_keep_to_the_clock_when_each_outlasts_its_share(monkeypatch) -> None:
    """On a loaded machine a part's engine may take longer than the share it was given (its first solution comes
    whatever the clock): the parts still to come start only while their least cost fits, a part running past the
    search's end is stopped, and what they did not plan goes to the repair, urgent visits first; the whole call ends
    within its budget and every rule holds."""
    slow_s = 0.9
    real = decompose._solve_part

    def slow_part(*args, **kwargs):
        time.sleep(slow_s)  # the engine's first solution, past a short share
        return real(*args, **kwargs)

    monkeypatch.setattr(decompose, "_solve_part", slow_part)
    p = city_blocks()
    limit = 3.0
    solver = DecomposeSolver(part_visits=20, processes=2)
    t0 = time.perf_counter()
    r = solve(p, TRAVEL, SolveParams(time_limit_s=limit, seed=1), solver=solver)
    wall = time.perf_counter() - t0
    _ok(p, r)
    assert wall <= 1.02 * limit + 0.5, wall
    outcomes = [what for *_, what in solver.log]
    assert len(outcomes) == 8 and outcomes.count("ok") >= 2
    assert "skipped" in outcomes or "failed" in outcomes  # eight parts of 0.9 s each cannot all run in 3 s on 2 lanes
    assert "left to the repair" in r.plan.meta["status"] or "failed" in r.plan.meta["status"]
    assert r.plan.kpis.urgent_unassigned == 0  # urgent visits of the parts not solved inserted across the borders


def test_a_part_that_ends_early_leaves_its_time_to_the_parts_still_to_come() -> None:
    """Parts start as lanes free up, each with the time left in proportion to its visits: a part that returns early
    makes the next ones' shares longer, and the last one runs to the search's end."""
    parts = [decompose.Part(visits=np.arange(k * 10, k * 10 + 10), workers=np.array([k])) for k in range(4)]
    budget = Deadline.start(8.0)
    clock = decompose._Clock(parts, budget, lanes=2, pace=1.0)
    first = clock.share(0, {})
    second = clock.share(1, {0: first})
    assert abs(first.cap_s - 4.0) < 0.05 and abs(second.cap_s - 4.0) < 0.05  # 2 lanes x 8 s x 10 / 40 visits
    # Part 0 returns at once: part 2 gets the time of its lane, shared with part 3 still to come.
    third = clock.share(2, {1: second})
    assert third.cap_s > 5.5  # (2 x 8 - 4) x 10 / 20 = 6 s, not 4
    # Part 1 returns too: the last part runs to the search's end ((2 x 8 - 6) x 10 / 10 = 10 s, at most the 8 left).
    last = clock.share(3, {2: third})
    assert abs(last.ends_at - budget.ends_at) < 0.05
    # A part whose least cost no longer fits is not started.
    tight = decompose._Clock(parts, Deadline.start(0.01), lanes=2, pace=1.0)
    assert tight.share(0, {}) is None
