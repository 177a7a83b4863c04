"""Joint visits through the API: a visit request's crew, a loaded file's precedences, plans, checks, feeds."""

from __future__ import annotations

import re
from typing import Any

import apisupport
import icalendar
from apisupport import DAY, World, assert_problem, bootstrap_manager, wait_for_job
from daysupport import assert_conforms
from test_joint_format import joint_json

# Fixtures (apisupport.py; no conftest.py here, which would shadow tests/conftest.py).
backend, client, world = apisupport.backend, apisupport.client, apisupport.world

#: A joint day ends its search on a handful of solutions (equal active flags refuse most single-node moves, so
#: a tiny day finds few; the work budget is what stops it).
JOINT_JOB: dict[str, Any] = {"time_limit_s": 60, "deterministic": True, "solution_limit": 5}


def _visit(world: World, ref: str) -> dict[str, Any]:
    visits = world.get(f"/v1/teams/{world.team_a}/visit-requests", "dispatcher_a", params={"date": DAY}).json()
    households = {v: k for k, v in world.households_a.items()}
    return next(v for v in visits["data"] if households[v["household_id"]] == ref.replace("-v", "-h"))


def _plan(world: World, who: str = "dispatcher_a") -> dict[str, Any]:
    r = world.post("/v1/plan-jobs", who, json={"team_id": world.team_a, "date": DAY, **JOINT_JOB})
    assert r.status_code == 202, r.text
    job = wait_for_job(world.client, world[who], r.json()["id"], timeout_s=120)
    assert job["status"] == "succeeded", job
    assert world.post(f"/v1/plans/{job['plan_id']}/publish", who).status_code == 200
    return world.get(f"/v1/plans/{job['plan_id']}", who).json()  # type: ignore[no-any-return]


def test_a_joint_visit_request_is_planned_for_both_and_each_feed_names_only_the_partners_role(world: World) -> None:
    visit = _visit(world, "t-v6")
    crew = [{"role": "visiting_nurse"}, {"role": "case_manager", "duration_s": 1200}]
    r = world.patch(f"/v1/visit-requests/{visit['id']}", "dispatcher_a", json={"crew": crew, "due": "15:00"})
    assert r.status_code == 200, r.text
    assert r.json()["crew"] == crew and r.json()["due"] == "15:00" and r.json()["late_cost"] is None
    plan = _plan(world)
    assert_conforms(plan, "plan")
    held = [(route["worker_id"], s) for route in plan["routes"] for s in route["stops"] if s["visit_id"] == visit["id"]]
    assert len(held) == 2 and held[0][1]["start"] == held[1][1]["start"], held
    nurse, cm = world.workers_a["t-nurse"], world.workers_a["t-cm"]
    by_worker = {w: s for w, s in held}
    assert by_worker[nurse]["crew"] == {"seat": 0, "partners": [{"worker_id": cm, "role": "case_manager"}]}
    assert by_worker[cm]["crew"]["seat"] == 1
    check = world.post(f"/v1/plans/{plan['id']}/check", "dispatcher_a")
    assert check.status_code == 200 and check.json()["ok"] is True, check.text
    schedule = world.get(f"/v1/workers/{nurse}/schedule", "nurse_a", params={"date": DAY}).json()
    (stop,) = [s for s in schedule["stops"] if s["visit_id"] == visit["id"]]
    assert stop["with_roles"] == ["case_manager"]
    # Each worker's calendar: an event of their own for the joint visit, naming the partner's role, not the name.
    for who, worker, role_text in (("nurse_a", nurse, "case manager"), ("cm_a", cm, "visiting nurse")):
        sub = world.post(f"/v1/workers/{worker}/feed", who)
        assert sub.status_code == 201, sub.text
        body = world.client.get(sub.json()["url"].removeprefix("http://testserver")).content
        events = {str(e["UID"]): e for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}
        mine = events[f"{visit['id']}-{worker}@salpimi"]
        text = str(mine["DESCRIPTION"])
        assert role_text in text and "동행" in text
        assert "간호사 T" not in body.decode() and "사례관리사 T" not in body.decode()
        assert not re.search(r"wk_[A-Za-z0-9]+", text.replace(worker, "")), text  # no partner id either


def test_bad_crew_input_is_a_problem_naming_the_field(world: World) -> None:
    visit = _visit(world, "t-v6")
    body = assert_problem(world.patch(f"/v1/visit-requests/{visit['id']}", "dispatcher_a",
                                      json={"crew": [{}, {}, {}]}), 422)
    assert "crew" in body["detail"]
    body = assert_problem(world.patch(f"/v1/visit-requests/{visit['id']}", "dispatcher_a",
                                      json={"crew": [{"worker_id": "wk_x"}, {"worker_id": "wk_x"}]}), 422)
    assert "same worker" in body["detail"]
    body = assert_problem(world.patch(f"/v1/visit-requests/{visit['id']}", "dispatcher_a",
                                      json={"crew": [{"role": "pilot"}, {}]}), 422)
    assert "crew[0].role" in body["detail"]
    assert_problem(world.patch(f"/v1/visit-requests/{visit['id']}", "dispatcher_a", json={"due": "25:61"}), 422)
    stranger = next(iter(world.workers_b.values()))  # another team's worker
    body = assert_problem(world.patch(f"/v1/visit-requests/{visit['id']}", "dispatcher_a",
                                      json={"crew": [{"worker_id": stranger}, {}]}), 422)
    assert "crew[0].worker_id" in body["detail"]
    # A role nobody in the team has: the day cannot form a problem, and the error names the seat.
    r = world.patch(f"/v1/visit-requests/{visit['id']}", "dispatcher_a",
                    json={"crew": [{"role": "counsellor"}, {}]})
    assert r.status_code == 200, r.text
    r = world.post("/v1/plan-jobs", "dispatcher_a", json={"team_id": world.team_a, "date": DAY, **JOINT_JOB})
    body = assert_problem(r, 422)
    assert "no worker has this role" in body["detail"]


def test_a_loaded_file_keeps_its_crews_due_times_and_precedences(client: Any) -> None:
    manager = bootstrap_manager(client).headers
    problem = joint_json()
    r = client.post("/v1/teams/load?name=joint", json=problem, headers=manager)
    assert r.status_code == 201, r.text
    team = r.json()["team"]["id"]
    workers = {w["ref"]: w["id"] for w in client.get(f"/v1/teams/{team}/workers", headers=manager).json()["data"]}
    visits = client.get(f"/v1/teams/{team}/visit-requests", headers=manager, params={"date": DAY}).json()["data"]
    crews = sorted((v["crew"] for v in visits if v["crew"]), key=len)
    assert {"worker_id": workers["c1"]} in crews[0] + crews[1]
    assert sorted((v["due"], v["late_cost"]) for v in visits if v["due"]) == [("11:00", 2.5)]
    r = client.post("/v1/plan-jobs", headers=manager, json={"team_id": team, "date": DAY, **JOINT_JOB})
    assert r.status_code == 202, r.text
    job = wait_for_job(client, manager, r.json()["id"], timeout_s=120)
    assert job["status"] == "succeeded", job
    plan = client.get(f"/v1/plans/{job['plan_id']}", headers=manager).json()
    check = client.post(f"/v1/plans/{plan['id']}/check", headers=manager)
    assert check.status_code == 200 and check.json()["ok"] is True, check.text
    starts = {s["visit_id"]: s["start"] for route in plan["routes"] for s in route["stops"]}
    by_due = {v["due"]: v["id"] for v in visits}
    first = next(v["id"] for v in visits if v["crew"] and len({s.get("role") for s in v["crew"]}) == 2)
    assert starts[first] < starts[by_due["11:00"]]  # the precedence v1 -> v2 (at least 30 min) holds


def test_precedences_set_through_the_api_keep_their_gap(world: World) -> None:
    first, then = _visit(world, "t-v3"), _visit(world, "t-v4")
    url = f"/v1/teams/{world.team_a}/precedences"
    assert world.get(url, "dispatcher_a").json() == {"data": []}
    body = {"data": [{"first": first["id"], "then": then["id"], "min_gap_s": 3600, "max_gap_s": 10800}]}
    r = world.client.put(url, json=body, headers=world["dispatcher_a"])
    assert r.status_code == 200, r.text
    assert world.get(url, "dispatcher_a").json() == body
    plan = _plan(world)
    starts = {s["visit_id"]: s["start"] for route in plan["routes"] for s in route["stops"]}
    import datetime as dt

    gap = dt.datetime.fromisoformat(starts[then["id"]]) - dt.datetime.fromisoformat(starts[first["id"]])
    assert 3600 <= gap.total_seconds() <= 10800
    check = world.post(f"/v1/plans/{plan['id']}/check", "dispatcher_a")
    assert check.status_code == 200 and check.json()["ok"] is True, check.text
    # bad input: a request of another team, a gap with max < min, itself; a field worker may not set them
    put = world.client.put
    other = {"data": [{"first": first["id"], "then": "vr_nope"}]}
    assert "data[0].then" in assert_problem(put(url, json=other, headers=world["dispatcher_a"]), 422)["detail"]
    bad = {"data": [{"first": first["id"], "then": then["id"], "min_gap_s": 600, "max_gap_s": 60}]}
    assert "max_gap_s" in assert_problem(put(url, json=bad, headers=world["dispatcher_a"]), 422)["detail"]
    same = {"data": [{"first": first["id"], "then": first["id"]}]}
    assert_problem(put(url, json=same, headers=world["dispatcher_a"]), 422)
    assert_problem(put(url, json=body, headers=world["nurse_a"]), 403)
    assert_problem(put(url, json=body, headers=world["dispatcher_b"]), 403)
    assert world.get(url, "dispatcher_a").json() == body  # nothing half-written
