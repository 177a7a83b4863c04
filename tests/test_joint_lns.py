"""The crew-aware search of joint-visit days (planner/joint_lns.py): its timing agrees with the planner's own
re-timing, it improves on its construction, every crew stays whole and synchronised, and the whole solve of a
joint day ends inside its budget."""

from __future__ import annotations

import random
import time

from daysupport import household, problem, window, worker

from planner import HaversineProvider, Role, Seat, SolveParams, Visit, evaluate, solve
from planner.instance import compile_instance
from planner.joint import schedule_routes
from planner.joint_lns import JointSearch

TRAVEL = HaversineProvider()
NURSE, CASE = Role.VISITING_NURSE, Role.CASE_MANAGER


def _day(n: int, *, breaks: bool, seed: int = 3):
    """``n`` households around the base, every third visit a nurse + case manager pair, windows spread over the
    day and soft due times; three nurses and three case managers."""
    rng = random.Random(seed)
    homes = [household(i, dlat=rng.uniform(-0.03, 0.03), dlon=rng.uniform(-0.03, 0.03)) for i in range(n)]
    extra = {} if breaks else {"break_s": 0, "break_window": None}
    staff = [worker(i, **extra) for i in range(3)] + [worker(10 + i, role=CASE, skills=frozenset(), **extra)
                                                       for i in range(3)]
    visits = []
    for i in range(n):
        hour = 9 + rng.randrange(6)
        crew = (Seat(role=NURSE), Seat(role=CASE)) if i % 3 == 0 else ()
        visits.append(Visit(id=f"v{i}", household_id=f"h{i}", crew=crew, duration_s=900, mandatory=True,
                            time_windows=(window(f"{hour:02d}:00", "17:00"),), due_s=(hour + 1) * 3600,
                            late_cost=1.0))
    return problem(homes, staff, visits)


def _check_crews(inst, routes) -> None:
    timings = schedule_routes(inst, [tuple(r) for r in routes])
    assert all(t.ok for t in timings), [t.failure for t in timings]
    start = {n: timings[w].starts[k] for w, r in enumerate(routes) for k, n in enumerate(r)}
    where = {n: w for w, r in enumerate(routes) for n in r}
    for nodes in inst.crew:
        if nodes and nodes[0] in where:
            assert all(n in where for n in nodes)
            assert len({where[n] for n in nodes}) == len(nodes)
            assert len({start[n] for n in nodes}) == 1


def test_the_compact_timing_is_the_planners_own() -> None:
    # Without breaks the search times routes itself: its earliest starts must be schedule_routes' to the second.
    inst = compile_instance(_day(24, breaks=False), TRAVEL)
    s = JointSearch(inst, seed=0)
    assert s.exact_fast
    s.construct()
    assert len(s.planned()) == len(s.plannable) == 24
    reference = schedule_routes(inst, [tuple(r) for r in s.routes], final=False)
    assert all(t.ok for t in reference)
    for w, r in enumerate(s.routes):
        assert [s.start[n] for n in r] == list(reference[w].starts)


def test_ruin_and_recreate_improves_and_keeps_crews_whole() -> None:
    inst = compile_instance(_day(30, breaks=False), TRAVEL)
    s = JointSearch(inst, seed=1)
    s.construct()
    built = s.cost()
    best, cost = s.search(progress=lambda: 0.0, stop=lambda: False, iterations=150)
    assert s.iterations == 150
    assert cost < built
    assert sorted(n for r in best for n in r) == list(range(inst.n_nodes))
    _check_crews(inst, best)


def test_with_lunch_breaks_the_search_times_with_the_planners_own_rules() -> None:
    inst = compile_instance(_day(12, breaks=True), TRAVEL)
    s = JointSearch(inst, seed=0)
    assert not s.exact_fast
    s.construct()
    best, _ = s.search(progress=lambda: 0.0, stop=lambda: False, iterations=10)
    _check_crews(inst, best)


def test_the_same_seed_and_work_budget_give_the_same_plan() -> None:
    p = _day(15, breaks=False)
    params = SolveParams(time_limit_s=60, deterministic=True, solution_limit=10)
    a, b = solve(p, TRAVEL, params).plan, solve(p, TRAVEL, params).plan
    assert a.to_json()["routes"] == b.to_json()["routes"]
    ev = evaluate(p, a, TRAVEL)
    assert ev.ok, [v.message for v in ev.violations]


def test_a_joint_day_ends_inside_a_small_budget() -> None:
    # The overrun guarantee (wall <= limit + 2 % + 0.5 s) on a day the search cannot finish in 1.5 s: the
    # construction, the ruin and recreate, the routing search and the post-passes all draw on one Deadline.
    # One second of slack on top for a loaded CI machine.
    p = _day(90, breaks=False)
    limit = 1.5
    t0 = time.perf_counter()
    plan = solve(p, TRAVEL, SolveParams(time_limit_s=limit)).plan
    wall = time.perf_counter() - t0
    assert wall <= limit * 1.02 + 0.5 + 1.0, wall
    ev = evaluate(p, plan, TRAVEL)
    assert not [v for v in ev.violations if v.code.startswith("crew")], [v.message for v in ev.violations]


def test_the_routing_search_cannot_hand_back_less_than_its_start() -> None:
    from planner.solvers.ortools_routing import _keeps

    inst = compile_instance(_day(12, breaks=False), TRAVEL)
    s = JointSearch(inst, seed=0)
    s.construct()
    ours = s.snapshot()
    assert _keeps(inst, ours, ours)
    single = next(n for r in ours for n in r if n < inst.n_visits and not inst.crew[n])
    fewer = [[n for n in r if n != single] for r in ours]
    assert not _keeps(inst, ours, fewer)  # a visit left out
    seat = next(n for n in range(inst.n_visits) if inst.crew[n])
    half = [[n for n in r if n != inst.crew[seat][1]] for r in ours]
    assert not _keeps(inst, ours, half)  # a crew broken
