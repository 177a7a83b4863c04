"""Coverage at a resolution (issue 16): plans within ``coverage_resolution`` of the same risk covered count as covering
the same and the one with less travel wins; VROOM's routes tightened (never less risk, never more travel) stand beside
the hybrid's search, so the default does not trade travel for a sliver of risk that VROOM alone leaves."""

from __future__ import annotations

import pytest
from daysupport import BASE, household, problem, vroom_start, worker
from hypothesis import HealthCheck, given, settings
from test_solve import small_problems

from planner import HaversineProvider, Location, SolveParams, Visit, compile_instance
from planner.solvers import race, vroom_hybrid
from planner.solvers.base import RawSolution
from planner.solvers.budget import Deadline
from planner.solvers.improve import tighten
from planner.solvers.objective import INFEASIBLE, no_worse, objective_parts, resolution
from planner.solvers.race import RaceSolver
from planner.solvers.vroom_hybrid import VroomHybridSolver

TRAVEL = HaversineProvider()
PARAMS = SolveParams(time_limit_s=2)


def test_within_the_resolution_less_travel_wins_and_beyond_it_the_objective() -> None:
    unit = resolution(PARAMS)
    assert unit == PARAMS.penalty_unit  # one unit of risk
    # 0.7 units of risk less, 2 h less travel: the same coverage at this resolution, so the shorter plan.
    assert no_worse((70_000, 100_000), (0, 107_200), unit)
    assert not no_worse((0, 107_200), (70_000, 100_000), unit)
    # 1.5 units less: beyond the resolution, the full objective decides (risk first).
    assert not no_worse((150_000, 100_000), (0, 107_200), unit)
    # Equal travel: the lower skip penalty; a plan that breaks a rule never wins.
    assert no_worse((10, 5), (20, 5), unit) and not no_worse((20, 5), (10, 5), unit)
    assert not no_worse((INFEASIBLE, 0), (10**9, 10**6), unit)
    # Turned off: the objective alone.
    assert not no_worse((70_000, 100_000), (0, 107_200), 0)


def test_the_resolution_is_validated() -> None:
    for bad in (-1.0, float("nan"), float("inf"), "1"):
        with pytest.raises(ValueError, match="coverage_resolution"):
            SolveParams(coverage_resolution=bad)  # type: ignore[arg-type]
    assert SolveParams(coverage_resolution=0).coverage_resolution == 0


def _detour_day():
    """One worker; v0 and v1 near home, v2 a long way off; room for two visits. v2's risk is 0.5 units above v1's."""
    hs = [household(0, dlat=0.002), household(1, dlat=0.003), household(2, dlat=0.05)]
    vs = [Visit(id="v0", household_id="h0", priority=40.0), Visit(id="v1", household_id="h1", priority=1.0),
          Visit(id="v2", household_id="h2", priority=1.5)]
    return compile_instance(problem(hs, [worker(0, max_visits=2)], vs), TRAVEL)


def test_tighten_puts_an_unserved_visit_in_place_of_one_whose_skip_costs_no_more_only_when_travel_does_not_grow(
) -> None:
    inst = _detour_day()
    near, far = [[0, 1]], [[0, 2]]
    # From the far plan: v1 instead of v2 would cover less risk, so tighten keeps v2 (it never gives up risk).
    assert sorted(tighten(inst, far, PARAMS)[0]) == [0, 2]
    # From the near plan: v2 instead of v1 covers more risk but travels further, so tighten keeps v1.
    assert sorted(tighten(inst, near, PARAMS)[0]) == [0, 1]
    # The objective prefers the far plan (0.5 units of risk outweigh the detour); at the resolution, the near one.
    a, b = objective_parts(inst, near, PARAMS), objective_parts(inst, far, PARAMS)
    assert sum(b) < sum(a) and a[1] < b[1]
    assert no_worse(a, b, resolution(PARAMS)) and not no_worse(a, b, 0)


def test_tighten_moves_a_visit_to_the_worker_it_is_nearer_to() -> None:
    hs = [household(0, dlat=0.02), household(1, dlat=-0.02)]
    north, south = (Location(lat=BASE.lat + d, lon=BASE.lon) for d in (0.02, -0.02))
    ws = [worker(0, start=north, end=north, break_window=None, break_s=0),
          worker(1, start=south, end=south, break_window=None, break_s=0)]
    inst = compile_instance(problem(hs, ws, [Visit(id=f"v{i}", household_id=f"h{i}") for i in range(2)]), TRAVEL)
    crossed = [[1], [0]]
    after = tighten(inst, crossed, PARAMS)
    assert after == ((0,), (1,))
    assert objective_parts(inst, after, PARAMS)[1] < objective_parts(inst, crossed, PARAMS)[1]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_tighten_never_covers_less_never_travels_more_and_keeps_every_rule(p) -> None:
    inst = compile_instance(p, TRAVEL)
    start = vroom_start(inst)
    before = objective_parts(inst, start, PARAMS)
    after = objective_parts(inst, tighten(inst, start, PARAMS), PARAMS)
    assert after[0] < INFEASIBLE
    assert after[0] <= before[0] and after[1] <= before[1]


def test_the_race_keeps_the_shorter_plan_within_the_resolution_and_the_riskier_beyond_it(monkeypatch) -> None:
    inst = _detour_day()
    near, far = ((0, 1),), ((0, 2),)

    class Fixed:
        def __init__(self, name: str, routes: tuple[tuple[int, ...], ...]) -> None:
            self.name, self.routes = name, routes

        def solve(self, inst, params, **kw) -> RawSolution:
            return RawSolution(routes=self.routes, solver=self.name)

    own, other = Fixed("own", far), Fixed("other", near)
    monkeypatch.setattr(race, "_engine", lambda name: {"vroom": own, "vroom-peer": other}.get(name, own))
    monkeypatch.setattr(race, "can_fork", lambda processes=None: True)
    monkeypatch.setattr(race, "_PAIR_MIN_VISITS", 1)
    for params, expect in ((PARAMS, near), (SolveParams(time_limit_s=2, coverage_resolution=0), far),
                           (SolveParams(time_limit_s=2, coverage_resolution=0.4), far)):
        raw = RaceSolver(processes=2, load=lambda: 0.0).solve(inst, params, deadline=Deadline.of(params))
        assert raw.routes == expect, params


def test_the_hybrid_returns_vroom_alones_routes_tightened_when_its_search_buys_only_a_sliver_of_risk_with_travel(
        monkeypatch) -> None:
    inst = _detour_day()
    # VROOM (any run) gives the near plan; the hybrid's own search then finds the far one (more risk, more travel).
    monkeypatch.setattr(vroom_hybrid, "vroom_routes", lambda inst, **kw: [[0, 1]])
    monkeypatch.setattr(vroom_hybrid, "improve", lambda inst, routes, *a, **kw: ((0, 2),))
    monkeypatch.setattr(vroom_hybrid, "recreate", lambda inst, routes, *a, **kw: tuple(tuple(r) for r in routes))
    monkeypatch.setattr(vroom_hybrid, "fits", lambda level, first_s, left_s: True)
    for params, expect in ((SolveParams(time_limit_s=1.0), (0, 1)),
                           (SolveParams(time_limit_s=1.0, coverage_resolution=0), (0, 2))):
        raw = VroomHybridSolver().solve(inst, params)
        assert sorted(raw.routes[0]) == sorted(expect), params
