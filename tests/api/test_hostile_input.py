"""Hostile input gets a 4xx problem+json, never a 500 or an echo of the input (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import apisupport
import pytest
from apisupport import (
    DAY,
    World,
    add_user,
    assert_problem,
    bootstrap_manager,
    load_team,
    make_settings,
    refs,
    tiny_problem,
)
from fastapi.testclient import TestClient

from api import models
from api.main import create_app
from planner.io import LIMITS, RANGES

backend = apisupport.backend


@pytest.fixture(scope="module")
def hw(backend: dict[str, Any]) -> Iterator[World]:
    """One app, team and dispatcher for the whole module (each test leaves the data usable)."""
    app = create_app(make_settings(backend))
    with TestClient(app, raise_server_exceptions=False) as c:
        manager = bootstrap_manager(c)
        team_a = load_team(c, manager.headers, "hostile-A")
        team_b = load_team(c, manager.headers, "hostile-B")
        w = World(client=c, team_a=team_a, team_b=team_b,
                  workers_a=refs(c, manager.headers, f"/v1/teams/{team_a}/workers"),
                  workers_b=refs(c, manager.headers, f"/v1/teams/{team_b}/workers"),
                  households_a=refs(c, manager.headers, f"/v1/teams/{team_a}/households"))
        w.actors["manager"] = manager
        w.actors["dispatcher_a"] = add_user(c, manager.headers, "dispatcher", team_id=team_a, prefix="hd")
        yield w


def _new_worker(w: World, **extra: Any) -> dict[str, Any]:
    body = {"role": "visiting_nurse", "start_lat": 37.48, "start_lon": 126.95, **extra}
    r = w.post(f"/v1/teams/{w.team_a}/workers", "dispatcher_a", json=body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _new_household(w: World, **extra: Any) -> dict[str, Any]:
    r = w.post(f"/v1/teams/{w.team_a}/households", "dispatcher_a", json={"lat": 37.48, "lon": 126.95, **extra})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _fields(body: dict[str, Any]) -> set[str]:
    return {e["field"] for e in body.get("errors", [])}


# ---- lists ----------------------------------------------------------------------------------------

LISTS = [
    "/v1/teams/{a}/workers", "/v1/teams/{a}/households", "/v1/teams/{a}/visit-requests",
    "/v1/teams/{a}/reports", "/v1/teams/{a}/plan-jobs", "/v1/teams/{a}/plans", "/v1/audit",
]


@pytest.mark.parametrize("url", LISTS)
def test_a_huge_offset_on_a_list_is_422(hw: World, url: str) -> None:
    who = "manager" if url == "/v1/audit" else "dispatcher_a"
    for offset in (10**19, -1):
        body = assert_problem(hw.get(url.format(a=hw.team_a), who, params={"offset": offset}), 422)
        assert _fields(body) == {"query.offset"}
    r = hw.get(url.format(a=hw.team_a), who, params={"offset": models.MAX_OFFSET})
    assert r.status_code == 200 and r.json()["data"] == [], r.text


# ---- PATCH ----------------------------------------------------------------------------------------

def test_patch_to_a_ref_in_use_is_409(hw: World) -> None:
    first, second = _new_worker(hw, ref="dup-w1"), _new_worker(hw, ref="dup-w2")
    assert_problem(hw.patch(f"/v1/workers/{second['id']}", "dispatcher_a", json={"ref": first["ref"]}), 409)
    assert hw.get(f"/v1/workers/{second['id']}", "dispatcher_a").json()["ref"] == "dup-w2"
    h1, h2 = _new_household(hw, ref="dup-h1"), _new_household(hw, ref="dup-h2")
    assert_problem(hw.patch(f"/v1/households/{h2['id']}", "dispatcher_a", json={"ref": h1["ref"]}), 409)
    assert hw.get(f"/v1/households/{h2['id']}", "dispatcher_a").json()["ref"] == "dup-h2"


@pytest.mark.parametrize("field", ["role", "shift_start", "shift_end", "name", "skills", "languages", "start_lat",
                                   "break_s", "travel_mode", "speed_factor", "active"])
def test_patch_null_where_a_worker_needs_a_value_is_422(hw: World, field: str) -> None:
    worker = _new_worker(hw)
    body = assert_problem(hw.patch(f"/v1/workers/{worker['id']}", "dispatcher_a", json={field: None}), 422)
    assert _fields(body) == {f"body.{field}"}


def test_patch_null_where_the_value_may_be_empty_still_works(hw: World) -> None:
    worker = _new_worker(hw, max_visits=5, capacity=3)
    r = hw.patch(f"/v1/workers/{worker['id']}", "dispatcher_a",
                 json={"max_visits": None, "capacity": None, "break_start": None, "break_end": None})
    assert r.status_code == 200, r.text
    assert r.json()["max_visits"] is None and r.json()["break_start"] is None


@pytest.mark.parametrize(("kind", "body"), [
    ("worker", {"nmae": "kim"}),
    ("household", {"lattitude": 37.5}),
    ("private", {"helth_notes": "x"}),
    ("visit", {"mandatroy": True}),
])
def test_misspelt_fields_in_patch_bodies_are_422(hw: World, kind: str, body: dict[str, Any]) -> None:
    if kind == "worker":
        url = f"/v1/workers/{_new_worker(hw)['id']}"
    elif kind in ("household", "private"):
        url = f"/v1/households/{_new_household(hw)['id']}" + ("/private" if kind == "private" else "")
    else:
        hid = _new_household(hw)["id"]
        r = hw.post(f"/v1/teams/{hw.team_a}/visit-requests", "dispatcher_a", json={"household_id": hid, "date": DAY})
        assert r.status_code == 201, r.text
        url = f"/v1/visit-requests/{r.json()['id']}"
    problem = assert_problem(hw.patch(url, "dispatcher_a", json=body), 422)
    assert _fields(problem) == {f"body.{next(iter(body))}"}


def test_misspelt_fields_in_create_bodies_are_422(hw: World) -> None:
    r = hw.post(f"/v1/teams/{hw.team_a}/workers", "dispatcher_a",
                json={"role": "visiting_nurse", "start_lat": 37.48, "start_lon": 126.95, "capacty": 3})
    assert _fields(assert_problem(r, 422)) == {"body.capacty"}


# ---- text ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("languages", [[""], ["   "], ["x" * 65], ["ko"] * 33])
def test_bad_language_lists_are_422(hw: World, languages: list[str]) -> None:
    r = hw.post(f"/v1/teams/{hw.team_a}/households", "dispatcher_a",
                json={"lat": 37.48, "lon": 126.95, "languages": languages})
    assert any(f.startswith("body.languages") for f in _fields(assert_problem(r, 422)))
    h = _new_household(hw)
    r = hw.patch(f"/v1/households/{h['id']}", "dispatcher_a", json={"languages": languages})
    assert any(f.startswith("body.languages") for f in _fields(assert_problem(r, 422)))


NUL_CASES: list[tuple[str, Callable[[World], tuple[str, str, dict[str, Any]]]]] = [
    ("household dong", lambda w: ("post", f"/v1/teams/{w.team_a}/households", {"lat": 37.5, "lon": 127.0, "dong": "a\x00"})),
    ("household private notes", lambda w: ("post", f"/v1/teams/{w.team_a}/households",
                                          {"lat": 37.5, "lon": 127.0, "private": {"health_notes": "ok\nthen\x00"}})),
    ("worker name", lambda w: ("post", f"/v1/teams/{w.team_a}/workers",
                               {"role": "counsellor", "start_lat": 37.5, "start_lon": 127.0, "name": "\x00"})),
    ("worker skill", lambda w: ("post", f"/v1/teams/{w.team_a}/workers",
                                {"role": "counsellor", "start_lat": 37.5, "start_lon": 127.0, "skills": ["a\x00"]})),
    ("worker ref patch", lambda w: ("patch", f"/v1/workers/{w.workers_a['t-nurse']}", {"ref": "r\x00"})),
    ("team name", lambda w: ("post", "/v1/teams", {"name": "team\x00"})),
    ("visit forbidden worker", lambda w: ("post", f"/v1/teams/{w.team_a}/visit-requests",
                                          {"household_id": w.households_a["t-h1"], "date": DAY,
                                           "forbidden_worker_ids": ["\x00"]})),
    ("report summary", lambda w: ("post", "/v1/reports", {"household_id": w.households_a["t-h1"],
                                                          "reporter_kind": "landlord", "summary": "\x00"})),
    ("lone surrogate", lambda w: ("post", f"/v1/teams/{w.team_a}/households", {"lat": 37.5, "lon": 127.0,
                                                                               "dong": "\ud800"})),
    ("bidi override", lambda w: ("post", f"/v1/teams/{w.team_a}/households", {"lat": 37.5, "lon": 127.0,
                                                                              "dong": "\u202eevil"})),
]


@pytest.mark.parametrize("name", [n for n, _ in NUL_CASES])
def test_control_characters_in_text_fields_are_422(hw: World, name: str) -> None:
    method, url, body = dict(NUL_CASES)[name](hw)
    who = "manager" if url == "/v1/teams" else "dispatcher_a"
    raw = json.dumps(body).encode()  # \u0000 escapes: valid JSON that PostgreSQL text cannot hold
    r = getattr(hw.client, method)(url, headers={**hw[who], "content-type": "application/json"}, content=raw)
    problem = assert_problem(r, 422)
    assert any(f.startswith("body.") for f in _fields(problem)), problem


@pytest.mark.parametrize("url", ["/v1/households/hh%00x", "/v1/teams/{a}/households?dong=a%00",
                                 "/v1/teams/{a}/workers?active=true%01", "/v1/audit?resource=x%1b"])
def test_control_characters_in_the_url_are_400(hw: World, url: str) -> None:
    r = hw.get(url.format(a=hw.team_a), "manager")
    assert "\x00" not in r.text
    assert_problem(r, 400)


def test_a_multiline_field_keeps_its_newlines(hw: World) -> None:
    h = _new_household(hw, private={"health_notes": "당뇨\n혈압 약 복용\t(아침)"})
    r = hw.get(f"/v1/households/{h['id']}/private", "dispatcher_a")
    assert r.json()["health_notes"] == "당뇨\n혈압 약 복용\t(아침)"


# ---- dates --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0", "1700000000", "20261124", "2026-11-24T00:00:00", "3000-01-01", "1899-12-31"])
def test_dates_are_iso_days_within_range(hw: World, value: str) -> None:
    r = hw.get(f"/v1/teams/{hw.team_a}/visit-requests", "dispatcher_a", params={"date": value})
    assert _fields(assert_problem(r, 422)) == {"query.date"}
    as_json: Any = int(value) if value.isdigit() else value
    r = hw.post(f"/v1/teams/{hw.team_a}/visit-requests", "dispatcher_a",
                json={"household_id": hw.households_a["t-h1"], "date": as_json})
    assert _fields(assert_problem(r, 422)) == {"body.date"}
    listed = hw.get(f"/v1/teams/{hw.team_a}/visit-requests", "dispatcher_a", params={"date": "1970-01-01"})
    assert listed.json()["count"] == 0


def test_datetimes_are_not_seconds_since_1970(hw: World) -> None:
    assert _fields(assert_problem(hw.get("/v1/audit", "manager", params={"since": "0"}), 422)) == {"query.since"}


# ---- CSV ----------------------------------------------------------------------------------------

def test_a_csv_cell_over_128_kb_is_a_row_error(hw: World) -> None:
    csv = "ref,lat,lon,dong\nok-1,37.48,126.95,a\nbig-1,37.48,126.95," + "x" * 140_000 + "\n"
    r = hw.post(f"/v1/teams/{hw.team_a}/households/import", "dispatcher_a",
                files={"file": ("h.csv", csv.encode(), "text/csv")})
    problem = assert_problem(r, 422)
    assert problem["errors"] == [{"row": 3, "field": "file", "message": problem["errors"][0]["message"]}]
    assert "x" * 100 not in r.text
    assert "ok-1" not in refs(hw.client, hw["dispatcher_a"], f"/v1/teams/{hw.team_a}/households")


def test_a_csv_nul_byte_is_a_cell_error(hw: World) -> None:
    csv = "ref,lat,lon,dong\nnul-1,37.48,126.95,a\x00b\n"
    r = hw.post(f"/v1/teams/{hw.team_a}/households/import", "dispatcher_a",
                files={"file": ("h.csv", csv.encode(), "text/csv")})
    problem = assert_problem(r, 422)
    assert any(e["row"] == 2 and e["field"] == "dong" for e in problem["errors"]), problem


# ---- /v1/teams/load ----------------------------------------------------------------------------

def _load(hw: World, text: str) -> Any:
    return hw.client.post("/v1/teams/load", headers={**hw["manager"], "content-type": "application/json"},
                          content=text.encode())


def _edited(fn: Callable[[dict[str, Any]], None]) -> str:
    data = tiny_problem()
    fn(data)
    return json.dumps(data, allow_nan=True)


LOAD_CASES: dict[str, str] = {
    "NaN speed": _edited(lambda d: d["workers"][0].update(speed_factor=float("nan"))),
    "Infinity latitude": _edited(lambda d: d["households"][0]["location"].update(lat=float("inf"))),
    "1e400 max_work_s": _edited(lambda d: d["workers"][0].update(max_work_s=7)).replace('"max_work_s": 7', '"max_work_s": 1e400'),
    "1e30 max_work_s": _edited(lambda d: d["workers"][0].update(max_work_s=1e30)),
    "10**30 max_visits": _edited(lambda d: d["workers"][0].update(max_visits=10**30)),
    "1e12 load": _edited(lambda d: d["visits"][0].update(load=10**12)),
    "1e12 capacity": _edited(lambda d: d["workers"][0].update(capacity=10**12)),
    "1e15 service time": _edited(lambda d: d.update(service_times={"routine": 10**15})),
    "negative break": _edited(lambda d: d["workers"][0].update(**{"break": {"window": ["12:00", "13:00"], "duration_s": -1}})),
    "year 1": _edited(lambda d: d.update(date="0001-01-01")),
    "NUL in a label": _edited(lambda d: d["households"][0].update(label="x\x00")),
    "NUL in meta.district": _edited(lambda d: d.update(meta={"district": "\x00"})),
    "too many visits": _edited(lambda d: d.update(visits=[{"id": f"v{i}", "household_id": d["households"][0]["id"]}
                                                       for i in range(LIMITS["visits"] + 1)])),
}


@pytest.mark.parametrize("name", list(LOAD_CASES))
def test_hostile_problem_files_are_422(hw: World, name: str) -> None:
    problem = assert_problem(_load(hw, LOAD_CASES[name]), 422)
    assert problem["errors"], problem
    if name == "too many visits":
        assert f"exceed the limit of {LIMITS['visits']:,}" in problem["detail"]


def test_deep_nesting_and_huge_integers_are_400(hw: World) -> None:
    assert_problem(_load(hw, "[" * 100_000 + "]" * 100_000), 400)
    assert_problem(_load(hw, '{"visits": ' + "9" * 5000 + "}"), 400)


def test_an_invalid_megabyte_with_personal_data_is_not_echoed(hw: World) -> None:
    secret = "김민수 010-1234-5678 "
    value = secret * (1_000_000 // len(secret.encode()))
    for fn in (lambda d: d["workers"][0].update(role=value),
               lambda d: d["households"][0].update(languages=[value]),
               lambda d: d["visits"][0].update(kind=[value, {"x": value}])):
        r = _load(hw, _edited(fn))
        assert_problem(r, 422)
        assert "010-1234" not in r.text and "김민수" not in r.text
        assert len(r.content) < 2000
    r = hw.post(f"/v1/teams/{hw.team_a}/households", "dispatcher_a",
                json={"lat": 37.5, "lon": 127.0, "availability": {value[:100]: [["09:00", "10:00"]]}})
    assert_problem(r, 422)
    assert "010-1234" not in r.text


# ---- a key named twice -------------------------------------------------------------------------

def _send(hw: World, method: str, url: str, who: str, text: str) -> Any:
    return hw.client.request(method, url, headers={**hw[who], "content-type": "application/json"},
                             content=text.encode())


def test_a_key_named_twice_in_a_json_body_is_422_naming_where(hw: World) -> None:
    # Before, the parser kept the last value without a word: this PATCH renamed the worker "Lee Secret".
    worker = _new_worker(hw, name="Kim Before")
    url = f"/v1/workers/{worker['id']}"
    r = _send(hw, "PATCH", url, "dispatcher_a", '{"name": "Kim After", "name": "Lee Secret 010-9999-0000"}')
    body = assert_problem(r, 422)
    assert _fields(body) == {"body.name"} and "duplicate key" in body["detail"], body
    assert "Kim" not in r.text and "Secret" not in r.text and "010-9999" not in r.text
    assert hw.get(url, "dispatcher_a").json()["name"] == "Kim Before"
    # deep in a team load, in a list; and a new household
    text = json.dumps(tiny_problem())
    first = json.dumps(tiny_problem()["households"][1]["location"]["lat"])
    doubled = text.replace(f'"lat": {first}', f'"lat": {first}, "lat": 0.5', 1)
    assert doubled != text
    body = assert_problem(_load(hw, doubled), 422)
    assert _fields(body) == {"body.households.1.location.lat"}, body
    body = assert_problem(_send(hw, "POST", f"/v1/teams/{hw.team_a}/households", "dispatcher_a",
                                '{"lat": 37.5, "lon": 127.0, "lon": 127.1}'), 422)
    assert _fields(body) == {"body.lon"}
    # the same bodies without the repetition are fine
    r = _send(hw, "PATCH", url, "dispatcher_a", '{"name": "Kim After"}')
    assert r.status_code == 200 and r.json()["name"] == "Kim After"


# ---- media types and OPTIONS -------------------------------------------------------------------

def test_a_body_of_the_wrong_media_type_is_415(hw: World) -> None:
    for ct in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
        r = hw.client.post("/v1/teams", headers={**hw["manager"], "content-type": ct}, content=b'{"name": "x"}')
        assert_problem(r, 415)
    r = hw.client.post(f"/v1/teams/{hw.team_a}/workers/import", headers={**hw["dispatcher_a"], "content-type": "text/csv"},
                       content=b"ref,role\n")
    assert_problem(r, 415)
    r = hw.client.post("/v1/teams", headers={**hw["manager"], "content-type": "application/json; charset=utf-8"},
                       content=b'{"name": "media-ok"}')
    assert r.status_code == 201, r.text


def test_options_answers_allow_for_every_path(hw: World) -> None:
    spec = hw.client.get("/openapi.json").json()
    for path, item in spec["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x1", path)
        r = hw.client.options(concrete)
        assert r.status_code == 204, (path, r.status_code)
        allowed = set(r.headers["allow"].split(", "))
        assert {m.upper() for m in item} <= allowed and "OPTIONS" in allowed, (path, allowed)
    assert_problem(hw.client.options("/v1/nowhere"), 404)


# ---- the same ranges as the planner ------------------------------------------------------------

def _bounds(model: Any, field: str) -> tuple[Any, Any]:
    schema = model.model_json_schema()["properties"][field]
    options = schema.get("anyOf", [schema])
    number = next(o for o in options if o.get("type") in ("integer", "number"))
    return number.get("minimum"), number.get("maximum")


@pytest.mark.parametrize(("model", "field", "key"), [
    (models.WorkerCreate, "max_visits", "max_visits"), (models.WorkerCreate, "max_work_s", "max_work_s"),
    (models.WorkerCreate, "speed_factor", "speed_factor"), (models.WorkerCreate, "capacity", "capacity"),
    (models.WorkerCreate, "break_s", "break_s"), (models.WorkerCreate, "start_lat", "lat"),
    (models.HouseholdCreate, "lon", "lon"), (models.VisitRequestCreate, "duration_s", "service_s"),
    (models.VisitRequestCreate, "load", "load"), (models.WorkerUpdate, "capacity", "capacity"),
])
def test_api_ranges_are_the_planners(model: Any, field: str, key: str) -> None:
    assert _bounds(model, field) == (RANGES[key].minimum, RANGES[key].maximum)


def test_a_nul_byte_in_the_sign_in_form_is_a_4xx(hw: World) -> None:
    r = hw.client.post("/v1/auth/token", data={"username": "kim\x00", "password": "pw\x00"})
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def test_a_day_above_the_size_limit_is_refused_by_plan_jobs(hw: World) -> None:
    data = tiny_problem()
    home = data["households"][0]["id"]
    data["visits"] = [{"id": f"v{i}", "household_id": home} for i in range(LIMITS["visits"])]
    r = hw.client.post("/v1/teams/load?name=size-limit", headers=hw["manager"], json=data)
    assert r.status_code == 201, r.text
    team = r.json()["team"]["id"]
    dispatcher = add_user(hw.client, hw["manager"], "dispatcher", team_id=team, prefix="sl")
    households = refs(hw.client, hw["manager"], f"/v1/teams/{team}/households")
    r = hw.client.post(f"/v1/teams/{team}/visit-requests", headers=dispatcher.headers,
                       json={"household_id": households[home], "date": data["date"]})
    assert r.status_code == 201, r.text
    r = hw.client.post("/v1/plan-jobs", headers=dispatcher.headers, json={"team_id": team, "date": data["date"]})
    problem = assert_problem(r, 422)
    assert f"{LIMITS['visits'] + 1} visits exceed the limit of {LIMITS['visits']:,}" in problem["detail"], problem
