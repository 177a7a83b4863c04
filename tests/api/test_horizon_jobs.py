"""Plan jobs for a date range: the planner picks each open request's day, one plan version per day, published."""

from __future__ import annotations

import datetime as dt
from typing import Any

import apisupport
import icalendar
from apisupport import DAY, World, assert_problem, wait_for_job

# Fixtures (apisupport.py; no conftest.py here, which would shadow tests/conftest.py).
backend, client, world = apisupport.backend, apisupport.client, apisupport.world


def _requests(world: World) -> dict[str, dict[str, Any]]:
    r = world.get(f"/v1/teams/{world.team_a}/visit-requests", "dispatcher_a", params={"limit": 500})
    assert r.status_code == 200, r.text
    return {v["id"]: v for v in r.json()["data"]}


def test_a_week_job_plans_each_day_moves_requests_to_their_day_and_publishes(world: World) -> None:
    before = _requests(world)
    assert before and all(v["date"] == DAY for v in before.values())
    # A report on Thursday may not be visited before Thursday.
    hid = next(iter(world.households_a.values()))
    r = world.post(f"/v1/teams/{world.team_a}/visit-requests", "dispatcher_a",
                   json={"household_id": hid, "date": "2026-11-26", "kind": "follow_up"})
    assert r.status_code == 201, r.text
    late = r.json()["id"]
    r = world.post("/v1/plan-jobs", "dispatcher_a", json={
        "team_id": world.team_a, "date": "2026-11-23", "date_to": "2026-11-27", "time_limit_s": 4,
        "publish": True})
    assert r.status_code == 202, r.text
    assert r.json()["date_to"] == "2026-11-27"
    job = wait_for_job(world.client, world["dispatcher_a"], r.json()["id"], timeout_s=120)
    assert job["status"] == "succeeded", job
    assert job["plan_ids"] and job["plan_id"] == job["plan_ids"][0]
    planned: dict[str, str] = {}
    for pid in job["plan_ids"]:
        plan = world.get(f"/v1/plans/{pid}", "dispatcher_a").json()
        assert "2026-11-23" <= plan["date"] <= "2026-11-27"
        assert plan["published"] is True
        for route in plan["routes"]:
            for stop in route["stops"]:
                planned[stop["visit_id"]] = plan["date"]
    assert planned.get(late, "2026-11-26") >= "2026-11-26"
    after = _requests(world)
    for vid, date in planned.items():
        assert after[vid]["date"] == date  # each request now sits on the day it was planned
    assert len(planned) >= len(before) - 2
    # The nurse's schedule follows the published plan of each day; the team's calendar feed shows the week.
    nurse = world.workers_a["t-nurse"]
    days = set(planned.values())
    for day in sorted(days):
        r = world.get(f"/v1/workers/{nurse}/schedule", "nurse_a", params={"date": day})
        assert r.status_code == 200, r.text
    monday = dt.datetime(2026, 11, 23, 7, 0, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    world.client.app.state.feed_cache.clock = lambda: monday  # type: ignore[attr-defined]
    r = world.post(f"/v1/teams/{world.team_a}/feed", "dispatcher_a")
    assert r.status_code == 201, r.text
    body = world.client.get(r.json()["url"].removeprefix("http://testserver")).content
    starts = {e["DTSTART"].dt.date().isoformat() for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}
    assert starts == days


def test_range_limits_are_422_naming_the_field(world: World) -> None:
    for date_to, text in (("2026-11-20", "before"), ("2027-01-30", "more than 28")):
        r = world.post("/v1/plan-jobs", "dispatcher_a", json={
            "team_id": world.team_a, "date": "2026-11-23", "date_to": date_to, "time_limit_s": 1})
        body = assert_problem(r, 422)
        assert text in body["detail"] and body["errors"][0]["field"] == "body.date_to"
    r = world.post("/v1/plan-jobs", "dispatcher_a", json={
        "team_id": world.team_a, "date": "2026-12-01", "date_to": "2026-12-04", "time_limit_s": 1})
    assert_problem(r, 422)
