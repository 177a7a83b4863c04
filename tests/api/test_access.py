"""Credentials: who may mint them, listing, revocation, expiry, deactivation, sign-in limits, private files."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apisupport
import pytest
import sqlalchemy as sa
from apisupport import PASSWORD, TINY, World, assert_problem, make_settings, sign_in, tiny_problem
from fastapi.testclient import TestClient

from api import cli
from api.config import Settings
from api.db import make_engine, session_scope, upgrade
from api.main import create_app
from api.models import ApiKey, User
from api.ratelimit import SignInGuard, SlidingWindow

backend, client, world = apisupport.backend, apisupport.client, apisupport.world


def _key(world: World, who: str, **body: Any) -> dict[str, Any]:
    r = world.post(f"/v1/users/{world.actors[who].user_id}/api-keys", who, json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _me(world: World, headers: dict[str, str]) -> int:
    return int(world.client.get("/v1/users/me", headers=headers).status_code)


def test_nobody_mints_an_api_key_for_another_account(world: World) -> None:
    dispatcher, nurse = world.actors["dispatcher_a"], world.actors["nurse_a"]
    # the reported hole: a manager minting a dispatcher's key, then reading private data
    assert_problem(world.post(f"/v1/users/{dispatcher.user_id}/api-keys", "manager", json={}), 403)
    assert_problem(world.post(f"/v1/users/{nurse.user_id}/api-keys", "dispatcher_a", json={}), 403)
    own = _key(world, "manager", name="laptop")
    assert own["key"].startswith("slp_") and own["user_id"] == world.actors["manager"].user_id
    hh = next(iter(world.households_a.values()))
    assert_problem(world.client.get(f"/v1/households/{hh}/private", headers={"X-API-Key": own["key"]}), 403)


def test_managers_create_managers_and_dispatchers_their_own_teams_accounts(world: World) -> None:
    def body(role: str, team: str | None = None, worker: str | None = None) -> dict[str, Any]:
        return {"username": f"new-{role}-{os.urandom(3).hex()}", "role": role, "password": PASSWORD,
                "team_id": team, "worker_id": worker}

    a, b = world.team_a, world.team_b
    nurse_worker = world.workers_a["t-nurse"]
    assert_problem(world.post("/v1/users", "manager", json=body("dispatcher", a)), 403)
    assert_problem(world.post("/v1/users", "manager", json=body("field_worker", a, nurse_worker)), 403)
    assert world.post("/v1/users", "manager", json=body("manager")).status_code == 201
    assert world.post("/v1/users", "dispatcher_a", json=body("field_worker", a, nurse_worker)).status_code == 201
    assert world.post("/v1/users", "dispatcher_a", json=body("dispatcher", a)).status_code == 201
    assert_problem(world.post("/v1/users", "dispatcher_a", json=body("dispatcher", b)), 403)
    assert_problem(world.post("/v1/users", "dispatcher_a", json=body("manager")), 403)
    assert_problem(world.post("/v1/users", "nurse_a", json=body("field_worker", a, nurse_worker)), 403)
    # dispatchers list their own team's accounts only
    listed = world.get("/v1/users", "dispatcher_a").json()["data"]
    assert listed and {u["team_id"] for u in listed} == {a}
    assert_problem(world.get(f"/v1/users?team_id={b}", "dispatcher_a"), 403)
    assert_problem(world.get("/v1/users", "nurse_a"), 403)


def test_api_keys_are_listed_without_secrets_and_revoked_at_once(world: World) -> None:
    first, second = _key(world, "dispatcher_a", name="tablet"), _key(world, "dispatcher_a", name="script")
    listed = world.get("/v1/api-keys", "dispatcher_a").json()
    assert listed["count"] == 2 and {k["id"] for k in listed["data"]} == {first["id"], second["id"]}
    assert all(k["key"] is None and not k["revoked"] for k in listed["data"])
    created = dt.datetime.fromisoformat(first["created_at"])
    assert dt.datetime.fromisoformat(first["expires_at"]) - created == pytest.approx(dt.timedelta(days=90), abs=dt.timedelta(seconds=5))
    assert _me(world, {"X-API-Key": first["key"]}) == 200
    # nobody else revokes or lists them, except those who administer the account
    assert_problem(world.delete(f"/v1/api-keys/{first['id']}", "dispatcher_b"), 403)
    assert_problem(world.delete(f"/v1/api-keys/{first['id']}", "nurse_a"), 403)
    assert_problem(world.get(f"/v1/api-keys?user_id={world.actors['dispatcher_a'].user_id}", "nurse_a"), 403)
    assert world.delete(f"/v1/api-keys/{first['id']}", "dispatcher_a").status_code == 204
    assert _me(world, {"X-API-Key": first["key"]}) == 401
    assert _me(world, {"X-API-Key": second["key"]}) == 200
    seen = world.get(f"/v1/api-keys?user_id={world.actors['dispatcher_a'].user_id}", "manager").json()["data"]
    assert {k["id"]: k["revoked"] for k in seen} == {first["id"]: True, second["id"]: False}
    assert world.delete(f"/v1/api-keys/{second['id']}", "manager").status_code == 204
    assert _me(world, {"X-API-Key": second["key"]}) == 401
    assert_problem(world.delete("/v1/api-keys/ak_doesnotexist", "manager"), 404)


def test_an_expired_api_key_stops_working(world: World) -> None:
    key = _key(world, "nurse_a", expires_in_days=1)
    assert dt.datetime.fromisoformat(key["expires_at"]) - dt.datetime.fromisoformat(key["created_at"]) < dt.timedelta(days=1, seconds=5)
    assert _me(world, {"X-API-Key": key["key"]}) == 200
    with session_scope(world.client.app.state.engine) as session:  # type: ignore[attr-defined]
        row = session.get(ApiKey, key["id"])
        assert row is not None
        row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        session.add(row)
    r = world.client.get("/v1/users/me", headers={"X-API-Key": key["key"]})
    assert "expired" in assert_problem(r, 401)["detail"]
    assert_problem(world.post(f"/v1/users/{world.actors['nurse_a'].user_id}/api-keys", "nurse_a",
                              json={"expires_in_days": 400}), 422)


def test_deactivating_a_user_stops_their_tokens_and_keys_at_once(world: World) -> None:
    dispatcher = world.actors["dispatcher_a"]
    token = dispatcher.headers
    key = {"X-API-Key": _key(world, "dispatcher_a")["key"]}
    assert _me(world, token) == 200 and _me(world, key) == 200
    assert_problem(world.post(f"/v1/users/{dispatcher.user_id}/deactivate", "nurse_a"), 403)
    assert_problem(world.post(f"/v1/users/{dispatcher.user_id}/deactivate", "dispatcher_b"), 403)
    assert_problem(world.post(f"/v1/users/{world.actors['manager'].user_id}/deactivate", "manager"), 409)
    r = world.post(f"/v1/users/{dispatcher.user_id}/deactivate", "manager")
    assert r.status_code == 200 and r.json()["active"] is False and r.json()["deactivated_at"]
    assert _me(world, token) == 401 and _me(world, key) == 401
    r = world.client.post("/v1/auth/token", data={"username": dispatcher.username, "password": PASSWORD})
    assert_problem(r, 401)
    # reactivated: the password works again, but nothing issued before comes back
    assert world.post(f"/v1/users/{dispatcher.user_id}/activate", "manager").json()["active"] is True
    assert _me(world, token) == 401 and _me(world, key) == 401
    fresh = sign_in(world.client, dispatcher.username)
    assert _me(world, fresh) == 200
    # a dispatcher administers her own team's field workers
    nurse = world.actors["nurse_a"]
    assert world.client.post(f"/v1/users/{nurse.user_id}/deactivate", headers=fresh).status_code == 200
    assert _me(world, nurse.headers) == 401


@pytest.fixture
def limited(backend: dict[str, Any]) -> Iterator[TestClient]:
    settings = make_settings(backend, signin_account_failures=3, signin_address_failures=5, signin_window_s=600)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def test_sign_in_is_rate_limited_per_account_and_per_address(limited: TestClient) -> None:
    alice = apisupport.bootstrap_manager(limited)  # signs in once: successes are not counted
    bob = apisupport.bootstrap_manager(limited)

    def attempt(username: str, password: str = "wrong-password") -> Any:
        return limited.post("/v1/auth/token", data={"username": username, "password": password})

    for _ in range(3):
        assert_problem(attempt(alice.username), 401)
    r = attempt(alice.username, PASSWORD)  # the right password too: the account is locked for now
    body = assert_problem(r, 429)
    assert body["type"].endswith("/too-many-sign-ins")
    assert 1 <= int(r.headers["Retry-After"]) <= 600
    assert attempt(bob.username, PASSWORD).status_code == 200  # another account is not affected
    # the address: 3 failures so far, 2 more on other names reach its limit of 5
    assert_problem(attempt("nobody-1"), 401)
    assert_problem(attempt("nobody-2"), 401)
    assert_problem(attempt(bob.username, PASSWORD), 429)


def test_the_sliding_window_forgets_old_failures() -> None:
    now = [1000.0]
    guard = SignInGuard(window_s=60, account_failures=2, address_failures=10, clock=lambda: now[0])
    guard.failed("kim", "10.0.0.1")
    now[0] += 30
    guard.failed("kim", "10.0.0.1")
    assert guard.retry_after("kim", "10.0.0.1") == pytest.approx(30)
    now[0] += 30  # the first failure falls out of the window
    assert guard.retry_after("kim", "10.0.0.1") is None
    guard.failed("kim", "10.0.0.1")
    assert guard.retry_after("kim", "10.0.0.1") == pytest.approx(30)
    guard.succeeded("kim")
    assert guard.retry_after("kim", "10.0.0.1") is None
    window = SlidingWindow(limit=1, window_s=10, clock=lambda: now[0], max_keys=3)
    for i in range(10):
        window.hit(f"user-{i}")
    assert window.retry_after("user-9") is not None and window.retry_after("user-0") is None


def test_the_sqlite_database_and_its_wal_are_created_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask would make them world-readable
    try:
        engine = make_engine(Settings(data_dir=tmp_path / "data"))
        upgrade(engine)
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT count(*) FROM team")).scalar()
            files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "data").iterdir()}
        engine.dispose()
    finally:
        os.umask(old)
    assert files == {"salpimi.db": 0o600, "salpimi.db-wal": 0o600, "salpimi.db-shm": 0o600}
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700


def test_serve_demo_reuses_its_keys(backend: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = make_settings(backend, data_dir=tmp_path)
    engine = make_engine(settings)
    upgrade(engine)
    fixture = tmp_path / "tiny.json"
    fixture.write_text(json.dumps(tiny_problem()) if not TINY.is_file() else TINY.read_text(encoding="utf-8"))
    outputs = []
    for _run in range(3):
        cli._demo(engine, settings, str(fixture), "127.0.0.1", 8000)
        outputs.append([line for line in capsys.readouterr().out.splitlines() if " key slp_" in line])
    assert len(outputs[0]) == 3 and outputs[0] == outputs[1] == outputs[2]
    with session_scope(engine) as session:
        users = session.exec(sa.select(User.id).where(User.username.in_(["manager", "dispatcher", "nurse"]))).all()
        keys = session.exec(sa.select(ApiKey.id).where(ApiKey.user_id.in_([u[0] for u in users]))).all()
    assert len(users) == 3 and len(keys) == 3
    creds = tmp_path / "demo-credentials.json"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    engine.dispose()


def test_operator_cli_mints_keys_and_deactivates(world: World, backend: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--data-dir", str(backend["data_dir"])]
    if backend["database_url"]:
        args += ["--database-url", backend["database_url"]]
    nurse = world.actors["nurse_a"]
    assert cli.main(["user", "key", nurse.username, "--days", "7", *args]) == 0
    key = capsys.readouterr().out.strip().rsplit(" ", 1)[-1]
    assert key.startswith("slp_") and _me(world, {"X-API-Key": key}) == 200
    assert cli.main(["user", "deactivate", nurse.username, *args]) == 0
    assert _me(world, {"X-API-Key": key}) == 401 and _me(world, nurse.headers) == 401
    assert cli.main(["user", "key", "no-such-user", *args]) == 2
    assert "does not exist" in capsys.readouterr().err
