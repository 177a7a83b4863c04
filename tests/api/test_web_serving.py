"""What the web page needs from the service: its files at / with a strict CSP, its settings, and live job
progress for a browser's EventSource through a short-lived token bound to one job and one user."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import apisupport
import pytest
from apisupport import DAY, QUICK_JOB, World, assert_problem, make_settings, wait_for_job
from fastapi.testclient import TestClient

from api.main import create_app
from api.redact import redact_record
from api.security import Principal, issue_stream_token

backend, client, world = apisupport.backend, apisupport.client, apisupport.world


# ---- the page's files -------------------------------------------------------------------------------


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text('<!doctype html><script type="module" src="/app.js"></script>', "utf-8")
    (root / "app.js").write_text("export const x = 1;\n", "utf-8")
    (root / "maplibre-gl-worker.mjs").write_text("self.onmessage = () => {};\n", "utf-8")
    (root / "assets" / "chunk-XYOVHL2T.js").write_text("export default 2;\n" * 200, "utf-8")
    (root / "top-ABCDEFGH.js").write_text("export default 3;\n", "utf-8")
    (root / "assets" / "app.css").write_text("body { margin: 0 }\n", "utf-8")
    (tmp_path / "secret.txt").write_text("not part of the page", "utf-8")
    return root


def _app_client(backend: dict[str, Any], **settings: Any) -> TestClient:
    return TestClient(create_app(make_settings(backend, **settings)), raise_server_exceptions=False)


def test_the_page_and_its_files_are_served_with_a_strict_policy_and_cache_headers(
    backend: dict[str, Any], bundle: Path,
) -> None:
    with _app_client(backend, web_dir=bundle, tile_url="https://tiles.example.org/{z}/{x}/{y}.png") as c:
        r = c.get("/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert "/app.js" in r.text
        csp = r.headers["content-security-policy"]
        directives = {d.split()[0]: d.split()[1:] for d in csp.split("; ")}
        assert directives["script-src"] == ["'self'"]  # no inline scripts, no eval
        assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
        assert directives["worker-src"] == ["'self'", "blob:"]  # MapLibre's workers
        assert "https://tiles.example.org" in directives["img-src"]
        assert directives["frame-ancestors"] == ["'none'"] and directives["object-src"] == ["'none'"]
        assert r.headers["cache-control"] == "no-cache" and r.headers["x-content-type-options"] == "nosniff"
        again = c.get("/", headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304 and again.content == b""

        worker = c.get("/maplibre-gl-worker.mjs")
        assert worker.status_code == 200 and worker.headers["content-type"].startswith("text/javascript")
        assert worker.headers["cache-control"] == "no-cache"
        hashed = c.get("/assets/chunk-XYOVHL2T.js", headers={"Accept-Encoding": "gzip"})
        assert hashed.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert hashed.headers["content-encoding"] == "gzip" and hashed.text == "export default 2;\n" * 200
        plain = c.get("/assets/chunk-XYOVHL2T.js", headers={"Accept-Encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.headers["etag"] == hashed.headers["etag"]
        assert c.get("/top-ABCDEFGH.js").headers["cache-control"] == "no-cache"  # only assets/ is hashed
        css = c.get("/assets/app.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert "content-security-policy" in css.headers

        for path in ("/secret.txt", "/..%2Fsecret.txt", "/assets/..%2F..%2Fsecret.txt", "/index.html",
                     "/nothing.js", "/assets/nothing.css"):
            assert_problem(c.get(path), 404)
        # The API keeps its own routes.
        assert c.get("/healthz").status_code == 200
        assert c.get("/openapi.json").status_code == 200


def test_head_answers_every_static_route_as_get_does_without_the_body(backend: dict[str, Any], bundle: Path) -> None:
    """Link checkers and uptime probes ask with HEAD: the same status and headers as GET, no body."""
    with _app_client(backend, web_dir=bundle) as c:
        for path in ("/", "/app.js", "/maplibre-gl-worker.mjs", "/assets/chunk-XYOVHL2T.js", "/assets/app.css",
                     "/healthz", "/v1/web/config", "/openapi.json", "/docs"):
            got, head = c.get(path), c.head(path)
            assert head.status_code == got.status_code == 200, path
            assert head.content == b"", path
            for name in ("content-type", "etag", "cache-control", "content-security-policy", "content-length"):
                assert head.headers.get(name) == got.headers.get(name), (path, name)
        assert c.head("/nothing.js").status_code == 404 and c.head("/..%2Fsecret.txt").status_code == 404
    with _app_client(backend, web_dir=bundle.parent / "nothing-here") as c:
        head = c.head("/")
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(c.get("/").content)


def test_without_a_build_the_root_says_how_to_make_one(backend: dict[str, Any], tmp_path: Path) -> None:
    with _app_client(backend, web_dir=tmp_path / "nothing-here") as c:
        r = c.get("/")
        assert r.status_code == 200 and "npm ci" in r.text and "npm run build" in r.text
        assert "script-src 'self'" in r.headers["content-security-policy"]


def test_the_page_settings_name_tiles_network_and_languages_without_signing_in(backend: dict[str, Any]) -> None:
    with _app_client(backend, tile_url="https://tiles.example.org/{z}/{x}/{y}.png",
                     tile_attribution="© OpenStreetMap contributors") as c:
        body = c.get("/v1/web/config").json()
        assert body["tile_url"] == "https://tiles.example.org/{z}/{x}/{y}.png"
        assert body["tile_attribution"] == "© OpenStreetMap contributors"
        assert body["network"] is None and body["default_language"] == "ko" and body["languages"] == ["ko", "en"]
    with _app_client(backend) as c:
        body = c.get("/v1/web/config").json()
        assert body["tile_url"] is None
        listed = any(getattr(r, "path", "") == "/v1/scenarios" and "GET" in getattr(r, "methods", ())
                     for r in c.app.routes)  # type: ignore[attr-defined]
        assert body["links"]["scenarios"] == ("/v1/scenarios" if listed else None)


@pytest.mark.parametrize("bad", ["https://t.example.org/{z}/{x}.png", "javascript:alert(1)//{z}{x}{y}",
                                 "https://t.example.org/{z}/{x}/{y}.png?key=1"])
def test_a_tile_url_without_its_placeholders_or_with_a_query_is_refused(bad: str) -> None:
    from api.config import Settings

    with pytest.raises(ValueError, match="tile_url"):
        Settings(tile_url=bad)


# ---- live progress for EventSource --------------------------------------------------------------------


def _start(world: World, team: str, who: str = "dispatcher_a") -> str:
    r = world.post("/v1/plan-jobs", who, json={"team_id": team, "date": DAY, **QUICK_JOB})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def _stream_kinds(c: TestClient, url: str) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = []
    with c.stream("GET", url) as r:
        assert r.status_code == 200, r.read()
        kind = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind:
                events.append((kind, json.loads(line.split(":", 1)[1])))
                if kind == "end":
                    break
    return events


def test_a_stream_token_opens_that_jobs_events_without_headers_and_nothing_else(world: World) -> None:
    job_id = _start(world, world.team_a)
    r = world.post(f"/v1/plan-jobs/{job_id}/stream-token", "dispatcher_a")
    assert r.status_code == 201, r.text
    minted = r.json()
    assert minted["expires_in"] == 60 and minted["url"] == f"/v1/plan-jobs/{job_id}/events?token={minted['token']}"
    events = _stream_kinds(world.client, minted["url"] + "&interval_s=0.1")  # no Authorization header
    assert events[0][0] == "status" and events[-1][0] == "end" and events[-1][1]["status"] == "succeeded"

    token = minted["token"]
    # Not a credential anywhere else: not as a bearer token, not for another job, not another route's query.
    bearer = {"Authorization": f"Bearer {token}"}
    assert_problem(world.client.get(f"/v1/plan-jobs/{job_id}", headers=bearer), 401)
    assert_problem(world.client.get(f"/v1/plan-jobs/{job_id}/events", headers=bearer), 401)
    assert_problem(world.client.get(f"/v1/plan-jobs/{job_id}?token={token}"), 401)
    other = _start(world, world.team_b, who="dispatcher_b")
    body = assert_problem(world.client.get(f"/v1/plan-jobs/{other}/events?token={token}"), 401)
    assert token not in json.dumps(body)
    # The long-lived access token is never accepted in the query.
    access = world["dispatcher_a"]["Authorization"].removeprefix("Bearer ")
    assert_problem(world.client.get(f"/v1/plan-jobs/{job_id}/events?token={access}"), 401)
    wait_for_job(world.client, world["dispatcher_b"], other)


def test_stream_tokens_expire_follow_access_and_stop_with_the_user(world: World) -> None:
    job_id = _start(world, world.team_a)
    app = world.client.app
    actor = world.actors["dispatcher_a"]
    expired = issue_stream_token(Principal(user_id=actor.user_id, role="dispatcher", team_id=world.team_a),
                                 job_id, secret=app.state.secret_key, ttl_s=-5)  # type: ignore[attr-defined]
    body = assert_problem(world.client.get(f"/v1/plan-jobs/{job_id}/events?token={expired}"), 401)
    assert "expired" in body["detail"]
    forged = issue_stream_token(Principal(user_id=actor.user_id, role="dispatcher"), job_id, secret="another key")
    assert_problem(world.client.get(f"/v1/plan-jobs/{job_id}/events?token={forged}"), 401)
    # Minting follows read access to the job: other teams, field workers and strangers get none.
    assert_problem(world.post(f"/v1/plan-jobs/{job_id}/stream-token", "dispatcher_b"), 403)
    assert_problem(world.post(f"/v1/plan-jobs/{job_id}/stream-token", "nurse_a"), 403)
    assert_problem(world.client.post(f"/v1/plan-jobs/{job_id}/stream-token"), 401)
    assert world.post(f"/v1/plan-jobs/{job_id}/stream-token", "manager").status_code == 201
    # A deactivated user's unexpired stream token stops at once.
    token = world.post(f"/v1/plan-jobs/{job_id}/stream-token", "dispatcher_a").json()["token"]
    r = world.post(f"/v1/users/{actor.user_id}/deactivate", "manager")
    assert r.status_code == 200, r.text
    assert_problem(world.client.get(f"/v1/plan-jobs/{job_id}/events?token={token}"), 401)
    wait_for_job(world.client, world["manager"], job_id)


def test_stream_tokens_never_reach_the_logs() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                               "GET /v1/plan-jobs/pj_1/events?token=eyJhbGciOi.secret.part&interval_s=1 %s",
                               ("/v1/plan-jobs/pj_1/events?interval_s=1&token=abc.def",), None)
    safe = redact_record(record).getMessage()
    assert "eyJhbGciOi" not in safe and "abc.def" not in safe
    assert safe.count("token=***") == 2 and "interval_s=1" in safe
