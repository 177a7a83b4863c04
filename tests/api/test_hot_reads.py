"""The hot reads of the `mixed` load phase stay cheap at their root (issue 9): the caller's credential checked in the
event loop (no worker thread queues for the version watch's shared connection), `GET /v1/users/me` from memory while
nothing was committed, a household read in one worker-thread call with one query, the same JSON and its audit entry;
on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import anyio.to_thread
import apisupport
import pytest
import sqlalchemy as sa
from apisupport import World, make_settings, statements
from sqlmodel import Session

from api.changewatch import ChangeWatch
from api.db import make_engine
from api.mappers import household_public, user_public
from api.models import Household, User

backend, client, world = apisupport.backend, apisupport.client, apisupport.world


@contextlib.contextmanager
def thread_hops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every call handed to a worker thread (FastAPI's sync dependencies and routes, the routes' own hops)."""
    hops: list[str] = []
    real = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(func, "__name__", repr(func)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    try:
        yield hops
    finally:
        monkeypatch.setattr(anyio.to_thread, "run_sync", real)


def _quiet(world: World, url: str, who: str, check: Any) -> None:
    """``check()`` on a read at a moment nothing else commits: PostgreSQL's version is the cluster's, so a parallel
    test run's commits cost a re-check, never a stale answer; a few tries find a quiet moment."""
    last: AssertionError | None = None
    for _attempt in range(20):
        assert world.get(url, who).status_code == 200  # warm: credential and body validated at this version
        try:
            check()
            return
        except AssertionError as exc:
            last = exc
    assert last is not None
    raise last


def test_users_me_is_answered_from_memory_while_nothing_was_committed(
    world: World, backend: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before: three worker-thread hops (the credential, the route, the session's end) and a query per call.
    engine = world.client.app.state.engine  # type: ignore[attr-defined]
    url = "/v1/users/me"

    def no_thread_no_query() -> None:
        with statements(engine) as seen, thread_hops(monkeypatch) as hops:
            r = world.get(url, "dispatcher_a")
        assert r.status_code == 200
        assert (seen, hops) == ([], [])

    _quiet(world, url, "dispatcher_a", no_thread_no_query)
    user_id = world.actors["dispatcher_a"].user_id
    with Session(engine) as session:
        row = session.get(User, user_id)
        assert row is not None
        expected = user_public(row).model_dump(mode="json")
    assert world.get(url, "dispatcher_a").json() == expected
    # a change made elsewhere (another process, the command line) shows at the next read
    with make_engine(make_settings(backend)).begin() as conn:
        conn.execute(sa.text('UPDATE "user" SET username = :n WHERE id = :id'), {"n": "renamed-h1", "id": user_id})
    assert world.get(url, "dispatcher_a").json()["username"] == "renamed-h1"
    assert world.get(url, "dispatcher_b").json()["id"] == world.actors["dispatcher_b"].user_id


def test_an_authenticated_request_never_reads_the_version_in_a_worker_thread(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, every route with the principal dependency read the database's version in a worker thread, on the
    # watch's one shared connection: in the `mixed` load phase 77 % of the worker threads' samples waited there.
    called: list[int] = []
    real = ChangeWatch.current

    def counted(self: ChangeWatch) -> Any:
        called.append(1)
        return real(self)

    monkeypatch.setattr(ChangeWatch, "current", counted)
    for url in (f"/v1/teams/{world.team_a}/workers", f"/v1/teams/{world.team_a}/households?limit=2",
                "/v1/users/me", f"/v1/households/{next(iter(world.households_a.values()))}"):
        assert world.get(url, "dispatcher_a").status_code == 200, url
    assert called == []


def test_a_household_read_is_one_thread_call_one_query_the_same_json_and_audited(
    world: World, backend: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = world.client.app.state.engine  # type: ignore[attr-defined]
    hid = next(iter(world.households_a.values()))
    url = f"/v1/households/{hid}"

    def one_call_one_query() -> None:
        with statements(engine) as seen, thread_hops(monkeypatch) as hops:
            r = world.get(url, "dispatcher_a")
        assert r.status_code == 200
        assert len(hops) == 1, hops  # before: 3 (the credential, the route, the session's commit)
        assert len(seen) == 1 and "household" in seen[0], seen

    _quiet(world, url, "dispatcher_a", one_call_one_query)
    with Session(engine) as session:
        row = session.get(Household, hid)
        assert row is not None
        expected = household_public(row).model_dump(mode="json")
    assert world.get(url, "dispatcher_a").json() == expected
    # the access rules hold: another team's dispatcher 403, unknown 404 (a field worker off her route: test_read_cache)
    assert world.get(url, "dispatcher_b").status_code == 403
    assert world.get("/v1/households/hh_nope", "dispatcher_a").status_code == 404
    # every read is in the audit log, who read what
    before = world.get(f"/v1/audit?resource_id={hid}&limit=1000", "manager").json()["count"]
    for _ in range(3):
        assert world.get(url, "dispatcher_a").status_code == 200
    entries = world.get(f"/v1/audit?resource_id={hid}&limit=1000", "manager").json()
    assert entries["count"] == before + 3
    newest = entries["data"][0]
    assert (newest["action"], newest["resource"], newest["actor_id"]) == (
        "read", "household", world.actors["dispatcher_a"].user_id)


def test_the_audit_writers_commits_leave_hot_reads_cached_on_postgresql(
    world: World, backend: dict[str, Any]
) -> None:
    # Before, each batch the audit writer committed moved PostgreSQL's snapshot, so every hot read (plan bodies,
    # credentials, users/me) checked again up to 20 times a second in the `mixed` load phase.  Audit entries change
    # nothing those reads show; the writer's own transactions no longer change the version.
    if backend["name"] != "postgresql":
        pytest.skip("SQLite: the audit writer's commits still change the version (README, Service under load)")
    plan = apisupport.plan_day(world)
    app = world.client.app  # type: ignore[attr-defined]
    url = f"/v1/plans/{plan['id']}"
    hid = next(iter(world.households_a.values()))
    for _attempt in range(20):  # the version is the cluster's: a parallel test run's commits cost a retry
        assert world.get(url, "dispatcher_a").status_code == 200
        assert world.get("/v1/users/me", "dispatcher_a").status_code == 200
        assert world.get(f"/v1/households/{hid}", "dispatcher_a").status_code == 200  # an audit entry
        assert app.state.audit_writer.flush()  # committed by the writer
        with statements(app.state.engine) as seen:
            assert world.get(url, "dispatcher_a").status_code == 200
            assert world.get("/v1/users/me", "dispatcher_a").status_code == 200
        if not seen:
            break
    assert seen == [], seen


def test_only_the_audit_writers_own_transactions_keep_the_postgresql_version(backend: dict[str, Any]) -> None:
    import asyncio

    if backend["name"] != "postgresql":
        pytest.skip("PostgreSQL's snapshot-based version")
    engine = make_engine(make_settings(backend))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE IF NOT EXISTS h1_own_probe (n integer)"))
    watch = ChangeWatch(engine)
    loop = asyncio.new_event_loop()

    def both() -> tuple[Any, Any]:
        return watch.current(), loop.run_until_complete(watch.current_async())

    def own_write() -> None:
        with engine.begin() as conn:
            watch.note_own_write(int(conn.exec_driver_sql("SELECT pg_current_xact_id()::text").scalar_one()))
            conn.execute(sa.text("INSERT INTO h1_own_probe VALUES (1)"))

    try:
        for _attempt in range(20):  # a quiet moment of the cluster (other databases' commits move the snapshot)
            before = both()
            own_write()
            if both() == before:
                break
        assert both() == before
        # a transaction that writes but has not finished changes nothing visible; its commit does
        with engine.connect() as conn:
            conn.execute(sa.text("INSERT INTO h1_own_probe VALUES (2)"))
            still = both()
            conn.commit()
        after = both()
        assert None not in after and after[0] not in still and after[1] not in still
        with engine.begin() as conn:  # another writer's commit always counts
            conn.execute(sa.text("INSERT INTO h1_own_probe VALUES (3)"))
        assert both()[0] not in after and both()[1] not in after
    finally:
        loop.run_until_complete(watch.aclose())
        loop.close()
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE h1_own_probe"))
        engine.dispose()
