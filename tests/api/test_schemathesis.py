"""Schemathesis against the app's own OpenAPI, as every role: no 5xx, only documented statuses, conforming responses.

Bounded and seeded (hypothesis ``derandomize``), so every run sends the same requests: schemathesis' boundary
values of each operation (each as one role in turn) and a few fuzzed positive and negative examples (each as a
dispatcher, a field worker, a manager and anonymously).  Path ids
of the team, its worker, household, visit request, published plan and its job, an API key, a scenario and its run
are replaced by real ones half of the time, so requests reach the handlers and the database and not only the 404
path (the web page's day views and the scenario API included).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apisupport
import pytest
import schemathesis
from apisupport import DAY, QUICK_JOB, make_settings, tiny_problem, wait_for_job
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlmodel import select

from api.config import Settings
from api.db import session_scope
from api.main import create_app
from api.models import Scenario, ScenarioRun, User, UserRole, VisitRequest, Worker
from api.services import loading, users

backend = apisupport.backend

MAX_EXAMPLES = 3
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance]


@dataclass
class Target:
    client: TestClient
    headers: dict[str, dict[str, str]]  # role -> headers
    ids: dict[str, str]  # path parameter -> a real id


@pytest.fixture(scope="module")
def target(backend: dict[str, Any]) -> Iterator[Target]:
    app = create_app(make_settings(backend, max_workers=1))
    with TestClient(app, raise_server_exceptions=False) as client, session_scope(app.state.engine) as session:
        manager, _ = users.ensure_user(session, username="st-manager", role=UserRole.MANAGER, password="x" * 12)
        team, *_ = loading.load_problem_data(session, tiny_problem(), risk_model=app.state.risk_model,
                                               team_name="schemathesis")
        worker = session.exec(select(Worker).where(Worker.team_id == team.id, Worker.ref == "t-nurse")).one()
        dispatcher, _ = users.ensure_user(session, username="st-dispatcher", role=UserRole.DISPATCHER,
                                             password="x" * 12, team_id=team.id)
        nurse, _ = users.ensure_user(session, username="st-nurse", role=UserRole.FIELD_WORKER,
                                        password="x" * 12, team_id=team.id, worker_id=worker.id)
        visit = session.exec(select(VisitRequest).where(VisitRequest.team_id == team.id)).first()
        assert visit is not None
        keys = {}
        for role, user in (("manager", manager), ("dispatcher", dispatcher), ("field_worker", nurse)):
            _row, keys[role] = users.create_api_key(session, session.get(User, user.id), "schemathesis")
        spare, _ = users.create_api_key(session, session.get(User, dispatcher.id), "to be revoked")
        scenario = Scenario(name="schemathesis", base_name="tiny", team_id=team.id, start=dt.date(2026, 11, 23),
                            weeks=1, seeds=1, spec={"name": "schemathesis"}, created_by=manager.id)
        session.add(scenario)
        session.flush()
        run = ScenarioRun(scenario_id=scenario.id, status="failed", seeds=1, policies=["cadence"], progress={},
                          error="made by the test", created_by=manager.id)  # (a sweep is not run here)
        session.add(run)
        ids = {"team_id": team.id, "worker_id": worker.id, "household_id": visit.household_id,
               "visit_id": visit.id, "user_id": dispatcher.id, "key_id": spare.id, "scenario_id": scenario.id,
               "run_id": run.id}
        session.commit()
        headers = {role: {"X-API-Key": key} for role, key in keys.items()} | {"anonymous": {}}
        # A planned and published day, so the plan, job and web-page views reach their handlers too.
        r = client.post("/v1/plan-jobs", headers=headers["dispatcher"],
                        json={"team_id": team.id, "date": DAY, **QUICK_JOB})
        assert r.status_code == 202, r.text
        job = wait_for_job(client, headers["dispatcher"], r.json()["id"])
        assert job["status"] == "succeeded", job
        assert client.post(f"/v1/plans/{job['plan_id']}/publish", headers=headers["dispatcher"]).status_code == 200
        ids |= {"plan_id": job["plan_id"], "job_id": job["id"]}
        yield Target(client=client, headers=headers, ids=ids)


def _openapi() -> dict[str, Any]:
    """The app's OpenAPI document (building it needs no database)."""
    with tempfile.TemporaryDirectory() as tmp:
        return create_app(Settings(data_dir=Path(tmp), secret_key="schema-only")).openapi()


schema = schemathesis.openapi.from_dict(_openapi())


def _as_bytes(value: Any) -> Any:
    return value if isinstance(value, bytes | str) or hasattr(value, "read") else json.dumps(value).encode()


def _file_part(part: Any) -> Any:
    if isinstance(part, tuple) and len(part) >= 2:
        return (part[0], _as_bytes(part[1]), *part[2:])
    return _as_bytes(part)


def _send(client: TestClient, kwargs: dict[str, Any]) -> Any:
    """Send schemathesis' (requests-style) call with the in-process test client (httpx)."""
    kwargs = {k: v for k, v in kwargs.items() if v not in (None, {}, []) or k in ("method", "url")}
    kwargs.pop("cookies", None)
    if isinstance(kwargs.get("data"), bytes | str):
        kwargs["content"] = kwargs.pop("data")
    if kwargs.get("files"):
        # Negative examples put numbers or objects where a file goes; requests sends their text, httpx cannot.
        files = kwargs["files"].items() if isinstance(kwargs["files"], dict) else kwargs["files"]
        kwargs["files"] = [(name, _file_part(part)) for name, part in files]
    response = client.request(**kwargs)
    response.request.read()  # a multipart upload is a stream; the checks read the request back
    return response


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_the_api_keeps_its_contract_for_every_role(case: Any, target: Target) -> None:
    stable = sum(map(ord, repr((case.path_parameters, case.query, case.body))))  # the same on every run
    if case.path_parameters and stable % 2 == 0:
        # Half of the examples address real resources, so they reach the handlers and the database.
        for name in case.path_parameters:
            if name in target.ids:
                case.path_parameters[name] = target.ids[name]
    roles = list(target.headers)
    if case.meta is not None and case.meta.phase.name == "coverage":
        # Boundary values (about 50 an operation) go as one role each, in turn; fuzzed ones as every role.
        roles = [roles[stable % len(roles)]]
    for role in roles:
        headers = target.headers[role]
        response = _send(target.client, case.as_transport_kwargs(base_url="http://testserver", headers=headers))
        case.validate_response(response, checks=CHECKS)
        assert response.status_code < 500, (role, case.method, case.path, response.text[:300])

