"""Roles and object-level authorisation: dispatchers own their team, field workers their route."""

from __future__ import annotations

from typing import Any

import apisupport
import pytest
from apisupport import DAY, World, assert_problem, plan_day

# Fixtures (apisupport.py; no conftest.py here, which would shadow tests/conftest.py).
backend, client, world = apisupport.backend, apisupport.client, apisupport.world


def _route_of(plan: dict[str, Any], worker_id: str) -> list[dict[str, Any]]:
    return next((r["stops"] for r in plan["routes"] if r["worker_id"] == worker_id), [])


@pytest.fixture
def planned(world: World) -> tuple[World, dict[str, Any]]:
    return world, plan_day(world)


def test_a_dispatcher_cannot_touch_another_team(world: World) -> None:
    b = world.team_b
    hh_b = next(iter(world.get(f"/v1/teams/{b}/households", "dispatcher_b").json()["data"]))["id"]
    assert_problem(world.get(f"/v1/teams/{b}/households", "dispatcher_a"), 403)
    assert_problem(world.get(f"/v1/households/{hh_b}", "dispatcher_a"), 403)
    assert_problem(world.get(f"/v1/households/{hh_b}/private", "dispatcher_a"), 403)
    assert_problem(world.patch(f"/v1/households/{hh_b}", "dispatcher_a", json={"dong": "신림동"}), 403)
    assert_problem(world.post(f"/v1/teams/{b}/households", "dispatcher_a", json={"lat": 37.48, "lon": 126.95}), 403)
    assert_problem(world.post("/v1/plan-jobs", "dispatcher_a", json={"team_id": b, "date": DAY}), 403)
    assert_problem(world.post(f"/v1/teams/{b}/visit-requests/generate?date={DAY}", "dispatcher_a"), 403)
    assert_problem(world.post("/v1/reports", "dispatcher_a",
                              json={"household_id": hh_b, "reporter_kind": "landlord"}), 403)
    teams = world.get("/v1/teams", "dispatcher_a").json()
    assert [t["id"] for t in teams["data"]] == [world.team_a]


def test_a_dispatcher_cannot_publish_or_record_on_another_teams_plan(planned: tuple) -> None:
    world, plan = planned
    assert_problem(world.post(f"/v1/plans/{plan['id']}/publish", "dispatcher_b"), 403)
    assert_problem(world.get(f"/v1/plans/{plan['id']}", "dispatcher_b"), 403)
    visit = plan["routes"][0]["stops"][0]["visit_id"]
    assert_problem(world.post(f"/v1/plans/{plan['id']}/outcomes", "dispatcher_b",
                              json={"kind": "done", "visit_id": visit}), 403)


def test_a_field_worker_reads_only_her_own_schedule(planned: tuple) -> None:
    world, plan = planned
    nurse, cm = world.actors["nurse_a"], world.actors["cm_a"]
    r = world.get(f"/v1/workers/{nurse.worker_id}/schedule?date={DAY}", "nurse_a")
    assert r.status_code == 200, r.text
    mine = r.json()
    assert mine["plan_id"] == plan["id"]
    assert [s["visit_id"] for s in mine["stops"]] == [s["visit_id"] for s in _route_of(plan, nurse.worker_id)]
    assert_problem(world.get(f"/v1/workers/{cm.worker_id}/schedule?date={DAY}", "nurse_a"), 403)
    # no whole plans, jobs or visit lists for field workers
    assert_problem(world.get(f"/v1/plans/{plan['id']}", "nurse_a"), 403)
    assert_problem(world.get(f"/v1/teams/{world.team_a}/plans", "nurse_a"), 403)
    assert_problem(world.get(f"/v1/teams/{world.team_a}/visit-requests", "nurse_a"), 403)
    assert_problem(world.get(f"/v1/teams/{world.team_a}/plan-jobs", "nurse_a"), 403)


def test_a_field_worker_reads_households_on_her_route_only(planned: tuple) -> None:
    world, plan = planned
    nurse, cm = world.actors["nurse_a"], world.actors["cm_a"]
    mine = {s["household_id"] for s in _route_of(plan, nurse.worker_id)}
    theirs = {s["household_id"] for s in _route_of(plan, cm.worker_id)} - mine
    assert mine and theirs
    for hh in mine:
        assert world.get(f"/v1/households/{hh}", "nurse_a").status_code == 200
        private = world.get(f"/v1/households/{hh}/private", "nurse_a")
        assert private.status_code == 200, private.text
        assert private.json()["label"].startswith("tiny-") or private.json()["label"] == ""
    for hh in theirs:
        assert_problem(world.get(f"/v1/households/{hh}", "nurse_a"), 403)
        assert_problem(world.get(f"/v1/households/{hh}/private", "nurse_a"), 403)
    listed = world.get(f"/v1/teams/{world.team_a}/households", "nurse_a").json()
    assert {h["id"] for h in listed["data"]} == mine
    assert_problem(world.patch(f"/v1/households/{next(iter(mine))}", "nurse_a", json={"dong": "x"}), 403)


def test_a_field_worker_records_outcomes_on_her_own_route_only(planned: tuple) -> None:
    world, plan = planned
    nurse, cm = world.actors["nurse_a"], world.actors["cm_a"]
    own = _route_of(plan, nurse.worker_id)[0]["visit_id"]
    other = _route_of(plan, cm.worker_id)[0]["visit_id"]
    r = world.post(f"/v1/plans/{plan['id']}/outcomes", "nurse_a", json={"kind": "in_progress", "visit_id": own})
    assert r.status_code == 201, r.text
    assert_problem(world.post(f"/v1/plans/{plan['id']}/outcomes", "nurse_a",
                              json={"kind": "done", "visit_id": other}), 403)
    assert_problem(world.post(f"/v1/plans/{plan['id']}/outcomes", "nurse_a",
                              json={"kind": "worker_off_sick", "worker_id": cm.worker_id}), 403)


def test_a_manager_reads_everything_but_no_personal_data_and_changes_nothing(world: World) -> None:
    hh = next(iter(world.households_a.values()))
    assert world.get(f"/v1/teams/{world.team_b}/households", "manager").status_code == 200
    assert world.get(f"/v1/households/{hh}", "manager").status_code == 200
    assert_problem(world.get(f"/v1/households/{hh}/private", "manager"), 403)
    assert_problem(world.post(f"/v1/teams/{world.team_a}/households", "manager",
                              json={"lat": 37.48, "lon": 126.95}), 403)
    assert {t["id"] for t in world.get("/v1/teams", "manager").json()["data"]} >= {world.team_a, world.team_b}


def test_only_managers_create_users_and_read_the_audit_log(world: World) -> None:
    body = {"username": "sneaky-user", "role": "manager", "password": "long-enough-pw"}
    assert_problem(world.post("/v1/users", "dispatcher_a", json=body), 403)
    assert_problem(world.get("/v1/audit", "dispatcher_a"), 403)
    assert_problem(world.get("/v1/audit", "nurse_a"), 403)


def test_api_keys_carry_the_users_permissions(world: World) -> None:
    nurse = world.actors["nurse_a"]
    r = world.post(f"/v1/users/{nurse.user_id}/api-keys", "nurse_a", json={"name": "phone"})
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    headers = {"X-API-Key": key}
    me = world.client.get("/v1/users/me", headers=headers).json()
    assert me["id"] == nurse.user_id and me["role"] == "field_worker"
    cm = world.actors["cm_a"]
    assert_problem(world.client.get(f"/v1/workers/{cm.worker_id}/schedule", headers=headers), 403)
    assert world.client.get(f"/v1/workers/{nurse.worker_id}/schedule", headers=headers).status_code == 200
    # and nobody else's keys
    assert_problem(world.post(f"/v1/users/{cm.user_id}/api-keys", "nurse_a", json={}), 403)


def test_a_field_worker_sees_only_her_own_worker_record(world: World) -> None:
    nurse, cm = world.actors["nurse_a"], world.actors["cm_a"]
    listed = world.get(f"/v1/teams/{world.team_a}/workers", "nurse_a").json()
    assert [w["id"] for w in listed["data"]] == [nurse.worker_id] and listed["count"] == 1
    assert world.get(f"/v1/workers/{nurse.worker_id}", "nurse_a").status_code == 200
    # no other worker's name or home coordinates
    assert_problem(world.get(f"/v1/workers/{cm.worker_id}", "nurse_a"), 403)
    assert_problem(world.get(f"/v1/teams/{world.team_b}/workers", "nurse_a"), 403)
    assert world.get(f"/v1/teams/{world.team_a}/workers", "dispatcher_a").json()["count"] == 2


# (method, path, JSON body, {actor: status}); placeholders name actors' user ids, teams and workers.
ACCESS_MATRIX: list[tuple[str, str, Any, dict[str, int]]] = [
    ("GET", "/v1/users", None, {"manager": 200, "dispatcher_a": 200, "nurse_a": 403}),
    ("GET", "/v1/users?team_id={team_b}", None, {"manager": 200, "dispatcher_a": 403, "nurse_a": 403}),
    ("POST", "/v1/users/{dispatcher_a}/api-keys", {},
     {"manager": 403, "dispatcher_b": 403, "nurse_a": 403, "dispatcher_a": 201}),
    ("POST", "/v1/users/{nurse_a}/api-keys", {}, {"manager": 403, "dispatcher_a": 403, "cm_a": 403, "nurse_a": 201}),
    ("GET", "/v1/api-keys", None, {"manager": 200, "dispatcher_a": 200, "nurse_a": 200}),
    ("GET", "/v1/api-keys?user_id={dispatcher_a}", None,
     {"manager": 200, "dispatcher_a": 200, "dispatcher_b": 403, "nurse_a": 403}),
    ("GET", "/v1/api-keys?user_id={nurse_a}", None, {"dispatcher_a": 200, "dispatcher_b": 403, "cm_a": 403}),
    ("POST", "/v1/users/{cm_a}/deactivate", None, {"nurse_a": 403, "dispatcher_b": 403}),
    ("POST", "/v1/users/{dispatcher_a}/deactivate", None, {"dispatcher_b": 403, "cm_a": 403}),
    ("GET", "/v1/workers/{w_cm}", None, {"nurse_a": 403, "dispatcher_b": 403, "dispatcher_a": 200, "manager": 200}),
    ("GET", "/v1/teams/{team_a}/workers", None, {"dispatcher_b": 403, "dispatcher_a": 200, "manager": 200}),
    ("GET", "/v1/audit", None, {"manager": 200, "dispatcher_a": 403, "nurse_a": 403}),
]


def test_access_matrix_for_accounts_keys_and_workers(world: World) -> None:
    names = {name: actor.user_id for name, actor in world.actors.items()}
    names |= {"team_a": world.team_a, "team_b": world.team_b, "w_cm": world.workers_a["t-cm"]}
    wrong = []
    for method, path, body, expected in ACCESS_MATRIX:
        url = path.format(**names)
        for who, status in expected.items():
            r = world.client.request(method, url, headers=world[who], json=body)
            if r.status_code != status:
                wrong.append(f"{method} {path} as {who}: {r.status_code}, expected {status}")
    assert not wrong, wrong
