"""Calendar feeds of a fixed two-day plan: golden bytes, two parsers, safe folding, a re-plan, 48 h, a CalDAV server."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import apisupport
import httpx
import icalendar
import pytest
from feedsupport import (
    DAY1,
    DAY2,
    DROPPED,
    MOVED,
    NOW,
    PUBLISHED_2,
    TOKENS,
    UNTOUCHED,
    Golden,
    build_golden,
    has_hangul,
    render,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ical.calendar_stream import IcsCalendarStream

from api.db import make_engine, upgrade
from api.ics import SEOUL, CalendarEvent, CalendarFeed, fold_line, render_calendar
from api.services import feeds

backend = apisupport.backend
GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden" / "feeds"
UPDATE = os.environ.get("SALPIMI_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def golden(backend: dict[str, Any]) -> Iterator[Golden]:
    engine = make_engine(apisupport.make_settings(backend))
    upgrade(engine)
    try:
        yield build_golden(engine)
    finally:
        engine.dispose()


def _events(body: bytes) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(body)
    events = {str(e["UID"]): e for e in cal.walk("VEVENT")}
    assert len(events) == len(cal.walk("VEVENT")), "one event per UID"
    return events


# ---- bytes -------------------------------------------------------------------------------------------


def test_golden_feeds_are_byte_stable(golden: Golden) -> None:
    for who, body in golden.after.items():
        path = GOLDEN_DIR / f"{who}.ics"
        if UPDATE:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
        assert body == path.read_bytes(), f"{who}: the feed differs from {path} (SALPIMI_UPDATE_GOLDEN=1 rewrites it)"
        # the same data give the same bytes: rendered again, and answered from the cache
        assert render(golden.engine, who, NOW).body == body
        cache = feeds.FeedCache(clock=lambda: NOW)
        from sqlmodel import Session

        with Session(golden.engine) as session:
            first = feeds.read_feed(session, TOKENS[who], cache=cache, base_url="https://salpimi.example")
            second = feeds.read_feed(session, TOKENS[who], cache=cache, base_url="https://salpimi.example")
            session.rollback()
        assert first is not None and second is not None
        assert first.body == second.body == body and first.etag == second.etag


def test_feeds_parse_back_with_icalendar_and_an_independent_parser(golden: Golden) -> None:
    for who, body in golden.after.items():
        cal = icalendar.Calendar.from_ical(body)
        assert str(cal["METHOD"]) == "PUBLISH" and str(cal["VERSION"]) == "2.0"
        assert cal["REFRESH-INTERVAL"].params["VALUE"] == "DURATION"
        assert cal.decoded("REFRESH-INTERVAL") == dt.timedelta(hours=1)
        assert str(cal["X-PUBLISHED-TTL"]) == "PT1H"
        assert str(cal["NAME"]) == str(cal["X-WR-CALNAME"]) and has_hangul(str(cal["NAME"]))
        assert [str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")] == ["Asia/Seoul"]
        ours = _events(body)
        # ical (allenporter/ical, pydantic; shares no code with icalendar) reads the same events
        theirs = {e.uid: e for e in IcsCalendarStream.calendar_from_ics(body.decode("utf-8")).events}
        assert set(theirs) == set(ours) and ours, who
        for uid, event in ours.items():
            other = theirs[uid]
            assert other.summary == str(event["SUMMARY"])
            assert (other.description or "") == str(event.get("DESCRIPTION", ""))
            assert other.sequence == int(event["SEQUENCE"])
            assert str(other.status.value if other.status else "") == str(event["STATUS"])
            assert other.dtstart == event.decoded("DTSTART") and other.dtend == event.decoded("DTEND")
            assert other.dtstamp == event.decoded("DTSTAMP")
            assert event.decoded("DTSTART").utcoffset() == dt.timedelta(hours=9)
            assert str(event["DTSTART"].params["TZID"]) == "Asia/Seoul"
            assert event.decoded("DTSTAMP").tzinfo is not None


def test_lines_fold_at_75_octets_between_characters_and_escapes(golden: Golden) -> None:
    folds = 0
    for who, body in golden.after.items():
        physical = body.split(b"\r\n")
        assert physical[-1] == b"", "the body ends with CRLF"
        for raw in physical[:-1]:
            assert len(raw) <= 75, (who, raw)
            raw.decode("utf-8")  # every physical line is whole UTF-8 on its own
        logical: list[list[str]] = []
        for raw in physical[:-1]:
            text = raw.decode("utf-8")
            if text.startswith(" "):
                logical[-1].append(text[1:])
            else:
                logical.append([text])
        for parts in logical:
            line = "".join(parts)
            starts, i = set(), 0
            while i < len(line):  # where an escape-aware reader may cut: never inside "\\x"
                starts.add(i)
                i += 2 if line[i] == "\\" else 1
            cut = 0
            for part in parts[:-1]:
                cut += len(part)
                folds += 1
                assert cut in starts, f"{who}: a fold splits an escape in {line[:60]!r}"
    assert folds > 20  # the Hangul descriptions really were folded


def test_every_text_field_carries_hangul(golden: Golden) -> None:
    for who, body in golden.after.items():
        cal = icalendar.Calendar.from_ical(body)
        for name in ("NAME", "X-WR-CALNAME", "DESCRIPTION", "X-WR-CALDESC"):
            assert has_hangul(str(cal[name])), (who, name)
        for event in cal.walk("VEVENT"):
            for name in ("SUMMARY", "DESCRIPTION"):
                assert has_hangul(str(event[name])), (who, name)
            if not str(event["UID"]).startswith("break-"):
                assert has_hangul(str(event["LOCATION"]))


_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from("가나다라살피미동방문취소\\,;:\n \"^'"), st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
    ),
    max_size=300,
)


@settings(max_examples=150, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXT)
def test_any_text_folds_safely_and_reads_back_equal(text: str) -> None:
    line = "DESCRIPTION:" + icalendar.vText(text).to_ical().decode("utf-8")
    parts = fold_line(line)
    assert "".join(p.removeprefix(" ") if i else p for i, p in enumerate(parts)) == line
    for i, part in enumerate(parts):
        assert len(part.encode("utf-8")) <= 75 and (i == 0 or part.startswith(" "))
    at = dt.datetime(2026, 11, 24, 9, tzinfo=SEOUL)
    body = render_calendar(CalendarFeed(
        uid="feed-x@salpimi", name=text or "x", description=text, refresh=dt.timedelta(hours=1),
        events=(CalendarEvent(uid="u@salpimi", start=at, end=at, stamp=at, created=at, sequence=0, cancelled=False,
                              summary=text, description=text, location=text),),
    ))
    back = icalendar.Calendar.from_ical(body)
    event = back.walk("VEVENT")[0]
    assert str(event.get("SUMMARY", "")) == text and str(back.get("DESCRIPTION", "")) == text
    # icalendar reads X- properties back raw: escaped as RFC 5545 3.3.11 says
    escaped = text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")
    assert str(back.get("X-WR-CALDESC", "")) == escaped == str(back.get("X-WR-CALNAME", "")) or not text
    theirs = IcsCalendarStream.calendar_from_ics(body.decode("utf-8")).events[0]
    assert (theirs.summary or "") == text and (theirs.location or "") == text


# ---- following re-plans -------------------------------------------------------------------------------


def test_a_replan_cancels_the_moved_visit_for_the_old_worker_and_keeps_untouched_events(golden: Golden) -> None:
    if not golden.before:
        pytest.skip("the golden team was built by an earlier run on this database")
    nurse_0, nurse_1 = _events(golden.before["nurse"]), _events(golden.after["nurse"])
    cm_0, cm_1 = _events(golden.before["cm"]), _events(golden.after["cm"])
    team_0, team_1 = _events(golden.before["team"]), _events(golden.after["team"])
    moved, dropped = f"{MOVED}@salpimi", f"{DROPPED}@salpimi"
    seq = int(nurse_0[moved]["SEQUENCE"])
    # the old worker: cancelled, a higher SEQUENCE, stamped with the re-plan
    assert str(nurse_1[moved]["STATUS"]) == "CANCELLED" and int(nurse_1[moved]["SEQUENCE"]) == seq + 1
    assert nurse_1[moved].decoded("DTSTAMP") == PUBLISHED_2
    assert str(nurse_1[moved]["SUMMARY"]).startswith("[취소 Cancelled]")
    # the new worker: confirmed at the new time, same UID and SEQUENCE
    assert moved not in cm_0
    assert str(cm_1[moved]["STATUS"]) == "CONFIRMED" and int(cm_1[moved]["SEQUENCE"]) == seq + 1
    assert cm_1[moved].decoded("DTSTART") == dt.datetime(2026, 11, 24, 14, 30, tzinfo=SEOUL)
    # left out: cancelled in its worker's calendar
    assert str(cm_0[dropped]["STATUS"]) == "CONFIRMED"
    assert str(cm_1[dropped]["STATUS"]) == "CANCELLED"
    assert int(cm_1[dropped]["SEQUENCE"]) == int(cm_0[dropped]["SEQUENCE"]) + 1
    # the team calendar shows each visit once: the moved one with its new worker
    assert str(team_1[moved]["STATUS"]) == "CONFIRMED" and "wk_golden00000cm1" in str(team_1[moved]["SUMMARY"])
    assert str(team_1[dropped]["STATUS"]) == "CANCELLED"
    # nothing else changed: UID, SEQUENCE and DTSTAMP kept, in every calendar (lunch breaks too)
    for before, after in ((nurse_0, nurse_1), (cm_0, cm_1), (team_0, team_1)):
        kept = set(before) - {moved, dropped}
        assert kept and kept <= set(after)
        for uid in kept:
            for name in ("SEQUENCE", "DTSTAMP", "DTSTART", "DTEND", "STATUS", "DESCRIPTION"):
                assert before[uid][name].to_ical() == after[uid][name].to_ical(), (uid, name)
    assert {f"{v}@salpimi" for v in UNTOUCHED} <= set(cm_1) | set(nurse_1)
    assert any(uid.startswith("break-") for uid in nurse_1)


def test_cancelled_events_show_for_48_hours_then_leave(golden: Golden) -> None:
    moved, dropped = f"{MOVED}@salpimi", f"{DROPPED}@salpimi"
    almost = render(golden.engine, "nurse", PUBLISHED_2 + dt.timedelta(hours=47, minutes=59))
    assert moved in _events(almost.body)
    gone = render(golden.engine, "nurse", PUBLISHED_2 + dt.timedelta(hours=48))
    assert moved not in _events(gone.body) and f"{UNTOUCHED[0]}@salpimi" in _events(gone.body)
    # the feed changed at that moment, and says so to If-Modified-Since
    assert gone.last_modified == PUBLISHED_2 + dt.timedelta(hours=48)
    assert gone.etag != almost.etag
    assert dropped not in _events(render(golden.engine, "cm", PUBLISHED_2 + dt.timedelta(hours=48)).body)


def test_a_feed_shows_seven_days_back_to_28_days_ahead(golden: Golden) -> None:
    def days(now: dt.datetime) -> set[dt.date]:
        body = render(golden.engine, "nurse", now).body
        return {e.decoded("DTSTART").date() for e in _events(body).values()}

    noon = dt.time(3, 0)  # 12:00 in Seoul
    assert days(dt.datetime.combine(DAY1 - dt.timedelta(days=28), noon, tzinfo=dt.UTC)) == {DAY1}
    assert days(dt.datetime.combine(DAY1 - dt.timedelta(days=29), noon, tzinfo=dt.UTC)) == set()
    assert days(dt.datetime.combine(DAY1 + dt.timedelta(days=7), noon, tzinfo=dt.UTC)) == {DAY1, DAY2}
    assert days(dt.datetime.combine(DAY2 + dt.timedelta(days=8), noon, tzinfo=dt.UTC)) == set()


# ---- a real CalDAV server ------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Radicale on loopback: a free port, a temporary store, no authentication (stopped afterwards)."""
    root = tmp_path_factory.mktemp("radicale")
    port = _free_port()
    cmd = [sys.executable, "-m", "radicale", "--config", "", "--server-hosts", f"127.0.0.1:{port}",
           "--auth-type", "none", "--rights-type", "owner_only",
           "--storage-filesystem-folder", str(root / "collections"), "--logging-level", "warning"]
    with (root / "radicale.log").open("wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code < 500:
                        break
                assert proc.poll() is None, (root / "radicale.log").read_text()
                assert time.monotonic() < deadline, "Radicale did not start within 30 s"
                time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _value(component: icalendar.cal.Component, name: str) -> Any:
    try:
        return component.decoded(name)
    except (ValueError, TypeError, KeyError):
        return str(component[name])


def test_a_caldav_server_accepts_every_event(golden: Golden, radicale: str) -> None:
    with httpx.Client(base_url=radicale, auth=("nurse", "unused"), timeout=10) as client:
        for who, body in golden.after.items():
            cal = icalendar.Calendar.from_ical(body)
            collection = f"/nurse/{who}-{secrets.token_hex(4)}/"  # one server for both databases' runs
            assert client.request("MKCALENDAR", collection).status_code == 201
            timezone = cal.walk("VTIMEZONE")[0]
            events = cal.walk("VEVENT")
            assert events
            for event in events:
                single = icalendar.Calendar()
                for name in ("VERSION", "PRODID", "CALSCALE"):
                    single.add(name, cal[name])
                single.add_component(timezone)
                single.add_component(event)
                href = f"{collection}{hashlib.sha1(str(event['UID']).encode()).hexdigest()}.ics"
                r = client.put(href, content=single.to_ical(),
                               headers={"Content-Type": "text/calendar; charset=utf-8"})
                assert r.status_code == 201, (who, str(event["UID"]), r.status_code, r.text)
                back = client.get(href)
                assert back.status_code == 200
                stored = icalendar.Calendar.from_ical(back.content).walk("VEVENT")
                assert len(stored) == 1
                for name in event:
                    assert _value(stored[0], name) == _value(event, name), (who, str(event["UID"]), name)
            listing = client.request("PROPFIND", collection, headers={"Depth": "1"})
            assert listing.status_code == 207 and listing.text.count(".ics</") == len(events)


def test_the_render_cache_is_bounded_by_feeds_and_bytes() -> None:
    rendered = [feeds.RenderedFeed(body=b"x" * 100, etag=f'"{i}"', last_modified=NOW) for i in range(5)]
    cache = feeds.FeedCache(size=3, max_bytes=250)
    for i, r in enumerate(rendered):
        cache.store(f"fd_{i}", i, r)
    assert cache.lookup("fd_4", 4) is rendered[4] and cache.lookup("fd_3", 3) is rendered[3]
    assert cache.lookup("fd_2", 2) is None and cache.lookup("fd_0", 0) is None  # 250 bytes hold two
    assert cache.lookup("fd_4", "another state") is None  # a changed key is a miss
    cache.store("fd_4", 4, rendered[4])  # replacing counts its bytes once
    assert cache.lookup("fd_3", 3) is rendered[3]
