"""Hot reads from memory while nothing has been committed (api.changewatch), and exact the moment anything is:
a credential revoked, a user deactivated or a visit's status changed by another connection (another process, the
command line) counts at the next request, on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import apisupport
import sqlalchemy as sa
from apisupport import World, make_settings, plan_day, statements
from sqlmodel import Session

from api.db import make_engine
from api.models import User
from api.services import users

backend, client, world = apisupport.backend, apisupport.client, apisupport.world


def _own_key(world: World, who: str) -> dict[str, str]:
    me = world.get("/v1/users/me", who).json()
    r = world.post(f"/v1/users/{me['id']}/api-keys", who, json={"name": "read-cache test"})
    assert r.status_code == 201, r.text
    return {"X-API-Key": r.json()["key"]}


@contextlib.contextmanager
def elsewhere(backend: dict[str, Any]) -> Iterator[sa.Engine]:
    """An engine of its own: its commits are another connection's, as a second process's would be."""
    engine = make_engine(make_settings(backend))
    try:
        yield engine
    finally:
        engine.dispose()


def test_a_plan_read_makes_no_query_while_nothing_was_committed(world: World, backend: dict[str, Any]) -> None:
    plan = plan_day(world)
    url = f"/v1/plans/{plan['id']}"
    engine = world.client.app.state.engine  # type: ignore[attr-defined]
    for headers in (world["dispatcher_a"], _own_key(world, "dispatcher_a")):  # a token, then an API key
        first = world.client.get(url, headers=headers)
        assert first.status_code == 200, first.text
        # PostgreSQL's version is the cluster's: another database's writer (a parallel test run) changes it too,
        # which costs a check, never a stale answer; a few tries find a quiet moment.
        for _attempt in range(20):
            with statements(engine) as seen:
                again = world.client.get(url, headers=headers)
            assert again.status_code == 200 and again.content == first.content
            assert again.headers["etag"] == first.headers["etag"]
            if not seen:
                break
        assert seen == [], seen


def test_a_key_revoked_elsewhere_stops_at_the_next_read(world: World, backend: dict[str, Any]) -> None:
    plan = plan_day(world)
    url = f"/v1/plans/{plan['id']}"
    key = _own_key(world, "dispatcher_a")
    for _ in range(3):
        assert world.client.get(url, headers=key).status_code == 200
    assert world.client.get("/v1/users/me", headers=key).status_code == 200
    with elsewhere(backend) as engine, engine.begin() as conn:
        conn.execute(sa.text("UPDATE api_key SET revoked = :yes"), {"yes": True})
    assert world.client.get(url, headers=key).status_code == 401
    assert world.client.get("/v1/users/me", headers=key).status_code == 401


def test_a_user_deactivated_elsewhere_stops_at_the_next_read(world: World, backend: dict[str, Any]) -> None:
    plan = plan_day(world)
    url = f"/v1/plans/{plan['id']}"
    token = world["dispatcher_a"]
    key = _own_key(world, "dispatcher_a")
    for headers in (token, key, token, key):
        assert world.client.get(url, headers=headers).status_code == 200
    user_id = world.actors["dispatcher_a"].user_id
    with elsewhere(backend) as engine, Session(engine) as session:  # as `salpimi user deactivate` does
        user = session.get(User, user_id)
        assert user is not None
        users.set_user_active(session, user, False)
        session.commit()
    for headers in (token, key):
        assert world.client.get(url, headers=headers).status_code == 401
        assert world.client.get("/v1/users/me", headers=headers).status_code == 401
    assert world.get(url, "dispatcher_b").status_code == 403  # other callers' answers are unchanged
    assert world.get(url, "manager").status_code == 200


def test_a_status_changed_elsewhere_shows_in_the_next_read(world: World, backend: dict[str, Any]) -> None:
    plan = plan_day(world)
    url = f"/v1/plans/{plan['id']}"
    before = world.get(url, "dispatcher_a")
    assert world.get(url, "dispatcher_a").content == before.content
    stop = next(s for r in plan["routes"] for s in r["stops"])
    assert stop["status"] == "open"
    with elsewhere(backend) as engine, engine.begin() as conn:
        conn.execute(sa.text("UPDATE visit_request SET status = 'done' WHERE id = :id"), {"id": stop["visit_id"]})
    after = world.get(url, "dispatcher_a")
    assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
    statuses = {s["visit_id"]: s["status"] for r in after.json()["routes"] for s in r["stops"]}
    assert statuses[stop["visit_id"]] == "done"


def test_a_field_workers_household_reads_parse_each_published_plan_once(world: World) -> None:
    plan = plan_day(world)
    nurse = world.actors["nurse_a"]
    route = next(r for r in plan["routes"] if r["worker_id"] == nurse.worker_id and r["stops"])
    mine = {s["household_id"] for s in route["stops"]}
    others = set(world.households_a.values()) - mine
    engine = world.client.app.state.engine  # type: ignore[attr-defined]
    household = sorted(mine)[0]
    assert world.get(f"/v1/households/{household}", "nurse_a").status_code == 200  # parses the plan once
    with statements(engine) as seen:
        for hid in sorted(mine):
            assert world.get(f"/v1/households/{hid}", "nurse_a").status_code == 200
        for hid in sorted(others):
            assert world.get(f"/v1/households/{hid}", "nurse_a").status_code == 403
    loads_plan_json = [s for s in seen if "plan.data" in s]
    assert loads_plan_json == [], loads_plan_json
    listed = world.get(f"/v1/teams/{world.team_a}/households", "nurse_a").json()
    assert {h["id"] for h in listed["data"]} == mine


def test_a_plan_is_sent_gzip_compressed_to_clients_that_accept_it(world: World) -> None:
    import gzip
    import json

    plan = plan_day(world)
    url = f"/v1/plans/{plan['id']}"
    plain = world.client.get(url, headers={**world["dispatcher_a"], "Accept-Encoding": "identity"})
    zipped = world.client.get(url, headers={**world["dispatcher_a"], "Accept-Encoding": "br;q=1.0, gzip;q=0.5"})
    refused = world.client.get(url, headers={**world["dispatcher_a"], "Accept-Encoding": "gzip;q=0"})
    assert plain.status_code == zipped.status_code == refused.status_code == 200
    assert "content-encoding" not in plain.headers and "content-encoding" not in refused.headers
    assert zipped.headers["content-encoding"] == "gzip" and zipped.headers["vary"] == "Accept-Encoding"
    assert int(zipped.headers["content-length"]) < len(plain.content) // 2
    assert json.loads(zipped.content) == json.loads(plain.content) == plan  # httpx decoded it
    assert zipped.headers["etag"] != plain.headers["etag"]  # one strong validator per representation
    raw = world.client.stream("GET", url, headers={**world["dispatcher_a"], "Accept-Encoding": "gzip"})
    with raw as r:
        assert gzip.decompress(b"".join(r.iter_raw())) == plain.content
    for etag in (plain.headers["etag"], zipped.headers["etag"]):
        again = world.client.get(url, headers={**world["dispatcher_a"], "If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""


def test_concurrent_version_checks_all_see_a_commit_made_before_they_asked(backend: dict[str, Any]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from api.changewatch import ChangeWatch

    with elsewhere(backend) as engine:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE IF NOT EXISTS h9_watch_probe (n integer)"))
        watch = ChangeWatch(engine)
        try:
            for _round in range(5):
                before = watch.current()
                assert before is not None
                with engine.begin() as conn:
                    conn.execute(sa.text("INSERT INTO h9_watch_probe VALUES (1)"))
                with ThreadPoolExecutor(16) as pool:
                    seen = list(pool.map(lambda _: watch.current(), range(64)))
                assert None not in seen and before not in seen
        finally:
            watch.close()
            with engine.begin() as conn:
                conn.execute(sa.text("DROP TABLE h9_watch_probe"))


def test_the_event_loops_version_check_never_waits_for_the_threads_and_both_agree(backend: dict[str, Any]) -> None:
    """The loop reads the version on a connection of its own (a worker thread holding the shared one for a GIL
    switch interval stalled every hot read the loop served); versions read in the loop and in threads are one
    sequence: equal while nothing is committed, new after any commit, whichever side reads first."""
    import asyncio
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    from api.changewatch import ChangeWatch

    with elsewhere(backend) as engine:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE IF NOT EXISTS h9_loop_probe (n integer)"))
        watch = ChangeWatch(engine)
        loop = asyncio.new_event_loop()
        threads = ThreadPoolExecutor(1)

        def in_loop() -> Any:
            return loop.run_until_complete(watch.current_async())

        def in_thread() -> Any:
            return threads.submit(watch.current).result(10)

        def commit() -> None:
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO h9_loop_probe VALUES (1)"))

        try:
            in_loop(), in_thread()
            if backend["name"] == "sqlite":  # PostgreSQL's snapshot is the cluster's: other tests' writes move it
                assert in_loop() == in_thread() == in_loop()
            for first, second in ((in_loop, in_thread), (in_thread, in_loop)):
                before = (in_loop(), in_thread())
                commit()
                a, b = first(), second()
                assert None not in (a, b) and a not in before and b not in before
            # A thread holding the shared connection's lock does not hold up the loop.
            held, release = threading.Event(), threading.Event()

            def hold() -> None:
                with watch._lock:
                    held.set()
                    release.wait(10)

            holder = threading.Thread(target=hold)
            holder.start()
            held.wait(10)
            try:
                started = time.monotonic()
                assert loop.run_until_complete(watch.current_async()) is not None
                assert time.monotonic() - started < 2.0  # (it waited the holder's 10 s before)
            finally:
                release.set()
                holder.join()
        finally:
            threads.shutdown()
            loop.run_until_complete(watch.aclose())
            loop.close()
            with engine.begin() as conn:
                conn.execute(sa.text("DROP TABLE h9_loop_probe"))


def test_concurrent_plan_reads_after_a_commit_share_one_check(
    world: World, backend: dict[str, Any], monkeypatch: Any
) -> None:
    # After a commit every read in flight misses at once: each took a thread and its queries (the PostgreSQL
    # `mixed` bench phase spent a third of its worker threads' time there); now they share one check.
    import asyncio
    import time

    import httpx

    from api.services import plans as plan_service

    plan = plan_day(world)
    url = f"/v1/plans/{plan['id']}"
    headers = _own_key(world, "dispatcher_a")
    assert world.client.get(url, headers=headers).status_code == 200
    checks: list[int] = []
    real = plan_service.read_plan_body

    def counted(*args: Any, **kwargs: Any) -> Any:
        checks.append(1)
        time.sleep(0.2)  # the others arrive while this check runs
        return real(*args, **kwargs)

    monkeypatch.setattr(plan_service, "read_plan_body", counted)

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=world.client.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return list(await asyncio.gather(*(c.get(url, headers=headers) for _ in range(8))))

    # PostgreSQL's version is the cluster's (a parallel test run's commits change it too): a few tries find a
    # moment where the eight reads see one version.
    for attempt in range(10):
        with elsewhere(backend) as engine, engine.begin() as conn:  # a commit: every read must check again
            conn.execute(sa.text("UPDATE api_key SET name = :n"), {"n": f"renamed {attempt}"})
        checks.clear()
        answers = world.client.portal.call(burst)  # type: ignore[union-attr]
        assert [r.status_code for r in answers] == [200] * 8
        assert len({r.headers["etag"] for r in answers}) == 1
        if len(checks) == 1:
            break
    assert len(checks) == 1, checks
    # a credential that fails fails for every read that shared its check
    answers = world.client.portal.call(  # type: ignore[union-attr]
        lambda: _gather_codes(world.client.app, url, {"X-API-Key": "slp_unknown"}))
    assert answers == [401] * 4


async def _gather_codes(app: Any, url: str, headers: dict[str, str]) -> list[int]:
    import asyncio

    import httpx

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        return [r.status_code for r in await asyncio.gather(*(c.get(url, headers=headers) for _ in range(4)))]
