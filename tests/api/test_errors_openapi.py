"""Every error is RFC 9457 problem+json; OpenAPI documents every route's problem responses."""

from __future__ import annotations

from typing import Any

import apisupport
from apisupport import DAY, World, assert_problem, make_settings
from fastapi.testclient import TestClient

from api.main import create_app

# Fixtures (apisupport.py; no conftest.py here, which would shadow tests/conftest.py).
backend, client, world = apisupport.backend, apisupport.client, apisupport.world


def test_unknown_route_is_problem_json(client: TestClient) -> None:
    body = assert_problem(client.get("/v1/nowhere"), 404)
    assert body["instance"] == "/v1/-"  # the route's own words and our ids only
    assert body["type"].endswith("/not-found")


def test_a_problem_never_repeats_what_a_client_put_in_the_path(world: World) -> None:
    # A name and a phone number typed where an id goes: the problem names the route's words and our ids only.
    for path in ("/v1/households/홍길동-010-1234-5678", "/v1/workers/kim%20minji/schedule", "/v1/nowhere/01012345678"):
        body = assert_problem(world.get(path, "dispatcher_a"), 404)
        assert "홍길동" not in str(body) and "1234" not in str(body) and "minji" not in str(body), body
        assert body["instance"].startswith("/v1/") and "-" in body["instance"].split("/"), body
    body = assert_problem(world.get(f"/v1/teams/{world.team_a}/nowhere", "dispatcher_a"), 404)
    assert body["instance"] == f"/v1/teams/{world.team_a}/-"


def test_missing_credentials_bad_token_and_bad_key_are_401(client: TestClient) -> None:
    assert_problem(client.get("/v1/teams"), 401)
    assert_problem(client.get("/v1/teams", headers={"Authorization": "Bearer nonsense"}), 401)
    assert_problem(client.get("/v1/teams", headers={"X-API-Key": "slp_nonsense"}), 401)
    assert_problem(client.post("/v1/auth/token", data={"username": "nobody", "password": "x"}), 401)


def test_unknown_household_is_404(world: World) -> None:
    body = assert_problem(world.get("/v1/households/hh_0000000000000000", "dispatcher_a"), 404)
    assert "hh_0000000000000000" in body["detail"]  # one of our ids is named
    body = assert_problem(world.get("/v1/households/hh_doesnotexist", "dispatcher_a"), 404)
    assert "doesnotexist" not in str(body)  # anything else might be a name typed into the path


def test_validation_error_lists_fields_without_echoing_input(world: World) -> None:
    secret = "010-1234-5678"
    r = world.post(
        f"/v1/teams/{world.team_a}/households", "dispatcher_a",
        json={"lat": 200, "lon": 126.95, "availability": {"someday": []},
              "private": {"contact": secret, "sex": "X"}},
    )
    body = assert_problem(r, 422)
    fields = {e["field"] for e in body["errors"]}
    assert "body.lat" in fields
    assert any(f.startswith("body.private.sex") for f in fields)
    assert secret not in r.text


def test_body_over_the_limit_is_413(backend: dict[str, Any]) -> None:
    app = create_app(make_settings(backend, max_body_bytes=2048, max_csv_bytes=1024))
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.post("/v1/teams", content=b"{" + b" " * 5000 + b"}", headers={"content-type": "application/json"})
        assert_problem(r, 413)

        def chunks() -> Any:  # no Content-Length: counted as it arrives
            for _ in range(10):
                yield b" " * 1000

        r = c.post("/v1/teams", content=chunks(), headers={"content-type": "application/json"})
        assert_problem(r, 413)


def test_csv_over_its_limit_is_413(backend: dict[str, Any]) -> None:
    app = create_app(make_settings(backend, max_csv_bytes=1024))
    with TestClient(app, raise_server_exceptions=False) as c:
        from apisupport import add_user, bootstrap_manager, load_team

        manager = bootstrap_manager(c)
        team = load_team(c, manager.headers, "csv-limit")
        dispatcher = add_user(c, manager.headers, "dispatcher", team_id=team)
        big = "ref,lat,lon\n" + "".join(f"r{i},37.48,126.95\n" for i in range(200))
        r = c.post(f"/v1/teams/{team}/households/import", headers=dispatcher.headers,
                   files={"file": ("h.csv", big.encode(), "text/csv")})
        assert_problem(r, 413)


def test_a_second_job_for_the_same_team_and_day_is_409(world: World) -> None:
    # A work budget no tiny day finishes: the first job is surely still running when the second arrives.
    body = {"team_id": world.team_a, "date": DAY, "time_limit_s": 600, "deterministic": True, "solution_limit": 10**9}
    first = world.post("/v1/plan-jobs", "dispatcher_a", json=body)
    assert first.status_code == 202, first.text
    second = assert_problem(world.post("/v1/plan-jobs", "dispatcher_a", json=body), 409)
    assert "already running" in second["detail"]
    world.delete(f"/v1/plan-jobs/{first.json()['id']}", "dispatcher_a")


def test_time_limit_above_the_servers_cap_is_422(world: World) -> None:
    r = world.post("/v1/plan-jobs", "dispatcher_a", json={"team_id": world.team_a, "date": DAY, "time_limit_s": 3600})
    assert_problem(r, 422)


def test_nothing_to_plan_is_422(world: World) -> None:
    r = world.post("/v1/plan-jobs", "dispatcher_a", json={"team_id": world.team_a, "date": "2030-01-01"})
    body = assert_problem(r, 422)
    assert "generate" in body["detail"]


def test_openapi_documents_problem_responses_for_every_route(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert "ProblemDetails" in spec["components"]["schemas"]
    missing = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if not path.startswith("/v1"):
                continue
            codes = [c for c in op["responses"] if c.startswith("4")]
            if not codes:
                missing.append(f"{method.upper()} {path}: no 4xx")
            for code in codes:
                content = op["responses"][code].get("content", {})
                if "application/problem+json" not in content:
                    missing.append(f"{method.upper()} {path} {code}: not problem+json")
            # signing in, calendar feeds (their secret URL is the credential) and the web page's settings
            # (read before signing in) never answer 401
            if path not in ("/v1/auth/token", "/v1/feeds/{token}.ics", "/v1/web/config") \
                    and "401" not in op["responses"]:
                missing.append(f"{method.upper()} {path}: 401 undocumented")
            if op.get("summary") in (None, ""):
                missing.append(f"{method.upper()} {path}: no summary")
    assert not missing, missing
    assert "HTTPValidationError" not in spec["components"]["schemas"]
