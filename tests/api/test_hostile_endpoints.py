"""Hostile and careless use of the endpoints that came with joint visits, range jobs, the web page and scenarios
(SQLite and PostgreSQL): concurrent edits of one plan version, other teams' ids, a field worker asking for a
colleague's day, unreadable or pathological bodies.  Each answer is a 4xx problem+json, never a 500."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import apisupport
import pytest
from apisupport import (
    DAY,
    QUICK_JOB,
    World,
    add_user,
    assert_problem,
    bootstrap_manager,
    load_team,
    make_settings,
    plan_day,
    refs,
    wait_for_job,
)
from fastapi.testclient import TestClient

from api.main import create_app

backend, client, world = apisupport.backend, apisupport.client, apisupport.world


def _versions(w: World) -> list[dict[str, Any]]:
    r = w.get(f"/v1/teams/{w.team_a}/plans", "dispatcher_a", params={"date": DAY, "limit": 1000})
    assert r.status_code == 200, r.text
    return r.json()["data"]  # type: ignore[no-any-return]


def _at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` in threads released together; their responses in order."""
    barrier = threading.Barrier(len(calls))
    out: list[Any] = [None] * len(calls)

    def run(i: int) -> None:
        barrier.wait()
        out[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _stops(plan: dict[str, Any]) -> list[tuple[str, str]]:
    return [(s["visit_id"], r["worker_id"]) for r in plan["routes"] for s in r["stops"]]


# ---- two dispatchers editing the same version ------------------------------------------------------


def test_concurrent_moves_on_one_version_one_wins_the_other_is_409_and_nothing_half_written(world: World) -> None:
    plan = plan_day(world)
    world.actors["dispatcher_a2"] = apisupport.add_user(world.client, world["manager"], "dispatcher",
                                                        team_id=world.team_a, prefix="da2")
    base = plan
    for _round in range(3):
        (v1, _w1), (v2, _w2) = _stops(base)[:2]
        before = _versions(world)
        moves = [{"visit_id": v1, "worker_id": None}, {"visit_id": v2, "worker_id": None}]
        who = ["dispatcher_a", "dispatcher_a2"]
        url = f"/v1/plans/{base['id']}/moves"
        answers = _at_once([
            (lambda u=url, w=w, m=m: world.post(u, w, json=m)) for w, m in zip(who, moves, strict=True)
        ])
        codes = sorted(r.status_code for r in answers)
        assert codes == [201, 409], [r.text[:300] for r in answers]
        (won,) = [r for r in answers if r.status_code == 201]
        (lost,) = [r for r in answers if r.status_code == 409]
        problem = assert_problem(lost, 409)
        edit = won.json()["plan"]
        assert edit["id"] in problem["detail"]  # says which version to continue from
        after = _versions(world)
        assert len(after) == len(before) + 1  # the loser wrote nothing
        audit = world.get("/v1/audit", "manager", params={"resource": "plan", "limit": 1000}).json()["data"]
        made = [e for e in audit if e["action"] == "create" and f"move of {base['id']}" in (e["detail"] or "")]
        assert len(made) == 1, made
        # The loser retries on the winner's version: fine.
        moved = next(m for m, r in zip(moves, answers, strict=True) if r.status_code == 409)
        r = world.post(f"/v1/plans/{edit['id']}/moves", "dispatcher_a", json=moved)
        assert r.status_code == 201, r.text
        base = world.get(f"/v1/plans/{r.json()['plan']['id']}", "dispatcher_a").json()
        assert not {v1, v2} & {v for v, _ in _stops(base)}
        # Checking a move stores nothing and is never refused for an edit that exists.
        assert world.post(f"/v1/plans/{plan['id']}/moves/check", "dispatcher_a",
                          json={"visit_id": _stops(plan)[-1][0], "worker_id": None}).status_code == 200
        if len(_stops(base)) < 2:
            break


def test_a_second_hand_edit_of_one_version_is_409(world: World) -> None:
    plan = plan_day(world)
    body = {k: plan[k] for k in ("routes", "unassigned", "kpis") if k in plan}
    r = world.post(f"/v1/plans/{plan['id']}/versions", "dispatcher_a", json=body)
    assert r.status_code == 201, r.text
    count = len(_versions(world))
    problem = assert_problem(world.post(f"/v1/plans/{plan['id']}/versions", "dispatcher_a", json=body), 409)
    assert r.json()["plan"]["id"] in problem["detail"]
    assert_problem(world.post(f"/v1/plans/{plan['id']}/moves", "dispatcher_a",
                              json={"visit_id": _stops(plan)[0][0], "worker_id": None}), 409)
    assert len(_versions(world)) == count


# ---- one world for the rest of the module ------------------------------------------------------------


@pytest.fixture(scope="module")
def hw(backend: dict[str, Any]) -> Iterator[tuple[World, dict[str, Any]]]:
    """Two teams, their dispatchers, a nurse of team A, and team A's published plan (each test leaves them usable)."""
    app = create_app(make_settings(backend))
    with TestClient(app, raise_server_exceptions=False) as c:
        manager = bootstrap_manager(c)
        team_a, team_b = load_team(c, manager.headers, "hostile-new-A"), load_team(c, manager.headers, "hostile-new-B")
        w = World(client=c, team_a=team_a, team_b=team_b,
                  workers_a=refs(c, manager.headers, f"/v1/teams/{team_a}/workers"),
                  workers_b=refs(c, manager.headers, f"/v1/teams/{team_b}/workers"),
                  households_a=refs(c, manager.headers, f"/v1/teams/{team_a}/households"))
        w.actors["manager"] = manager
        w.actors["dispatcher_a"] = add_user(c, manager.headers, "dispatcher", team_id=team_a, prefix="hda")
        w.actors["dispatcher_b"] = add_user(c, manager.headers, "dispatcher", team_id=team_b, prefix="hdb")
        w.actors["nurse_a"] = add_user(c, manager.headers, "field_worker", team_id=team_a,
                                       worker_id=w.workers_a["t-nurse"], prefix="hna")
        yield w, plan_day(w)


#: A careless client's name and phone number typed where an id goes: never echoed.
PERSONAL = "김순자 010-2345-6789"

BAD_BODIES = {
    "NaN": b'{"visit_id": "vr_0000000000000000", "position": NaN}',
    "Infinity": b'{"visit_id": "vr_0000000000000000", "position": Infinity}',
    "not UTF-8": b'{"visit_id": "\xff\xfe"}',
    "deep nesting": b"[" * 50_000 + b"]" * 50_000,
    "a 5,000-digit number": b'{"visit_id": "vr_0000000000000000", "position": ' + b"9" * 5000 + b"}",
    "a lone surrogate": b'{"visit_id": "\\ud800"}',
    "not an object": b'[1, 2]',
    "empty": b"",
}


def _new_endpoints(w: World, plan: dict[str, Any]) -> list[tuple[str, str]]:
    return [("POST", f"/v1/plans/{plan['id']}/moves/check"), ("POST", f"/v1/plans/{plan['id']}/moves"),
            ("PUT", f"/v1/teams/{w.team_a}/precedences"), ("POST", f"/v1/teams/{w.team_a}/visit-requests"),
            ("POST", "/v1/plan-jobs"), ("POST", f"/v1/plans/{plan['id']}/versions")]


@pytest.mark.parametrize("kind", list(BAD_BODIES))
def test_unreadable_bodies_on_the_new_endpoints_are_4xx_problems(hw: tuple[World, dict[str, Any]], kind: str) -> None:
    w, plan = hw
    count = len(_versions(w))
    for method, url in _new_endpoints(w, plan):
        r = w.client.request(method, url, content=BAD_BODIES[kind],
                             headers={**w["dispatcher_a"], "content-type": "application/json"})
        assert 400 <= r.status_code < 500, (method, url, r.status_code, r.text[:300])
        assert_problem(r, r.status_code)
    assert len(_versions(w)) == count


@pytest.mark.parametrize("content_type", ["application/json", "application/toml"])
def test_a_scenario_nested_thousands_deep_is_422_not_500(hw: tuple[World, dict[str, Any]], content_type: str) -> None:
    w, _plan = hw
    deep = b"[" * 30_000 + b"]" * 30_000 if content_type == "application/json" else b"a = " + b"[" * 60_000
    r = w.client.post("/v1/scenarios", content=deep, headers={**w["manager"], "content-type": content_type})
    problem = assert_problem(r, 422)
    assert problem["errors"][0]["field"] == "body"


def test_personal_data_typed_into_id_fields_is_not_echoed(hw: tuple[World, dict[str, Any]]) -> None:
    w, _plan = hw
    visits = w.get(f"/v1/teams/{w.team_a}/visit-requests", "dispatcher_a").json()["data"]
    household = next(iter(w.households_a.values()))
    answers = [
        w.client.put(f"/v1/teams/{w.team_a}/precedences", headers=w["dispatcher_a"],
                     json={"data": [{"first": PERSONAL, "then": visits[0]["id"]}]}),
        w.post(f"/v1/teams/{w.team_a}/visit-requests", "dispatcher_a",
               json={"household_id": household, "date": DAY, "crew": [{"worker_id": PERSONAL}, {}]}),
        w.post(f"/v1/teams/{w.team_a}/visit-requests", "dispatcher_a", json={"household_id": PERSONAL, "date": DAY}),
        w.get(f"/v1/workers/{PERSONAL}/schedule/geojson", "dispatcher_a", params={"date": DAY}),
        w.get(f"/v1/plans/{PERSONAL}/timeline", "dispatcher_a"),
    ]
    for r in answers:
        assert 400 <= r.status_code < 500, r.text
        said = {k: v for k, v in r.json().items() if k != "instance"}  # (instance: the caller's own path)
        assert "010" not in str(said) and "김순자" not in str(said), r.text
    # An id of ours is still named, so the caller knows which one.
    other = w.get(f"/v1/teams/{w.team_b}/visit-requests", "dispatcher_b").json()["data"][0]["id"]
    r = w.client.put(f"/v1/teams/{w.team_a}/precedences", headers=w["dispatcher_a"],
                     json={"data": [{"first": other, "then": visits[0]["id"]}]})
    assert other in assert_problem(r, 422)["detail"]


def test_other_teams_ids_and_colleagues_days_are_refused(hw: tuple[World, dict[str, Any]]) -> None:
    w, plan = hw
    r = w.post("/v1/plan-jobs", "dispatcher_b", json={"team_id": w.team_b, "date": DAY, **QUICK_JOB})
    job = wait_for_job(w.client, w["dispatcher_b"], r.json()["id"])
    assert job["status"] == "succeeded", job
    other_plan = w.get(f"/v1/plans/{job['plan_id']}", "dispatcher_b").json()
    theirs = _stops(other_plan)[0][0]
    mine = _stops(plan)[0][0]
    count = len(_versions(w))
    for body in ({"visit_id": theirs, "worker_id": None},
                 {"visit_id": mine, "worker_id": w.workers_b["t-nurse"]},
                 {"visit_id": mine, "worker_id": w.workers_a["t-cm"], "displace_visit_id": theirs}):
        for action in ("moves/check", "moves"):
            assert_problem(w.post(f"/v1/plans/{plan['id']}/{action}", "dispatcher_a", json=body), 422)
    assert len(_versions(w)) == count
    assert_problem(w.post(f"/v1/plans/{other_plan['id']}/moves", "dispatcher_a",
                          json={"visit_id": theirs, "worker_id": None}), 403)
    assert_problem(w.get(f"/v1/plans/{plan['id']}/diff", "dispatcher_a", params={"against": other_plan["id"]}), 403)
    for view in ("timeline", "fits", "diff"):
        assert_problem(w.get(f"/v1/plans/{other_plan['id']}/{view}", "dispatcher_a"), 403)
        assert_problem(w.get(f"/v1/plans/{plan['id']}/{view}", "nurse_a"), 403)
    # A field worker reads her own day only.
    colleague, stranger = w.workers_a["t-cm"], w.workers_b["t-nurse"]
    for worker in (colleague, stranger):
        assert_problem(w.get(f"/v1/workers/{worker}/schedule/geojson", "nurse_a", params={"date": DAY}), 403)
        assert_problem(w.get(f"/v1/workers/{worker}/schedule", "nurse_a", params={"date": DAY}), 403)
    assert w.get(f"/v1/workers/{w.workers_a['t-nurse']}/schedule/geojson", "nurse_a",
                 params={"date": DAY}).status_code == 200
    assert_problem(w.get(f"/v1/teams/{w.team_a}/precedences", "nurse_a"), 403)
    assert_problem(w.client.put(f"/v1/teams/{w.team_b}/precedences", headers=w["dispatcher_a"], json={"data": []}),
                   403)
    # A stream token opens its own job's events only, and nothing else.
    token = w.post(f"/v1/plan-jobs/{plan['job_id']}/stream-token", "dispatcher_a").json()["token"]
    assert_problem(w.client.get(f"/v1/plan-jobs/{other_plan['job_id']}/events", params={"token": token}), 401)
    assert_problem(w.client.get(f"/v1/plans/{plan['id']}", headers={"Authorization": f"Bearer {token}"}), 401)
    assert_problem(w.post(f"/v1/plan-jobs/{other_plan['job_id']}/stream-token", "dispatcher_a"), 403)
