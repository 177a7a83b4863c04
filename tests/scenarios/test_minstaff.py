"""Minimum staffing on a constructed district whose answer is known, found without simulating every count."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from planner.scenarios.minstaff import min_staff, parse_target
from planner.scenarios.simulate import run_task
from planner.scenarios.spec import SpecError, parse_spec

START = dt.date(2027, 3, 8)  # a Monday; no Korean holiday until May


def _base(n_households: int = 10) -> dict[str, Any]:
    """Ten intensive households around one health centre, each due once a week (cadence 7 days), two falling due
    on each weekday; a nurse makes at most one visit a day.  So a week needs 10 nurse-days: 2 nurses (10 a week)
    keep them within cadence, 1 nurse (5 a week) leaves half the household-days overdue."""
    risk = {"age_band": "50-64", "sex": "M", "basic_livelihood": True, "alcohol": True, "social_contact": "none"}
    households = []
    visits = []
    for i in range(n_households):
        last = START - dt.timedelta(days=7) + dt.timedelta(days=i // 2)
        households.append({"id": f"h{i}", "dong": "중앙동", "location": {"lat": 37.15 + 0.001 * i, "lon": 127.07},
                           "risk": risk, "last_contact": last.isoformat()})
        visits.append({"id": f"v{i}", "household_id": f"h{i}", "kind": "routine", "required_skills": ["nursing"]})
    nurse = {"id": "n1", "role": "visiting_nurse", "skills": ["nursing"], "start": {"lat": 37.15, "lon": 127.07},
             "end": {"lat": 37.15, "lon": 127.07}, "shift": ["09:00", "18:00"], "max_visits": 1,
             "travel_mode": "drive"}
    return {"name": "constructed", "date": START.isoformat(), "households": households, "workers": [nurse],
            "visits": visits}


def _spec(**extra: Any) -> Any:
    data = {
        "name": "constructed", "start": START, "weeks": 4, "warmup_weeks": 1, "seeds": 1,
        "cadence_days": {"intensive": 7},
        "rates": {"no_answer": 0.0, "urgent_reports_per_week": 0.0, "risk_change_per_week": 0.0},
        "demand": {"new_households_per_week": 0.0, "look_ahead_days": 0},
        **extra,
    }
    return parse_spec(data, base_problem=_base(), source="constructed")


def _loop(calls: list[int]) -> Any:
    def run(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        calls.append(tasks[0]["overrides"]["staff"]["visiting_nurse"])
        return [run_task(t) for t in tasks]
    return run


def test_the_constructed_district_needs_exactly_two_nurses() -> None:
    spec = _spec()
    one = run_task({"spec": spec.to_dict(), "seed": 0, "policy": "salpimi", "overrides": {}})
    two = run_task({"spec": spec.to_dict(), "seed": 0, "policy": "salpimi",
                    "overrides": {"staff": {"visiting_nurse": 2}}})
    assert one["staff"] == {"visiting_nurse": 1} and two["staff"] == {"visiting_nurse": 2}
    assert one["kpis"]["within_cadence"]["intensive"] < 0.8
    assert two["kpis"]["within_cadence"]["intensive"] >= 0.8
    assert two["kpis"]["visits"] > one["kpis"]["visits"]


def test_min_staff_finds_two_by_bisection_checking_the_ends_first() -> None:
    calls: list[int] = []
    out = min_staff(_spec(), role="visiting_nurse", target="within_cadence.intensive >= 0.8", seeds=[0],
                    lo=1, hi=6, run=_loop(calls))
    assert out["answer"] == 2
    assert calls[:2] == [6, 1]  # both ends first
    assert len(calls) < 6 and sorted(calls) == sorted(set(calls))  # fewer counts than the range, none twice
    assert out["met_at_hi"] and out["monotone"]
    assert [e["count"] for e in out["evaluated"]] == calls


def test_min_staff_says_when_even_the_top_of_the_range_misses() -> None:
    calls: list[int] = []
    out = min_staff(_spec(weeks=2), role="visiting_nurse", target="within_cadence.intensive >= 0.99", seeds=[0],
                    lo=1, hi=1, run=_loop(calls))
    assert out["answer"] is None and not out["met_at_hi"] and calls == [1]


@pytest.mark.parametrize(("text", "metric", "value"), [
    ("weeks_all_within.intensive >= 0.95", "weeks_all_within.intensive", 0.95),
    ("within_cadence.intensive>=95%", "within_cadence.intensive", 0.95),
    ("high_risk_overdue_worst_days <= 3", "high_risk_overdue_worst_days", 3.0),
])
def test_targets(text: str, metric: str, value: float) -> None:
    t = parse_target(text)
    assert (t.metric, t.value) == (metric, value)


@pytest.mark.parametrize("text", ["coverage >= 0.9", "within_cadence.intensive > 0.9", "", "utilisation >= x"])
def test_bad_targets_are_one_line(text: str) -> None:
    with pytest.raises(SpecError) as err:
        parse_target(text)
    assert str(err.value).startswith("min-staff: target: ") and "\n" not in str(err.value)
