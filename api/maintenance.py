"""Database maintenance: online backup and restore (SQLite, or pg_dump), and the service role's grants."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from .config import Settings

__all__ = [
    "MaintenanceError",
    "Manifest",
    "backup",
    "grant_service_role",
    "manifest_path",
    "restore",
    "summarise",
]

_ROLE = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_DUMP_TIMEOUT_S = 3600


class MaintenanceError(Exception):
    """A maintenance command cannot proceed; the message is one line for the user."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """What a database holds: rows and a digest per table, and the audit log's chain.

    ``audit_chain`` hashes the audit entries in the order they are read (time, then id), each
    hash covering the previous one, so it changes if any entry is lost, altered or reordered.
    """

    backend: str
    revision: str | None
    tables: dict[str, int] = field(default_factory=dict)
    digests: dict[str, str] = field(default_factory=dict)
    audit_entries: int = 0
    audit_chain: str = ""
    created_at: str = ""

    def __post_init__(self) -> None:
        if self.backend not in ("sqlite", "postgresql"):
            raise ValueError(f"backend: expected sqlite or postgresql, got {self.backend!r}")

    @property
    def rows(self) -> int:
        return sum(self.tables.values())

    def same_data(self, other: Manifest) -> list[str]:
        """The differences from ``other`` (empty when every row and the audit chain match)."""
        out = [
            f"table {name}: {self.tables.get(name, 0)} rows, expected {other.tables.get(name, 0)}"
            for name in sorted(set(self.tables) | set(other.tables))
            if self.tables.get(name) != other.tables.get(name)
        ]
        out += [
            f"table {name}: contents differ"
            for name in sorted(self.digests)
            if name in other.digests and self.digests[name] != other.digests[name]
            and self.tables.get(name) == other.tables.get(name)
        ]
        if self.audit_chain != other.audit_chain:
            out.append("audit log: chain differs")
        return out

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def manifest_path(backup_file: Path) -> Path:
    """The manifest written beside a backup: ``<file>.manifest.json``."""
    return backup_file.with_name(backup_file.name + ".manifest.json")


# ---- digests ---------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return bytes(value).hex()
    if isinstance(value, float):
        return repr(value)
    return value


def _line(values: Any) -> bytes:
    return json.dumps([_plain(v) for v in values], sort_keys=True, ensure_ascii=False, default=str).encode()


def summarise(engine: sa.Engine) -> Manifest:
    """Count and digest every table of ``engine``'s database (any revision: tables are reflected)."""
    with engine.connect() as conn:
        return _summarise(conn)


def _summarise(conn: sa.Connection) -> Manifest:
    from alembic.runtime.migration import MigrationContext

    tables: dict[str, int] = {}
    digests: dict[str, str] = {}
    chain, entries = "", 0
    metadata = sa.MetaData()
    metadata.reflect(conn)
    for name in sorted(metadata.tables):
        table = metadata.tables[name]
        order = list(table.primary_key.columns) or list(table.columns)
        h = hashlib.sha256()
        n = 0
        for row in conn.execute(sa.select(table).order_by(*order)):
            h.update(_line(row))
            h.update(b"\n")
            n += 1
        tables[name], digests[name] = n, h.hexdigest()
    if "audit_log" in metadata.tables:
        audit = metadata.tables["audit_log"]
        link = hashlib.sha256(b"salpimi audit log").hexdigest()
        for row in conn.execute(sa.select(audit).order_by(audit.c.at, audit.c.id)):
            link = hashlib.sha256(link.encode() + _line(row)).hexdigest()
            entries += 1
        chain = link
    return Manifest(
        backend=conn.dialect.name, revision=MigrationContext.configure(conn).get_current_revision(),
        tables=tables, digests=digests, audit_entries=entries, audit_chain=chain,
        created_at=dt.datetime.now(_seoul()).isoformat(timespec="seconds"),
    )


def _seoul() -> dt.tzinfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Seoul")


def _user_rows(manifest: Manifest) -> int:
    return sum(n for name, n in manifest.tables.items() if name != "alembic_version")


# ---- files -----------------------------------------------------------------------------------------


def _new_file(target: Path, *, protect: tuple[Path, ...] = ()) -> None:
    """``target`` may be created: a new file in an existing folder, not one of ``protect``."""
    if target.exists() or target.is_symlink():
        raise MaintenanceError(f"{target}: already exists; choose a new name (backups are never overwritten)")
    if not target.parent.is_dir():
        raise MaintenanceError(f"{target}: folder {target.parent} does not exist")
    resolved = target.resolve()
    for p in protect:
        if resolved == p.resolve():
            raise MaintenanceError(f"{target}: is the database itself")
    if manifest_path(target).exists():
        raise MaintenanceError(f"{manifest_path(target)}: already exists; choose a new name")


def _publish_file(tmp: Path, target: Path) -> None:
    """Give ``tmp`` the name ``target`` without ever replacing an existing file."""
    os.chmod(tmp, 0o600)
    try:
        os.link(tmp, target)  # fails if target appeared meanwhile: nothing is overwritten
    finally:
        tmp.unlink(missing_ok=True)


def _write_manifest(target: Path, manifest: Manifest) -> None:
    path = manifest_path(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(manifest.to_json(), fh, indent=1, sort_keys=True)
    _publish_file(Path(tmp), path)


def _read_manifest(source: Path) -> Manifest | None:
    path = manifest_path(source)
    if not path.is_file():
        return None
    try:
        return Manifest.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError, KeyError) as exc:
        raise MaintenanceError(f"{path}: not a backup manifest ({type(exc).__name__})") from None


def _sqlite_path(settings: Settings) -> Path:
    database = sa.engine.make_url(settings.resolved_database_url).database
    if not database or database == ":memory:":
        raise MaintenanceError("the database is in memory; nothing to back up")
    return Path(database)


def _safety_dir(settings: Settings) -> Path:
    folder = settings.data_dir / "backups"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _stamp() -> str:
    return dt.datetime.now(_seoul()).strftime("%Y%m%dT%H%M%S")


# ---- SQLite ----------------------------------------------------------------------------------------


def _sqlite_copy(source: Path, target: Path) -> None:
    """Online backup of ``source`` into the new file ``target`` (a single file, no WAL)."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
        dst = sqlite3.connect(tmp)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
            ok = dst.execute("PRAGMA integrity_check").fetchone()
        finally:
            dst.close()
            src.close()
        if not ok or ok[0] != "ok":
            raise MaintenanceError(f"{source}: the copy failed its integrity check")
        _publish_file(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _sqlite_engine(path: Path) -> sa.Engine:
    return sa.create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", poolclass=sa.pool.NullPool)


def _check_sqlite_backup(source: Path) -> Manifest:
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as conn:
            ok = conn.execute("PRAGMA integrity_check").fetchone()
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise MaintenanceError(f"{source}: not an SQLite database ({exc})") from None
    if not ok or ok[0] != "ok":
        raise MaintenanceError(f"{source}: fails SQLite's integrity check")
    if "alembic_version" not in names or "audit_log" not in names:
        raise MaintenanceError(f"{source}: not a Salpimi database (no alembic_version or audit_log table)")
    engine = _sqlite_engine(source)
    try:
        return summarise(engine)
    finally:
        engine.dispose()


# ---- PostgreSQL ------------------------------------------------------------------------------------


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise MaintenanceError(
            f"{name} not found: install the PostgreSQL client tools (the server's major version or newer)"
        )
    return path


def _pg_args(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """libpq connection arguments for ``settings``; the password travels in the environment only."""
    url = sa.engine.make_url(settings.resolved_database_url)
    env = dict(os.environ)
    args = ["--no-password"]
    if url.host:
        args.append(f"--host={url.host}")
    if url.port:
        args.append(f"--port={url.port}")
    if url.username:
        args.append(f"--username={url.username}")
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    for key, value in url.query.items():
        if key == "sslmode":
            env["PGSSLMODE"] = str(value)
    return args, env


def _pg_database(settings: Settings) -> str:
    name = sa.engine.make_url(settings.resolved_database_url).database
    if not name:
        raise MaintenanceError("the database URL names no database")
    return name


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=_DUMP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        raise MaintenanceError(f"{what}: gave up after {_DUMP_TIMEOUT_S} s") from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr or "").strip().splitlines() if line.strip()]
        raise MaintenanceError(f"{what} failed: {lines[0] if lines else f'exit status {done.returncode}'}")


def _pg_dump(settings: Settings, engine: sa.Engine, target: Path) -> Manifest:
    """``pg_dump`` into ``target``; the manifest is taken from the very snapshot the dump reads."""
    args, env = _pg_args(settings)
    tool = _pg_tool("pg_dump")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            snapshot: str = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
            manifest = _summarise(conn)
            _run([tool, *args, "--format=custom", f"--snapshot={snapshot}", f"--file={tmp}",
                  f"--dbname={_pg_database(settings)}"], env, "pg_dump")
        _publish_file(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return manifest


def _pg_restore(settings: Settings, source: Path) -> None:
    args, env = _pg_args(settings)
    _run([_pg_tool("pg_restore"), *args, "--list", str(source)], env, f"{source.name}: pg_restore --list")
    _run(
        [_pg_tool("pg_restore"), *args, "--clean", "--if-exists", "--no-owner", "--no-privileges",
         "--single-transaction", "--exit-on-error", f"--dbname={_pg_database(settings)}", str(source)],
        env, "pg_restore",
    )


# ---- the commands ----------------------------------------------------------------------------------


def backup(settings: Settings, engine: sa.Engine, target: Path) -> Manifest:
    """Write a consistent copy of the live database to the new file ``target``, and its manifest.

    SQLite: SQLite's online backup (the service may keep running).  PostgreSQL: ``pg_dump``
    in its custom format.  ``target`` is never overwritten; the manifest
    (``<target>.manifest.json``) records rows and digests per table and the audit chain, and
    :func:`restore` checks the restored database against it.
    """
    if engine.dialect.name == "sqlite":
        db = _sqlite_path(settings)
        if not db.is_file():
            raise MaintenanceError(f"no database at {db}")
        _new_file(target, protect=(db, Path(f"{db}-wal"), Path(f"{db}-shm")))
        _sqlite_copy(db, target)
        copy = _sqlite_engine(target)
        try:
            manifest = summarise(copy)
        finally:
            copy.dispose()
    elif engine.dialect.name == "postgresql":
        _new_file(target)
        manifest = _pg_dump(settings, engine, target)
    else:
        raise MaintenanceError(f"backups of {engine.dialect.name} databases are not supported")
    _write_manifest(target, manifest)
    return manifest


def restore(
    settings: Settings, engine: sa.Engine, source: Path, *, force: bool = False
) -> tuple[Manifest, Path | None]:
    """Replace the database's contents with the backup ``source``, then migrate it to head.

    Refuses a database that holds data unless ``force``; then the current contents are first
    backed up to ``<data dir>/backups/before-restore-<time>``, whose path is returned.  The
    restored rows are checked against the backup's manifest when there is one.
    """
    from .db import upgrade

    if not source.is_file():
        raise MaintenanceError(f"{source}: no such file")
    expected = _read_manifest(source)
    current = _current(engine)
    if current is not None and _user_rows(current) and not force:
        raise MaintenanceError(
            f"the database holds {_user_rows(current)} rows; add --force to replace them "
            f"(they are first backed up to {settings.data_dir / 'backups'})"
        )
    safety: Path | None = None
    if engine.dialect.name == "sqlite":
        if source.resolve() == _sqlite_path(settings).resolve():
            raise MaintenanceError(f"{source}: is the database itself")
        found = _check_sqlite_backup(source)
        _check(found, expected, source)
        if current is not None and _user_rows(current):
            safety = _safety_dir(settings) / f"before-restore-{_stamp()}.db"
            backup(settings, engine, safety)
        db = _sqlite_path(settings)
        if not db.exists():
            db.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.close(os.open(db, os.O_CREAT | os.O_WRONLY, 0o600))
        engine.dispose()
        src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
        dst = sqlite3.connect(db, timeout=30)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=WAL")
        except sqlite3.Error as exc:
            raise MaintenanceError(f"restore into {db} failed ({exc}); the previous contents: {safety}") from None
        finally:
            dst.close()
            src.close()
        restored = summarise(engine)
        _check(restored, found, source)
    elif engine.dialect.name == "postgresql":
        if current is not None and _user_rows(current):
            safety = _safety_dir(settings) / f"before-restore-{_stamp()}.dump"
            backup(settings, engine, safety)
        engine.dispose()
        _pg_restore(settings, source)
        restored = summarise(engine)
        _check(restored, expected, source)
    else:
        raise MaintenanceError(f"restoring {engine.dialect.name} databases is not supported")
    upgrade(engine)
    return restored, safety


def _current(engine: sa.Engine) -> Manifest | None:
    try:
        return summarise(engine)
    except sa.exc.OperationalError as exc:
        first = str(exc.orig if exc.orig is not None else exc).strip().splitlines()[0]
        raise MaintenanceError(f"database: cannot connect ({first})") from None


def _check(found: Manifest, expected: Manifest | None, source: Path) -> None:
    if expected is None:
        return
    diffs = found.same_data(expected)
    if diffs:
        raise MaintenanceError(f"{source}: does not match its manifest ({'; '.join(diffs[:3])})")


def grant_service_role(engine: sa.Engine, role: str) -> None:
    """Give the service's PostgreSQL role what it needs and no more (run as the tables' owner).

    Every table: SELECT, INSERT, UPDATE, DELETE; ``audit_log``: SELECT and INSERT only;
    ``alembic_version``: SELECT only.  Never TRUNCATE, never ownership, so the role can neither
    change nor empty the audit log nor disable its triggers.  Run again after ``db upgrade``.
    """
    if engine.dialect.name != "postgresql":
        raise MaintenanceError("db grant is for PostgreSQL (SQLite has no roles)")
    if not _ROLE.fullmatch(role):
        raise MaintenanceError(f"role {role!r}: use lower-case letters, digits and '_'")
    with engine.begin() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
        if exists is None:
            raise MaintenanceError(f"role {role!r} does not exist; CREATE ROLE {role} LOGIN PASSWORD '…' first")
        owner = conn.execute(
            sa.text("SELECT tableowner FROM pg_tables WHERE tablename = 'audit_log' AND schemaname = current_schema()")
        ).scalar()
        if owner is None:
            raise MaintenanceError("no audit_log table here; run `salpimi db upgrade` first")
        if owner == role:
            raise MaintenanceError(f"role {role!r} owns the tables; the service needs a role of its own")
        super_ = conn.execute(sa.text("SELECT rolsuper FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
        if super_:
            raise MaintenanceError(f"role {role!r} is a superuser; the service needs an ordinary role")
        for statement in (
            f'GRANT USAGE ON SCHEMA "{_schema(conn)}" TO "{role}"',
            f'REVOKE ALL ON ALL TABLES IN SCHEMA "{_schema(conn)}" FROM "{role}"',
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "{_schema(conn)}" TO "{role}"',
            f'REVOKE INSERT, UPDATE, DELETE ON alembic_version FROM "{role}"',
            f'REVOKE UPDATE, DELETE ON audit_log FROM "{role}"',
            f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA "{_schema(conn)}" TO "{role}"',
        ):
            conn.exec_driver_sql(statement)


def _schema(conn: sa.Connection) -> str:
    name = conn.execute(sa.text("SELECT current_schema()")).scalar()
    if not isinstance(name, str) or '"' in name:
        raise MaintenanceError(f"unexpected schema {name!r}")
    return name
