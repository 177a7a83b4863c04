"""The dispatcher's day end to end: plan, publish, outcomes, reports, re-plan; jobs live and die."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from typing import Any

import apisupport
import pytest
from apisupport import DAY, QUICK_JOB, World, assert_problem, plan_day, wait_for_job

# Fixtures (apisupport.py; no conftest.py here, which would shadow tests/conftest.py).
backend, client, world = apisupport.backend, apisupport.client, apisupport.world


def _route(plan: dict[str, Any], worker_id: str) -> dict[str, Any]:
    return next(r for r in plan["routes"] if r["worker_id"] == worker_id)


#: A work budget no tiny day finishes in a day: only a cancellation (or a kill) ends such a job.
ENDLESS_JOB: dict[str, Any] = {"time_limit_s": 600, "deterministic": True, "solution_limit": 10**9}


def _start_job(world: World, team: str, *, time_limit_s: float | None = None, who: str = "dispatcher_a",
               search: dict[str, Any] | None = None) -> str:
    body = {"time_limit_s": time_limit_s} if time_limit_s is not None else dict(search or QUICK_JOB)
    r = world.post("/v1/plan-jobs", who, json={"team_id": team, "date": DAY, **body})
    assert r.status_code == 202, r.text
    assert r.headers["location"] == f"/v1/plan-jobs/{r.json()['id']}"
    return str(r.json()["id"])


def _wait_running(world: World, job_id: str, who: str = "dispatcher_a", timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = world.get(f"/v1/plan-jobs/{job_id}", who).json()
        pid = world.client.app.state.runner.pid(job_id)  # type: ignore[attr-defined]
        if job["status"] == "running" and pid is not None and job["progress"]["elapsed_s"] > 0:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not start")


def test_plan_publish_outcomes_report_replan(world: World) -> None:
    v1 = plan_day(world)
    assert v1["version"] == 1 and v1["published"] is True
    assert v1["kpis"]["visits_total"] == 6
    assert all(r["departure"].endswith("+09:00") for r in v1["routes"])
    check = world.post(f"/v1/plans/{v1['id']}/check", "dispatcher_a").json()
    assert check["ok"] is True, check

    nurse, cm = world.actors["nurse_a"].worker_id, world.actors["cm_a"].worker_id
    n_stops, c_stops = _route(v1, nurse)["stops"], _route(v1, cm)["stops"]
    assert n_stops and len(c_stops) >= 2
    # The nurse finishes her first visit; the case manager finds nobody home, then starts the next.
    r = world.post(f"/v1/plans/{v1['id']}/outcomes", "nurse_a",
                   json={"kind": "done", "visit_id": n_stops[0]["visit_id"], "at": n_stops[0]["end"]})
    assert r.status_code == 201, r.text
    r = world.post(f"/v1/plans/{v1['id']}/outcomes", "cm_a",
                   json={"kind": "no_answer", "visit_id": c_stops[0]["visit_id"], "at": c_stops[0]["end"]})
    assert r.status_code == 201, r.text
    follow_up_id = r.json()["follow_up_request_id"]
    assert follow_up_id
    r = world.post(f"/v1/plans/{v1['id']}/outcomes", "cm_a",
                   json={"kind": "in_progress", "visit_id": c_stops[1]["visit_id"], "at": c_stops[1]["start"]})
    assert r.status_code == 201, r.text
    assert_problem(world.post(f"/v1/plans/{v1['id']}/outcomes", "nurse_a",
                              json={"kind": "done", "visit_id": n_stops[0]["visit_id"]}), 409)

    follow = world.get(f"/v1/visit-requests/{follow_up_id}", "dispatcher_a").json()
    next_day = (dt.date.fromisoformat(DAY) + dt.timedelta(days=1)).isoformat()
    assert follow["date"] == next_day and follow["kind"] == "follow_up"
    assert follow["mandatory"] and follow["urgent"] and follow["source"] == "follow_up"

    # A landlord reports a household: an urgent visit today.
    reported = world.households_a["t-h6"]
    r = world.post("/v1/reports", "dispatcher_a",
                   json={"household_id": reported, "reporter_kind": "landlord", "date": DAY,
                         "summary": "mail piling up"})
    assert r.status_code == 201, r.text
    urgent_id = r.json()["visit_request_id"]
    urgent = world.get(f"/v1/visit-requests/{urgent_id}", "dispatcher_a").json()
    assert urgent["urgent"] and urgent["mandatory"] and urgent["kind"] == "crisis"
    assert world.get(f"/v1/households/{reported}", "dispatcher_a").json()["risk_tier"] == "urgent"

    now = c_stops[1]["start"]
    r = world.post(f"/v1/plans/{v1['id']}/replan", "dispatcher_a", json={"now": now, **QUICK_JOB})
    assert r.status_code == 202, r.text
    job = wait_for_job(world.client, world["dispatcher_a"], r.json()["id"])
    assert job["status"] == "succeeded", job
    assert job["kind"] == "replan" and job["base_plan_id"] == v1["id"]

    v2 = world.get(f"/v1/plans/{job['plan_id']}", "dispatcher_a").json()
    assert v2["version"] == 2 and v2["published"] and v2["kind"] == "replan"
    assert v2["base_plan_id"] == v1["id"]
    assert world.get(f"/v1/plans/{v1['id']}", "dispatcher_a").json()["published"] is False
    # frozen stops stay first, unchanged
    assert _route(v2, nurse)["stops"][0]["visit_id"] == n_stops[0]["visit_id"]
    assert _route(v2, nurse)["stops"][0]["status"] == "done"
    assert [s["visit_id"] for s in _route(v2, cm)["stops"][:2]] == [c_stops[0]["visit_id"], c_stops[1]["visit_id"]]
    planned = {s["visit_id"]: (r1["worker_id"], s["start"]) for r1 in v1["routes"] for s in r1["stops"]}
    for r2 in v2["routes"]:
        for s in r2["stops"]:  # an open stop before now is one the plan had begun: kept exactly as planned
            if s["status"] == "open" and s["start"] < now:
                assert planned[s["visit_id"]] == (r2["worker_id"], s["start"])
    placed = {s["visit_id"] for r2 in v2["routes"] for s in r2["stops"]} | {u["visit_id"] for u in v2["unassigned"]}
    assert urgent_id in placed
    assert "changes" in v2["meta"] and v2["meta"]["violations"] == 0
    check = world.post(f"/v1/plans/{v2['id']}/check", "dispatcher_a").json()
    assert check["ok"] is True, check

    versions = world.get(f"/v1/teams/{world.team_a}/plans?date={DAY}", "dispatcher_a").json()
    assert [p["version"] for p in versions["data"]] == [2, 1]
    assert [p["published"] for p in versions["data"]] == [True, False]
    schedule = world.get(f"/v1/workers/{nurse}/schedule?date={DAY}", "nurse_a").json()
    assert schedule["version"] == 2


def test_replan_needs_a_moment_of_the_plans_day(world: World) -> None:
    """Never "re-plan at the server's clock time and publish": no body, an empty or malformed one, a time
    without offset or on another day is a 422 and starts nothing."""
    v1 = plan_day(world)
    url = f"/v1/plans/{v1['id']}/replan"
    assert_problem(world.post(url, "dispatcher_a"), 422)
    assert_problem(world.post(url, "dispatcher_a", json={}), 422)
    assert_problem(world.post(url, "dispatcher_a", json={"time_limit_s": 1}), 422)
    assert_problem(world.client.post(url, headers={**world["dispatcher_a"], "content-type": "application/json"},
                                      content=b'{"now": '), 422)
    assert_problem(world.post(url, "dispatcher_a", json={"now": f"{DAY}T13:30:00"}), 422)
    assert_problem(world.post(url, "dispatcher_a", json={"now": "2026-11-25T13:30:00+09:00"}), 422)
    assert_problem(world.post(url, "dispatcher_a", json={"now": "half past one"}), 422)
    versions = world.get(f"/v1/teams/{world.team_a}/plans?date={DAY}", "dispatcher_a").json()
    assert versions["count"] == 1


def _edited_with_a_violation(v1: dict[str, Any]) -> dict[str, Any]:
    """v1 with one stop moved to another worker's route, times unchanged: the evaluator objects."""
    edited = json.loads(json.dumps(v1))
    routes = [r for r in edited["routes"] if r["stops"]]
    moved = routes[0]["stops"].pop(0)
    other = next(r for r in edited["routes"] if r["worker_id"] != routes[0]["worker_id"])
    other["stops"].insert(0, moved)
    return edited


def test_a_version_with_violations_is_published_only_by_an_audited_override(world: World) -> None:
    v1 = plan_day(world)
    r = world.post(f"/v1/plans/{v1['id']}/versions", "dispatcher_a", json=_edited_with_a_violation(v1))
    assert r.status_code == 201, r.text
    assert r.json()["check"]["ok"] is False
    version = r.json()["plan"]["id"]
    refused = assert_problem(world.post(f"/v1/plans/{version}/publish", "dispatcher_a"), 409)
    assert refused["errors"] and all(e["field"] for e in refused["errors"])
    assert world.get(f"/v1/plans/{v1['id']}", "dispatcher_a").json()["published"] is True
    r = world.post(f"/v1/plans/{version}/publish?force=true", "dispatcher_a")
    assert r.status_code == 200, r.text
    assert r.json()["published"] is True
    audit = world.get(f"/v1/audit?resource=plan&resource_id={version}", "manager").json()["data"]
    forced = [a for a in audit if a["action"] == "publish"]
    assert forced and "forced despite violations=" in forced[0]["detail"]
    count = len(refused["errors"])
    assert forced[0]["detail"].split("violations=")[1].startswith(f"{count} (")


def test_a_replan_the_evaluator_objects_to_is_stored_but_not_published(world: World) -> None:
    v1 = plan_day(world)
    nurse = world.actors["nurse_a"].worker_id
    stops = _route(v1, nurse)["stops"]
    assert len(stops) >= 2
    # Reported: the second visit started the moment the first ended, faster than any travel allows.
    for body in ({"kind": "done", "visit_id": stops[0]["visit_id"], "at": stops[0]["end"]},
                 {"kind": "in_progress", "visit_id": stops[1]["visit_id"], "at": stops[0]["end"]}):
        assert world.post(f"/v1/plans/{v1['id']}/outcomes", "dispatcher_a", json=body).status_code == 201
    now = (dt.datetime.fromisoformat(stops[0]["end"]) + dt.timedelta(minutes=5)).isoformat()
    r = world.post(f"/v1/plans/{v1['id']}/replan", "dispatcher_a", json={"now": now, **QUICK_JOB})
    assert r.status_code == 202, r.text
    job = wait_for_job(world.client, world["dispatcher_a"], r.json()["id"])
    assert job["status"] == "succeeded", job
    v2 = world.get(f"/v1/plans/{job['plan_id']}", "dispatcher_a").json()
    assert v2["published"] is False and v2["meta"]["violations"] >= 1
    assert world.get(f"/v1/plans/{v1['id']}", "dispatcher_a").json()["published"] is True
    check = world.post(f"/v1/plans/{v2['id']}/check", "dispatcher_a").json()
    assert not check["ok"] and any(v["code"] == "travel" for v in check["violations"])
    audit = world.get(f"/v1/audit?resource=plan&resource_id={v2['id']}", "manager").json()["data"]
    assert any(a["action"] == "publish_withheld" and a["actor_role"] == "system" for a in audit)


def test_a_version_must_name_known_workers_and_account_for_every_visit(world: World) -> None:
    v1 = plan_day(world)
    lost = json.loads(json.dumps(v1))
    route = next(r for r in lost["routes"] if r["stops"])
    route["stops"].pop()  # neither planned nor unassigned any more
    body = assert_problem(world.post(f"/v1/plans/{v1['id']}/versions", "dispatcher_a", json=lost), 422)
    assert [e["field"] for e in body["errors"]] == ["missing_visit"]
    stranger = json.loads(json.dumps(v1))
    next(r for r in stranger["routes"] if r["stops"])["worker_id"] = "wk_nobody"
    body = assert_problem(world.post(f"/v1/plans/{v1['id']}/versions", "dispatcher_a", json=stranger), 422)
    assert "unknown_worker" in {e["field"] for e in body["errors"]}
    versions = world.get(f"/v1/teams/{world.team_a}/plans?date={DAY}", "dispatcher_a").json()
    assert versions["count"] == 1


def test_hand_edited_plan_is_checked_and_saved_as_a_version(world: World) -> None:
    v1 = plan_day(world)
    edited = json.loads(json.dumps(v1))
    routes = [r for r in edited["routes"] if r["stops"]]
    # move one stop to another worker without re-timing: the evaluator must object
    moved = routes[0]["stops"].pop(0)
    other = next(r for r in edited["routes"] if r["worker_id"] != routes[0]["worker_id"])
    other["stops"].append(moved)
    check = world.post(f"/v1/plans/{v1['id']}/check", "dispatcher_a", json=edited).json()
    assert check["ok"] is False and check["violations"]
    assert {"code", "worker_id", "visit_id", "message"} <= set(check["violations"][0])
    r = world.post(f"/v1/plans/{v1['id']}/versions", "dispatcher_a", json=edited)
    assert r.status_code == 201, r.text
    assert r.json()["plan"]["version"] == 2 and r.json()["plan"]["kind"] == "edit"
    assert r.json()["plan"]["published"] is False
    assert_problem(world.post(f"/v1/plans/{v1['id']}/check", "dispatcher_a", json={"routes": "nope"}), 422)


def test_geojson_is_the_planners_a_line_per_leg_and_a_point_per_stop(world: World) -> None:
    v1 = plan_day(world)
    r = world.get(f"/v1/plans/{v1['id']}/geojson", "dispatcher_a")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    body = r.json()
    features = body["features"]
    lines = [f for f in features if f["geometry"]["type"] == "LineString"]
    points = [f for f in features if f["geometry"]["type"] == "Point"]
    assert len(points) == sum(len(x["stops"]) for x in v1["routes"])
    # Start -> each stop -> end: one leg more than stops on every route (straight lines: no network).
    assert len(lines) == sum(len(x["stops"]) + 1 for x in v1["routes"] if x["stops"])
    assert all(f["properties"]["kind"] == "leg" and not f["properties"]["along_streets"] for f in lines)
    travel = {x["worker_id"]: x["travel_s"] for x in v1["routes"]}
    for worker_id, total in travel.items():
        assert sum(f["properties"]["travel_s"] for f in lines if f["properties"]["worker_id"] == worker_id) == total
    assert body["properties"] == {"plan_id": v1["id"], "version": v1["version"], "date": v1["date"],
                                  "geometry": "straight_lines", "network": None}
    lon, lat = points[0]["geometry"]["coordinates"]
    assert 126 < lon < 128 and 37 < lat < 38


def test_cadence_generation_is_idempotent(world: World) -> None:
    day = "2026-12-15"
    r = world.post(f"/v1/teams/{world.team_a}/visit-requests/generate?date={day}", "dispatcher_a")
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["count"] >= 1
    assert all(v["source"] == "cadence" and v["date"] == day for v in created["data"])
    again = world.post(f"/v1/teams/{world.team_a}/visit-requests/generate?date={day}", "dispatcher_a").json()
    assert again["count"] == 0
    listed = world.get(f"/v1/teams/{world.team_a}/visit-requests?date={day}", "dispatcher_a").json()
    assert listed["count"] == created["count"]


@pytest.mark.timeout(300)
def test_progress_streams_as_server_sent_events(world: World) -> None:
    # A job that only a cancellation ends: it is cancelled once the stream has shown its progress, so the test
    # waits for progress however loaded the machine is (a 2 s job could end between two polls under load).
    job_id = _start_job(world, world.team_a, search=ENDLESS_JOB)
    events: list[tuple[str, dict[str, Any]]] = []
    cancelled = False
    with world.client.stream("GET", f"/v1/plan-jobs/{job_id}/events?interval_s=0.1",
                             headers=world["dispatcher_a"]) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind:
                events.append((kind, json.loads(line.split(":", 1)[1])))
                data = events[-1][1]
                if kind == "end":
                    break
                if (kind == "progress" and not cancelled and data["status"] == "running"
                        and (data["progress"] or {}).get("elapsed_s", 0) > 0):
                    assert world.delete(f"/v1/plan-jobs/{job_id}", "dispatcher_a").status_code == 202
                    cancelled = True
    kinds = [k for k, _ in events]
    assert kinds[0] == "status" and kinds[-1] == "end" and cancelled
    assert events[-1][1]["status"] == "cancelled"


def test_cancel_stops_the_solve_and_keeps_the_best_plan(world: World) -> None:
    job_id = _start_job(world, world.team_a, search=ENDLESS_JOB)
    _wait_running(world, job_id)
    r = world.delete(f"/v1/plan-jobs/{job_id}", "dispatcher_a")
    assert r.status_code == 202, r.text
    # Only the cancellation can end this job before its 600 s safety cap.
    job = wait_for_job(world.client, world["dispatcher_a"], job_id, timeout_s=120)
    assert job["status"] == "cancelled"
    assert job["plan_id"], "the best plan so far is kept"
    plan = world.get(f"/v1/plans/{job['plan_id']}", "dispatcher_a").json()
    assert plan["stopped_early"] is True
    assert_problem(world.delete(f"/v1/plan-jobs/{job_id}", "dispatcher_a"), 409)


def test_a_killed_worker_process_fails_its_job_and_nothing_else(world: World) -> None:
    victim = _start_job(world, world.team_a, search=ENDLESS_JOB)
    bystander = _start_job(world, world.team_b, who="dispatcher_b")
    _wait_running(world, victim)
    pid = world.client.app.state.runner.pid(victim)  # type: ignore[attr-defined]
    os.kill(pid, signal.SIGKILL)
    job = wait_for_job(world.client, world["dispatcher_a"], victim, timeout_s=20)
    assert job["status"] == "failed"
    assert "SIGKILL" in job["error"]
    assert job["plan_id"] is None
    other = wait_for_job(world.client, world["dispatcher_b"], bystander, timeout_s=60)
    assert other["status"] == "succeeded", other
    # the team can plan again straight away
    again = wait_for_job(world.client, world["dispatcher_a"], _start_job(world, world.team_a))
    assert again["status"] == "succeeded", again
