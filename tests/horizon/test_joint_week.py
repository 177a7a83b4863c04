"""Joint visits in the week planner: a day only when both seats have someone at work."""

from __future__ import annotations

import datetime as dt

from daysupport import household, window, worker
from weeks import MON, TRAVEL, assert_clean, day, days_of

from planner import (
    Holidays,
    HorizonProblem,
    HorizonVisit,
    Role,
    Seat,
    SolveParams,
    Visit,
    WorkerCalendar,
    plan_horizon,
)

QUICK = SolveParams(time_limit_s=30.0, deterministic=True, solution_limit=5)


def test_a_joint_visit_waits_for_the_day_its_named_nurse_is_back_and_both_start_together() -> None:
    old = MON - dt.timedelta(days=300)
    nurse = worker(0, max_visits=6)
    cm = worker(1, role=Role.CASE_MANAGER, skills=frozenset(), max_visits=6)
    joint = Visit(id="j", household_id="h1", mandatory=True, time_windows=(window("10:00", "12:00"),),
                  crew=(Seat(worker_id="w0"), Seat(role=Role.CASE_MANAGER)))
    p = HorizonProblem(
        start=MON, end=day(4), households=(household(1, last_contact=old), household(2, dlat=0.001, last_contact=old)),
        workers=(nurse, cm), visits=(HorizonVisit(visit=joint), HorizonVisit(visit=Visit(id="s", household_id="h2"))),
        calendars=(WorkerCalendar(worker_id="w0", leave=frozenset({day(0), day(1)})),), holidays=Holidays(),
    )
    r = plan_horizon(p, TRAVEL, QUICK)
    assert_clean(p, r)
    assert days_of(r, "j") == [day(2), day(2)]  # both seats on the nurse's first day back
    (plan,) = [d.plan for d in r.days if d.date == day(2)]
    held = sorted((route.worker_id, s) for route in plan.routes for s in route.stops if s.visit_id == "j")
    assert [w for w, _ in held] == ["w0", "w1"] and held[0][1].start_s == held[1][1].start_s
    assert r.summary is not None
