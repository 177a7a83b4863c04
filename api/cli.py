"""`salpimi serve`, `salpimi db upgrade`, `salpimi load FIXTURE` and `salpimi user add|key|deactivate|activate`.

``register(subparsers)`` adds the commands to the planner's argparse CLI; every handler is
``fn(args) -> int`` and reports bad input as one line on stderr with exit status 2.  ``main`` is the
``salpimi`` entry point: the planner's commands and these on one parser, composed here where both
halves are visible (the planner never reaches for this package).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from planner import cli as planner_cli
from planner.io import parse_json_text

__all__ = ["main", "register"]

DEMO_FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "problems" / "gwanak.json"


class _BadInput(Exception):
    """A one-line message for the user; exit status 2."""


# Top-level modules of the ``api`` extra (pyproject.toml) and what they pull in.  This module imports
# only the standard library and the planner, so a planner-only install still runs ``salpimi``; the
# service's commands then refuse in one line instead of a traceback.
_API_EXTRA = frozenset({
    "alembic", "anyio", "fastapi", "icalendar", "jwt", "multipart", "psycopg", "pydantic", "pydantic_settings",
    "python_multipart", "sqlalchemy", "sqlmodel", "sse_starlette", "starlette", "uvicorn",
})


def _settings(args: argparse.Namespace, **extra: Any) -> Any:
    from .config import Settings

    try:
        return Settings.from_env(
            data_dir=Path(args.data_dir) if getattr(args, "data_dir", None) else None,
            database_url=getattr(args, "database_url", None),
            **extra,
        )
    except ValueError as exc:
        raise _BadInput(str(exc)) from None


def _engine(settings: Any) -> Any:
    from .db import make_engine

    try:
        return make_engine(settings)
    except Exception as exc:  # bad URL, missing driver...
        raise _BadInput(f"database: {type(exc).__name__}: {exc}") from None


def _migrate(engine: Any) -> str | None:
    import sqlalchemy as sa

    from .db import current_revision, upgrade

    try:
        upgrade(engine)
    except sa.exc.OperationalError as exc:
        first = str(exc.orig if exc.orig is not None else exc).strip().splitlines()[0]
        raise _BadInput(f"database: cannot connect ({first})") from None
    except sa.exc.ProgrammingError as exc:  # a service role without DDL rights, database not at head
        first = str(exc.orig if exc.orig is not None else exc).strip().splitlines()[0]
        raise _BadInput(
            f"database: cannot migrate ({first}); run `salpimi db upgrade` as the tables' owner"
        ) from None
    return current_revision(engine)


def _risk_model() -> Any:
    from planner import RiskModel

    return RiskModel.default()


def _read_problem(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise _BadInput(f"fixture {p}: no such file")
    try:
        data = parse_json_text(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:  # also 5,000-digit numbers, deep nesting, a key named twice
        raise _BadInput(f"fixture {p}: not a usable JSON file ({str(exc)[:200]})") from None
    if not isinstance(data, dict):
        raise _BadInput(f"fixture {p}: expected a JSON object (a planner problem)")
    return data


def _load(engine: Any, path: str, *, name: str | None) -> tuple[Any, int, int, int]:
    from .db import session_scope
    from .services.loading import load_problem_data

    data = _read_problem(path)
    try:
        with session_scope(engine) as session:
            team, workers, households, visits = load_problem_data(
                session, data, risk_model=_risk_model(), team_name=name or data.get("name") or Path(path).stem
            )
    except (ValueError, TypeError, KeyError) as exc:
        raise _BadInput(f"fixture {path}: {exc}") from None
    return team, workers, households, visits


# ---- handlers --------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    settings = _settings(args)
    revision = _migrate(_engine(settings))
    print(f"database {_describe(settings)} is at revision {revision}")
    return 0


def _summary_line(manifest: Any) -> str:
    return (f"{len(manifest.tables)} tables, {manifest.rows} rows, {manifest.audit_entries} audit entries "
            f"(audit chain {manifest.audit_chain[:12]}…), revision {manifest.revision}")


def cmd_db_backup(args: argparse.Namespace) -> int:
    """``db backup FILE``: a consistent copy of the live database, never overwriting a file."""
    from .maintenance import MaintenanceError, backup, manifest_path

    settings = _settings(args)
    engine = _engine(settings)
    target = Path(args.file)
    try:
        manifest = backup(settings, engine, target)
    except MaintenanceError as exc:
        raise _BadInput(str(exc)) from None
    finally:
        engine.dispose()
    print(f"backup written to {target}: {_summary_line(manifest)}")
    print(f"  manifest: {manifest_path(target)}")
    return 0


def cmd_db_restore(args: argparse.Namespace) -> int:
    """``db restore FILE [--force]``: replace the database's contents with a backup, then migrate."""
    from .maintenance import MaintenanceError, restore

    settings = _settings(args)
    engine = _engine(settings)
    try:
        manifest, safety = restore(settings, engine, Path(args.file), force=args.force)
    except MaintenanceError as exc:
        raise _BadInput(str(exc)) from None
    finally:
        engine.dispose()
    if safety is not None:
        print(f"the previous contents were backed up to {safety}")
    print(f"restored {args.file} into {_describe(settings)}: {_summary_line(manifest)}")
    return 0


def cmd_db_grant(args: argparse.Namespace) -> int:
    """``db grant ROLE``: the service role may read and write, and only append to the audit log."""
    from .maintenance import MaintenanceError, grant_service_role

    settings = _settings(args)
    engine = _engine(settings)
    _migrate(engine)
    try:
        grant_service_role(engine, args.role)
    except MaintenanceError as exc:
        raise _BadInput(str(exc)) from None
    finally:
        engine.dispose()
    print(f"role {args.role} may now run the service on {_describe(settings)} "
          "(audit_log: SELECT and INSERT only; no TRUNCATE, no ownership)")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    settings = _settings(args)
    engine = _engine(settings)
    _migrate(engine)
    team, workers, households, visits = _load(engine, args.fixture, name=args.name)
    print(
        f"loaded team {team.id} ({team.name}): {workers} workers, {households} households, "
        f"{visits} visit requests"
    )
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from .db import session_scope
    from .errors import ApiError
    from .models import UserRole
    from .services.users import create_api_key, ensure_user

    settings = _settings(args)
    engine = _engine(settings)
    _migrate(engine)
    password = args.password or secrets.token_urlsafe(12)
    try:
        with session_scope(engine) as session:
            user, created = ensure_user(
                session, username=args.username, role=UserRole(args.role), password=password,
                team_id=args.team, worker_id=args.worker,
            )
            if not created:
                raise _BadInput(f"user {args.username!r} already exists")
            key = (
                create_api_key(session, user, "cli", ttl_days=settings.api_key_ttl_days)[1]
                if args.api_key else None
            )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _BadInput(f"{'.'.join(map(str, first['loc'])) or 'user'}: {first['msg']}") from None
    except ApiError as exc:
        raise _BadInput(exc.detail) from None
    print(f"created {args.role} {args.username} ({user.id})")
    if not args.password:
        print(f"  password: {password}")
    if key:
        print(f"  API key:  {key}")
    return 0


def _existing_user(session: Any, username: str) -> Any:
    from . import crud

    user = crud.user_by_username(session, username)
    if user is None:
        raise _BadInput(f"user {username!r} does not exist")
    return user


def cmd_user_key(args: argparse.Namespace) -> int:
    """The operator mints a key for any account (the API lets users mint keys only for themselves)."""
    from .db import session_scope
    from .services.audit import audit
    from .services.users import create_api_key

    settings = _settings(args)
    if args.days is not None and not 1 <= args.days <= 365:
        raise _BadInput(f"--days: must lie in 1..365, got {args.days}")
    engine = _engine(settings)
    _migrate(engine)
    with session_scope(engine) as session:
        user = _existing_user(session, args.username)
        if not user.active:
            raise _BadInput(f"user {args.username!r} is deactivated; `salpimi user activate` first")
        row, key = create_api_key(session, user, args.name, ttl_days=args.days or settings.api_key_ttl_days)
        audit(session, None, "create", "api_key", row.id, team_id=user.team_id, detail=f"user={user.id} via=cli")
        expires = row.expires_at.date().isoformat() if row.expires_at else "never"
    print(f"API key {row.id} for {args.username} (expires {expires}): {key}")
    return 0


def _cmd_set_active(args: argparse.Namespace, active: bool) -> int:
    from .db import session_scope
    from .services.audit import audit
    from .services.users import set_user_active

    settings = _settings(args)
    engine = _engine(settings)
    _migrate(engine)
    with session_scope(engine) as session:
        user = _existing_user(session, args.username)
        set_user_active(session, user, active)
        audit(session, None, "activate" if active else "deactivate", "user", user.id, team_id=user.team_id,
              detail="via=cli")
    if active:
        print(f"activated {args.username}; earlier tokens and keys stay revoked")
    else:
        print(f"deactivated {args.username}: tokens and API keys stopped working")
    return 0


def cmd_user_deactivate(args: argparse.Namespace) -> int:
    return _cmd_set_active(args, False)


def cmd_user_activate(args: argparse.Namespace) -> int:
    return _cmd_set_active(args, True)


def _describe(settings: Any) -> str:
    url = settings.resolved_database_url
    if "@" in url:  # hide credentials
        scheme, rest = url.split("://", 1)
        url = f"{scheme}://…@{rest.split('@', 1)[1]}"
    return url


def _read_demo_credentials(path: Path) -> dict[str, dict[str, str]]:
    """``{username: {"password", "api_key"}}`` kept by earlier demo runs (older files: ``{username: password}``)."""
    if not path.is_file():
        return {}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _BadInput(f"{path}: not a JSON file; delete it to start the demo afresh") from None
    out: dict[str, dict[str, str]] = {}
    for name, value in (raw.items() if isinstance(raw, dict) else []):
        if isinstance(value, str):
            out[str(name)] = {"password": value}
        elif isinstance(value, dict):
            out[str(name)] = {k: v for k, v in value.items() if k in ("password", "api_key") and isinstance(v, str)}
    return out


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path``, readable by its owner only (0600 in a 0700 directory)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    path.chmod(0o600)


def _demo_day(session: Any, team_id: str, data: dict[str, Any]) -> str:
    """The day the demo plans: the fixture's, else the team's first open visit requests', else today."""
    import datetime as dt

    from . import crud
    from .mappers import today_seoul

    try:
        return dt.date.fromisoformat(str(data["date"])).isoformat()
    except (KeyError, ValueError):
        pass
    first, _ = crud.list_visit_requests(session, team_id, statuses=("open",), limit=1)
    return (first[0].date if first else today_seoul()).isoformat()


def _demo(engine: Any, settings: Any, fixture: str, host: str, port: int) -> None:
    from . import crud
    from .db import session_scope
    from .models import Team, UserRole
    from .services.access import principal_from_api_key
    from .services.loading import first_field_worker
    from .services.users import create_api_key, ensure_user

    data = _read_problem(fixture)
    demo_name = str(data.get("name") or Path(fixture).stem)
    with session_scope(engine) as session:
        found = crud.first_team_named(session, demo_name)
        demo_team_id = found.id if found is not None else None
    if demo_team_id is None:
        team, workers, households, visits = _load(engine, fixture, name=None)
        demo_team_id = team.id
        print(f"loaded {fixture}: team {team.id}, {workers} workers, {households} households, "
              f"{visits} visit requests")
    creds_path = settings.data_dir / "demo-credentials.json"
    lines = []
    with session_scope(engine) as session:
        team = crud.get(session, Team, demo_team_id)
        assert team is not None
        nurse = first_field_worker(session, team.id)
        people: list[tuple[str, UserRole, str | None, str | None]] = [
            ("manager", UserRole.MANAGER, None, None), ("dispatcher", UserRole.DISPATCHER, team.id, None),
        ]
        if nurse is not None:
            people.append(("nurse", UserRole.FIELD_WORKER, team.id, nurse.id))
        stored = _read_demo_credentials(creds_path)
        for username, role, team_id, worker_id in people:
            entry = stored.setdefault(username, {})
            password = entry.get("password") or secrets.token_urlsafe(9)
            user, created = ensure_user(
                session, username=username, role=role, password=password, team_id=team_id,
                worker_id=worker_id,
            )
            if created:
                entry["password"] = password
            # Reuse the stored key while it works: restarts do not pile up keys.
            key = entry.get("api_key") or ""
            current = principal_from_api_key(session, key) if key else None
            if not user.active:
                key = "(user deactivated)"
            elif current is None or current.user_id != user.id:
                _row, key = create_api_key(session, user, "demo", ttl_days=settings.api_key_ttl_days)
                entry["api_key"] = key
            lines.append((username, role.value, entry.get("password", "(set earlier)"), key))
        _write_private(creds_path, json.dumps(stored, indent=2))
        team_id, team_name = team.id, team.name
        day = _demo_day(session, team.id, data)
    base = f"http://{host}:{port}"
    print(f"\nSalpimi demo: team {team_name} ({team_id}), day {day}")
    print(f"  Web page:  {base}/?date={day}   (sign in as dispatcher, nurse or manager)")
    print(f"  API docs:  {base}/docs")
    print(f"  Teams:     {base}/v1/teams")
    print("  Users (password, and an API key for the X-API-Key header):")
    for username, role_name, password, key in lines:
        print(f"    {username:<10} {role_name:<12} password {password}  key {key}")
    print("  Try:")
    print(f"    curl -s -H 'X-API-Key: <dispatcher key>' -X POST {base}/v1/plan-jobs \\")
    print(f"         -H 'content-type: application/json' "
          f"-d '{{\"team_id\": \"{team_id}\", \"date\": \"{day}\", \"time_limit_s\": 10}}'")
    print(f"  Credentials are kept in {creds_path}\n")


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .main import create_app

    if not (0 < args.port < 65536):
        raise _BadInput(f"--port: {args.port} is not a TCP port")
    if args.workers is not None and args.workers < 1:
        raise _BadInput(f"--workers: must be at least 1, got {args.workers}")
    settings = _settings(args, max_workers=args.workers, network=args.network)
    if settings.network:
        from planner import road_network

        try:
            road_network(settings.network, data_dir=settings.data_dir)
        except ValueError as exc:
            raise _BadInput(f"--network: {exc}") from None
        print(f"travel: road network {settings.network}")
    else:
        print("travel: straight-line estimates (use --network NAME for streets)")
    engine = _engine(settings)
    revision = _migrate(engine)
    print(f"database {_describe(settings)} at revision {revision}")
    if args.demo:
        fixture = args.fixture or str(DEMO_FIXTURE)
        if not Path(fixture).is_file():
            raise _BadInput(f"--demo: fixture {fixture} not found (run from the project root)")
        _demo(engine, settings, fixture, args.host, args.port)
    engine.dispose()
    config = uvicorn.Config(create_app(settings), host=args.host, port=args.port, log_level=args.log_level)
    logs_back = _logs_off_the_loop()  # uvicorn configured its logging in Config()

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises a captured SIGTERM/SIGINT when this context exits, which ends the process at
            # once: the queued log lines (the last requests, "Finished server process") are written first.
            with super().capture_signals():
                try:
                    yield
                finally:
                    logs_back()

    server = Server(config)
    try:
        server.run()
    finally:
        logs_back()  # also when the server never got to its signals (it could not start, or a caller's run)
    return 0 if server.started else 3  # 3: uvicorn's "could not start" (the port taken, say)


def _logs_off_the_loop() -> Callable[[], None]:
    """uvicorn's log lines (one per request) go through a queue to a thread that writes them: a write in
    the event loop releases the GIL, and under load getting it back from busy worker threads took
    milliseconds per request (a third of the loop's time in the load bench's mixed phase).  Returns the
    call (idempotent) that writes what is queued, stops the threads and gives the loggers their handlers back."""
    import logging
    import logging.handlers
    import queue

    class _AsIs(logging.handlers.QueueHandler):
        def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
            return record  # formatted by the writing thread's handlers, which need the record's args

    moved: list[tuple[logging.Logger, logging.Handler, list[logging.Handler], Any]] = []
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        handlers = list(logger.handlers)
        if not handlers:
            continue  # it propagates to one that has them
        lines: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for handler in handlers:
            logger.removeHandler(handler)
        into = _AsIs(lines)
        logger.addHandler(into)
        moved.append((logger, into, handlers, logging.handlers.QueueListener(lines, *handlers,
                                                                            respect_handler_level=True)))
    for *_, listener in moved:
        listener.start()

    def back() -> None:
        while moved:
            logger, into, handlers, listener = moved.pop()
            listener.stop()
            logger.removeHandler(into)
            for handler in handlers:
                logger.addHandler(handler)

    return back


# ---- wiring ----------------------------------------------------------------------------------


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", help="data directory for SQLite and keys (default $SALPIMI_DATA_DIR or ./data)")
    p.add_argument(
        "--database-url",
        help="SQLAlchemy URL, e.g. postgresql://user@host/db (default $DATABASE_URL, else SQLite)",
    )


def _guard(fn: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(fn(args))
        except _BadInput as exc:
            print(f"salpimi: {exc}", file=sys.stderr)
            return 2
        except ModuleNotFoundError as exc:
            missing = (exc.name or "").partition(".")[0]
            if missing not in _API_EXTRA:
                raise
            print(f"salpimi {args.command}: the service needs the api extra: pip install 'salpimi[api]' "
                  f"({missing} is not installed)", file=sys.stderr)
            return 2

    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def register(subparsers: Any) -> None:
    """Add ``serve``, ``db``, ``load`` and ``user`` to an argparse subparsers object."""
    serve = subparsers.add_parser("serve", help="run the HTTP API (migrates first)")
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=None, help="solver processes at once (default 2)")
    serve.add_argument("--network", default=None,
                       help="road network imported with `salpimi network import` (default $SALPIMI_NETWORK; "
                            "none: straight-line estimates)")
    serve.add_argument("--demo", action="store_true",
                       help="load the Gwanak fixture if the database is empty, create demo users and keys")
    serve.add_argument("--fixture", help=f"problem file for --demo (default {DEMO_FIXTURE})")
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    serve.set_defaults(func=_guard(cmd_serve))

    db = subparsers.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="run migrations to the latest revision")
    _common(up)
    up.set_defaults(func=_guard(cmd_db_upgrade))
    bk = db_sub.add_parser("backup", help="copy the live database to a new file (SQLite online backup; pg_dump)")
    _common(bk)
    bk.add_argument("file", metavar="FILE", help="a new file (never overwritten); a FILE.manifest.json goes beside it")
    bk.set_defaults(func=_guard(cmd_db_backup))
    rs = db_sub.add_parser("restore", help="replace the database's contents with a backup, then migrate")
    _common(rs)
    rs.add_argument("file", metavar="FILE", help="a file written by `salpimi db backup`")
    rs.add_argument("--force", action="store_true",
                    help="replace a database that holds data (its contents are first backed up to DATA_DIR/backups)")
    rs.set_defaults(func=_guard(cmd_db_restore))
    gr = db_sub.add_parser("grant", help="PostgreSQL: let ROLE run the service without owning the tables")
    _common(gr)
    gr.add_argument("role", metavar="ROLE", help="an existing login role that does not own the tables")
    gr.set_defaults(func=_guard(cmd_db_grant))

    load = subparsers.add_parser("load", help="load a problem file (fixtures/problems/*.json) as a team")
    _common(load)
    load.add_argument("fixture", metavar="FIXTURE", help="problem JSON (planner.io format)")
    load.add_argument("--name", help="team name (default: the problem's name)")
    load.set_defaults(func=_guard(cmd_load))

    user = subparsers.add_parser("user", help="user accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create a user (prints a generated password)")
    _common(add)
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["dispatcher", "field_worker", "manager"])
    add.add_argument("--team", help="team id (dispatchers and field workers)")
    add.add_argument("--worker", help="worker id (field workers)")
    add.add_argument("--password", help="default: generated and printed")
    add.add_argument("--api-key", action="store_true", help="also create and print an API key")
    add.set_defaults(func=_guard(cmd_user_add))
    key = user_sub.add_parser("key", help="create an API key for a user (printed once)")
    _common(key)
    key.add_argument("username")
    key.add_argument("--name", default="cli", help="a label for the key")
    key.add_argument("--days", type=int, default=None, help="lifetime (default $SALPIMI_API_KEY_TTL_DAYS or 90)")
    key.set_defaults(func=_guard(cmd_user_key))
    for verb, fn, what in (("deactivate", cmd_user_deactivate, "stop a user's sign-in, tokens and API keys at once"),
                           ("activate", cmd_user_activate, "let a deactivated user sign in again")):
        sub = user_sub.add_parser(verb, help=what)
        _common(sub)
        sub.add_argument("username")
        sub.set_defaults(func=_guard(fn))


def main(argv: Sequence[str] | None = None) -> int:
    """The ``salpimi`` command: plan, check, schema and network (the planner's), serve, db, load and user."""
    return planner_cli.main(argv, parser=planner_cli.build_parser(register))


if __name__ == "__main__":
    sys.exit(main())
