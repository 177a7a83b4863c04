"""Household weekly availability cut with visit windows: hand-checked windows, and an oracle of its own."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from daysupport import DAY, hm, household, problem, window, worker

from planner import (
    HaversineProvider,
    Plan,
    Reason,
    Route,
    SolveParams,
    Stop,
    Visit,
    WeeklyWindow,
    allowed_starts,
    compile_instance,
    evaluate,
    solve,
)
from planner.evaluate import evaluate_instance

TRAVEL = HaversineProvider()
FAST = SolveParams(time_limit_s=30, deterministic=True, solution_limit=10)


def _weekly(day: str, *spans: tuple[str, str]) -> tuple[WeeklyWindow, ...]:
    return tuple(WeeklyWindow(weekday=day, window=window(a, b)) for a, b in spans)


def _hm(*spans: tuple[str, str]) -> list[tuple[int, int]]:
    return [(hm(a), hm(b)) for a, b in spans]


# (household availability, visit windows, expected starts on Tuesday 2026-11-24), checked by hand.
CASES = {
    "availability cuts the visit's window in two": (
        _weekly("tue", ("09:00", "12:00"), ("14:00", "16:00")), [("10:00", "15:00")],
        [("10:00", "12:00"), ("14:00", "15:00")]),
    "no availability: the visit's own windows": ((), [("10:00", "11:00"), ("15:00", "16:00")],
                                                 [("10:00", "11:00"), ("15:00", "16:00")]),
    "no visit window: that day's availability": (_weekly("tue", ("13:00", "17:00")) + _weekly("mon", ("08:00", "09:00")),
                                                 [], [("13:00", "17:00")]),
    "available on other days only: never today": (_weekly("mon", ("09:00", "18:00")) + _weekly("wed", ("09:00", "18:00")),
                                                  [("09:00", "18:00")], []),
    "windows that touch leave one start minute": (_weekly("tue", ("09:00", "12:00")), [("12:00", "13:00")],
                                                  [("12:00", "12:00")]),
    "two by two": (_weekly("tue", ("09:00", "10:00"), ("16:30", "20:00")), [("08:00", "09:30"), ("11:00", "17:00")],
                   [("09:00", "09:30"), ("16:30", "17:00")]),
    "no overlap at all": (_weekly("tue", ("09:00", "10:00")), [("10:30", "11:00")], []),
}


def _problem(availability: tuple[WeeklyWindow, ...], windows: list[tuple[str, str]], *, day: dt.date = DAY):
    h = household(0, availability=availability)
    v = Visit(id="v0", household_id="h0", time_windows=tuple(window(a, b) for a, b in windows))
    return dataclasses.replace(problem([h], [worker(0, break_window=None, break_s=0)], [v]), date=day)


@pytest.mark.parametrize("name", list(CASES))
def test_allowed_starts_are_the_hand_checked_ones(name: str) -> None:
    availability, windows, expected = CASES[name]
    p = _problem(availability, windows)
    assert sorted(allowed_starts(p.households[0], p.visits[0], "tue")) == _hm(*expected)  # the evaluator's
    assert list(compile_instance(p, TRAVEL).windows[0]) == _hm(*expected)  # the solvers' compile step


def test_the_weekday_comes_from_the_planning_day() -> None:
    availability, windows, _ = CASES["availability cuts the visit's window in two"]
    wednesday = _problem(availability + _weekly("wed", ("15:00", "18:00")), windows, day=DAY + dt.timedelta(days=1))
    assert list(compile_instance(wednesday, TRAVEL).windows[0]) == _hm(("15:00", "15:00"))


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c[2]])
def test_the_plan_starts_the_visit_inside_the_hand_checked_windows(name: str) -> None:
    availability, windows, expected = CASES[name]
    p = _problem(availability, windows)
    plan = solve(p, TRAVEL, FAST).plan
    assert evaluate(p, plan, TRAVEL).ok
    (stop,) = [s for r in plan.routes for s in r.stops]
    assert any(a <= stop.start_s <= b for a, b in _hm(*expected)), (stop.start_s, expected)


def test_a_household_away_today_gets_a_reason() -> None:
    p = _problem(*CASES["available on other days only: never today"][:2])
    plan = solve(p, TRAVEL, FAST).plan
    (left,) = plan.unassigned
    assert left.reason == Reason.OUTSIDE_EVERY_SHIFT and "not available on Tuesdays" in left.detail


def _at(p, start: str) -> Plan:
    s = hm(start)
    stop = Stop(visit_id="v0", household_id="h0", arrival_s=s, start_s=s, end_s=s + 2400)
    route = Route(worker_id="w0", depart_s=s - 600, return_s=s + 3000, stops=(stop,))
    return Plan(date=p.date, routes=(route,))


def test_the_evaluator_does_not_trust_the_compile_step() -> None:
    """A fault in the solvers' effective windows (here: every window widened to the whole day) does
    not hide a visit planned while nobody is home: the evaluator cuts the windows itself."""
    p = _problem(*CASES["availability cuts the visit's window in two"][:2])
    broken = dataclasses.replace(compile_instance(p, TRAVEL), windows=(((0, 24 * 3600),),))
    codes = {v.code for v in evaluate_instance(broken, _at(p, "13:00")).violations}
    assert "time_window" in codes  # 13:00 lies in the visit's window but nobody is home
    codes = {v.code for v in evaluate_instance(broken, _at(p, "14:30")).violations}
    assert "time_window" not in codes
