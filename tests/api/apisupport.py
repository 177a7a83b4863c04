"""API test support and fixtures: the app on SQLite (temp dir) and PostgreSQL (fresh database per run).

PostgreSQL comes from ``$SALPIMI_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``);
a database ``salpimi_test_<random>`` is created for the run and dropped afterwards.  When the
server is unreachable the PostgreSQL half is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from api.config import Settings
from api.db import make_engine, session_scope
from api.main import create_app
from api.models import UserRole
from api.services import users

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "fixtures" / "problems" / "tiny.json"
DAY = "2026-11-24"
PG_ADMIN_URL = os.environ.get("SALPIMI_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORD = "correct-horse-battery"
#: A job's search in the tests: a small deterministic work budget (the time limit only a safety cap), so a
#: tiny day takes what its work takes, not a fixed second.
QUICK_JOB: dict[str, Any] = {"time_limit_s": 30, "deterministic": True, "solution_limit": 20}


def tiny_problem() -> dict[str, Any]:
    """The hand-made tiny district (2 workers, 6 visits), or a copy built here if absent."""
    if TINY.is_file():
        return json.loads(TINY.read_text(encoding="utf-8"))
    base = {"lat": 37.4784, "lon": 126.9516}
    return {
        "name": "tiny (built in tests)",
        "date": DAY,
        "households": [
            {"id": f"t-h{i}", "label": f"tiny-{i}", "dong": "행운동",
             "location": {"lat": base["lat"] + 0.001 * i, "lon": base["lon"] + 0.0005 * i},
             "last_contact": "2026-10-01"}
            for i in range(1, 7)
        ],
        "workers": [
            {"id": "t-nurse", "role": "visiting_nurse", "skills": ["nursing"], "start": base,
             "break": {"window": ["12:00", "13:00"], "duration_s": 3600}},
            {"id": "t-cm", "role": "case_manager", "skills": ["case_management"], "start": base},
        ],
        "visits": [
            {"id": f"t-v{i}", "household_id": f"t-h{i}",
             "required_skills": ["nursing" if i <= 2 else "case_management"]}
            for i in range(1, 7)
        ],
    }


@contextlib.contextmanager
def statements(engine: sa.Engine) -> Iterator[list[str]]:
    """Every SQL statement ``engine`` sends while the block runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _pg_url(name: str) -> str:
    head, _, _db = PG_ADMIN_URL.rpartition("/")
    return f"{head}/{name}"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Where the data live: ``{"name", "database_url", "data_dir"}``, once per backend and run."""
    data_dir = tmp_path_factory.mktemp(f"data-{request.param}")
    if request.param == "sqlite":
        yield {"name": "sqlite", "database_url": None, "data_dir": data_dir}
        return
    import psycopg

    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = f"PostgreSQL not reachable at {PG_ADMIN_URL} ({first}); set SALPIMI_TEST_PG"
        if os.environ.get("SALPIMI_REQUIRE_PG") == "1":
            pytest.fail(reason + " (SALPIMI_REQUIRE_PG=1)")
        pytest.skip(reason)
    name = f"salpimi_test_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield {"name": "postgresql", "database_url": _pg_url(name), "data_dir": data_dir}
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def empty_engine(backend: dict[str, Any], tmp_path: Path, *, prefix: str = "salpimi_empty") -> Iterator[Any]:
    """An empty database of the backend's kind, for one test alone (on PostgreSQL a database of its own,
    dropped afterwards)."""
    if backend["name"] == "sqlite":
        engine = make_engine(Settings(data_dir=tmp_path, database_url=None))
        yield engine
        engine.dispose()
        return
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        engine = make_engine(Settings(data_dir=tmp_path, database_url=_pg_url(name)))
        try:
            yield engine
        finally:
            engine.dispose()
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_settings(backend: dict[str, Any], **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": backend["data_dir"],
        "database_url": backend["database_url"],
        "max_workers": 2,
        "secret_key": "test-secret-key-not-for-production",
        "job_grace_s": 10.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def client(backend: dict[str, Any]) -> Iterator[TestClient]:
    app = create_app(make_settings(backend))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@dataclass
class Actor:
    username: str
    user_id: str
    headers: dict[str, str]
    worker_id: str | None = None


@dataclass
class World:
    """Two teams loaded from the tiny problem, with a manager, dispatchers and field workers."""

    client: TestClient
    team_a: str
    team_b: str
    workers_a: dict[str, str]  # fixture ref -> worker id
    workers_b: dict[str, str]
    households_a: dict[str, str]  # fixture ref -> household id
    actors: dict[str, Actor] = field(default_factory=dict)

    def __getitem__(self, name: str) -> dict[str, str]:
        return self.actors[name].headers

    def get(self, url: str, who: str, **kw: Any) -> Any:
        return self.client.get(url, headers=self[who], **kw)

    def post(self, url: str, who: str, **kw: Any) -> Any:
        return self.client.post(url, headers=self[who], **kw)

    def patch(self, url: str, who: str, **kw: Any) -> Any:
        return self.client.patch(url, headers=self[who], **kw)

    def delete(self, url: str, who: str, **kw: Any) -> Any:
        return self.client.delete(url, headers=self[who], **kw)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    r = client.post("/v1/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def add_user(client: TestClient, manager: dict[str, str], role: str, *, team_id: str | None = None,
             worker_id: str | None = None, prefix: str = "u") -> Actor:
    """A signed-in user: managers are created by ``manager`` over the API; dispatchers and field
    workers the operator's way (``salpimi user add``), since managers may not mint them."""
    username = f"{prefix}-{secrets.token_hex(4)}"
    if role == "manager":
        body = {"username": username, "role": role, "password": PASSWORD}
        r = client.post("/v1/users", json=body, headers=manager)
        assert r.status_code == 201, r.text
        user_id = r.json()["id"]
    else:
        with session_scope(client.app.state.engine) as session:  # type: ignore[attr-defined]
            user, _ = users.ensure_user(session, username=username, role=UserRole(role), password=PASSWORD,
                                           team_id=team_id, worker_id=worker_id)
            user_id = user.id
    return Actor(username=username, user_id=user_id, headers=sign_in(client, username), worker_id=worker_id)


def bootstrap_manager(client: TestClient) -> Actor:
    username = f"mgr-{secrets.token_hex(4)}"
    with session_scope(client.app.state.engine) as session:  # type: ignore[attr-defined]
        user, _ = users.ensure_user(session, username=username, role=UserRole.MANAGER, password=PASSWORD)
        user_id = user.id
    return Actor(username=username, user_id=user_id, headers=sign_in(client, username))


def load_team(client: TestClient, manager: dict[str, str], name: str) -> str:
    r = client.post(f"/v1/teams/load?name={name}", json=tiny_problem(), headers=manager)
    assert r.status_code == 201, r.text
    return str(r.json()["team"]["id"])


def refs(client: TestClient, headers: dict[str, str], url: str) -> dict[str, str]:
    r = client.get(url, headers=headers, params={"limit": 1000})
    assert r.status_code == 200, r.text
    return {row["ref"]: row["id"] for row in r.json()["data"]}


@pytest.fixture
def world(client: TestClient) -> World:
    manager = bootstrap_manager(client)
    team_a = load_team(client, manager.headers, "A")
    team_b = load_team(client, manager.headers, "B")
    workers_a = refs(client, manager.headers, f"/v1/teams/{team_a}/workers")
    workers_b = refs(client, manager.headers, f"/v1/teams/{team_b}/workers")
    households_a = refs(client, manager.headers, f"/v1/teams/{team_a}/households")
    w = World(client=client, team_a=team_a, team_b=team_b, workers_a=workers_a, workers_b=workers_b,
              households_a=households_a)
    w.actors["manager"] = manager
    w.actors["dispatcher_a"] = add_user(client, manager.headers, "dispatcher", team_id=team_a, prefix="da")
    w.actors["dispatcher_b"] = add_user(client, manager.headers, "dispatcher", team_id=team_b, prefix="db")
    w.actors["nurse_a"] = add_user(client, manager.headers, "field_worker", team_id=team_a,
                                   worker_id=workers_a["t-nurse"], prefix="na")
    w.actors["cm_a"] = add_user(client, manager.headers, "field_worker", team_id=team_a,
                                worker_id=workers_a["t-cm"], prefix="ca")
    return w


def wait_for_job(client: TestClient, headers: dict[str, str], job_id: str, *, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        r = client.get(f"/v1/plan-jobs/{job_id}", headers=headers)
        assert r.status_code == 200, r.text
        job = r.json()
        if job["status"] not in ("queued", "running"):
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {job['status']} after {timeout_s} s")
        time.sleep(0.2)


def wait_runner_idle(client: TestClient, *, timeout_s: float = 30.0) -> None:
    """Wait until the job runner holds no job: a job reads "succeeded" before its worker process has exited."""
    runner = client.app.state.runner  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout_s
    while runner.active_jobs():
        if time.monotonic() > deadline:
            raise AssertionError(f"the runner still holds {runner.active_jobs()} after {timeout_s} s")
        time.sleep(0.05)


def plan_day(world: World, who: str = "dispatcher_a") -> dict[str, Any]:
    """Run a plan job for team A's day and return the finished plan (published)."""
    r = world.post("/v1/plan-jobs", who, json={"team_id": world.team_a, "date": DAY, **QUICK_JOB})
    assert r.status_code == 202, r.text
    job = wait_for_job(world.client, world[who], r.json()["id"])
    assert job["status"] == "succeeded", job
    r = world.post(f"/v1/plans/{job['plan_id']}/publish", who)
    assert r.status_code == 200, r.text
    r = world.get(f"/v1/plans/{job['plan_id']}", who)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """``response`` is RFC 9457 problem+json with ``status``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    for key in ("type", "title", "status", "detail", "instance"):
        assert key in body, body
    assert body["status"] == status
    return body  # type: ignore[no-any-return]
