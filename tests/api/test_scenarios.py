"""What-if scenarios over the API: managers save a spec (TOML or JSON, 422 naming the key), run it as a job
(202 + Location, progress, cancel), read aggregates and charts and compare runs; dispatchers and field workers
get 403; every change and the read of a team's data are audited."""

from __future__ import annotations

import time
from typing import Any

import apisupport
import pytest
from apisupport import World, assert_problem
from fastapi.testclient import TestClient

# Fixtures (apisupport.py; no conftest.py here, which would shadow tests/conftest.py).
backend, client, world = apisupport.backend, apisupport.client, apisupport.world
pytestmark = pytest.mark.timeout(600)  # catches a hang only: every simulation runs on a work budget

# One simulated week on OR-Tools' first solution: a real simulation on a tiny work budget.
TOML = """
name = "tiny team, one week"
base = "team:{team}"
start = 2026-11-30
weeks = 1
seeds = 2

[rates]
no_answer = 0.2
urgent_reports_per_week = 3.0

[planner]
solver = "ortools"
solution_limit = 1
"""


def _spec(world: World, **changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": "tiny", "base": f"team:{world.team_a}", "start": "2026-11-30", "weeks": 1,
                            "seeds": 2, "planner": {"solver": "ortools", "solution_limit": 1}}
    spec.update(changes)
    return spec


def _wait(client: TestClient, headers: dict[str, str], url: str, *, timeout_s: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        r = client.get(url, headers=headers)
        assert r.status_code == 200, r.text
        run = r.json()
        if run["status"] not in ("queued", "running"):
            return run  # type: ignore[no-any-return]
        assert time.monotonic() < deadline, f"{url} still {run['status']} after {timeout_s} s"
        time.sleep(0.3)


def _create(world: World, **changes: Any) -> str:
    r = world.post("/v1/scenarios", "manager", json=_spec(world, **changes))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_a_manager_saves_toml_runs_it_as_a_job_and_reads_results_and_charts(world: World) -> None:
    headers = {**world["manager"], "Content-Type": "application/toml"}
    r = world.client.post("/v1/scenarios", content=TOML.format(team=world.team_a), headers=headers)
    assert r.status_code == 201, r.text
    scenario = r.json()
    assert r.headers["Location"] == f"/v1/scenarios/{scenario['id']}"
    assert scenario["base_name"] == f"team:{world.team_a}" and scenario["weeks"] == 1
    assert scenario["changes"]["rates"]["no_answer"] == 0.2
    assert '"lat"' not in r.text and "location" not in r.text  # the team's data stay inside

    r = world.post(f"/v1/scenarios/{scenario['id']}/runs", "manager", json={"policies": ["salpimi", "manual"]})
    assert r.status_code == 202, r.text
    assert r.headers["Location"] == f"/v1/scenario-runs/{r.json()['id']}"
    assert r.json()["progress"]["total"] == 4
    run = _wait(world.client, world["manager"], r.headers["Location"])
    assert run["status"] == "succeeded", run
    assert run["progress"]["done"] == 4 and run["progress"]["left"] == 0 and run["failed_runs"] == []
    by_policy = {a["policy"]: a for a in run["aggregates"]}
    assert set(by_policy) == {"salpimi", "manual"}
    for agg in by_policy.values():
        assert agg["runs"] == 2 and agg["seeds"] == [0, 1]
        share = agg["kpis"]["within_cadence.intensive"]
        assert 0 <= share["min"] <= share["mean"] <= share["max"] <= 1
        assert len(agg["weekly"]) == 1
    assert sorted(run["charts"]) == sorted(f"/v1/scenario-runs/{run['id']}/charts/{n}.png"
                                           for n in ("overdue_days", "weekly_coverage"))
    png = world.get(run["charts"][0], "manager")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = world.get(run["charts"][0].replace(".png", ".svg"), "manager")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert_problem(world.get(f"/v1/scenario-runs/{run['id']}/charts/coverage_vs_staff.png", "manager"), 404)

    r = world.get("/v1/scenario-runs/compare", "manager", params={"ids": [run["id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 2 and "within_cadence.intensive" in r.json()["kpis"]

    _audited(world, {("create", "scenario", scenario["id"]), ("run", "scenario", scenario["id"]),
                     ("read", "team_data", world.team_a), ("read", "scenario_run", run["id"]),
                     ("read", "scenario_chart", run["id"])})


def _audited(world: World, want: set[tuple[str, str, str | None]]) -> None:
    """``want`` (action, resource, id) are in the audit log (reads reach it through the background writer)."""
    deadline = time.monotonic() + 10
    while True:
        r = world.get("/v1/audit", "manager", params={"limit": 1000})
        assert r.status_code == 200, r.text
        seen = {(e["action"], e["resource"], e["resource_id"]) for e in r.json()["data"]}
        if want <= seen or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert want <= seen, want - seen


def test_spec_errors_are_422_problems_naming_the_key(world: World) -> None:
    r = world.post("/v1/scenarios", "manager", json=_spec(world, rates={"no_answer": 1.5}))
    body = assert_problem(r, 422)
    assert body["errors"][0]["field"] == "body.rates.no_answer"
    assert "rates.no_answer" in body["detail"] and "\n" not in body["detail"]
    body = assert_problem(world.post("/v1/scenarios", "manager", json=_spec(world, weeks=0)), 422)
    assert body["errors"][0]["field"] == "body.weeks"
    body = assert_problem(world.post("/v1/scenarios", "manager", json=_spec(world, base="nowhere")), 422)
    assert body["errors"][0]["field"] == "body.base"
    bad_toml = world.client.post("/v1/scenarios", content=b"name = ", headers={
        **world["manager"], "Content-Type": "application/toml"})
    assert_problem(bad_toml, 422)
    assert_problem(world.client.post("/v1/scenarios", content=b"x", headers={
        **world["manager"], "Content-Type": "text/csv"}), 415)
    assert_problem(world.post("/v1/scenarios", "manager", json=_spec(world, base="team:nope")), 404)
    sid = _create(world)
    body = assert_problem(world.post(f"/v1/scenarios/{sid}/runs", "manager", json={"seeds": 50,
                                                                                     "policies": ["salpimi", "manual", "day_by_day"]}), 422)
    assert body["errors"][0]["field"] == "body.seeds"
    assert_problem(world.post(f"/v1/scenarios/{sid}/runs", "manager", json={"policies": ["guessing"]}), 422)


def test_dispatchers_and_field_workers_cannot_use_scenarios(world: World) -> None:
    sid = _create(world)
    for who in ("dispatcher_a", "nurse_a"):
        assert_problem(world.post("/v1/scenarios", who, json=_spec(world)), 403)
        assert_problem(world.get("/v1/scenarios", who), 403)
        assert_problem(world.get(f"/v1/scenarios/{sid}", who), 403)
        assert_problem(world.post(f"/v1/scenarios/{sid}/runs", who, json={}), 403)
    r = world.get("/v1/scenarios", "manager")
    assert r.status_code == 200 and sid in {s["id"] for s in r.json()["data"]}


def test_a_cancelled_run_stops_and_keeps_what_finished(world: World) -> None:
    sid = _create(world, weeks=4)
    r = world.post(f"/v1/scenarios/{sid}/runs", "manager", json={"seeds": 40})
    assert r.status_code == 202, r.text
    url = r.headers["Location"]
    r = world.delete(url, "manager")
    assert r.status_code == 202, r.text
    run = _wait(world.client, world["manager"], url, timeout_s=60)
    assert run["status"] == "cancelled", run
    assert (run["progress"]["done"] or 0) < 40
    assert_problem(world.delete(url, "manager"), 409)
    assert_problem(world.delete(url, "dispatcher_a"), 403)


def test_a_staff_sweep_draws_coverage_against_head_count(world: World) -> None:
    sid = _create(world, seeds=1)
    r = world.post(f"/v1/scenarios/{sid}/runs", "manager",
                   json={"seeds": 1, "staff": {"role": "visiting_nurse", "counts": [2, 1]}})
    assert r.status_code == 202, r.text
    assert r.json()["staff"] == {"role": "visiting_nurse", "counts": [1, 2]}
    run = _wait(world.client, world["manager"], r.headers["Location"])
    assert run["status"] == "succeeded", run
    assert sorted(a["count"] for a in run["aggregates"]) == [1, 2]
    chart = world.get(f"/v1/scenario-runs/{run['id']}/charts/coverage_vs_staff.svg", "manager")
    assert chart.status_code == 200 and b"<svg" in chart.content[:2000]


def test_a_sweep_stopped_by_a_restart_resumes_without_redoing_finished_runs(backend: dict[str, Any]) -> None:
    import json

    from apisupport import bootstrap_manager, load_team, make_settings, sign_in

    from api.main import create_app

    settings = make_settings(backend)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        manager = bootstrap_manager(c)
        team = load_team(c, manager.headers, "R")
        spec = {"name": "restart", "base": f"team:{team}", "start": "2026-11-30", "weeks": 1,
                "planner": {"solver": "ortools", "solution_limit": 1}}
        r = c.post("/v1/scenarios", json=spec, headers=manager.headers)
        assert r.status_code == 201, r.text
        r = c.post(f"/v1/scenarios/{r.json()['id']}/runs", json={"seeds": 6}, headers=manager.headers)
        assert r.status_code == 202, r.text
        url = r.headers["Location"]
        deadline = time.monotonic() + 120
        while (c.get(url, headers=manager.headers).json()["progress"].get("done") or 0) < 2:
            assert time.monotonic() < deadline, "no run finished in 120 s"
            time.sleep(0.2)
    store = settings.data_dir / "scenario-runs" / f"{url.rsplit('/', 1)[1]}.jsonl"
    before = [json.loads(line)["key"] for line in store.read_text().splitlines() if line.strip()]
    assert 2 <= len(before) < 6
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        run = _wait(c, sign_in(c, manager.username), url)
    assert run["status"] == "succeeded", run
    assert run["aggregates"][0]["runs"] == 6
    after = [json.loads(line)["key"] for line in store.read_text().splitlines() if line.strip()]
    assert after[:len(before)] == before and len(after) == len(set(after)) == 6  # none run twice


def _count(world: World) -> int:
    r = world.get("/v1/scenarios", "manager", params={"limit": 1})
    assert r.status_code == 200, r.text
    return int(r.json()["count"])


def _send(world: World, body: bytes | str, kind: str = "application/toml") -> Any:
    raw = body.encode() if isinstance(body, str) else body
    return world.client.post("/v1/scenarios", content=raw, headers={**world["manager"], "Content-Type": kind})


def test_hostile_specs_are_4xx_problems_and_nothing_is_saved(world: World) -> None:
    before = _count(world)
    head = f'name = "x"\nbase = "team:{world.team_a}"\nstart = 2026-11-30\n'
    # tomllib's work grows with the square of a dotted key's parts (20 000 parts: about 1.6 GB): refused unparsed
    body = assert_problem(_send(world, head + "a" + ".b" * 20_000 + " = 1\n"), 422)
    assert "line 4" in body["detail"] and "dotted" in body["detail"]
    for deep in (head + "a = " + "[" * 20_000 + "]" * 20_000, head + "a = " + "{b=" * 3000 + "1" + "}" * 3000):
        assert "nested" in assert_problem(_send(world, deep), 422)["detail"]
    deep_json = '{"name": "x", "base": "osan", "start": "2026-11-30", "d": ' + "[" * 20_000 + "]" * 20_000 + "}"
    assert "nested" in assert_problem(_send(world, deep_json, "application/json"), 422)["detail"]
    assert_problem(_send(world, head + "description = '" + "x" * 70_000 + "'\n"), 413)
    assert_problem(_send(world, b'name = "\xff\xfe"\n'), 422)
    # what a database cannot store: NUL (PostgreSQL text) and unpaired surrogates (UTF-8)
    body = assert_problem(_send(world, head + 'description = "a\\u0000b"\n'), 422)
    assert body["errors"][0]["field"] == "body.description"
    raw = b'{"name": "x", "base": "osan", "start": "2026-11-30", "description": "\\ud800"}'
    assert assert_problem(_send(world, raw, "application/json"), 422)["errors"][0]["field"] == "body.description"
    # the base is a fixture's name or a team: never a path
    for base in ("../../../etc/passwd", "/etc/passwd", "osan/../../api/config", "..", "osan.json/..", "nosuch",
                 "OSAN", "osan\x00", "x" * 5000):
        r = world.post("/v1/scenarios", "manager", json=_spec(world, base=base))
        assert assert_problem(r, 422)["errors"][0]["field"] == "body.base", base
        assert "root:" not in r.text
    assert_problem(world.post("/v1/scenarios", "manager", json=_spec(world, base="team:" + "z" * 5000)), 404)
    # numbers out of range, lists too long, keys that are not keys
    for changes, field in (({"seeds": -1}, "body.seeds"), ({"seeds": 10**6}, "body.seeds"),
                           ({"seeds": 10**40}, "body.seeds"), ({"weeks": 1e308}, "body.weeks"),
                           ({"closing_days": ["2026-12-01"] * 1000}, "body.closing_days"),
                           ({"workers": {"add": [{"id": f"w{i}", "like": "x"} for i in range(1000)]}},
                            "body.workers.add"),
                           ({"rates": {"no_answer\n\x1b[2J": 0.1}}, "body.rates.no_answer??[2J")):
        body = assert_problem(world.post("/v1/scenarios", "manager", json=_spec(world, **changes)), 422)
        assert body["errors"][0]["field"] == field, (changes, body)
        assert "\n" not in body["detail"] and "\x1b" not in body["detail"]
    for bad in (b"[1, 2]", b'"osan"', b"null", b'{"a": NaN}', b"{" * 10, b"1" * 5000):
        assert_problem(_send(world, bad, "application/json"), 422)
    assert_problem(_send(world, head, "text/plain"), 415)
    assert _count(world) == before  # nothing half-written


def test_run_bounds_are_422_and_nothing_is_queued(world: World) -> None:
    sid = _create(world)
    for body in ({"seeds": -1}, {"seeds": 0}, {"seeds": 51}, {"seeds": 10**20}, {"seeds": "many"},
                 {"policies": []}, {"policies": ["salpimi"] * 4}, {"staff": {"role": "visiting_nurse", "counts": [-1]}},
                 {"staff": {"role": "visiting_nurse", "counts": [201]}},
                 {"staff": {"role": "visiting_nurse", "counts": list(range(13))}},
                 {"staff": {"role": "pilot", "counts": [1]}}, {"unknown": 1},
                 {"seeds": 50, "policies": ["salpimi", "manual", "day_by_day"]}):
        assert_problem(world.post(f"/v1/scenarios/{sid}/runs", "manager", json=body), 422)
    r = world.get(f"/v1/scenarios/{sid}/runs", "manager")
    assert r.status_code == 200 and r.json()["count"] == 0


def test_compare_ids_empty_malformed_or_too_many_are_422_and_unknown_404(world: World) -> None:
    for params in ({"ids": ""}, {"ids": ["", "sr_0"]}, {"ids": "../etc"}, {"ids": "a b"}, {"ids": "x" * 41},
                   {"ids": [f"sr_{i:016x}" for i in range(13)]}, {}):
        body = assert_problem(world.get("/v1/scenario-runs/compare", "manager", params=params), 422)
        assert body["errors"] and body["errors"][0]["field"].startswith("query.ids"), (params, body)
    assert_problem(world.get("/v1/scenario-runs/compare", "manager", params={"ids": "sr_0000000000000000"}), 404)
    assert_problem(world.get("/v1/scenario-runs/compare", "dispatcher_a", params={"ids": ""}), 403)
    spec = world.client.get("/openapi.json").json()["paths"]["/v1/scenario-runs/compare"]["get"]["responses"]
    assert {"404", "422"} <= set(spec)


def test_every_scenario_endpoint_refuses_dispatchers_and_field_workers_before_looking(world: World) -> None:
    sid, rid = _create(world), "sr_0000000000000000"
    for who in ("dispatcher_a", "dispatcher_b", "nurse_a", "cm_a"):
        for method, url in (("get", f"/v1/scenarios/{sid}/runs"), ("get", f"/v1/scenario-runs/{rid}"),
                            ("delete", f"/v1/scenario-runs/{rid}"), ("get", f"/v1/scenario-runs/{rid}/charts/x.png"),
                            ("get", f"/v1/scenario-runs/compare?ids={rid}"), ("get", "/v1/scenarios/sc_nope")):
            assert_problem(getattr(world, method)(url, who), 403)
        assert_problem(_send_as(world, who), 403)


def _send_as(world: World, who: str) -> Any:
    return world.client.post("/v1/scenarios", content=TOML.format(team=world.team_a),
                             headers={**world[who], "Content-Type": "application/toml"})


def test_concurrent_cancels_end_in_one_cancelled_run_and_reads_are_audited(world: World) -> None:
    import concurrent.futures

    sid = _create(world, weeks=4)
    r = world.post(f"/v1/scenarios/{sid}/runs", "manager", json={"seeds": 40})
    assert r.status_code == 202, r.text
    url, rid = r.headers["Location"], r.json()["id"]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: world.delete(url, "manager").status_code, range(8)))
    assert set(codes) <= {202, 409} and 202 in codes, codes
    run = _wait(world.client, world["manager"], url, timeout_s=60)
    assert run["status"] == "cancelled", run
    assert_problem(world.delete(url, "manager"), 409)
    # every read of a scenario or run is audited
    assert world.get(f"/v1/scenarios/{sid}", "manager").status_code == 200
    assert world.get(f"/v1/scenarios/{sid}/runs", "manager").status_code == 200
    assert world.get("/v1/scenario-runs/compare", "manager", params={"ids": rid}).status_code == 200
    assert world.get("/v1/scenarios", "manager").status_code == 200
    _audited(world, {("read", "scenario", sid), ("list", "scenario", None), ("read", "scenario_run", rid),
                     ("list", "scenario_run", None), ("cancel", "scenario_run", rid)})
