"""The race on VROOM days with an idle core (issue 16): the hybrid here, what VROOM alone does (then improved) in the
child; the better plan wins, and a child still inside VROOM at the deadline is given up, not waited for."""

from __future__ import annotations

import time

import pytest
from daysupport import assert_plan_clean as _ok
from daysupport import household, problem, worker

from planner import HaversineProvider, SolveParams, Visit, compile_instance, solve
from planner.solvers import race, vroom_hybrid
from planner.solvers.base import RawSolution
from planner.solvers.budget import Deadline
from planner.solvers.objective import full_objective
from planner.solvers.race import RaceSolver, challenger_for
from planner.solvers.vroom_hybrid import VroomPeerSolver, priorities_of

TRAVEL = HaversineProvider()


def _day(n: int = 6):
    """A small day with lunch breaks (the VROOM challenger's), one worker, visits in a line."""
    hs = [household(i, dlat=0.002 * i) for i in range(n)]
    return problem(hs, [worker(0)], [Visit(id=f"v{i}", household_id=f"h{i}") for i in range(n)])


class _Fixed:
    """A leg that returns ``routes`` (after ``sleep_s``, deaf to the stop, as VROOM's run is) and says it ran."""

    def __init__(self, name: str, routes: tuple[tuple[int, ...], ...], sleep_s: float = 0.0) -> None:
        self.name, self.routes, self.sleep_s = name, routes, sleep_s

    def solve(self, inst, params, **kw) -> RawSolution:
        time.sleep(self.sleep_s)
        return RawSolution(routes=self.routes, solver=self.name)


def _pair(monkeypatch, own: _Fixed, peer: _Fixed) -> list[str]:
    """Route the race's engines to the two fixed legs (the child is forked after the patch); the names asked for."""
    asked: list[str] = []
    real = race._engine

    def engine(name: str):
        asked.append(name)
        return {"vroom": own, "vroom-peer": peer}.get(name) or real(name)

    monkeypatch.setattr(race, "_engine", engine)
    monkeypatch.setattr(race, "can_fork", lambda processes=None: True)
    monkeypatch.setattr(race, "_PAIR_MIN_VISITS", 1)  # a tiny day stands for a busy one
    return asked


@pytest.mark.parametrize("peer_wins", [True, False])
def test_a_vroom_day_with_an_idle_core_races_the_hybrid_against_the_peer_and_keeps_the_better(
        monkeypatch, peer_wins: bool) -> None:
    inst = compile_instance(_day(), TRAVEL)
    assert challenger_for(inst) == "vroom"
    params = SolveParams(time_limit_s=2.0)
    full, zigzag = (tuple(range(inst.n_visits)),), ((0, 5, 1, 4, 2, 3),)  # the line in order, or back and forth
    own = _Fixed("own", zigzag if peer_wins else full)
    peer = _Fixed("peer", full if peer_wins else zigzag)
    asked = _pair(monkeypatch, own, peer)
    solver = RaceSolver(processes=2, load=lambda: 0.0)
    budget = Deadline.of(params)
    assert solver.mode(inst, budget) == "race" and solver.pair(inst, budget)
    raw = solver.solve(inst, params, deadline=budget)
    assert {"vroom", "vroom-peer"} <= set(asked)
    assert raw.solver == ("peer" if peer_wins else "own")
    assert raw.routes == full
    assert full_objective(inst, full, params) < full_objective(inst, zigzag, params)
    # Without an idle core, or with the peer leg turned off, the day is solved as before.
    assert RaceSolver(processes=2, load=lambda: 1.0).mode(inst, budget) == "alone"
    assert not RaceSolver(peer=False).pair(inst, budget)
    assert not solver.pair(inst, Deadline.start(2.0, work=10))  # deterministic: VROOM's level 5 is not reproducible
    monkeypatch.setattr(race, "_PAIR_MIN_VISITS", inst.n_visits + 1)
    assert not solver.pair(inst, budget)  # a small day: the hybrid races plain OR-Tools, which can win there


def test_a_peer_still_inside_vroom_at_the_deadline_is_given_up_within_the_budget(monkeypatch) -> None:
    inst = compile_instance(_day(), TRAVEL)
    params = SolveParams(time_limit_s=1.0)
    own = _Fixed("own", ((0, 1),))
    peer = _Fixed("peer", (tuple(range(inst.n_visits)),), sleep_s=30.0)  # far better, far too late
    _pair(monkeypatch, own, peer)
    budget = Deadline.of(params)
    t0 = time.monotonic()
    raw = RaceSolver(processes=2, load=lambda: 0.0).solve(inst, params, deadline=budget)
    assert time.monotonic() - t0 <= 1.0 + race._PEER_WAIT_S + 0.3
    assert raw.solver == "own"


def test_the_peer_runs_vroom_as_a_single_threaded_peer_would_then_searches_on_the_clock(monkeypatch) -> None:
    p = _day(8)
    calls: list[dict] = []
    routes_of = vroom_hybrid.vroom_routes

    def spy(inst, **kw):
        calls.append(kw)
        return routes_of(inst, **kw)

    monkeypatch.setattr(vroom_hybrid, "vroom_routes", spy)
    r = solve(p, TRAVEL, SolveParams(time_limit_s=1.0), solver=VroomPeerSolver())
    _ok(p, r)
    assert r.plan.meta["solver"] == "vroom5+ortools"
    assert len(calls) == 1 and calls[0]["exploration_level"] == 5 and calls[0]["threads"] == 1
    inst = compile_instance(p, TRAVEL)
    assert calls[0]["priorities"] == priorities_of(inst, "logall")
    assert 0.05 <= calls[0]["seconds"] <= 1.0


def test_logall_scales_the_log_of_the_risk_penalty_up_to_the_largest_of_any_visit() -> None:
    hs = [household(i, dlat=0.001 * i) for i in range(3)]
    vs = [Visit(id="v0", household_id="h0", urgent=True), Visit(id="v1", household_id="h1"),
          Visit(id="v2", household_id="h2")]
    inst = compile_instance(problem(hs, [worker(0)], vs), TRAVEL)
    log, logall = priorities_of(inst, "log"), priorities_of(inst, "logall")
    assert log[0] == logall[0] == 100
    assert max(log[1], log[2]) == 99  # the riskiest optional visit tops the optional scale
    assert max(logall[1], logall[2]) < 99  # ...but not the one that reaches the urgent visit's penalty
    with pytest.raises(ValueError):
        priorities_of(inst, "logsome")


def test_the_hybrid_takes_offered_routes_before_ruin_and_recreate_when_they_are_better(monkeypatch) -> None:
    """The hand-over (RaceSolver(peer_handover=True)): routes another search offers replace the hybrid's own before
    its ruin and recreate when their full objective is lower, and not otherwise."""
    inst = compile_instance(_day(), TRAVEL)
    params = SolveParams(time_limit_s=1.0)
    full, zigzag = [list(range(inst.n_visits))], [[0, 5, 1, 4, 2, 3]]
    seen: list[list[list[int]]] = []

    def record(inst, routes, params, previous_worker=None, **kw):
        seen.append([list(r) for r in routes])
        return tuple(tuple(r) for r in routes)

    monkeypatch.setattr(vroom_hybrid, "recreate", record)
    monkeypatch.setattr(vroom_hybrid, "improve", lambda inst, routes, *a, **kw: tuple(tuple(r) for r in routes))
    for own, offered, expect in ((zigzag, full, full), (full, zigzag, full)):
        solver = vroom_hybrid.VroomHybridSolver()
        monkeypatch.setattr(solver, "_portfolio", lambda *a, own=own, **kw: (
            [list(r) for r in own], full_objective(inst, own, params)))
        solver.take = lambda offered=offered: offered
        seen.clear()
        solver.solve(inst, params, deadline=Deadline.of(params))
        assert seen == [expect]


def test_the_race_hands_the_peers_vroom_routes_to_the_hybrid_through_its_pipe(monkeypatch) -> None:
    """RaceSolver(peer_handover=True) with the real legs: the peer's VROOM routes reach the hybrid in this process
    (asked for once, before its ruin and recreate), and the plan keeps every rule."""
    p = _day(8)
    taken: list[object] = []

    class Hybrid(vroom_hybrid.VroomHybridSolver):
        def _solve(self, *a, **kw):  # type: ignore[override]
            inner = self.take
            assert inner is not None  # the race set the hand-over before this leg started

            def take():
                time.sleep(0.5)  # the peer's VROOM run on eight visits ends in milliseconds
                taken.append(inner())
                return taken[-1]

            self.take = take
            return super()._solve(*a, **kw)

    real = race._engine
    monkeypatch.setattr(race, "_engine", lambda name: Hybrid() if name == "vroom" else real(name))
    monkeypatch.setattr(race, "can_fork", lambda processes=None: True)
    monkeypatch.setattr(race, "_PAIR_MIN_VISITS", 1)
    inst = compile_instance(p, TRAVEL)
    r = solve(p, TRAVEL, SolveParams(time_limit_s=2.0),
              solver=RaceSolver(processes=2, load=lambda: 0.0, peer_handover=True))
    _ok(p, r)
    assert len(taken) == 1 and taken[0] is not None
    routes = [list(x) for x in taken[0]]  # type: ignore[attr-defined]
    assert len(routes) == inst.n_workers and sorted(v for x in routes for v in x) == sorted(set(
        v for x in routes for v in x))
