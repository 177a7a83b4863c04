"""Database engine (SQLite with WAL and a busy timeout, or PostgreSQL) and Alembic migrations."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import Session

from .config import Settings

__all__ = ["current_revision", "downgrade", "head_revision", "make_engine", "migrating", "session_scope", "upgrade"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _private_sqlite_file(url: str) -> None:
    """Create the SQLite file 0600 (SQLite gives its -wal and -shm the database's mode) and
    tighten an existing one and its -wal/-shm to 0600."""
    database = sa.engine.make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for candidate in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        with contextlib.suppress(FileNotFoundError):
            if candidate.stat().st_mode & 0o077:
                candidate.chmod(0o600)


def make_engine(settings: Settings, *, pool_size: int | None = None, max_overflow: int | None = None) -> sa.Engine:
    """Create the engine for ``settings``; SQLite lives in ``settings.data_dir``.

    The pool keeps ``pool_size`` connections (default ``settings.pool_size``, which covers the
    requests admitted at once) plus ``max_overflow``; background writers (job progress, the
    audit writer) get their own small engines so that busy requests never starve them.

    Statement parameters are never shown in logs or exception messages (``hide_parameters``):
    they hold names, contacts, health notes and coordinates.
    """
    url = settings.resolved_database_url
    pool: dict[str, Any] = {
        "pool_size": settings.pool_size if pool_size is None else pool_size,
        "max_overflow": settings.db_max_overflow if max_overflow is None else max_overflow,
        "pool_timeout": settings.db_pool_timeout_s,
    }
    if url.startswith("sqlite"):
        if not settings.database_url:
            settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _private_sqlite_file(url)
        engine = sa.create_engine(
            # A file connection cannot go stale: no ping before every checkout.
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_pre_ping=False,
            hide_parameters=True, **({} if sa.engine.make_url(url).database in (None, "", ":memory:") else pool),
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, hide_parameters=True, **pool)


def _alembic_config(connection: sa.Connection) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


@contextmanager
def migrating(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a transaction for Alembic, committed when the block ends.

    On SQLite, foreign keys are off while it runs: batch mode rebuilds a table (copy, drop, rename), and with
    keys on the DROP first deletes the rows of it that other tables reference, which fails as soon as they
    hold data (0003 rebuilt ``user`` under API keys).  SQLite's documented recipe: keys off for the rebuild
    (the pragma is ignored inside a transaction, so it is set before and reset after), and
    ``PRAGMA foreign_key_check`` before the commit, which refuses a migration that left a dangling reference.
    """
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            conn.commit()
        try:
            with conn.begin():
                yield conn
                if sqlite:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        tables = sorted({str(row[0]) for row in broken})
                        raise RuntimeError(f"the migration left {len(broken)} rows referring to nothing in {tables}")
        finally:
            if sqlite:
                conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                conn.commit()


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Run Alembic migrations up to ``revision`` on ``engine``."""
    with migrating(engine) as conn:
        command.upgrade(_alembic_config(conn), revision)


def downgrade(engine: sa.Engine, revision: str) -> None:
    """Run Alembic migrations down to ``revision`` on ``engine`` (the tables newer revisions added go with them)."""
    with migrating(engine) as conn:
        command.downgrade(_alembic_config(conn), revision)


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(cfg).get_current_head()


@contextmanager
def session_scope(engine: sa.Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
