"""Service settings: one frozen pydantic-settings model, every field settable from the environment, then injected."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["ENV_PREFIX", "Settings", "env_name", "settings_table"]

ENV_PREFIX = "SALPIMI_"
#: ``public_base_url``: a scheme, a host (and port), an optional path; no query, fragment or final slash.
_BASE_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~%!$&'()*+,;=:@-]+)*")
#: ``tile_url``: a scheme, a host (and port), a path holding ``{z}``, ``{x}`` and ``{y}``; no query or fragment.
_TILE_URL = re.compile(
    r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?(?=[^?#]*\{z\})(?=[^?#]*\{x\})(?=[^?#]*\{y\})(/[A-Za-z0-9._~%!$&'()*+,;=:@{}-]+)+"
)
#: What a value of the wrong kind is called in an error (the value itself is never repeated: it may be a secret).
_EXPECTED = {
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_parsing": "expected a number",
    "bool_parsing": "expected true or false",
    "finite_number": "expected a finite number",
}


def _doc(meaning: str, *, default: str | None = None) -> dict[str, Any]:
    """A field's line in the settings table: its meaning, and its default as a reader wants it shown."""
    return {"meaning": meaning, **({"shown_default": default} if default is not None else {})}


class Settings(BaseSettings):
    """Everything the service needs to start; no module-level state anywhere else.

    Each field ``name`` is read from ``$SALPIMI_NAME`` (``database_url`` from ``$DATABASE_URL``) unless given;
    ``settings_table()`` lists them all (docs/api.md shows it).  Invalid values raise ``ValueError`` with one
    line naming the field and its variable, never repeating the value.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", env_ignore_empty=True, populate_by_name=True,
    )

    data_dir: Path = Field(Path("data"), json_schema_extra=_doc(
        "SQLite database (`salpimi.db`, WAL, 30 s busy timeout), `secret.key`, demo credentials, road networks "
        "(`networks/`), safety copies of restores (`backups/`)", default="`./data`"))
    database_url: str | None = Field(None, validation_alias="DATABASE_URL", json_schema_extra=_doc(
        "e.g. `postgresql://user:pw@host:5432/salpimi` (psycopg 3)", default="SQLite in the data directory"))
    max_workers: int = Field(2, json_schema_extra=_doc(
        "solver processes running at once; more jobs wait in a queue"))
    max_body_bytes: int = Field(5 * 1024 * 1024, json_schema_extra=_doc(
        "larger request bodies get 413 (at least 1024)", default="5 MB"))
    max_csv_bytes: int = Field(2 * 1024 * 1024, json_schema_extra=_doc(
        "larger CSV uploads get 413", default="2 MB"))
    secret_key: str | None = Field(None, json_schema_extra=_doc(
        "JWT signing key", default="random, kept in `secret.key`"))
    token_ttl_s: int = Field(8 * 3600, json_schema_extra=_doc("access token lifetime"))
    api_key_ttl_days: int = Field(90, json_schema_extra=_doc("default lifetime of new API keys (at most 365)"))
    signin_window_s: int = Field(900, json_schema_extra=_doc("sliding window of the sign-in limits"))
    signin_account_failures: int = Field(5, json_schema_extra=_doc(
        "failed sign-ins per account within the window, then 429"))
    signin_address_failures: int = Field(30, json_schema_extra=_doc(
        "failed sign-ins per client address within the window, then 429"))
    auto_migrate: bool = Field(True, json_schema_extra=_doc(
        "run the database migrations to the newest revision when the service starts"))
    max_time_limit_s: int = Field(600, json_schema_extra=_doc(
        "the longest `time_limit_s` a plan or re-plan job may ask for (422 above)"))
    job_grace_s: float = Field(30.0, json_schema_extra=_doc(
        "a solver process still running this long past its time limit (or a cancel) is asked to stop, and "
        "terminated (its job failed) if it has not stopped this long after"))
    risk_toml: Path | None = Field(None, json_schema_extra=_doc(
        "risk model weights and cadences, laid over the packaged ones (a team loaded with a `risk_model` lays "
        "its own over these)", default="none: the packaged `planner/risk_defaults.toml`"))
    network: str | None = Field(None, json_schema_extra=_doc(
        "road network (`salpimi network import`) for plan jobs and checks; none = straight-line estimates",
        default="none"))
    public_base_url: str | None = Field(None, json_schema_extra=_doc(
        "where phones reach the service, e.g. `https://salpimi.example.go.kr`: the base of calendar feed URLs "
        "and of the links inside feeds (Google Calendar needs `https`)", default="the address a request came to"))
    threads: int = Field(40, json_schema_extra=_doc("worker threads for the sync endpoints"))
    max_in_flight: int = Field(32, json_schema_extra=_doc(
        "requests handled at once; more wait for a slot (event streams are not counted)"))
    queue_timeout_s: float = Field(2.0, json_schema_extra=_doc(
        "a request that waited this long for a slot gets 503 with `Retry-After` (at most 600)"))
    max_queued: int = Field(2000, json_schema_extra=_doc("a request that finds this many waiting gets 503 at once"))
    queue_target_s: float = Field(0.25, json_schema_extra=_doc(
        "queueing delay above which the newest waiter is served first: while the requests waiting would take "
        "longer than this to be served one after another (how many × how long a request recently held its slot "
        "÷ slots), a new request goes first, so the server answers at once when a flood stops (at most 60)"))
    db_pool_size: int | None = Field(None, json_schema_extra=_doc(
        "pooled database connections; with `SALPIMI_DB_MAX_OVERFLOW` it must cover the requests in flight "
        "(checked at start-up)", default="in-flight + 8"))
    db_max_overflow: int = Field(8, json_schema_extra=_doc("database connections opened beyond the pool when needed"))
    db_pool_timeout_s: float = Field(10.0, json_schema_extra=_doc(
        "waiting longer for a connection answers 503 (at most 600)"))
    solver_nice: int = Field(10, json_schema_extra=_doc(
        "niceness of solver processes (0-19): requests are served first when both want the CPU; a solve still "
        "stops on its time limit"))
    web_dir: Path | None = Field(None, json_schema_extra=_doc(
        "the dispatcher web page's built files (`index.html` and what it loads), served at `/`",
        default="the packaged `api/web/` (`npm ci && npm run build`)"))
    tile_url: str | None = Field(None, json_schema_extra=_doc(
        "a raster tile URL template for the web page's base map, e.g. `https://tiles.example.go.kr/{z}/{x}/{y}.png` "
        "(its origin joins the page's Content-Security-Policy); none = the road network's streets only",
        default="none"))
    tile_attribution: str | None = Field(None, json_schema_extra=_doc(
        "the credit line shown under those tiles (e.g. `© OpenStreetMap contributors`)", default="none"))

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise ValueError(_one_line(exc)) from None

    @model_validator(mode="after")
    def _check(self) -> Settings:
        for name in ("max_workers", "threads", "max_in_flight", "max_queued", "token_ttl_s", "max_time_limit_s"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.max_body_bytes < 1024:
            raise ValueError(f"max_body_bytes: must be at least 1024, got {self.max_body_bytes}")
        if self.max_csv_bytes < 1:
            raise ValueError(f"max_csv_bytes: must be positive, got {self.max_csv_bytes}")
        if not self.job_grace_s > 0:
            raise ValueError(f"job_grace_s: must be positive, got {self.job_grace_s}")
        if not 0 < self.queue_timeout_s <= 600:
            raise ValueError(f"queue_timeout_s: must lie in (0, 600], got {self.queue_timeout_s}")
        if not 0 < self.queue_target_s <= 60:
            raise ValueError(f"queue_target_s: must lie in (0, 60], got {self.queue_target_s}")
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
        if self.tile_url is not None and not _TILE_URL.fullmatch(self.tile_url):
            raise ValueError(
                "tile_url: expected http(s)://host[:port]/path with {z}, {x} and {y}, without query or fragment"
            )
        if self.tile_attribution is not None and (len(self.tile_attribution) > 200
                                                  or any(ord(c) < 32 for c in self.tile_attribution)):
            raise ValueError("tile_attribution: at most 200 characters, no control characters")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from ``environ`` (default: the process environment); keyword ``overrides`` that are not
        ``None`` win.  With an explicit ``environ`` nothing else is read."""
        given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
        if environ is None:
            return cls(**given)
        values: dict[str, Any] = {
            name: environ[env_name(name)] for name in cls.model_fields if environ.get(env_name(name))
        }
        read = _InitOnly(**{**values, **given})
        return cls.model_construct(**{name: getattr(read, name) for name in cls.model_fields})

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
        """A copy with ``changes``, validated again."""
        return type(self).model_validate({**self.model_dump(), **changes})


class _InitOnly(Settings):
    """Settings from keyword values alone (``from_env`` with an explicit environment reads nothing else)."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def env_name(field: str) -> str:
    """The environment variable of a settings field: ``SALPIMI_`` and its name in capitals, or its alias."""
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else ENV_PREFIX + field.upper()


def _one_line(exc: ValidationError) -> str:
    """The validation errors as one line naming each field and its variable, never the value."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = [str(x) for x in error["loc"]]
        message = _EXPECTED.get(error["type"], str(error["msg"]).removeprefix("Value error, "))
        if not loc:
            parts.append(message)
            continue
        field = loc[0] if loc[0] in Settings.model_fields else next(
            (n for n in Settings.model_fields if env_name(n) == loc[0]), loc[0])
        where = f"{field} ({env_name(field)})" if field in Settings.model_fields else field
        parts.append(f"{where}: {message}")
    return "; ".join(parts) or "invalid settings"


def _shown(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def settings_table() -> str:
    """The Markdown table of every setting (docs/api.md holds it; a test keeps the two the same)."""
    rows = ["| setting | variable | default | meaning |", "|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        extra = field.json_schema_extra
        assert isinstance(extra, dict), name
        default = extra.get("shown_default", _shown(field.default))
        rows.append(f"| `{name}` | `{env_name(name)}` | {default} | {extra['meaning']} |")
    return "\n".join(rows) + "\n"
