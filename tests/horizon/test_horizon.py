"""Horizon planning on hand-checkable weeks, always judged through the horizon evaluator."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from daysupport import household
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from weeks import MON, QUICK, TRAVEL, assert_clean, day, days_of, hv, week

from planner import (
    FollowUp,
    Holidays,
    HorizonPlan,
    WorkerCalendar,
    evaluate_horizon,
    plan_day_by_day,
    plan_horizon,
)
from planner.horizon import KR_HOLIDAYS, holidays_between


def test_spacing_three_visits_two_days_apart_fill_the_week() -> None:
    p = week([hv("v1", "h1", count=3, min_spacing_days=2)])
    r = plan_horizon(p, TRAVEL, QUICK)
    assert_clean(p, r)
    assert days_of(r, "v1") == [day(0), day(2), day(4)]
    ids = sorted(s.visit_id for d in r.days for rt in d.plan.routes for s in rt.stops)
    assert ids == ["v1#1", "v1#2", "v1#3"]


def test_an_overdue_household_is_visited_on_its_earliest_day() -> None:
    overdue = household(1, last_contact=MON - dt.timedelta(days=200))
    p = week([hv("v1", "h1")], households=[overdue])
    r = plan_horizon(p, TRAVEL, QUICK)
    assert_clean(p, r)
    assert days_of(r, "v1") == [MON]
    assert r.summary.households[0].visits[0].days_overdue > 0


def test_a_household_not_yet_due_may_wait_for_a_lighter_day() -> None:
    # Seven overdue households and one seen yesterday (due again in weeks): one worker, six visits a day.
    hs = [household(i, dlat=0.001 * i, last_contact=MON - dt.timedelta(days=300)) for i in range(1, 8)]
    fresh = household(8, dlat=0.008, last_contact=MON - dt.timedelta(days=1))
    visits = [hv(f"v{i}", f"h{i}") for i in range(1, 9)]
    p = week(visits, households=[*hs, fresh])
    r = plan_horizon(p, TRAVEL, QUICK)
    assert_clean(p, r)
    assert r.summary.kpis.visits_planned == 8
    assert days_of(r, "v8") != [MON]  # the overdue ones take Monday first
    assert r.summary.kpis.daily_visit_spread < 6


def test_same_day_exclusion_puts_the_two_visits_on_different_days() -> None:
    old = MON - dt.timedelta(days=300)
    hs = [household(1, last_contact=old), household(2, dlat=0.001, last_contact=old)]
    p = week([hv("a", "h1", not_same_day_as=frozenset({"b"})), hv("b", "h2")], households=hs)
    r = plan_horizon(p, TRAVEL, QUICK)
    assert_clean(p, r)
    (da,), (db,) = days_of(r, "a"), days_of(r, "b")
    assert da != db and MON in (da, db)


def test_a_follow_up_comes_exactly_two_days_after_its_visit() -> None:
    old = MON - dt.timedelta(days=300)
    p = week([hv("first", "h1"), hv("again", "h1", after=FollowUp(visit_id="first", days=2))],
             households=[household(1, last_contact=old)])
    r = plan_horizon(p, TRAVEL, QUICK)
    assert_clean(p, r)
    (d1,), (d2,) = days_of(r, "first"), days_of(r, "again")
    assert (d2 - d1).days == 2 and d1 == MON


def test_leave_days_keep_the_worker_off_and_her_visits_wait() -> None:
    old = MON - dt.timedelta(days=300)
    cal = WorkerCalendar(worker_id="w0", leave=frozenset({day(0), day(1)}))
    p = week([hv("v1", "h1", required_worker_id="w0"), hv("v2", "h2")], workers=2, calendars=[cal],
             households=[household(1, last_contact=old), household(2, dlat=0.001, last_contact=old)])
    r = plan_horizon(p, TRAVEL, QUICK)
    assert_clean(p, r)
    assert days_of(r, "v1") == [day(2)]
    assert days_of(r, "v2") == [MON]
    for d in r.days:
        assert d.date >= day(2) or d.plan.route_of("w0") is None
    statuses = {(x.worker_id, x.date): x.status for x in r.summary.loads}
    assert statuses[("w0", MON)] == "leave" and statuses[("w1", MON)] == "working"


def test_holidays_built_in_and_given_are_days_off() -> None:
    old = MON - dt.timedelta(days=300)
    # Chuseok 2026: Thu 24 and Fri 25 September are public holidays; the problem adds Tuesday 22.
    start, end = dt.date(2026, 9, 21), dt.date(2026, 9, 25)
    p = week([hv("v1", "h1", count=3)], households=[household(1, last_contact=old)], start=start, end=end,
             holidays=Holidays(add=frozenset({dt.date(2026, 9, 22)})))
    r = plan_horizon(p, TRAVEL, QUICK)
    assert_clean(p, r)
    assert [d.date for d in r.days] == [dt.date(2026, 9, 21), dt.date(2026, 9, 23)]
    assert len(r.unassigned) == 1 and r.unassigned[0].reason == "spacing"
    assert r.unassigned[0].visit_id.startswith("v1#")


def test_a_worker_on_leave_every_day_gives_a_reason_on_each_visit_she_alone_may_make() -> None:
    cal = WorkerCalendar(worker_id="w0", leave=frozenset(day(i) for i in range(5)))
    p = week([hv("v1", "h1", required_worker_id="w0"), hv("v2", "h2", required_worker_id="w0"), hv("v3", "h3")],
             workers=2, calendars=[cal])
    r = plan_horizon(p, TRAVEL, QUICK)
    assert_clean(p, r)
    left = {u.visit_id: u for u in r.unassigned}
    assert set(left) == {"v1", "v2"}
    for u in left.values():
        assert u.reason == "no_working_day"
        assert "w0" in u.detail and "leave" in u.detail
    assert days_of(r, "v3")


def test_daily_checks_of_an_urgent_household_are_planned_every_day() -> None:
    p = week([hv("check", "h1", count=5, urgent=True)])
    r = plan_horizon(p, TRAVEL, QUICK)
    assert_clean(p, r)
    assert days_of(r, "check") == [day(i) for i in range(5)]


def test_the_evaluator_finds_broken_horizon_rules() -> None:
    old = MON - dt.timedelta(days=300)
    p = week([hv("a", "h1", count=2, min_spacing_days=3, not_same_day_as=frozenset({"b"})), hv("b", "h2"),
              hv("c", "h1", after=FollowUp(visit_id="b", days=2))],
             households=[household(1, last_contact=old), household(2, dlat=0.001, last_contact=old)], workers=2)
    r = plan_horizon(p, TRAVEL, QUICK)
    assert_clean(p, r)
    # Move every visit to Monday by hand: spacing, same day and follow-up all break; leave days too.
    plans = list(r.plans)
    stops = [s for pl in plans for rt in pl.routes for s in rt.stops]
    assert len(stops) == 4
    monday = plans[0]
    moved = dataclasses.replace(monday, routes=(dataclasses.replace(
        monday.routes[0], stops=tuple(dataclasses.replace(s, start_s=9 * 3600 + 3600 * i, arrival_s=9 * 3600 + 3600 * i,
                                                          end_s=9 * 3600 + 3600 * i + 1800)
                                      for i, s in enumerate(stops))),), unassigned=())
    bad = HorizonPlan(start=p.start, end=p.end, plans=(moved,), unassigned=())
    codes = {v.code for v in evaluate_horizon(p, bad, TRAVEL).violations}
    assert {"spacing", "same_day", "follow_up"} <= codes
    calendar = WorkerCalendar(worker_id=monday.routes[0].worker_id, leave=frozenset({MON}))
    on_leave = dataclasses.replace(p, calendars=(calendar,))
    assert "worker_off" in {v.code for v in evaluate_horizon(on_leave, bad, TRAVEL).violations}
    missing = HorizonPlan(start=p.start, end=p.end, plans=(), unassigned=())
    assert {v.code for v in evaluate_horizon(p, missing, TRAVEL).violations} == {"missing_visit"}


def test_the_day_by_day_baseline_plans_clean_weeks_too() -> None:
    old = MON - dt.timedelta(days=300)
    p = week([hv("a", "h1", count=2, min_spacing_days=2), hv("b", "h2"),
              hv("c", "h1", after=FollowUp(visit_id="b", days=2))],
             households=[household(1, last_contact=old), household(2, dlat=0.001, last_contact=old)])
    r = plan_day_by_day(p, TRAVEL, QUICK)
    assert_clean(p, r)
    assert days_of(r, "b") == [MON] and days_of(r, "c") == [day(2)]


def test_korean_holidays_include_lunar_and_substitute_days() -> None:
    assert KR_HOLIDAYS[dt.date(2027, 2, 7)] == "설날"  # 6 February in China, 7 in Korea
    assert "대체공휴일" in KR_HOLIDAYS[dt.date(2028, 10, 5)]  # Chuseok on 개천절
    assert dt.date(2026, 11, 24) not in KR_HOLIDAYS
    got = holidays_between(dt.date(2026, 9, 21), dt.date(2026, 9, 27), remove=[dt.date(2026, 9, 24)])
    assert sorted(got) == [dt.date(2026, 9, 25), dt.date(2026, 9, 26)]
    assert holidays_between(dt.date(2026, 9, 21), dt.date(2026, 9, 27), calendar="none") == {}


@st.composite
def _weeks(draw: st.DrawFn) -> object:
    n = draw(st.integers(2, 6))
    hs = [household(i, dlat=draw(st.floats(-0.004, 0.004)), dlon=draw(st.floats(-0.004, 0.004)),
                    last_contact=MON - dt.timedelta(days=draw(st.integers(1, 400))))
          for i in range(1, n + 1)]
    visits = []
    for i in range(1, n + 1):
        count = draw(st.integers(1, 3))
        visits.append(hv(f"v{i}", f"h{i}", count=count, min_spacing_days=draw(st.integers(1, 4 // count)),
                         urgent=draw(st.booleans()) and count == 1))
    if n >= 3 and draw(st.booleans()):
        visits[1] = dataclasses.replace(visits[1], not_same_day_as=frozenset({"v3"}))
    if n >= 3 and draw(st.booleans()) and visits[0].count == 1 and visits[2].count == 1:
        visits[2] = dataclasses.replace(visits[2], after=FollowUp(visit_id="v1", days=draw(st.integers(1, 3))))
    leave = frozenset(day(i) for i in draw(st.sets(st.integers(0, 4), max_size=3)))
    extra = frozenset(day(i) for i in draw(st.sets(st.integers(0, 4), max_size=1)))
    return week(visits, households=hs, workers=draw(st.integers(1, 2)),
                calendars=[WorkerCalendar(worker_id="w0", leave=leave)], holidays=Holidays(add=extra))


@settings(max_examples=6, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(_weeks())
def test_random_small_weeks_always_evaluate_clean(p: object) -> None:
    r = plan_horizon(p, TRAVEL, QUICK)  # type: ignore[arg-type]
    assert_clean(p, r)  # type: ignore[arg-type]
    planned = sum(len(rt.stops) for d in r.days for rt in d.plan.routes)
    assert planned + len(r.unassigned) == sum(v.count for v in p.visits)  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", [0, 1])
def test_the_same_input_and_seed_give_the_same_week(seed: int) -> None:
    old = MON - dt.timedelta(days=300)
    hs = [household(i, dlat=0.001 * i, last_contact=old) for i in range(1, 9)]
    p = week([hv(f"v{i}", f"h{i}") for i in range(1, 9)], households=hs, workers=2)
    params = dataclasses.replace(QUICK, seed=seed)
    a, b = plan_horizon(p, TRAVEL, params), plan_horizon(p, TRAVEL, params)
    assert [d.plan.routes for d in a.days] == [d.plan.routes for d in b.days]
