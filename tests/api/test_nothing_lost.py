"""Nothing lost: one published version per day under concurrent publishers, an audit log nobody can
rewrite (REPLACE on SQLite, TRUNCATE and the service role on PostgreSQL), and backup/restore round trips.
"""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import apisupport
import pytest
import sqlalchemy as sa
from apisupport import PG_ADMIN_URL, World, _pg_url, bootstrap_manager, load_team, make_settings
from fastapi.testclient import TestClient

from api.cli import main
from api.db import make_engine, session_scope, upgrade
from api.main import create_app
from api.maintenance import manifest_path, summarise
from api.models import Plan, PlanKind
from api.services import plans
from api.services.audit import audit

# Fixtures (apisupport.py; no conftest.py here, which would shadow tests/conftest.py).
backend, client, world = apisupport.backend, apisupport.client, apisupport.world

PUBLISHED = "SELECT count(*) FROM plan WHERE team_id = :t AND date = :d AND published"


def _versions(engine: sa.Engine, team_id: str, day: dt.date, n: int, *, publish_first: bool = True) -> list[str]:
    ids = []
    with session_scope(engine) as session:
        for i in range(n):
            plan = plans.store_plan(
                session, team_id=team_id, date=day, plan_json={"routes": [], "unassigned": [], "kpis": {}},
                problem={}, kind=PlanKind.SOLVE, job_id=None, base_plan_id=None, stopped_early=False,
                created_by=None, publish=publish_first and i == 0,
            )
            ids.append(plan.id)
    return ids


def _published(engine: sa.Engine, team_id: str, day: dt.date) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(PUBLISHED), {"t": team_id, "d": day}).scalar_one())


def _settle(client: TestClient) -> None:
    """Wait until audit entries of reads (written in the background) are in the database."""
    writer = getattr(client.app.state, "audit_writer", None)  # type: ignore[attr-defined]
    if writer is not None:
        assert writer.flush()


def _team(client: TestClient) -> str:
    return load_team(client, bootstrap_manager(client).headers, f"nl-{secrets.token_hex(3)}")


# ---- publishing -------------------------------------------------------------------------------------


def test_the_database_refuses_a_second_published_version_of_a_day(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    team, day = _team(client), dt.date(2031, 1, 6)
    _first, second = _versions(engine, team, day, 2)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.update(Plan.__table__).where(Plan.__table__.c.id == second).values(published=True))
    assert _published(engine, team, day) == 1
    other_day = _versions(engine, team, day + dt.timedelta(days=1), 1)  # another day is independent
    assert other_day and _published(engine, team, day + dt.timedelta(days=1)) == 1


def test_concurrent_publishers_leave_exactly_one_version_published_at_every_instant(client: TestClient) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    team, day = _team(client), dt.date(2031, 1, 8)
    ids = _versions(engine, team, day, 2)
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []
    done: list[str] = []

    def observe() -> None:
        try:
            with engine.connect() as conn:
                while not stop.is_set():
                    seen.append(int(conn.execute(sa.text(PUBLISHED), {"t": team, "d": day}).scalar_one()))
                    conn.rollback()  # a fresh snapshot for every observation
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def publish(plan_id: str, rounds: int) -> None:
        for _ in range(rounds):
            try:
                with session_scope(engine) as session:
                    plan = session.get(Plan, plan_id)
                    assert plan is not None
                    plans.publish_plan(session, plan)
                    audit(session, None, "publish", "plan", plan.id, team_id=team)
                done.append(plan_id)
            except BaseException as exc:
                errors.append(exc)

    observer = threading.Thread(target=observe)
    publishers = [threading.Thread(target=publish, args=(ids[i % 2], 15)) for i in range(4)]
    observer.start()
    for t in publishers:
        t.start()
    for t in publishers:
        t.join(timeout=120)
    stop.set()
    observer.join(timeout=30)
    assert not errors, errors[:3]
    assert len(done) == 60
    assert seen and set(seen) == {1}, {n: seen.count(n) for n in set(seen)}
    assert _published(engine, team, day) == 1
    with session_scope(engine) as session:
        last = {p.id: p for p in session.exec(sa.select(Plan).where(Plan.team_id == team)).scalars()}
    assert sum(p.published for p in last.values()) == 1


def test_publishing_through_the_api_switches_versions(world: World) -> None:
    engine = world.client.app.state.engine  # type: ignore[attr-defined]
    day = dt.date(2031, 1, 10)
    first, second = _versions(engine, world.team_a, day, 2)
    for plan_id in (second, first, second):
        r = world.post(f"/v1/plans/{plan_id}/publish", "dispatcher_a")
        assert r.status_code == 200, r.text
        assert r.json()["published"] is True
        listed = world.get(f"/v1/teams/{world.team_a}/plans?date={day}&published=true", "dispatcher_a").json()
        assert [p["id"] for p in listed["data"]] == [plan_id]


# ---- migration ---------------------------------------------------------------------------------------


@contextmanager
def fresh_database(backend: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An empty database of the same kind as ``backend`` (SQLite: a new data dir; PostgreSQL: a new database)."""
    data_dir = tmp_path / f"fresh-{secrets.token_hex(3)}"
    if backend["name"] == "sqlite":
        yield {"name": "sqlite", "database_url": None, "data_dir": data_dir}
        return
    import psycopg

    name = f"salpimi_test_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield {"name": "postgresql", "database_url": _pg_url(name), "data_dir": data_dir}
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migration_keeps_only_the_newest_published_version(backend: dict[str, Any], tmp_path: Path) -> None:
    with fresh_database(backend, tmp_path) as target:
        engine = make_engine(make_settings(target))
        try:
            upgrade(engine, "0001")
            now = dt.datetime(2031, 1, 1, tzinfo=dt.UTC)
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO team (id, name, district, created_at) VALUES ('tm_1', 't', 'd', :n)"),
                             {"n": now})
                for version in (1, 2, 3):
                    conn.execute(
                        sa.text("INSERT INTO plan (id, team_id, date, version, kind, published, stopped_early, data, "
                                "problem, kpis, created_at) VALUES (:id, 'tm_1', :d, :v, 'solve', :p, :f, '{}', '{}', "
                                "'{}', :n)"),
                        {"id": f"pl_{version}", "d": dt.date(2031, 1, 1), "v": version, "p": version < 3,
                         "f": False, "n": now},
                    )
            upgrade(engine)
            with engine.connect() as conn:
                rows = conn.execute(sa.text("SELECT id FROM plan WHERE published ORDER BY id")).scalars().all()
            assert rows == ["pl_2"]
        finally:
            engine.dispose()


# ---- the audit log -----------------------------------------------------------------------------------


def _audit_rows(engine: sa.Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text("SELECT * FROM audit_log ORDER BY id"))]


def test_sqlite_replace_and_upsert_cannot_rewrite_the_audit_log(world: World, backend: dict[str, Any]) -> None:
    if backend["name"] != "sqlite":
        pytest.skip("SQLite's REPLACE conflict path")
    world.get(f"/v1/households/{world.households_a['t-h1']}", "dispatcher_a")
    _settle(world.client)
    engine = world.client.app.state.engine  # type: ignore[attr-defined]
    before = _audit_rows(engine)
    victim = before[0][0]
    rowid = 1
    for statement in (
        f"REPLACE INTO audit_log (id, at, actor_role, action, resource, detail) "
        f"VALUES ('{victim}', '2031-01-01', 'x', 'x', 'x', 'forged')",
        f"INSERT OR REPLACE INTO audit_log (id, at, actor_role, action, resource, detail) "
        f"VALUES ('{victim}', '2031-01-01', 'x', 'x', 'x', 'forged')",
        f"INSERT OR REPLACE INTO audit_log (rowid, id, at, actor_role, action, resource, detail) "
        f"VALUES ({rowid}, 'au_new', '2031-01-01', 'x', 'x', 'x', 'forged')",
        f"INSERT INTO audit_log (id, at, actor_role, action, resource, detail) "
        f"VALUES ('{victim}', '2031-01-01', 'x', 'x', 'x', 'forged') ON CONFLICT(id) DO UPDATE SET detail = 'forged'",
        "UPDATE OR REPLACE audit_log SET detail = 'forged'",
        "DELETE FROM audit_log",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(statement)
    assert _audit_rows(engine) == before
    # A raw connection without the application's settings is refused too (the trigger lives in the file).
    import sqlite3

    raw = sqlite3.connect(engine.url.database)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            raw.execute(f"REPLACE INTO audit_log (id, at, actor_role, action, resource, detail) "
                        f"VALUES ('{victim}', '2031-01-01', 'x', 'x', 'x', 'forged')")
    finally:
        raw.close()
    assert _audit_rows(engine) == before


@pytest.fixture
def service_role(backend: dict[str, Any]) -> Iterator[str]:
    """A PostgreSQL login role that does not own the tables, granted with `salpimi db grant`."""
    if backend["name"] != "postgresql":
        pytest.skip("PostgreSQL roles")
    import psycopg

    role = f"salpimi_app_{secrets.token_hex(4)}"
    with psycopg.connect(backend["database_url"], autocommit=True) as owner:
        owner.execute(f'CREATE ROLE "{role}" LOGIN')
        try:
            assert main(["db", "grant", role, "--database-url", backend["database_url"]]) == 0
            yield role
        finally:
            owner.execute(f'DROP OWNED BY "{role}"')
            owner.execute(f'DROP ROLE "{role}"')


def _as_role(url: str, role: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{role}@{rest.split('@', 1)[1]}"


def test_postgresql_truncate_is_refused_even_for_the_owner(world: World, backend: dict[str, Any]) -> None:
    if backend["name"] != "postgresql":
        pytest.skip("PostgreSQL's TRUNCATE")
    world.get(f"/v1/households/{world.households_a['t-h1']}", "dispatcher_a")
    _settle(world.client)
    engine = world.client.app.state.engine  # type: ignore[attr-defined]
    before = _audit_rows(engine)
    for statement in ("TRUNCATE audit_log", "TRUNCATE audit_log CASCADE", "TRUNCATE ONLY audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(statement)
    assert _audit_rows(engine) == before


def test_the_service_role_can_only_append_to_the_audit_log(
    backend: dict[str, Any], service_role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _as_role(backend["database_url"], service_role)
    app = create_app(make_settings(backend, database_url=url))
    with TestClient(app, raise_server_exceptions=False) as client:
        manager = bootstrap_manager(client)
        team = load_team(client, manager.headers, f"role-{secrets.token_hex(3)}")
        assert client.get(f"/v1/teams/{team}/households", headers=manager.headers).status_code == 200
        r = client.get("/v1/audit", headers=manager.headers)
        assert r.status_code == 200 and r.json()["count"] > 0
        _settle(client)
        engine = client.app.state.engine  # type: ignore[attr-defined]
        before = _audit_rows(engine)
        for statement in (
            "TRUNCATE audit_log", "DELETE FROM audit_log", "UPDATE audit_log SET detail = 'x'",
            "ALTER TABLE audit_log DISABLE TRIGGER ALL", "DROP TRIGGER audit_log_no_change ON audit_log",
            "DROP TABLE audit_log", "DELETE FROM alembic_version",
        ):
            with pytest.raises(sa.exc.ProgrammingError, match=r"permission denied|must be owner"), engine.begin() as c:
                c.exec_driver_sql(statement)
        assert _audit_rows(engine) == before
    capsys.readouterr()
    assert main(["db", "grant", "postgres", "--database-url", backend["database_url"]]) == 2
    assert "owns the tables" in capsys.readouterr().err  # the owner (here also a superuser) is refused


# ---- backup and restore ------------------------------------------------------------------------------


def _db_args(target: dict[str, Any]) -> list[str]:
    args = ["--data-dir", str(target["data_dir"])]
    if target["database_url"]:
        args += ["--database-url", target["database_url"]]
    return args


def _every_row(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        metadata = sa.MetaData()
        metadata.reflect(conn)
        return {
            name: [tuple(r) for r in conn.execute(sa.select(t).order_by(*t.primary_key.columns))]
            for name, t in metadata.tables.items()
        }


@pytest.fixture
def no_env_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SALPIMI_DATA_DIR", raising=False)


def _needs_pg_tools(backend: dict[str, Any]) -> None:
    if backend["name"] == "postgresql" and not (shutil.which("pg_dump") and shutil.which("pg_restore")):
        pytest.skip("pg_dump/pg_restore are not installed")


def test_backup_and_restore_keep_every_row_and_the_audit_chain(
    world: World, backend: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    no_env_database: None,
) -> None:
    _needs_pg_tools(backend)
    engine = world.client.app.state.engine  # type: ignore[attr-defined]
    _versions(engine, world.team_a, dt.date(2031, 2, 1), 2)
    world.get(f"/v1/households/{world.households_a['t-h1']}/private", "dispatcher_a")
    _settle(world.client)
    rows, manifest = _every_row(engine), summarise(engine)
    assert manifest.audit_entries > 0 and rows["plan"]
    file = tmp_path / "salpimi.backup"
    assert main(["db", "backup", str(file), *_db_args(backend)]) == 0
    assert file.is_file() and manifest_path(file).is_file()
    assert file.stat().st_mode & 0o077 == 0
    with fresh_database(backend, tmp_path) as target:
        capsys.readouterr()
        assert main(["db", "restore", str(file), *_db_args(target)]) == 0
        assert "restored" in capsys.readouterr().out
        restored = make_engine(make_settings(target))
        try:
            assert _every_row(restored) == rows
            again = summarise(restored)
            assert again.audit_chain == manifest.audit_chain and again.audit_entries == manifest.audit_entries
            assert again.same_data(manifest) == []
            # The guards came back with the data.
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), restored.begin() as conn:
                conn.exec_driver_sql("UPDATE audit_log SET detail = 'x'")
            with pytest.raises(sa.exc.IntegrityError), restored.begin() as conn:
                conn.execute(sa.text("UPDATE plan SET published = :t WHERE date = :d"),
                             {"t": True, "d": dt.date(2031, 2, 1)})
        finally:
            restored.dispose()


def test_restore_refuses_a_database_with_data_and_keeps_it_when_forced(
    world: World, backend: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    no_env_database: None,
) -> None:
    _needs_pg_tools(backend)
    engine = world.client.app.state.engine  # type: ignore[attr-defined]
    _settle(world.client)
    file = tmp_path / "b.backup"
    assert main(["db", "backup", str(file), *_db_args(backend)]) == 0
    backed_up = summarise(engine)
    with fresh_database(backend, tmp_path) as target:
        settings = make_settings(target)
        target_engine = make_engine(settings)
        try:
            upgrade(target_engine)
            with session_scope(target_engine) as session:  # the target holds data of its own
                audit(session, None, "create", "team", "tm_other", detail="precious")
            precious = _every_row(target_engine)
            capsys.readouterr()
            assert main(["db", "restore", str(file), *_db_args(target)]) == 2
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and "--force" in err[0]
            assert _every_row(target_engine) == precious
            assert main(["db", "restore", str(file), "--force", *_db_args(target)]) == 0
            assert summarise(target_engine).same_data(backed_up) == []
            (safety,) = [p for p in (target["data_dir"] / "backups").iterdir() if p.name.startswith("before-restore-")
                         and not p.name.endswith(".json")]
            with fresh_database(backend, tmp_path) as third:
                assert main(["db", "restore", str(safety), *_db_args(third)]) == 0
                third_engine = make_engine(make_settings(third))
                try:
                    assert _every_row(third_engine) == precious
                finally:
                    third_engine.dispose()
        finally:
            target_engine.dispose()


def test_backup_never_overwrites_and_restore_refuses_foreign_files(
    backend: dict[str, Any], client: TestClient, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    no_env_database: None,
) -> None:
    _needs_pg_tools(backend)
    existing = tmp_path / "existing.backup"
    existing.write_text("keep me", encoding="utf-8")
    capsys.readouterr()
    assert main(["db", "backup", str(existing), *_db_args(backend)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert existing.read_text(encoding="utf-8") == "keep me"
    if backend["name"] == "sqlite":
        live = Path(client.app.state.engine.url.database)  # type: ignore[attr-defined]
        size = live.stat().st_size
        assert main(["db", "backup", str(live), *_db_args(backend)]) == 2
        assert live.stat().st_size == size
    assert main(["db", "backup", str(tmp_path / "no" / "such" / "x.backup"), *_db_args(backend)]) == 2
    with fresh_database(backend, tmp_path) as target:
        capsys.readouterr()
        assert main(["db", "restore", str(existing), *_db_args(target)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert main(["db", "restore", str(tmp_path / "missing.backup"), *_db_args(target)]) == 2
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("fresh-")) == ["existing.backup"]
