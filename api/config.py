"""Service settings: a frozen dataclass read from the environment once, then injected."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = ["Settings"]

#: ``public_base_url``: a scheme, a host (and port), an optional path; no query, fragment or final slash.
_BASE_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)*")


def _float_env(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name}: expected a number, got {raw!r}") from None


def _int_env(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name}: expected an integer, got {raw!r}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Everything the service needs to start; no module-level state anywhere else.

    Parameters
    ----------
    data_dir
        Directory for the embedded SQLite database and the signing key
        (``$SALPIMI_DATA_DIR``, default ``./data``).
    database_url
        SQLAlchemy URL; ``None`` means SQLite in ``data_dir`` (``$DATABASE_URL``).
    max_workers
        Solver processes running at once (``$SALPIMI_MAX_WORKERS``).
    max_body_bytes
        Request bodies above this get 413 (``$SALPIMI_MAX_BODY_BYTES``, default 5 MB).
    max_csv_bytes
        CSV uploads above this get 413 (``$SALPIMI_MAX_CSV_BYTES``, default 2 MB).
    secret_key
        JWT signing key (``$SALPIMI_SECRET_KEY``); ``None`` keeps a random key in
        ``data_dir/secret.key``.
    token_ttl_s
        Lifetime of access tokens.
    api_key_ttl_days
        Default lifetime of new API keys (``$SALPIMI_API_KEY_TTL_DAYS``, default 90; at most 365).
    signin_window_s, signin_account_failures, signin_address_failures
        Sign-in rate limit: at most this many failed sign-ins per account and per client
        address within the sliding window, then 429 until the oldest falls out
        (``$SALPIMI_SIGNIN_WINDOW_S``, ``$SALPIMI_SIGNIN_ACCOUNT_FAILURES``,
        ``$SALPIMI_SIGNIN_ADDRESS_FAILURES``; defaults 900 s, 5, 30).
    auto_migrate
        Run Alembic migrations to head when the app starts.
    max_time_limit_s
        Upper bound of a plan job's ``time_limit_s``.
    network
        Name of a road network imported with ``salpimi network import`` (``$SALPIMI_NETWORK``);
        ``None`` plans with straight-line estimates.
    public_base_url
        Where clients reach the service, e.g. ``https://salpimi.example.go.kr``
        (``$SALPIMI_PUBLIC_BASE_URL``): the base of calendar feed URLs and of the links inside
        feeds; ``None`` uses the address each request came to.
    threads
        Worker threads for the sync endpoints (``$SALPIMI_THREADS``, default 40; anyio's limiter).
    max_in_flight
        Requests handled at once (``$SALPIMI_MAX_IN_FLIGHT``, default 32); more wait in a queue.
    queue_timeout_s, max_queued
        A request that waited this long for a slot, or found ``max_queued`` already waiting, gets
        503 with ``Retry-After`` (``$SALPIMI_QUEUE_TIMEOUT_S``, ``$SALPIMI_MAX_QUEUED``; 2 s, 2000).
    db_pool_size, db_max_overflow, db_pool_timeout_s
        Database connections kept and extra ones allowed (``$SALPIMI_DB_POOL_SIZE``, default
        ``max_in_flight + 8``; ``$SALPIMI_DB_MAX_OVERFLOW``, 8); a request holds one connection
        from its first query to its end, so the pool must cover ``max_in_flight``. Waiting longer
        than ``db_pool_timeout_s`` for a connection answers 503.
    solver_nice
        Niceness of the solver processes (``$SALPIMI_SOLVER_NICE``, 0-19, default 10): requests
        are answered first when both want the CPU; a solve still stops on its time limit.
    """

    data_dir: Path = Path("data")
    database_url: str | None = None
    max_workers: int = 2
    max_body_bytes: int = 5 * 1024 * 1024
    max_csv_bytes: int = 2 * 1024 * 1024
    secret_key: str | None = None
    token_ttl_s: int = 8 * 3600
    api_key_ttl_days: int = 90
    signin_window_s: int = 900
    signin_account_failures: int = 5
    signin_address_failures: int = 30
    auto_migrate: bool = True
    max_time_limit_s: int = 600
    job_grace_s: float = 30.0
    risk_toml: Path | None = None
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    network: str | None = None
    public_base_url: str | None = None
    threads: int = 40
    max_in_flight: int = 32
    queue_timeout_s: float = 2.0
    max_queued: int = 2000
    db_pool_size: int | None = None
    db_max_overflow: int = 8
    db_pool_timeout_s: float = 10.0
    solver_nice: int = 10

    def __post_init__(self) -> None:
        if self.max_workers < 1:
            raise ValueError(f"max_workers: must be at least 1, got {self.max_workers}")
        if self.max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes: must be at least 1024, got {self.max_body_bytes}")
        if self.max_csv_bytes < 1:
            raise ValueError(f"max_csv_bytes: must be positive, got {self.max_csv_bytes}")
        for name in ("threads", "max_in_flight", "max_queued"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if not 0 < self.queue_timeout_s <= 600:
            raise ValueError(f"queue_timeout_s: must lie in (0, 600], got {self.queue_timeout_s}")
        if self.db_max_overflow < 0 or not 0 < self.db_pool_timeout_s <= 600:
            raise ValueError(
                f"db_max_overflow/db_pool_timeout_s: got {self.db_max_overflow}/{self.db_pool_timeout_s}"
            )
        if not 0 <= self.solver_nice <= 19:
            raise ValueError(f"solver_nice: must lie in 0..19, got {self.solver_nice}")
        if self.pool_size < 1 or self.pool_size + self.db_max_overflow < self.max_in_flight:
            raise ValueError(
                f"db_pool_size: {self.pool_size} + {self.db_max_overflow} overflow connections cannot serve "
                f"max_in_flight={self.max_in_flight} requests at once; size them together"
            )
        if not 1 <= self.api_key_ttl_days <= 365:
            raise ValueError(f"api_key_ttl_days: must lie in 1..365, got {self.api_key_ttl_days}")
        for name in ("signin_window_s", "signin_account_failures", "signin_address_failures"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.public_base_url is not None and not _BASE_URL.fullmatch(self.public_base_url):
            raise ValueError(
                "public_base_url: expected http(s)://host[:port][/path] without query, fragment or trailing slash"
            )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``SALPIMI_*`` and ``DATABASE_URL``; keyword ``overrides`` win."""
        env = dict(os.environ if environ is None else environ)
        values: dict[str, object] = {
            "data_dir": Path(env.get("SALPIMI_DATA_DIR") or "data"),
            "database_url": env.get("DATABASE_URL") or None,
            "max_workers": _int_env(env, "SALPIMI_MAX_WORKERS", 2),
            "max_body_bytes": _int_env(env, "SALPIMI_MAX_BODY_BYTES", 5 * 1024 * 1024),
            "max_csv_bytes": _int_env(env, "SALPIMI_MAX_CSV_BYTES", 2 * 1024 * 1024),
            "secret_key": env.get("SALPIMI_SECRET_KEY") or None,
            "token_ttl_s": _int_env(env, "SALPIMI_TOKEN_TTL_S", 8 * 3600),
            "threads": _int_env(env, "SALPIMI_THREADS", 40),
            "max_in_flight": _int_env(env, "SALPIMI_MAX_IN_FLIGHT", 32),
            "queue_timeout_s": _float_env(env, "SALPIMI_QUEUE_TIMEOUT_S", 2.0),
            "max_queued": _int_env(env, "SALPIMI_MAX_QUEUED", 2000),
            "db_max_overflow": _int_env(env, "SALPIMI_DB_MAX_OVERFLOW", 8),
            "db_pool_timeout_s": _float_env(env, "SALPIMI_DB_POOL_TIMEOUT_S", 10.0),
            "solver_nice": _int_env(env, "SALPIMI_SOLVER_NICE", 10),
            "api_key_ttl_days": _int_env(env, "SALPIMI_API_KEY_TTL_DAYS", 90),
            "signin_window_s": _int_env(env, "SALPIMI_SIGNIN_WINDOW_S", 900),
            "signin_account_failures": _int_env(env, "SALPIMI_SIGNIN_ACCOUNT_FAILURES", 5),
            "signin_address_failures": _int_env(env, "SALPIMI_SIGNIN_ADDRESS_FAILURES", 30),
        }
        if env.get("SALPIMI_DB_POOL_SIZE"):
            values["db_pool_size"] = _int_env(env, "SALPIMI_DB_POOL_SIZE", 0)
        if env.get("SALPIMI_NETWORK"):
            values["network"] = env["SALPIMI_NETWORK"]
        if env.get("SALPIMI_PUBLIC_BASE_URL"):
            values["public_base_url"] = env["SALPIMI_PUBLIC_BASE_URL"]
        if env.get("SALPIMI_RISK_TOML"):
            values["risk_toml"] = Path(env["SALPIMI_RISK_TOML"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def pool_size(self) -> int:
        """Connections the request pool keeps: ``db_pool_size``, else ``max_in_flight + 8``."""
        return self.db_pool_size if self.db_pool_size is not None else self.max_in_flight + 8

    @property
    def resolved_database_url(self) -> str:
        """The database URL, SQLite in ``data_dir`` unless one was given."""
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            return url
        return f"sqlite:///{(self.data_dir / 'salpimi.db').resolve()}"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
