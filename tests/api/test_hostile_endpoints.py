"""Hostile and careless use of the endpoints that came with joint visits, range jobs, the web page and scenarios
(SQLite and PostgreSQL): concurrent edits of one plan version, other teams' ids, a field worker asking for a
colleague's day, unreadable or pathological bodies.  Each answer is a 4xx problem+json, never a 500."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import apisupport
from apisupport import DAY, World, assert_problem, plan_day

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
