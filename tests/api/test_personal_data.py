"""Hostile input over real HTTP (uvicorn): no fixture's personal data in any log record or error body."""

from __future__ import annotations

import copy
import io
import logging
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import apisupport
import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from apisupport import PASSWORD, make_settings, tiny_problem
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

from api.db import session_scope
from api.deps import SessionDep
from api.main import create_app
from api.models import HouseholdPrivate, UserRole
from api.redact import describe_exception, safe_traceback, scrub_values
from api.services import users

backend = apisupport.backend

# Made-up people: distinctive strings that cannot appear anywhere by chance.
NAMES = ["김민수가명", "이영희가명", "박철수가명", "최지은가명", "정우성가명", "한가람가명"]
WORKER_NAMES = ["간호사박서연가명", "사례관리자오세훈가명"]


def _people() -> tuple[dict[str, Any], dict[str, dict[str, str]], list[str]]:
    """The tiny problem with unmistakable names and coordinates, the private parts to store, and
    every personal string of the fixture (what must never be logged or echoed)."""
    problem = copy.deepcopy(tiny_problem())
    privates: dict[str, dict[str, str]] = {}
    personal: list[str] = []
    for i, h in enumerate(problem["households"]):
        h["label"] = NAMES[i % len(NAMES)]
        h["location"] = {"lat": round(37.4712345 + 0.0011731 * i, 7), "lon": round(126.9412345 + 0.0012917 * i, 7)}
        privates[h["id"]] = {
            "contact": f"010-48{i}1-73{i}9",
            "address": f"관악구 가명로 {137 + i}길 {29 + i}-{i + 3}",
            "health_notes": f"가명 당뇨 인슐린 {i + 2}회 투약, 우울 척도 {17 + i}점",
        }
        personal += [h["label"], *privates[h["id"]].values(), repr(h["location"]["lat"]), repr(h["location"]["lon"])]
    for i, w in enumerate(problem["workers"]):
        w["name"] = WORKER_NAMES[i % len(WORKER_NAMES)]
        home = {"lat": round(37.4654321 + 0.0017 * i, 7), "lon": round(126.9354321 + 0.0017 * i, 7)}
        w["start"] = w["end"] = home
        personal += [w["name"], repr(home["lat"]), repr(home["lon"])]
    return problem, privates, personal


@dataclass
class Served:
    base: str
    app: FastAPI
    http: httpx.Client
    personal: list[str]
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    team: str = ""
    households: dict[str, str] = field(default_factory=dict)  # fixture id -> household id
    privates: dict[str, dict[str, str]] = field(default_factory=dict)


def _failing_insert(private: dict[str, str], label: str) -> Any:
    """An INSERT of a household's private part with a NULL where the schema forbids one."""
    row = HouseholdPrivate(household_id="hh_nonexistent", label=label, **private).model_dump()
    return sa.insert(HouseholdPrivate).values({**row, "age_band": None})


def _db_error_route(app: FastAPI, private: dict[str, str], label: str) -> None:
    """A route whose write fails in the database with personal data in the row (a NOT NULL
    violation: PostgreSQL puts the whole failing row in its message, SQLAlchemy the parameters)."""

    def fail(session: SessionDep) -> dict[str, str]:
        session.execute(_failing_insert(private, label))
        return {}

    app.add_api_route("/test-only/db-error", fail, methods=["POST"])


@pytest.fixture
def served(backend: dict[str, Any], caplog: pytest.LogCaptureFixture) -> Iterator[Served]:
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # statements and their (hidden) parameters
    caplog.set_level(logging.DEBUG)  # last: it also sets the capturing handler's level
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    for name in quiet:  # the test's own HTTP client, not the server
        logging.getLogger(name).setLevel(logging.WARNING)
    problem, privates, personal = _people()
    app = create_app(make_settings(backend))
    first = privates[problem["households"][0]["id"]]
    _db_error_route(app, first, problem["households"][0]["label"])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=60) as http:
        s = Served(base=base, app=app, http=http, personal=personal, privates=privates)
        manager = f"mgr-{secrets.token_hex(4)}"
        with session_scope(app.state.engine) as session:
            users.ensure_user(session, username=manager, role=UserRole.MANAGER, password=PASSWORD)
        s.headers["manager"] = _sign_in(http, manager)
        r = http.post("/v1/teams/load", json=problem, headers=s.headers["manager"], params={"name": "pii"})
        assert r.status_code == 201, r.text
        s.team = r.json()["team"]["id"]
        dispatcher = f"dsp-{secrets.token_hex(4)}"
        with session_scope(app.state.engine) as session:
            users.ensure_user(session, username=dispatcher, role=UserRole.DISPATCHER, password=PASSWORD,
                                 team_id=s.team)
        s.headers["dispatcher"] = _sign_in(http, dispatcher)
        rows = http.get(f"/v1/teams/{s.team}/households", headers=s.headers["dispatcher"]).json()["data"]
        s.households = {row["ref"]: row["id"] for row in rows}
        for ref, private in privates.items():
            r = http.patch(f"/v1/households/{s.households[ref]}/private", json=private, headers=s.headers["dispatcher"])
            assert r.status_code == 200, r.text
        yield s
    server.should_exit = True
    thread.join(timeout=30)
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)


def _sign_in(http: httpx.Client, username: str) -> dict[str, str]:
    r = http.post("/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _leaks(text: str, personal: list[str]) -> list[str]:
    return [p for p in personal if p in text]


def test_hostile_input_leaves_no_personal_data_in_logs_or_error_bodies(
    served: Served, caplog: pytest.LogCaptureFixture, backend: dict[str, Any]
) -> None:
    s, http = served, served.http
    hh_ref = next(iter(s.privates))
    hh = s.households[hh_ref]
    private = s.privates[hh_ref]
    name, phone = NAMES[0], private["contact"]
    caplog.clear()
    answers: list[httpx.Response] = []

    # 1. a problem file with a 1 MB invalid value holding a name and a phone number
    bad = tiny_problem()
    bad["households"][0]["location"]["lat"] = f"{name} {phone} " * (1_000_000 // 40)
    answers.append(http.post("/v1/teams/load", json=bad, headers=s.headers["manager"]))
    bad = tiny_problem()
    bad["households"][1]["risk"]["sex"] = f"{name} {private['address']}"
    answers.append(http.post("/v1/teams/load", json=bad, headers=s.headers["manager"]))
    # 2. invalid bodies carrying personal data
    answers.append(http.post(f"/v1/teams/{s.team}/households", headers=s.headers["dispatcher"], json={
        "lat": f"{name} {phone}", "lon": 126.95,
        "private": {"contact": phone * 40, "sex": name, "address": private["address"], "age_band": private["health_notes"]},
    }))
    answers.append(http.patch(f"/v1/households/{hh}/private", headers=s.headers["dispatcher"],
                              json={"health_notes": private["health_notes"] * 300, "housing": private["address"]}))
    answers.append(http.post(f"/v1/teams/{s.team}/workers", headers=s.headers["dispatcher"],
                             json={"name": WORKER_NAMES[0], "role": WORKER_NAMES[1], "start_lat": phone}))
    # 3. a spreadsheet with personal data in bad cells
    csv = (f"ref,lat,lon,label,contact,preferred_worker,last_contact,basic_livelihood\n"
           f"x1,{private['address']},126.95,{name},{phone},{WORKER_NAMES[0]},{private['health_notes']},{name}\n")
    answers.append(http.post(f"/v1/teams/{s.team}/households/import", headers=s.headers["dispatcher"],
                             files={"file": ("h.csv", io.BytesIO(csv.encode()), "text/csv")}))
    # 4. a token in a query string (access logs would keep it)
    secret = "tok" + secrets.token_hex(12)
    me = http.get(f"/v1/users/me?access_token={secret}&q={name}", headers=s.headers["dispatcher"])
    assert me.status_code == 200
    # 5. database errors: a NUL byte (PostgreSQL refuses it) and a failing row full of personal data
    # (uvicorn closes the connection after an unhandled error: a fresh one for each)
    nul = {"contact": phone + "\x00", "address": private["address"] + "\x00"}
    with httpx.Client(base_url=s.base, timeout=60) as fresh:
        answers.append(fresh.patch(f"/v1/households/{hh}/private", headers=s.headers["dispatcher"], json=nul))
    with httpx.Client(base_url=s.base, timeout=60) as fresh:
        db_error = fresh.post("/test-only/db-error", headers=s.headers["dispatcher"])
    answers.append(db_error)

    assert [a.status_code for a in answers[:6]] == [422] * 6, [a.text[:300] for a in answers[:6]]
    assert db_error.status_code == 500 and db_error.headers["content-type"].startswith("application/problem+json")
    for answer in answers:
        assert not _leaks(answer.text, s.personal), (answer.request.url.path, _leaks(answer.text, s.personal))
        assert not _leaks(str(answer.headers), s.personal)
    assert len(answers[0].text) < 2000

    deadline = time.monotonic() + 30  # uvicorn logs an unhandled error after the response went out
    while not any(r.name == "uvicorn.error" and r.levelno >= logging.ERROR for r in caplog.records):
        assert time.monotonic() < deadline, "uvicorn did not log the unhandled error"
        time.sleep(0.05)
    records = caplog.records
    text = caplog.text + "\n".join(r.getMessage() + (r.exc_text or "") for r in records)
    assert not _leaks(text, s.personal), _leaks(text, s.personal)
    assert secret not in text and "access_token" not in text
    # the logs still say what happened: exception class, constraint, frames; statements without parameters
    assert "Exception in ASGI application" in text and "IntegrityError" in text and "Traceback" in text
    assert "age_band" in text  # the constraint's column (PostgreSQL) or SQLite's own message
    assert "SQL parameters hidden" in text
    assert any(r.name == "uvicorn.access" and "/v1/users/me?…" in r.getMessage() for r in records)


def test_database_errors_are_described_without_values(served: Served, backend: dict[str, Any]) -> None:
    """hide_parameters alone is not enough on PostgreSQL: the driver repeats the failing row."""
    ref = next(iter(served.privates))
    private, label = served.privates[ref], NAMES[0]
    try:
        with session_scope(served.app.state.engine) as session:
            session.execute(_failing_insert(private, label))
    except IntegrityError as exc:
        caught = exc
    else:
        raise AssertionError("the NOT NULL violation was not raised")
    raw = str(caught)
    assert "SQL parameters hidden" in raw
    if backend["name"] == "postgresql":
        assert private["contact"] in raw  # "Failing row contains (...)": why messages are never logged
    described = describe_exception(caught) + safe_traceback(caught)
    assert not _leaks(described, served.personal)
    assert "IntegrityError" in described and "age_band" in described


def test_scrub_values_keeps_the_field_and_drops_the_value() -> None:
    assert scrub_values("household t-h1.location.lat: expected a number, got '김민수 010-1234-5678'") == (
        "household t-h1.location.lat: expected a number"
    )
    assert "37.4712345" not in scrub_values("lat: 37.4712345 is not a valid coordinate (|lat| <= 90)")
    assert "010" not in scrub_values("sex: '010-1234-5678' is not one of M, F")
    assert len(scrub_values("x" * 1_000_000)) < 100
