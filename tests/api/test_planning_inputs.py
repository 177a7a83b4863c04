"""The API on the planner's contract: a team's own travel matrix, risk settings and priorities; plans as the planner reads them."""

from __future__ import annotations

import copy
from typing import Any

import apisupport
import pytest
from apisupport import DAY, World, assert_problem, bootstrap_manager, wait_for_job
from daysupport import assert_conforms
from test_travel_matrix import with_matrix

# Fixtures (apisupport.py; no conftest.py here, which would shadow tests/conftest.py).
backend, client, world = apisupport.backend, apisupport.client, apisupport.world


def _load(client: Any, manager: dict[str, str], problem: dict[str, Any], name: str) -> Any:
    return client.post(f"/v1/teams/load?name={name}", json=problem, headers=manager)


def _plan(client: Any, headers: dict[str, str], team_id: str) -> dict[str, Any]:
    r = client.post("/v1/plan-jobs", headers=headers, json={"team_id": team_id, "date": DAY, **apisupport.QUICK_JOB})
    assert r.status_code == 202, r.text
    job = wait_for_job(client, headers, r.json()["id"])
    assert job["status"] == "succeeded", job
    r = client.get(f"/v1/plans/{job['plan_id']}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_a_team_plans_with_its_own_matrix_priorities_and_risk_settings(client: Any) -> None:
    manager = bootstrap_manager(client).headers
    problem = with_matrix()
    problem["risk_model"] = {"cadence_days": {"regular": 20}}
    problem["visits"][2]["priority"] = 250.0
    problem["households"][0]["priority"] = 3.5
    r = _load(client, manager, problem, "matrix")
    assert r.status_code == 201, r.text
    team = r.json()["team"]["id"]
    visits = client.get(f"/v1/teams/{team}/visit-requests", headers=manager, params={"date": DAY}).json()["data"]
    assert sorted(v["priority"] for v in visits if v["priority"] is not None) == [250.0]
    households = client.get(f"/v1/teams/{team}/households", headers=manager).json()["data"]
    assert [h["priority"] for h in households if h["priority"] is not None] == [3.5]
    plan = _plan(client, manager, team)
    assert plan["meta"]["travel"] == ["osrm (test)"]  # the team's matrix, not straight lines
    assert_conforms(plan, "plan")  # the API's plan is a plan file (with its version fields besides)
    check = client.post(f"/v1/plans/{plan['id']}/check", headers=manager)
    assert check.status_code == 200 and check.json()["ok"] is True, check.text
    assert_conforms({"date": DAY, "routes": [], "kpis": check.json()["kpis"]}, "plan")
    geo = client.get(f"/v1/plans/{plan['id']}/geojson", headers=manager)
    assert geo.status_code == 200 and geo.json()["features"]


def test_priorities_set_by_the_api_are_what_coverage_counts(world: World) -> None:
    visits = world.get(f"/v1/teams/{world.team_a}/visit-requests", "dispatcher_a", params={"date": DAY}).json()
    for v in visits["data"]:
        r = world.patch(f"/v1/visit-requests/{v['id']}", "dispatcher_a", json={"priority": 100})
        assert r.status_code == 200 and r.json()["priority"] == 100, r.text
    r = world.patch(f"/v1/visit-requests/{visits['data'][0]['id']}", "dispatcher_a", json={"priority": None})
    assert r.status_code == 200 and r.json()["priority"] is None, r.text
    r = world.patch(f"/v1/visit-requests/{visits['data'][0]['id']}", "dispatcher_a", json={"priority": 100})
    plan = _plan(world.client, world["dispatcher_a"], world.team_a)
    kpis = plan["kpis"]
    assert kpis["risk_total"] == 100 * visits["count"]
    assert kpis["risk_covered"] == 100 * kpis["visits_assigned"]
    assert_problem(world.patch(f"/v1/visit-requests/{visits['data'][0]['id']}", "dispatcher_a",
                               json={"priority": -1}), 422)


def _edit(fn: Any) -> dict[str, Any]:
    data = copy.deepcopy(with_matrix())
    fn(data)
    return data


BAD = {
    "negative": (lambda d: d["travel_matrix"]["walk"]["duration_s"][0].__setitem__(1, -4), "negative value"),
    "missing": (lambda d: d["travel_matrix"]["walk"]["duration_s"][2].__setitem__(0, None), "missing value"),
    "ragged": (lambda d: d["travel_matrix"]["walk"]["duration_s"][1].pop(), "expected a row of 7 values"),
    "short": (lambda d: d["travel_matrix"]["walk"]["duration_s"].pop(), "6 rows for 7 locations"),
    "place missing": (lambda d: d["households"][0].update(location={"lat": 37.5, "lon": 127.0}),
                      "not among them"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_matrix_is_422_naming_the_field(client: Any, name: str) -> None:
    manager = bootstrap_manager(client).headers
    edit, expect = BAD[name]
    body = assert_problem(_load(client, manager, _edit(edit), f"bad-{name.replace(' ', '-')}"), 422)
    assert "travel_matrix" in body["detail"] and expect in body["detail"], body
    assert "37.4" not in str(body) and "126.9" not in str(body)  # no coordinates echoed
    teams = client.get("/v1/teams", headers=manager).json()["data"]
    assert not any(t["name"].startswith("bad-") for t in teams)  # nothing stored


def test_a_worker_schedule_reads_the_stored_plan(world: World) -> None:
    plan = _plan(world.client, world["dispatcher_a"], world.team_a)
    r = world.client.post(f"/v1/plans/{plan['id']}/publish", headers=world["dispatcher_a"])
    assert r.status_code == 200, r.text
    nurse = world.actors["nurse_a"].worker_id
    schedule = world.get(f"/v1/workers/{nurse}/schedule", "nurse_a", params={"date": DAY}).json()
    route = next(x for x in plan["routes"] if x["worker_id"] == nurse)
    assert [s["visit_id"] for s in schedule["stops"]] == [s["visit_id"] for s in route["stops"]]
    assert [s["start"] for s in schedule["stops"]] == [s["start"] for s in route["stops"]]
    assert schedule["departure"] == route["departure"] and schedule["return"] == route["return"]
    assert (schedule["break"] or {}).get("start") == (route["break"] or {}).get("start")
