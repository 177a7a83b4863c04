"""Joint visits and precedences in the problem file: parsed, written back, in the schema, bad input named."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from daysupport import assert_conforms

from planner import Role, Seat, problem_from_json, problem_to_json


def joint_json() -> dict[str, Any]:
    """A nurse, a case manager and a second nurse; one joint visit, one precedence, one soft due time."""
    base = {"lat": 37.4784, "lon": 126.9516}
    return {
        "date": "2026-11-24",
        "households": [
            {"id": "h1", "location": {"lat": 37.4800, "lon": 126.9530}},
            {"id": "h2", "location": {"lat": 37.4770, "lon": 126.9500}},
        ],
        "workers": [
            {"id": "n1", "role": "visiting_nurse", "start": base, "skills": ["nursing"]},
            {"id": "n2", "role": "visiting_nurse", "start": base, "skills": ["nursing"]},
            {"id": "c1", "role": "case_manager", "start": base},
        ],
        "visits": [
            {"id": "v1", "household_id": "h1", "kind": "assessment",
             "crew": [{"role": "visiting_nurse", "skills": ["nursing"]}, {"role": "case_manager", "duration_s": 1800}]},
            {"id": "v2", "household_id": "h2", "due": "11:00", "late_cost": 2.5},
            {"id": "v3", "household_id": "h2", "crew": [{}, {"worker_id": "c1"}]},
        ],
        "precedences": [{"first": "v1", "then": "v2", "min_gap_s": 1800, "max_gap_s": 7200}],
    }


def test_joint_problem_parses_round_trips_and_conforms() -> None:
    raw = joint_json()
    assert_conforms(raw, "problem")
    p = problem_from_json(raw)
    v1, v2, v3 = p.visits
    assert v1.crew == (Seat(role=Role.VISITING_NURSE, skills=frozenset({"nursing"})),
                       Seat(role=Role.CASE_MANAGER, duration_s=1800))
    assert v2.due_s == 11 * 3600 and v2.late_cost == 2.5 and not v2.crew
    assert v3.crew[1].worker_id == "c1"
    assert p.precedences[0].first == "v1" and p.precedences[0].max_gap_s == 7200
    written = json.loads(json.dumps(problem_to_json(p)))
    assert_conforms(written, "problem")
    assert problem_from_json(written) == p
    assert written["visits"][1] == {**written["visits"][1], "due": "11:00", "late_cost": 2.5}
    assert written["visits"][2]["crew"] == [{}, {"worker_id": "c1"}]


def test_a_plain_visit_writes_no_joint_fields() -> None:
    raw = joint_json()
    del raw["precedences"]
    written = problem_to_json(problem_from_json(raw))
    assert "precedences" not in written
    assert not {"crew", "due", "late_cost"} & set(written["visits"][1]) - {"due", "late_cost"}
    assert not {"crew", "due", "late_cost"} & set(problem_to_json(problem_from_json(raw))["visits"][0]) - {"crew"}


def test_due_without_late_cost_costs_one_per_second() -> None:
    raw = joint_json()
    del raw["visits"][1]["late_cost"]
    assert problem_from_json(raw).visits[1].late_cost == 1.0


def _edit(path: str, value: Any) -> dict[str, Any]:
    raw = copy.deepcopy(joint_json())
    node: Any = raw
    keys = path.split("/")
    for k in keys[:-1]:
        node = node[int(k)] if isinstance(node, list) else node[k]
    last = keys[-1]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return raw


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("visits/0/crew/1/role", "counsellor", "visit v1: crew[1].role 'counsellor': no worker has this role"),
        ("visits/0/crew", [{"worker_id": "n1"}, {"worker_id": "n1"}], "crew[1].worker_id 'n1' already takes crew[0]"),
        ("visits/0/crew/0", {"worker_id": "nobody"}, "crew[0].worker_id 'nobody' is not a known worker"),
        ("visits/0/crew", [{}], "crew must have 2 seats"),
        ("visits/0/crew", [{}, {}, {}], "visit v1.crew: 3 items exceed the limit of 2"),
        ("visits/0/crew/0", {"role": "case_manager", "worker_id": "n1"}, "crew[0].worker_id 'n1' is a visiting_nurse"),
        ("visits/0/crew/0", {"skills": ["sign_language"]}, "crew[0].skills: no worker has skill 'sign_language'"),
        ("visits/0/crew/0", {"colour": "red"}, "visit v1.crew[0]: unknown field(s) 'colour'"),
        ("visits/0/crew/1/duration_s", 0, "visit v1.crew[1].duration_s: must lie in 1..43200 (s)"),
        ("visits/1/late_cost", -1, "visit v2.late_cost: must lie in 0..1000000"),
        ("visits/1/due", "25:00", "visit v2.due"),
        ("precedences/0/max_gap_s", 600, "max_gap_s 600 is less than min_gap_s 1800"),
        ("precedences/0/then", "v1", "a visit cannot follow itself"),
        ("precedences/0/then", "v9", "precedences[0].then: 'v9' is not a known visit"),
        ("precedences/0/min_gap_s", -5, "precedences[0].min_gap_s: must lie in 0..86400 (s)"),
    ],
)
def test_bad_joint_input_names_the_field(path: str, value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=None) as err:
        problem_from_json(_edit(path, value))
    assert message in str(err.value), str(err.value)


def test_a_gap_the_windows_cannot_hold_is_refused() -> None:
    raw = _edit("visits/0/time_windows", [["14:00", "16:00"]])
    raw["visits"][1]["time_windows"] = [["09:00", "14:20"]]
    with pytest.raises(ValueError, match=r"precedences\[0\].min_gap_s: 1800 s cannot fit the day"):
        problem_from_json(raw)


def test_a_precedence_cycle_is_refused() -> None:
    raw = joint_json()
    raw["precedences"] += [{"first": "v2", "then": "v3"}, {"first": "v3", "then": "v1"}]
    with pytest.raises(ValueError, match=r"precedences: cycle v1 -> v2 -> v3 -> v1"):
        problem_from_json(raw)


def test_late_cost_without_due_is_refused() -> None:
    raw = joint_json()
    del raw["visits"][1]["due"]
    with pytest.raises(ValueError, match=r"visit v2.late_cost: given without due"):
        problem_from_json(raw)


def test_required_worker_and_crew_do_not_mix() -> None:
    raw = _edit("visits/0/required_worker_id", "n1")
    with pytest.raises(ValueError, match=r"required_worker_id cannot be combined with crew"):
        problem_from_json(raw)
