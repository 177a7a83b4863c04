"""Calendar feeds over the API: subscribing, rotating and revoking, who may, 304s, re-plans, privacy, audit."""

from __future__ import annotations

import datetime as dt
import email.utils
import importlib.util
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apisupport
import icalendar
import pytest
import sqlalchemy as sa
from apisupport import DAY, World, assert_problem, plan_day, wait_runner_idle
from feedsupport import build_golden, has_hangul, unfolded
from sqlmodel import Session, select

from api.config import Settings
from api.db import upgrade
from api.models import FeedEvent, HouseholdPrivate, Worker
from api.redact import redact_record
from api.services import feeds

backend, client, world = apisupport.backend, apisupport.client, apisupport.world
# Feeds show 7 days back to 28 ahead of "now": the tests answer at 14:00 in Seoul on the plan's day.
NOW = dt.datetime(2026, 11, 24, 5, 0, tzinfo=dt.UTC)
_TOKEN_URL = re.compile(r"^http://testserver/v1/feeds/([A-Za-z0-9_-]{43})\.ics$")


@pytest.fixture
def feed_world(world: World) -> World:
    world.client.app.state.feed_cache.clock = lambda: NOW  # type: ignore[attr-defined]
    return world


def _path(url: str) -> str:
    return url.removeprefix("http://testserver")


def _subscribe(world: World, who: str, url: str) -> dict[str, Any]:
    r = world.post(url, who)
    assert r.status_code == 201, r.text
    body = r.json()
    assert _TOKEN_URL.match(body["url"]), body["url"]
    assert body["webcal_url"] == "webcal://" + body["url"].removeprefix("http://")
    return body  # type: ignore[no-any-return]


def _fetch(world: World, url: str, **headers: str) -> Any:
    return world.client.get(_path(url), headers=headers)


def _events(body: bytes) -> dict[str, icalendar.Event]:
    return {str(e["UID"]): e for e in icalendar.Calendar.from_ical(body).walk("VEVENT")}


# ---- subscribing -----------------------------------------------------------------------------------------


def test_a_nurse_subscribes_rotates_and_revokes_her_feed(feed_world: World) -> None:
    world = feed_world
    plan = plan_day(world)
    nurse = world.actors["nurse_a"].worker_id
    assert world.get(f"/v1/workers/{nurse}/feed", "nurse_a").status_code == 404
    first = _subscribe(world, "nurse_a", f"/v1/workers/{nurse}/feed")
    assert first["kind"] == "worker" and first["worker_id"] == nurse and first["created_at"].endswith("+09:00")
    r = _fetch(world, first["url"])
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    mine = {s["visit_id"] for route in plan["routes"] if route["worker_id"] == nurse for s in route["stops"]}
    shown = {uid.removesuffix("@salpimi") for uid in _events(r.content) if not uid.startswith("break-")}
    assert shown == mine and mine
    status = world.get(f"/v1/workers/{nurse}/feed", "nurse_a").json()
    assert status["id"] == first["id"] and "url" not in status
    # rotating: a new secret, the old URL stops at once
    second = _subscribe(world, "nurse_a", f"/v1/workers/{nurse}/feed")
    assert second["url"] != first["url"] and second["id"] != first["id"]
    assert_problem(_fetch(world, first["url"]), 404)
    assert _fetch(world, second["url"]).status_code == 200
    # a dispatcher of her team may rotate it too (a lost phone)
    third = _subscribe(world, "dispatcher_a", f"/v1/workers/{nurse}/feed")
    assert_problem(_fetch(world, second["url"]), 404)
    assert _fetch(world, third["url"]).status_code == 200
    assert world.delete(f"/v1/workers/{nurse}/feed", "nurse_a").status_code == 204
    assert_problem(_fetch(world, third["url"]), 404)
    assert_problem(world.delete(f"/v1/workers/{nurse}/feed", "nurse_a"), 404)


def test_who_may_manage_which_feed(feed_world: World) -> None:
    world = feed_world
    nurse, cm = world.actors["nurse_a"].worker_id, world.actors["cm_a"].worker_id
    assert_problem(world.post(f"/v1/workers/{nurse}/feed", "cm_a"), 403)  # another worker's
    assert_problem(world.post(f"/v1/workers/{nurse}/feed", "dispatcher_b"), 403)  # another team's dispatcher
    assert_problem(world.post(f"/v1/workers/{nurse}/feed", "manager"), 403)  # managers revoke, not subscribe
    assert_problem(world.post("/v1/workers/wk_nope/feed", "dispatcher_a"), 404)
    assert_problem(world.post(f"/v1/teams/{world.team_a}/feed", "nurse_a"), 403)
    assert_problem(world.post(f"/v1/teams/{world.team_a}/feed", "dispatcher_b"), 403)
    assert_problem(world.get(f"/v1/teams/{world.team_a}/feeds", "nurse_a"), 403)
    assert_problem(world.delete(f"/v1/teams/{world.team_a}/feeds", "dispatcher_a"), 403)
    assert_problem(world.post("/v1/teams/tm_nope/feed", "manager"), 404)
    assert _subscribe(world, "cm_a", f"/v1/workers/{cm}/feed")["worker_id"] == cm
    assert world.client.post(f"/v1/workers/{cm}/feed").status_code == 401
    # a deactivated worker gets no new feed, and her live one stops
    live = _subscribe(world, "dispatcher_a", f"/v1/workers/{nurse}/feed")
    assert world.delete(f"/v1/workers/{nurse}", "dispatcher_a").status_code == 204
    assert_problem(_fetch(world, live["url"]), 404)
    assert_problem(world.post(f"/v1/workers/{nurse}/feed", "dispatcher_a"), 409)


def test_team_feeds_and_a_manager_revoking_all_of_a_team(feed_world: World) -> None:
    world = feed_world
    plan = plan_day(world)
    team = _subscribe(world, "dispatcher_a", f"/v1/teams/{world.team_a}/feed")
    assert team["kind"] == "team" and team["user_id"] == world.actors["dispatcher_a"].user_id
    body = _fetch(world, team["url"]).content
    every = {s["visit_id"] for route in plan["routes"] for s in route["stops"]}
    events = _events(body)
    assert {uid.removesuffix("@salpimi") for uid in events} == every  # visits only, no lunch breaks
    assert "팀" in str(icalendar.Calendar.from_ical(body)["X-WR-CALNAME"])
    by_manager = _subscribe(world, "manager", f"/v1/teams/{world.team_a}/feed")
    nurse = _subscribe(world, "nurse_a", f"/v1/workers/{world.actors['nurse_a'].worker_id}/feed")
    other_team = _subscribe(world, "dispatcher_b", f"/v1/teams/{world.team_b}/feed")
    listed = world.get(f"/v1/teams/{world.team_a}/feeds", "dispatcher_a").json()
    assert {f["id"] for f in listed["data"]} == {team["id"], by_manager["id"], nurse["id"]}
    assert all("url" not in f for f in listed["data"])
    r = world.delete(f"/v1/teams/{world.team_a}/feeds", "manager")
    assert r.status_code == 200 and r.json() == {"revoked": 3}
    for feed in (team, by_manager, nurse):
        assert_problem(_fetch(world, feed["url"]), 404)
    assert _fetch(world, other_team["url"]).status_code == 200
    assert world.get(f"/v1/teams/{world.team_a}/feeds", "manager").json()["count"] == 0
    # a team feed stops with its owner's account
    again = _subscribe(world, "dispatcher_a", f"/v1/teams/{world.team_a}/feed")
    assert world.delete(f"/v1/teams/{world.team_a}/feed", "dispatcher_a").status_code == 204
    assert_problem(_fetch(world, again["url"]), 404)
    again = _subscribe(world, "dispatcher_a", f"/v1/teams/{world.team_a}/feed")
    r = world.post(f"/v1/users/{world.actors['dispatcher_a'].user_id}/deactivate", "manager")
    assert r.status_code == 200, r.text
    assert_problem(_fetch(world, again["url"]), 404)


def test_unknown_revoked_and_malformed_tokens_get_the_same_404(feed_world: World) -> None:
    world = feed_world
    live = _subscribe(world, "nurse_a", f"/v1/workers/{world.actors['nurse_a'].worker_id}/feed")
    token = _TOKEN_URL.match(live["url"])[1]  # type: ignore[index]
    assert world.delete(f"/v1/workers/{world.actors['nurse_a'].worker_id}/feed", "nurse_a").status_code == 204
    answers = []
    for candidate in (token, "A" * 43, token[:-1], token + "A", "x", "%2E%2E", "A" * 42 + "%21", "ü" * 43):
        r = world.client.get(f"/v1/feeds/{candidate}.ics")
        body = assert_problem(r, 404)
        assert (len(candidate) < 4 or candidate not in r.text) and body["instance"] == "/v1/feeds/***"
        assert r.headers["cache-control"] == "no-store"
        answers.append((body["title"], body["detail"]))
    assert len(set(answers)) == 1


# ---- HTTP caching ----------------------------------------------------------------------------------------


def test_etag_last_modified_and_304(feed_world: World) -> None:
    world = feed_world
    plan = plan_day(world)
    feed = _subscribe(world, "nurse_a", f"/v1/workers/{world.actors['nurse_a'].worker_id}/feed")
    r = _fetch(world, feed["url"])
    etag, modified = r.headers["etag"], r.headers["last-modified"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag) and modified.endswith(" GMT")
    assert r.headers["cache-control"] == "private, no-cache"  # shared caches never keep it
    assert r.headers["referrer-policy"] == "no-referrer"
    assert _fetch(world, feed["url"]).content == r.content  # same data, same bytes
    for headers in ({"If-None-Match": etag}, {"If-None-Match": f'"x", W/{etag}'}, {"If-None-Match": "*"},
                    {"If-Modified-Since": modified}):
        again = _fetch(world, feed["url"], **headers)
        assert again.status_code == 304 and again.content == b"", headers
        assert again.headers["etag"] == etag and again.headers["last-modified"] == modified
    assert _fetch(world, feed["url"], **{"If-None-Match": '"other"'}).status_code == 200
    assert _fetch(world, feed["url"], **{"If-None-Match": '"other"', "If-Modified-Since": modified}).status_code == 200
    assert _fetch(world, feed["url"], **{"If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT"}).status_code == 200
    assert _fetch(world, feed["url"], **{"If-Modified-Since": "yesterday"}).status_code == 200
    head = world.client.head(_path(feed["url"]))
    assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag
    # a re-publish that moves a visit of hers changes the feed: new ETag, later Last-Modified
    _move_one_visit(world, plan)
    changed = _fetch(world, feed["url"], **{"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    # (If-Modified-Since has whole seconds: a change within the second of the last fetch is seen by ETag only)
    assert email.utils.parsedate_to_datetime(changed.headers["last-modified"]) >= email.utils.parsedate_to_datetime(
        modified
    )


# ---- following the published plan ------------------------------------------------------------------------


def _move_one_visit(world: World, plan: dict[str, Any]) -> tuple[str, str, str]:
    """Move the nurse's last visit to the case manager's route end, hand-edited, and publish it.

    Returns (visit id, old worker, new worker)."""
    nurse, cm = world.actors["nurse_a"].worker_id, world.actors["cm_a"].worker_id
    edited = json.loads(json.dumps(plan))
    routes = {r["worker_id"]: r for r in edited["routes"]}
    stop = routes[nurse]["stops"].pop()
    last_end = max([dt.datetime.fromisoformat(s["end"]) for s in routes[cm]["stops"]]
                   or [dt.datetime.fromisoformat(f"{DAY}T09:00:00+09:00")])
    length = dt.datetime.fromisoformat(stop["end"]) - dt.datetime.fromisoformat(stop["start"])
    start = last_end + dt.timedelta(minutes=30)
    stop.update(arrival=start.isoformat(), start=start.isoformat(), end=(start + length).isoformat())
    routes[cm]["stops"].append(stop)
    r = world.post(f"/v1/plans/{plan['id']}/versions", "dispatcher_a", json=edited)
    assert r.status_code == 201, r.text
    version = r.json()["plan"]["id"]
    # Moved without re-timing the case manager's day: the evaluator may object, so publish by override.
    assert world.post(f"/v1/plans/{version}/publish?force=true", "dispatcher_a").status_code == 200
    return stop["visit_id"], nurse, cm


def test_a_republished_plan_moves_the_visit_between_workers_feeds(feed_world: World) -> None:
    world = feed_world
    plan = plan_day(world)
    nurse_feed = _subscribe(world, "nurse_a", f"/v1/workers/{world.actors['nurse_a'].worker_id}/feed")
    cm_feed = _subscribe(world, "cm_a", f"/v1/workers/{world.actors['cm_a'].worker_id}/feed")
    team_feed = _subscribe(world, "dispatcher_a", f"/v1/teams/{world.team_a}/feed")
    before = {name: _events(_fetch(world, f["url"]).content)
              for name, f in (("nurse", nurse_feed), ("cm", cm_feed), ("team", team_feed))}
    visit, _nurse, cm = _move_one_visit(world, plan)
    after = {name: _events(_fetch(world, f["url"]).content)
             for name, f in (("nurse", nurse_feed), ("cm", cm_feed), ("team", team_feed))}
    uid = f"{visit}@salpimi"
    seq = int(before["nurse"][uid]["SEQUENCE"])
    assert str(after["nurse"][uid]["STATUS"]) == "CANCELLED" and int(after["nurse"][uid]["SEQUENCE"]) == seq + 1
    assert str(after["cm"][uid]["STATUS"]) == "CONFIRMED" and int(after["cm"][uid]["SEQUENCE"]) == seq + 1
    assert cm in str(after["team"][uid]["SUMMARY"]) and str(after["team"][uid]["STATUS"]) == "CONFIRMED"
    for name in before:
        for other in set(before[name]) - {uid}:
            for prop in ("SEQUENCE", "DTSTAMP", "DTSTART"):
                assert before[name][other][prop].to_ical() == after[name][other][prop].to_ical(), (name, other)
    # a re-plan job publishes through the same path: the feed follows the new version
    r = world.post(f"/v1/plans/{plan['id']}/replan", "dispatcher_a",
                   json={"now": f"{DAY}T13:30:00+09:00", **apisupport.QUICK_JOB})
    assert r.status_code == 202, r.text
    job = apisupport.wait_for_job(world.client, world["dispatcher_a"], r.json()["id"])
    assert job["status"] == "succeeded", job
    latest = world.get(f"/v1/plans/{job['plan_id']}", "dispatcher_a").json()
    assert latest["published"] is True
    team_now = _events(_fetch(world, team_feed["url"]).content)
    live = {u.removesuffix("@salpimi") for u, e in team_now.items() if str(e["STATUS"]) == "CONFIRMED"}
    assert live == {s["visit_id"] for route in latest["routes"] for s in route["stops"]}


def test_a_fetch_reads_the_token_and_the_windows_events_and_never_a_plan(feed_world: World) -> None:
    world = feed_world
    plan_day(world)
    wait_runner_idle(world.client)  # the plan's worker process may still be exiting after "succeeded"
    feed = _subscribe(world, "nurse_a", f"/v1/workers/{world.actors['nurse_a'].worker_id}/feed")
    engine = world.client.app.state.engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", seen)
    try:
        assert _fetch(world, feed["url"]).status_code == 200
        assert world.client.app.state.runner.active_jobs() == []  # type: ignore[attr-defined]
    finally:
        sa.event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 2, statements
    assert "feed_token" in statements[0] and "token_hash" in statements[0]
    assert "FROM feed_event" in statements[1] and "feed_event.worker_id" in statements[1]
    assert not any(re.search(r"\bplan\b|plan_job", s) for s in statements), statements


# ---- privacy and audit -------------------------------------------------------------------------------------


_PERSONAL = [
    ("김영자 할머니", "010-3456-7890", "서울 관악구 신림로 33, 반지하 2호", "당뇨; 고혈압, 최근 낙상"),
    ("박철수 님", "02-877-0000", "서울 관악구 행운길 7 고시원 301호", "알코올 의존\\우울증"),
    ("이순례 어르신", "010-1111-2222", "관악구 청룡로 5-3", "치매 초기, 보호자 없음"),
    ("최만복 씨", "010-9999-0000", "관악구 난곡로 101 옥탑", "가스 체납 3개월, 위기 신고"),
    ("정옥순 할머니", "010-4444-5555", "관악구 서원길 12", "휠체어 사용"),
    ("한동수 님", "010-6666-7777", "관악구 은천로 8", "만성 폐질환, 산소 치료"),
]


def test_no_personal_data_in_any_feed(feed_world: World) -> None:
    world = feed_world
    for (ref, hid), (label, contact, address, notes) in zip(sorted(world.households_a.items()), _PERSONAL, strict=True):
        r = world.patch(f"/v1/households/{hid}/private", "dispatcher_a",
                        json={"label": label, "contact": contact, "address": address, "health_notes": notes})
        assert r.status_code == 200, (ref, r.text)
    plan = plan_day(world)
    urls = [_subscribe(world, "dispatcher_a", f"/v1/workers/{w}/feed")["url"] for w in world.workers_a.values()]
    urls.append(_subscribe(world, "dispatcher_a", f"/v1/teams/{world.team_a}/feed")["url"])
    engine = world.client.app.state.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        privates = session.exec(
            select(HouseholdPrivate).where(HouseholdPrivate.household_id.in_(list(world.households_a.values())))  # type: ignore[attr-defined]
        ).all()
        workers = session.exec(select(Worker).where(Worker.team_id == world.team_a)).all()
        households = {h["id"]: h for h in world.get(f"/v1/teams/{world.team_a}/households", "dispatcher_a").json()["data"]}
    secrets_: list[str] = []
    for p in privates:
        secrets_ += [p.label, p.contact, p.address, p.health_notes]
        secrets_ += [part.strip() for text in (p.address, p.health_notes) for part in re.split(r"[,;\\]", text)]
    secrets_ += [w.name for w in workers if w.name] + [w.ref for w in workers if w.ref]
    secrets_ += [str(h["ref"]) for h in households.values() if h["ref"]]
    secrets_ += [f"{h['lat']}" for h in households.values()] + [f"{h['lon']}" for h in households.values()]
    secrets_ = [s for s in secrets_ if len(s) >= 3]
    assert len(secrets_) > 40
    tiers = ["urgent", "intensive", "regular", "self_care", "self-care", "관리군", "위험"]
    for url in urls:
        body = _fetch(world, url).content
        text = body.decode("utf-8")
        plain = "\n".join(unfolded(body)).replace("\\,", ",").replace("\\;", ";").replace("\\n", "\n").replace("\\\\", "\\")
        values = " ".join(str(v) for c in icalendar.Calendar.from_ical(body).walk() for _k, v in c.property_items())
        for secret in secrets_ + tiers:
            for haystack in (text, plain, values):
                assert secret.lower() not in haystack.lower(), (secret, url)
        assert has_hangul(plain)
    assert plan["routes"]


def test_fetches_are_audited_without_the_token(feed_world: World) -> None:
    world = feed_world
    plan_day(world)
    nurse = world.actors["nurse_a"].worker_id
    feed = _subscribe(world, "nurse_a", f"/v1/workers/{nurse}/feed")
    token = _TOKEN_URL.match(feed["url"])[1]  # type: ignore[index]
    r = _fetch(world, feed["url"])
    _fetch(world, feed["url"], **{"If-None-Match": r.headers["etag"]})
    entries = world.get(f"/v1/audit?resource=feed&resource_id={feed['id']}", "manager").json()["data"]
    reads = [e for e in entries if e["action"] == "read"]
    assert len(reads) == 2 and {e["actor_role"] for e in reads} == {"feed"}
    assert all(f"worker={nurse}" in e["detail"] for e in reads)
    assert {e["detail"].rsplit("status=", 1)[1] for e in reads} == {"200", "304"}
    assert any(e["action"] == "rotate" for e in entries)
    everything = json.dumps(world.get("/v1/audit?limit=1000", "manager").json())
    assert token not in everything and feeds.token_digest(token) not in everything


def test_logs_never_carry_a_feed_token() -> None:
    token = "Q" * 43
    access = logging.LogRecord("uvicorn.access", logging.INFO, "h11_impl.py", 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", f"/v1/feeds/{token}.ics?x=1", "1.1", 200), None)
    error = logging.LogRecord("salpimi.api", logging.ERROR, "errors.py", 1, "unhandled %s on %s %s",
                              ("ValueError", "GET", f"/v1/feeds/{token}.ics"), None)
    literal = logging.LogRecord("x", logging.INFO, "x.py", 1, f"fetching /v1/feeds/{token}.ics", None, None)
    for record in (access, error, literal):
        message = redact_record(record).getMessage()
        assert token not in message and "/v1/feeds/***" in message


def test_feed_urls_use_the_public_base_url(backend: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="public_base_url"):
        Settings(public_base_url="https://salpimi.example/")
    with pytest.raises(ValueError, match="public_base_url"):
        Settings(public_base_url="ftp://salpimi.example")
    assert Settings.from_env({"SALPIMI_PUBLIC_BASE_URL": "https://a.example:8443/salpimi"}).public_base_url == (
        "https://a.example:8443/salpimi"
    )
    assert feeds.feed_urls("https://a.example/s", "T" * 43) == (
        f"https://a.example/s/v1/feeds/{'T' * 43}.ics", f"webcal://a.example/s/v1/feeds/{'T' * 43}.ics"
    )
    from fastapi.testclient import TestClient

    from api.main import create_app

    app = create_app(apisupport.make_settings(backend, public_base_url="https://salpimi.example.go.kr"))
    with TestClient(app) as c:
        manager = apisupport.bootstrap_manager(c)
        team = apisupport.load_team(c, manager.headers, "base-url")
        r = c.post(f"/v1/teams/{team}/feed", headers=manager.headers)
        assert r.status_code == 201, r.text
        assert r.json()["url"].startswith("https://salpimi.example.go.kr/v1/feeds/")
        assert r.json()["webcal_url"].startswith("webcal://salpimi.example.go.kr/v1/feeds/")


# ---- migration ----------------------------------------------------------------------------------------------


@pytest.fixture
def fresh_engine(backend: dict[str, Any], tmp_path: Path) -> Iterator[sa.Engine]:
    with apisupport.empty_engine(backend, tmp_path, prefix="salpimi_feeds") as engine:
        yield engine


def test_migration_0004_gives_published_plans_their_events(fresh_engine: sa.Engine) -> None:
    """The backfill of 0004 (run on the golden team's events, deleted first) recreates each published
    version's events: sequence 0, stamped with the version's publication."""
    path = Path(feeds.__file__).parents[1] / "migrations" / "versions" / "0004_feeds.py"
    spec = importlib.util.spec_from_file_location("salpimi_migration_0004", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    upgrade(fresh_engine)
    build_golden(fresh_engine)
    rows = sa.text('SELECT item_id, worker_id, date, start, "end", travel_s, household_id, dong, visit_kind '
                   "FROM feed_event WHERE NOT cancelled ORDER BY 1, 2")
    with fresh_engine.begin() as conn:
        live = conn.execute(rows).all()
        conn.execute(sa.text("DELETE FROM feed_event"))
        migration.backfill(conn)
    with fresh_engine.connect() as conn:
        assert conn.execute(rows).all() == live and len(live) == 8
        again = conn.execute(sa.text("SELECT sequence, cancelled, date, changed_at FROM feed_event")).all()
    assert {(r[0], bool(r[1])) for r in again} == {(0, False)}
    with Session(fresh_engine) as session:
        stamps = {(r.date, r.changed_at) for r in session.exec(select(FeedEvent)).all()}
    assert stamps == {(dt.date(2026, 11, 24), dt.datetime(2026, 11, 24, 4, 30, tzinfo=dt.UTC)),
                      (dt.date(2026, 11, 25), dt.datetime(2026, 11, 23, 9, 5, tzinfo=dt.UTC))}
