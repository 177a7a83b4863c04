"""Joint visits and precedences in the day planner, judged by the evaluator's own checks."""

from __future__ import annotations

import dataclasses

from daysupport import BASE, hm, household, problem, window, worker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner import (
    HaversineProvider,
    Location,
    Plan,
    Precedence,
    Reason,
    Role,
    Seat,
    SolveParams,
    Visit,
    evaluate,
    solve,
)

TRAVEL = HaversineProvider()
FAST = SolveParams(time_limit_s=30, deterministic=True, solution_limit=5)
NURSE, CASE = Role.VISITING_NURSE, Role.CASE_MANAGER
PAIR = (Seat(role=NURSE), Seat(role=CASE))


def _codes(p, plan: Plan) -> set[str]:
    return {v.code for v in evaluate(p, plan, TRAVEL).violations}


def _stops(plan: Plan, visit_id: str):
    return [(r.worker_id, s) for r in plan.routes for s in r.stops if s.visit_id == visit_id]


def _clean(p, plan: Plan) -> None:
    ev = evaluate(p, plan, TRAVEL)
    assert ev.ok, [v.message for v in ev.violations]


def test_a_pair_that_must_wait_for_each_other_starts_together() -> None:
    # The nurse starts ~1.3 km away (about 20 min on foot); the case manager has a fixed 10-minute visit next
    # door at 09:00, so arrives first and waits for the nurse; both start at the same moment, each busy for its
    # own seat's time.
    far = Location(lat=BASE.lat + 0.012, lon=BASE.lon)
    p = problem(
        [household(1, dlat=0.0005), household(2, dlat=0.0006)],
        [worker(1, start=far, end=far, break_s=0, break_window=None),
         worker(2, role=CASE, skills=frozenset(), break_s=0, break_window=None)],
        [Visit(id="v1", household_id="h1", time_windows=(window("09:00", "12:00"),), mandatory=True,
               crew=(Seat(role=NURSE, duration_s=3600), Seat(role=CASE, duration_s=1800))),
         Visit(id="v2", household_id="h2", duration_s=600, required_worker_id="w2", mandatory=True,
               time_windows=(window("09:05", "09:06"),))],
    )
    plan = solve(p, TRAVEL, FAST).plan
    _clean(p, plan)
    (wa, a), (wb, b) = sorted(_stops(plan, "v1"), key=lambda x: x[0])
    assert (wa, wb) == ("w1", "w2") and a.start_s == b.start_s
    assert b.arrival_s < b.start_s and a.arrival_s == a.start_s  # the case manager waits for the nurse
    assert a.end_s - a.start_s == 3600 and b.end_s - b.start_s == 1800
    assert a.crew is not None and a.crew.seat == 0 and a.crew.partners[0].role == "case_manager"
    assert b.crew is not None and b.crew.seat == 1 and b.crew.partners[0].worker_id == "w1"


def test_the_earlier_worker_leaves_as_late_as_the_common_start_allows() -> None:
    far = Location(lat=BASE.lat + 0.012, lon=BASE.lon)
    p = problem(
        [household(1, dlat=0.0005)],
        [worker(1, start=far, end=far, break_s=0, break_window=None),
         worker(2, role=CASE, skills=frozenset(), break_s=0, break_window=None)],
        [Visit(id="v1", household_id="h1", mandatory=True, crew=PAIR)],
    )
    plan = solve(p, TRAVEL, FAST).plan
    _clean(p, plan)
    (_, a), (_, b) = sorted(_stops(plan, "v1"), key=lambda x: x[0])
    near = plan.route_of("w2")
    assert a.start_s == b.start_s == b.arrival_s and near is not None
    assert near.depart_s + b.travel_s == b.start_s and near.depart_s > hm("09:00")


def test_a_pair_is_left_out_when_the_only_nurse_is_booked() -> None:
    # The only nurse has a mandatory named visit 10:00-11:00; the joint visit must start 10:00-10:30.
    p = problem(
        [household(1, dlat=0.001), household(2, dlon=0.001)],
        [worker(1, break_s=0, break_window=None), worker(2, role=CASE, skills=frozenset(), break_s=0,
                                                        break_window=None)],
        [Visit(id="booked", household_id="h2", duration_s=3600, required_worker_id="w1", mandatory=True,
               time_windows=(window("10:00", "10:01"),)),
         Visit(id="joint", household_id="h1", time_windows=(window("10:00", "10:30"),), crew=PAIR)],
    )
    plan = solve(p, TRAVEL, FAST).plan
    _clean(p, plan)
    assert not _stops(plan, "joint")
    (u,) = [u for u in plan.unassigned if u.visit_id == "joint"]
    assert u.reason == Reason.OVER_CAPACITY
    assert "seat 1 (a visiting nurse)" in u.detail and "w1" in u.detail


def test_a_pair_needs_two_different_workers() -> None:
    p = problem([household(1)], [worker(1, break_s=0, break_window=None), worker(2, role=CASE, skills=frozenset())],
                [Visit(id="v", household_id="h1", crew=(Seat(role=NURSE), Seat(role=NURSE, skills=frozenset())))])
    (u,) = solve(p, TRAVEL, FAST).plan.unassigned
    assert u.reason == Reason.NO_QUALIFIED_WORKER and "2 different workers" in u.detail and "w1" in u.detail


def test_a_pair_that_cannot_meet_its_window_together() -> None:
    # The case manager's shift starts at 11:00; the visit must start by 10:00.
    p = problem([household(1)],
                [worker(1, break_s=0, break_window=None),
                 worker(2, role=CASE, skills=frozenset(), shift=window("11:00", "18:00"), break_s=0,
                        break_window=None)],
                [Visit(id="v", household_id="h1", time_windows=(window("09:00", "10:00"),), crew=PAIR)])
    (u,) = solve(p, TRAVEL, FAST).plan.unassigned
    assert u.reason == Reason.OUTSIDE_EVERY_SHIFT and "cannot meet its window" in u.detail


def test_precedence_keeps_its_gap_and_a_follower_goes_with_its_first() -> None:
    p = problem(
        [household(1, dlat=0.001), household(2, dlon=0.002)],
        [worker(1, break_s=0, break_window=None), worker(2, role=Role.COUNSELLOR, skills=frozenset(),
                                                        break_s=0, break_window=None)],
        [Visit(id="nurse", household_id="h1", duration_s=1200, allowed_roles=frozenset({NURSE})),
         Visit(id="talk", household_id="h1", duration_s=1800, allowed_roles=frozenset({Role.COUNSELLOR})),
         Visit(id="other", household_id="h2", duration_s=1800, allowed_roles=frozenset({NURSE}))],
    )
    p = dataclasses.replace(p, precedences=(Precedence(first="nurse", then="talk", min_gap_s=5400,
                                                       max_gap_s=6000),))
    plan = solve(p, TRAVEL, FAST).plan
    _clean(p, plan)
    (_, a), = _stops(plan, "nurse")
    (_, b), = _stops(plan, "talk")
    assert 5400 <= b.start_s - a.start_s <= 6000
    # The first cannot happen (nobody has the skill): the follower is left out and says why.
    blocked = dataclasses.replace(p, visits=(dataclasses.replace(p.visits[0], required_skills=frozenset({"x"})),
                                             *p.visits[1:]))
    plan = solve(blocked, TRAVEL, FAST).plan
    _clean(blocked, plan)
    reasons = {u.visit_id: u for u in plan.unassigned}
    assert reasons["talk"].reason == Reason.PARTNER_LEFT_OUT and "nurse" in reasons["talk"].detail


def test_a_soft_due_time_puts_the_due_visit_first() -> None:
    p = problem([household(1, dlat=0.001), household(2, dlat=0.002)], [worker(1, break_s=0, break_window=None)],
                [Visit(id="a", household_id="h1", duration_s=3600),
                 Visit(id="b", household_id="h2", duration_s=3600, due_s=hm("09:30"), late_cost=5.0)])
    plan = solve(p, TRAVEL, FAST).plan
    _clean(p, plan)
    assert [s.visit_id for s in plan.routes[0].stops] == ["b", "a"]


def _joint_day() -> tuple:
    p = problem(
        [household(1, dlat=0.001), household(2, dlon=0.002)],
        [worker(1, break_s=0, break_window=None), worker(2, role=CASE, skills=frozenset(), break_s=0,
                                                        break_window=None)],
        [Visit(id="j", household_id="h1", crew=PAIR), Visit(id="s", household_id="h2", duration_s=1800)],
    )
    p = dataclasses.replace(p, precedences=(Precedence(first="j", then="s", min_gap_s=0, max_gap_s=7200),))
    plan = solve(p, TRAVEL, FAST).plan
    _clean(p, plan)
    return p, plan


def _edit_stop(plan: Plan, worker_id: str, visit_id: str, **changes) -> Plan:
    routes = tuple(
        dataclasses.replace(r, stops=tuple(dataclasses.replace(s, **changes) if s.visit_id == visit_id else s
                                           for s in r.stops)) if r.worker_id == worker_id else r
        for r in plan.routes)
    return dataclasses.replace(plan, routes=routes)


def test_the_evaluator_checks_synchronisation_itself() -> None:
    p, plan = _joint_day()
    (w0, s0), _ = sorted(_stops(plan, "j"), key=lambda x: x[0])
    late = _edit_stop(plan, w0, "j", start_s=s0.start_s + 60, end_s=s0.end_s + 60)
    assert "crew_not_synchronised" in _codes(p, late)
    half = dataclasses.replace(plan, routes=tuple(
        dataclasses.replace(r, stops=tuple(s for s in r.stops if s.visit_id != "j")) if r.worker_id == w0 else r
        for r in plan.routes))
    assert "crew_incomplete" in _codes(p, half)
    swapped = _edit_stop(plan, w0, "j", crew=dataclasses.replace(s0.crew, seat=1 - s0.crew.seat))
    assert {"crew_unqualified", "crew_incomplete"} <= _codes(p, swapped)


def test_the_evaluator_checks_precedences_itself() -> None:
    p, plan = _joint_day()
    tight = dataclasses.replace(p, precedences=(Precedence(first="j", then="s", min_gap_s=0, max_gap_s=0),))
    (_, j), = _stops(plan, "j")[:1]
    (_, s), = _stops(plan, "s")
    if s.start_s != j.start_s:
        assert "precedence_gap" in _codes(tight, plan)
    no_first = dataclasses.replace(plan, routes=tuple(
        dataclasses.replace(r, stops=tuple(x for x in r.stops if x.visit_id != "j")) for r in plan.routes))
    assert "precedence_missing_first" in _codes(p, no_first)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spots=st.lists(st.tuples(st.integers(-20, 20), st.integers(-20, 20), st.booleans(), st.integers(0, 6)),
                   min_size=2, max_size=7),
    nurses=st.integers(1, 2),
    cases=st.integers(1, 2),
)
def test_every_planned_joint_visit_is_synchronised_and_whole(spots, nurses, cases) -> None:
    homes = [household(i, dlat=dy / 2000, dlon=dx / 2000) for i, (dy, dx, _, _) in enumerate(spots)]
    staff = [worker(i, break_s=0, break_window=None) for i in range(nurses)] + [
        worker(10 + i, role=CASE, skills=frozenset()) for i in range(cases)]
    visits = [Visit(id=f"v{i}", household_id=f"h{i}", crew=PAIR if joint else (),
                    time_windows=(window(f"{9 + hour:02d}:00", f"{10 + hour:02d}:30"),))
              for i, (_, _, joint, hour) in enumerate(spots)]
    p = problem(homes, staff, visits)
    plan = solve(p, TRAVEL, SolveParams(time_limit_s=30, deterministic=True, solution_limit=15)).plan
    _clean(p, plan)
    for v in visits:
        held = _stops(plan, v.id)
        if v.crew and held:
            assert len(held) == 2 and len({w for w, _ in held}) == 2
            assert len({s.start_s for _, s in held}) == 1


def test_the_cli_table_shows_who_starts_with_whom(capsys) -> None:
    from daysupport import REPO

    from planner.cli import main

    path = REPO / "fixtures" / "problems" / "joint.json"
    assert main(["plan", str(path), "--deterministic", "--solution-limit", "5", "--time-limit", "60", "--quiet"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if " j-v1 " in line]
    assert len(lines) == 2 and all(" with j-" in line for line in lines)
    assert "(case_manager)" in out and "(visiting_nurse)" in out
