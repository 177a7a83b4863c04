"""The horizon problem file: errors that name the field, round trips, the schema, and the command line."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from daysupport import REPO

from planner import horizon_from_json, horizon_json_schema, horizon_plan_from_json, horizon_to_json, is_horizon_json


def _week() -> dict[str, Any]:
    base = {"lat": 37.4784, "lon": 126.9516}
    return {
        "name": "tiny week",
        "from": "2026-11-23",
        "to": "2026-11-27",
        "holidays": {"add": ["2026-11-26"]},
        "households": [
            {"id": "h1", "location": {"lat": 37.4790, "lon": 126.9520}, "last_contact": "2026-06-01"},
            {"id": "h2", "location": {"lat": 37.4770, "lon": 126.9500}, "last_contact": "2026-11-10",
             "risk": {"crisis_report": True}},
        ],
        "workers": [
            {"id": "w1", "role": "visiting_nurse", "start": base, "leave": ["2026-11-24"],
             "weekly": {"fri": ["09:00", "13:00"]}},
            {"id": "w2", "role": "case_manager", "start": base, "days": {"2026-11-26": ["10:00", "15:00"]}},
        ],
        "visits": [
            {"id": "v1", "household_id": "h1"},
            {"id": "v2", "household_id": "h1", "after": {"visit_id": "v1", "days": 2}},
            {"id": "check", "household_id": "h2", "count": 3, "min_spacing_days": 1, "urgent": True,
             "not_same_day_as": ["v1"]},
        ],
    }


def _error(data: dict[str, Any]) -> str:
    with pytest.raises(ValueError) as info:
        horizon_from_json(data)
    return str(info.value)


def test_the_example_reads_and_round_trips() -> None:
    data = _week()
    p = horizon_from_json(data)
    assert (p.start.isoformat(), p.end.isoformat(), p.n_days) == ("2026-11-23", "2026-11-27", 5)
    assert is_horizon_json(data)
    again = horizon_from_json(json.loads(json.dumps(horizon_to_json(p))))
    assert again == p
    w1 = p.workers_on(p.dates()[4])[0]
    assert (w1.id, w1.shift.end_s, w1.break_s) == ("w1", 13 * 3600, 0)
    assert [w.id for w in p.workers_on(p.dates()[1])] == ["w2"]  # w1 on leave
    assert [w.id for w in p.workers_on(p.dates()[3])] == ["w2"]  # a holiday the problem adds; w2's own day wins


def test_the_schema_accepts_the_example() -> None:
    import jsonschema

    schema = horizon_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(_week()))
    assert not errors, [e.message for e in errors]


@pytest.mark.parametrize(("change", "field"), [
    (lambda d: d["visits"][2].update(count=4, min_spacing_days=2), "visit check.min_spacing_days"),
    (lambda d: d["holidays"].update(add=["2026-11-26", "2026-02-30"]), "holidays.add[1]"),
    (lambda d: d["holidays"].update(calendar="JP"), "holidays.calendar"),
    (lambda d: d.update(to="2027-01-30"), "to"),
    (lambda d: d.update(to="2026-11-20"), "to"),
    (lambda d: d["workers"][0].update(leave=["tomorrow"]), "worker w1.leave[0]"),
    (lambda d: d["workers"][0].update(weekly={"fr": ["09:00", "13:00"]}), "worker w1.weekly"),
    (lambda d: d["visits"][1]["after"].update(visit_id="nope"), "visit v2.after.visit_id"),
    (lambda d: d["visits"][2].update(not_same_day_as=["ghost"]), "visit check.not_same_day_as"),
    (lambda d: d["visits"][0].update(earliest="2026-12-01"), "visit v1.earliest"),
    (lambda d: d["visits"][0].update(count=0), "visit v1.count"),
    (lambda d: d["visits"][2].update(after={"visit_id": "v1", "days": 1}), "visit check.after"),
])
def test_bad_input_names_the_field(change: Any, field: str) -> None:
    data = copy.deepcopy(_week())
    change(data)
    message = _error(data)
    assert field in message, message


def test_a_day_file_reads_as_a_horizon_of_its_day_or_of_the_given_days() -> None:
    day = json.loads((REPO / "fixtures/problems/tiny.json").read_text(encoding="utf-8"))
    assert not is_horizon_json(day)
    one = horizon_from_json(day)
    assert one.start == one.end and one.start.isoformat() == day["date"]
    import datetime as dt

    week = horizon_from_json(day, start=dt.date(2026, 11, 23), end=dt.date(2026, 11, 27))
    assert week.n_days == 5 and all(v.count == 1 for v in week.visits)
    del day["date"]
    assert "problem.from" in _error(day) and "--from" in _error(day)


def _salpimi(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "planner", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_cli_plans_a_week_prints_the_week_view_and_writes_a_plan_that_checks(tmp_path: Path) -> None:
    problem = tmp_path / "week.json"
    problem.write_text(json.dumps(_week()), encoding="utf-8")
    out = tmp_path / "plan.json"
    r = _salpimi("plan", str(problem), "--time-limit", "3", "--deterministic", "--quiet", "--out", str(out),
                 cwd=REPO)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    header = next(line for line in lines if line.startswith("worker"))
    assert "Mon 11-23" in header and "Fri 11-27" in header
    w1 = next(line for line in lines if line.startswith("w1 "))
    assert "leave" in w1 and "holiday" in w1
    assert "=== Monday 2026-11-23 ===" in r.stdout
    plan = horizon_plan_from_json(json.loads(out.read_text(encoding="utf-8")))
    assert plan.plans[0].date.isoformat() == "2026-11-23"
    check = _salpimi("check", str(problem), str(out), cwd=REPO)
    assert check.returncode == 0 and "OK: no violations." in check.stdout, check.stdout + check.stderr


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    data = _week()
    data["visits"][2].update(count=4, min_spacing_days=2)
    problem = tmp_path / "week.json"
    problem.write_text(json.dumps(data), encoding="utf-8")
    r = _salpimi("plan", str(problem), "--quiet", cwd=REPO)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "visit check.min_spacing_days" in r.stderr
    day = REPO / "fixtures/problems/tiny.json"
    both = _salpimi("plan", str(day), "--date", "2026-11-24", "--from", "2026-11-23", cwd=REPO)
    assert both.returncode == 2 and "--date" in both.stderr
    bad = _salpimi("plan", str(day), "--from", "2026-11-31", cwd=REPO)
    assert bad.returncode == 2 and "--from" in bad.stderr
