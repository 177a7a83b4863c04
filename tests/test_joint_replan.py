"""Mid-day re-planning with joint visits and precedences: partners stay together or move together."""

from __future__ import annotations

import dataclasses

from daysupport import hm, household, problem, window, worker

from planner import HaversineProvider, Precedence, Reason, Role, Seat, SolveParams, Visit, evaluate, solve
from planner.replan import freeze, replan

TRAVEL = HaversineProvider()
QUICK = SolveParams(time_limit_s=30, deterministic=True, solution_limit=5)
NURSE, CASE = Role.VISITING_NURSE, Role.CASE_MANAGER


def _day():
    """Two nurses and a case manager; a joint visit in the afternoon, a morning visit each, a follower."""
    homes = [household(i, dlat=0.001 * i, dlon=0.0007 * (i % 3)) for i in range(1, 6)]
    staff = [worker(1), worker(2), worker(3, role=CASE, skills=frozenset())]
    visits = [
        Visit(id="joint", household_id="h1", time_windows=(window("14:00", "16:00"),), mandatory=True,
              crew=(Seat(role=NURSE), Seat(role=CASE))),
        Visit(id="m1", household_id="h2", duration_s=1800, time_windows=(window("09:00", "10:00"),),
              required_worker_id="w1"),
        Visit(id="m2", household_id="h3", duration_s=1800, time_windows=(window("09:00", "10:00"),),
              required_worker_id="w2"),
        Visit(id="after", household_id="h4", duration_s=1800, allowed_roles=frozenset({CASE})),
    ]
    p = dataclasses.replace(problem(homes, staff, visits),
                            precedences=(Precedence(first="joint", then="after", min_gap_s=3600),))
    plan = solve(p, TRAVEL, QUICK).plan
    assert evaluate(p, plan, TRAVEL).ok
    return p, plan


def _joint(plan):
    return sorted((r.worker_id, s) for r in plan.routes for s in r.stops if s.visit_id == "joint")


def test_nothing_changed_keeps_both_halves_together() -> None:
    p, plan = _day()
    before = [w for w, _ in _joint(plan)]
    again = replan(p, plan, TRAVEL, QUICK, now_s=hm("10:30"))
    assert not again.violations, [v.message for v in again.violations]
    held = _joint(again.plan)
    assert [w for w, _ in held] == before and held[0][1].start_s == held[1][1].start_s


def test_the_nurse_off_sick_moves_the_joint_visit_to_the_other_nurse() -> None:
    p, plan = _day()
    (nurse,) = [w for w, _ in _joint(plan) if w != "w3"]
    other = "w2" if nurse == "w1" else "w1"
    again = replan(p, plan, TRAVEL, QUICK, now_s=hm("11:00"), off_sick=[nurse])
    assert not again.violations, [v.message for v in again.violations]
    held = _joint(again.plan)
    assert [w for w, _ in held] == sorted([other, "w3"])
    assert held[0][1].start_s == held[1][1].start_s
    assert {p.worker_id for _, s in held for p in s.crew.partners} == {other, "w3"}


def test_the_only_case_manager_off_sick_drops_the_visit_and_its_follower_with_reasons() -> None:
    p, plan = _day()
    assert freeze(p, plan, now_s=hm("11:00"), off_sick=["w3"]).precedences == ()
    again = replan(p, plan, TRAVEL, QUICK, now_s=hm("11:00"), off_sick=["w3"])
    assert not again.violations, [v.message for v in again.violations]
    assert not _joint(again.plan)
    reasons = {u.visit_id: u for u in again.plan.unassigned}
    assert reasons["joint"].reason == Reason.NO_QUALIFIED_WORKER
    assert "Seat 2 needs a case manager" in reasons["joint"].detail
    assert reasons["after"].reason in (Reason.PARTNER_LEFT_OUT, Reason.NO_QUALIFIED_WORKER)


def test_a_follower_keeps_its_gap_after_its_first_happened() -> None:
    p, plan = _day()
    (_, first), _ = _joint(plan)
    rest = freeze(p, plan, now_s=first.start_s + 60)
    (after,) = [v for v in rest.visits if v.id == "after"]
    assert after.time_windows and after.time_windows[0].start_s >= first.start_s + 3600
    again = replan(p, plan, TRAVEL, QUICK, now_s=first.start_s + 60)
    assert not again.violations, [v.message for v in again.violations]
