"""SQLModel persistence and API models (Base / Create / Update / Public / table per resource).

Household data is split: ``Household`` holds what planning needs (location, dong, availability,
last contact); ``HouseholdPrivate`` holds the label, contact, health notes and risk factors and is
readable only by roles that need it.  Table models never serve as bases of other models.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar

import sqlalchemy as sa
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlmodel import Field, SQLModel

from planner import (
    RANGES,
    SOLVERS,
    WEEKDAYS,
    RiskFactors,
    Role,
    TravelModeName,
    VisitKind,
    availability_from_json,
    availability_to_json,
    clock_from_json,
    windows_from_json,
    windows_to_json,
)

__all__ = [
    "ApiKey",
    "AuditLog",
    "FeedEvent",
    "FeedToken",
    "Household",
    "HouseholdPrivate",
    "Outcome",
    "Page",
    "Plan",
    "PlanJob",
    "Report",
    "Team",
    "User",
    "VisitRequest",
    "Worker",
    "new_id",
    "now_utc",
]

T = TypeVar("T")
#: The planner's weekdays, worker roles, travel modes and visit kinds: one contract for both.
WorkerRole = Role
TravelMode = TravelModeName
__all__ += ["WEEKDAYS", "TeamInput", "TravelMode", "VisitKind", "WorkerRole"]


def new_id(prefix: str) -> str:
    """An opaque, unguessable string id such as ``hh_3f9a0c1d2e4b5a6c``."""
    return f"{prefix}_{secrets.token_hex(8)}"


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Aware datetimes stored in UTC on every backend (SQLite keeps no offset)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def _hhmm(value: str | None, name: str) -> str | None:
    """A clock time ``HH:MM`` by the planner's rule (``None`` passes)."""
    if value is None:
        return None
    clock_from_json(value, name)
    return value


def _secs(hhmm: str) -> int:
    return clock_from_json(hhmm, "time")


def _windows(value: Any, name: str) -> list[list[str]]:
    """Time windows by the planner's rule, written as it writes them."""
    return windows_to_json(windows_from_json(value, name))


# ---- input rules shared by every request body ---------------------------------------------

#: Bounds of every ``offset`` query parameter (past the end a page is just empty).
MAX_OFFSET = 1_000_000_000
#: Dates the service accepts (a planning day, a last contact, a report).
DATE_MIN, DATE_MAX = dt.date(1900, 1, 1), dt.date(2100, 12, 31)
#: Load units a worker carries or a visit delivers (the planner's range).
MAX_LOAD = 1_000_000
#: A visit's or household's given priority (the planner's range).
MAX_PRIORITY = RANGES["priority"].maximum
_PRIORITY_DOC = (
    "skip penalty used as given (not aged), in the risk model's units; replaces the risk model's "
    "for planning (a visit's over its household's); null = the risk model's"
)
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _date_in_range(value: dt.date) -> None:
    if not DATE_MIN <= value <= DATE_MAX:
        raise ValueError(f"lies outside {DATE_MIN.isoformat()}..{DATE_MAX.isoformat()}")


def _iso_date(value: Any) -> Any:
    """``YYYY-MM-DD`` (or a date) only: ``0`` is not 1970-01-01."""
    if isinstance(value, str) and _ISO_DATE.match(value):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError("not a calendar date (expected YYYY-MM-DD)") from None
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise ValueError("expected a date YYYY-MM-DD")
    _date_in_range(value)
    return value


def _iso_datetime(value: Any) -> Any:
    """ISO 8601 text (or a datetime) only: a number is not seconds since 1970."""
    if isinstance(value, dt.datetime):
        _date_in_range(value.date())
        return value
    if not isinstance(value, str) or not _ISO_DATETIME.match(value):
        raise ValueError("expected an ISO 8601 datetime such as 2026-11-24T14:05:00+09:00")
    if not DATE_MIN.year <= int(value[:4]) <= DATE_MAX.year:
        raise ValueError(f"lies outside {DATE_MIN.isoformat()}..{DATE_MAX.isoformat()}")
    return value


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date)]
IsoDateTime = Annotated[dt.datetime, BeforeValidator(_iso_datetime)]
#: A skill or language code: 1-64 characters, not only spaces (the planner's rule for tags).
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"\S")]


def _bad_text(value: Any, *, multiline: bool) -> str | None:
    """The first character not allowed in stored text: control characters (NUL included), lone
    surrogates and bidirectional overrides; tabs and newlines only in ``multiline`` text."""
    if isinstance(value, str):
        for ch in value:
            if multiline and ch in "\t\n\r":
                continue
            if ch in _BIDI or unicodedata.category(ch) in ("Cc", "Cs"):
                return ch
        return None
    if isinstance(value, list | tuple):
        return next((b for b in (_bad_text(v, multiline=multiline) for v in value) if b), None)
    if isinstance(value, dict):
        return next((b for b in (_bad_text(v, multiline=multiline) for kv in value.items() for v in kv) if b), None)
    return None


def _without_null(schema: dict[str, Any], model: Any) -> None:
    """JSON Schema of a PATCH body: fields that cannot be emptied do not offer ``null``."""
    nullable: frozenset[str] = getattr(model, "NULLABLE", frozenset())
    for name, prop in schema.get("properties", {}).items():
        options = prop.get("anyOf")
        if name in nullable or not options:
            continue
        kept = [o for o in options if o.get("type") != "null"]
        if len(kept) == 1:
            del prop["anyOf"]
            prop.update(kept[0])
        else:
            prop["anyOf"] = kept
        if prop.get("default", 0) is None:
            del prop["default"]


class InputModel(SQLModel):
    """A request body: unknown (misspelt) fields are refused; text carries no control characters."""

    model_config = ConfigDict(extra="forbid")  # type: ignore[assignment]
    MULTILINE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _clean_text(cls, value: Any, info: ValidationInfo) -> Any:
        bad = _bad_text(value, multiline=info.field_name in cls.MULTILINE)
        if bad is not None:
            raise ValueError(f"contains the control character U+{ord(bad):04X}")
        return value


class PatchModel(InputModel):
    """A PATCH body: only the fields given change; ``null`` only where the stored value may be empty."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_without_null)
    NULLABLE: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.NULLABLE:
            raise ValueError("must not be null")
        return value


# ---- enumerations -------------------------------------------------------------------------


class UserRole(StrEnum):
    """Permission roles; every kind of outreach worker signs in as ``field_worker``."""

    DISPATCHER = "dispatcher"
    FIELD_WORKER = "field_worker"
    MANAGER = "manager"


class VisitSource(StrEnum):
    CADENCE = "cadence"
    REPORT = "report"
    FOLLOW_UP = "follow_up"
    MANUAL = "manual"
    FIXTURE = "fixture"


class VisitStatus(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    NO_ANSWER = "no_answer"
    REFUSED = "refused"
    CANCELLED = "cancelled"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_JOB_STATUSES = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)


class JobKind(StrEnum):
    PLAN = "plan"
    REPLAN = "replan"


class PlanKind(StrEnum):
    SOLVE = "solve"
    REPLAN = "replan"
    EDIT = "edit"


class OutcomeKind(StrEnum):
    DONE = "done"
    IN_PROGRESS = "in_progress"
    NO_ANSWER = "no_answer"
    REFUSED = "refused"
    WORKER_DELAYED = "worker_delayed"
    WORKER_OFF_SICK = "worker_off_sick"


VISIT_OUTCOMES = (
    OutcomeKind.DONE, OutcomeKind.IN_PROGRESS, OutcomeKind.NO_ANSWER, OutcomeKind.REFUSED,
)
WORKER_OUTCOMES = (OutcomeKind.WORKER_DELAYED, OutcomeKind.WORKER_OFF_SICK)


class ReporterKind(StrEnum):
    UTILITY_WORKER = "utility_worker"
    LANDLORD = "landlord"
    NEIGHBOUR_CAREGIVER = "neighbour_caregiver"
    POLICE = "police"
    PUBLIC_OFFICIAL = "public_official"
    OTHER = "other"


_STR32 = sa.String(32)
_REF_DOC = "id in the team's spreadsheet (unique per team)"

# ---- lists and problems --------------------------------------------------------------------


class Page(BaseModel, Generic[T]):
    """A list response: ``{"data": [...], "count": n}``."""

    data: list[T]
    count: int


class ErrorItem(BaseModel):
    """One problem in a request: a field (and a CSV row when importing)."""

    row: int | None = None
    field: str
    message: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "type": "https://salpimi.example/problems/not-found",
                "title": "Not found",
                "status": 404,
                "detail": "household hh_3f9a0c1d2e4b5a6c does not exist",
                "instance": "/v1/households/hh_3f9a0c1d2e4b5a6c",
            }
        }
    )

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ErrorItem] | None = None


# ---- teams ----------------------------------------------------------------------------------


class TeamBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    district: str = Field(default="", max_length=200, description="e.g. Gwanak-gu")


class TeamCreate(TeamBase, InputModel):
    pass


class TeamUpdate(PatchModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    district: str | None = Field(default=None, max_length=200)


class Team(TeamBase, table=True):
    id: str = Field(default_factory=lambda: new_id("tm"), primary_key=True, max_length=40)
    created_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)


class TeamPublic(TeamBase):
    id: str
    created_at: dt.datetime


class TeamInput(SQLModel, table=True):
    """A team's own problem-level planning inputs, from a loaded problem file (planner JSON): its
    travel matrix and risk model settings.  Apart from ``team`` so they load only when planning."""

    __tablename__ = "team_input"

    team_id: str = Field(foreign_key="team.id", primary_key=True, max_length=40)
    travel_matrix: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    risk_model: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    precedences: list[dict[str, Any]] | None = Field(
        default=None, sa_type=sa.JSON,
        description="same-day precedences between the team's visit requests (planner JSON, request ids)")


# ---- users and API keys ---------------------------------------------------------------------


class UserBase(SQLModel):
    username: str = Field(min_length=3, max_length=64, unique=True, index=True)
    role: UserRole = Field(sa_type=_STR32)
    team_id: str | None = Field(default=None, foreign_key="team.id", max_length=40)
    worker_id: str | None = Field(default=None, max_length=40, description="field workers only")


class UserCreate(UserBase, InputModel):
    password: str = Field(min_length=8, max_length=256)

    @model_validator(mode="after")
    def _scope(self) -> UserCreate:
        if self.role in (UserRole.DISPATCHER, UserRole.FIELD_WORKER) and not self.team_id:
            raise ValueError("team_id: required for dispatchers and field workers")
        if self.role == UserRole.FIELD_WORKER and not self.worker_id:
            raise ValueError("worker_id: required for field workers")
        return self


class User(UserBase, table=True):
    id: str = Field(default_factory=lambda: new_id("us"), primary_key=True, max_length=40)
    password_hash: str = Field(max_length=400)
    active: bool = True
    created_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    deactivated_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    token_version: int = Field(default=0, description="bumped to invalidate every token issued so far")


class UserPublic(UserBase):
    id: str
    active: bool
    created_at: dt.datetime
    deactivated_at: dt.datetime | None = None


class ApiKeyCreate(InputModel):
    name: str = Field(default="", max_length=100)
    expires_in_days: int | None = Field(
        default=None, ge=1, le=365, description="default: the server's SALPIMI_API_KEY_TTL_DAYS (90)"
    )


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_key"

    id: str = Field(default_factory=lambda: new_id("ak"), primary_key=True, max_length=40)
    user_id: str = Field(foreign_key="user.id", index=True, max_length=40)
    name: str = Field(default="", max_length=100)
    key_hash: str = Field(unique=True, index=True, max_length=64)
    revoked: bool = False
    created_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class ApiKeyPublic(SQLModel):
    id: str
    user_id: str
    name: str
    revoked: bool
    created_at: dt.datetime
    expires_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    key: str | None = Field(default=None, description="shown once, when the key is created")


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class StreamToken(BaseModel):
    """A short-lived token for one job's event stream (``?token=`` on that stream only)."""

    token: str
    expires_in: int
    url: str


# ---- workers --------------------------------------------------------------------------------


class WorkerBase(SQLModel):
    ref: str | None = Field(default=None, max_length=128, description=_REF_DOC)
    name: str = Field(default="", max_length=200)
    role: WorkerRole = Field(sa_type=_STR32)
    skills: list[Tag] = Field(default_factory=list, sa_type=sa.JSON, max_length=32)
    languages: list[Tag] = Field(default_factory=lambda: ["ko"], sa_type=sa.JSON, max_length=32)
    start_lat: float = Field(ge=-90, le=90)
    start_lon: float = Field(ge=-180, le=180)
    end_lat: float | None = Field(default=None, ge=-90, le=90)
    end_lon: float | None = Field(default=None, ge=-180, le=180)
    shift_start: str = Field(default="09:00", max_length=5)
    shift_end: str = Field(default="18:00", max_length=5)
    break_start: str | None = Field(default="12:00", max_length=5)
    break_end: str | None = Field(default="13:00", max_length=5)
    break_s: int = Field(default=3600, ge=0, le=4 * 3600)
    max_visits: int | None = Field(default=None, ge=0, le=100)
    max_work_s: int | None = Field(default=None, ge=1, le=24 * 3600)
    travel_mode: TravelMode = Field(default=TravelMode.WALK, sa_type=_STR32)
    speed_factor: float = Field(default=1.0, ge=0.1, le=10)
    capacity: int | None = Field(default=None, ge=0, le=MAX_LOAD, description="load units carried; null = any")
    active: bool = True

    @field_validator("shift_start", "shift_end", "break_start", "break_end")
    @classmethod
    def _clock(cls, v: str | None, info: Any) -> str | None:
        return _hhmm(v, info.field_name)

    @model_validator(mode="after")
    def _consistent(self) -> Any:
        check_worker_times(
            self.shift_start, self.shift_end, self.break_start, self.break_end, self.break_s,
            self.end_lat, self.end_lon,
        )
        return self


def check_worker_times(
    shift_start: str, shift_end: str, break_start: str | None, break_end: str | None,
    break_s: int, end_lat: float | None, end_lon: float | None,
) -> None:
    """Shared by create, update (after merging) and CSV import."""
    if _secs(shift_end) <= _secs(shift_start):
        raise ValueError(f"shift_end: {shift_end} is not after shift_start {shift_start}")
    if (break_start is None) != (break_end is None):
        raise ValueError("break_start: give both break_start and break_end, or neither")
    if break_start is not None and break_end is not None:
        bs, be = _secs(break_start), _secs(break_end)
        if be <= bs:
            raise ValueError(f"break_end: {break_end} is not after break_start {break_start}")
        if bs < _secs(shift_start) or be > _secs(shift_end):
            raise ValueError("break_start: the break window lies outside the shift")
        if be - bs < break_s:
            raise ValueError(f"break_s: {break_s} s does not fit the break window")
    if (end_lat is None) != (end_lon is None):
        raise ValueError("end_lat: give both end_lat and end_lon, or neither")


class WorkerCreate(WorkerBase, InputModel):
    pass


class WorkerUpdate(PatchModel):
    NULLABLE = frozenset(
        {"ref", "end_lat", "end_lon", "break_start", "break_end", "max_visits", "max_work_s", "capacity"}
    )

    ref: str | None = Field(default=None, max_length=128)
    name: str | None = Field(default=None, max_length=200)
    role: WorkerRole | None = None
    skills: list[Tag] | None = Field(default=None, max_length=32)
    languages: list[Tag] | None = Field(default=None, max_length=32)
    start_lat: float | None = Field(default=None, ge=-90, le=90)
    start_lon: float | None = Field(default=None, ge=-180, le=180)
    end_lat: float | None = Field(default=None, ge=-90, le=90)
    end_lon: float | None = Field(default=None, ge=-180, le=180)
    shift_start: str | None = None
    shift_end: str | None = None
    break_start: str | None = None
    break_end: str | None = None
    break_s: int | None = Field(default=None, ge=0, le=4 * 3600)
    max_visits: int | None = Field(default=None, ge=0, le=100)
    max_work_s: int | None = Field(default=None, ge=1, le=24 * 3600)
    travel_mode: TravelMode | None = None
    speed_factor: float | None = Field(default=None, ge=0.1, le=10)
    capacity: int | None = Field(default=None, ge=0, le=MAX_LOAD)
    active: bool | None = None

    @field_validator("shift_start", "shift_end", "break_start", "break_end")
    @classmethod
    def _clock(cls, v: str | None, info: Any) -> str | None:
        return _hhmm(v, info.field_name)


class Worker(WorkerBase, table=True):
    __table_args__ = (sa.UniqueConstraint("team_id", "ref", name="uq_worker_team_ref"),)

    id: str = Field(default_factory=lambda: new_id("wk"), primary_key=True, max_length=40)
    team_id: str = Field(foreign_key="team.id", index=True, max_length=40)
    created_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)


class WorkerPublic(WorkerBase):
    id: str
    team_id: str
    created_at: dt.datetime
    updated_at: dt.datetime


# ---- households: planning part ---------------------------------------------------------------


class HouseholdBase(SQLModel):
    """What planning needs: no names, contacts, health details or risk factors."""

    ref: str | None = Field(default=None, max_length=128, description=_REF_DOC)
    dong: str = Field(default="", max_length=64, description="administrative dong")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    last_contact: IsoDate | None = None
    preferred_worker_id: str | None = Field(default=None, max_length=40)
    languages: list[Tag] = Field(default_factory=lambda: ["ko"], sa_type=sa.JSON, max_length=32)
    availability: dict[str, list[list[str]]] = Field(
        default_factory=dict,
        sa_type=sa.JSON,
        description='weekly windows when someone is home, e.g. {"mon": [["09:00", "12:00"]]}; '
        "empty = any time",
    )
    priority: float | None = Field(default=None, ge=0, le=MAX_PRIORITY, description=_PRIORITY_DOC)
    active: bool = True

    @field_validator("availability")
    @classmethod
    def _availability(cls, v: dict[str, Any]) -> dict[str, list[list[str]]]:
        return check_availability(v)


def check_availability(v: Any) -> dict[str, list[list[str]]]:
    """Weekly availability by the planner's rule, written as it writes it (weekdays in order)."""
    if not isinstance(v, dict):
        raise ValueError("availability: expected an object keyed by weekday")
    return availability_to_json(availability_from_json(v, "availability"))


# The planner's risk factor values (planner.RiskFactors), as the API's literal types.
AgeBand = Literal[RiskFactors.AGE_BANDS]  # type: ignore[valid-type]
Sex = Literal[RiskFactors.SEXES]  # type: ignore[valid-type]
Housing = Literal[RiskFactors.HOUSING]  # type: ignore[valid-type]
SocialContact = Literal[RiskFactors.SOCIAL]  # type: ignore[valid-type]


class HouseholdPrivateBase(SQLModel):
    """Personal and health data: read only by the team's dispatchers and the visiting worker."""

    label: str = Field(default="", max_length=200, description="how the team names the household")
    contact: str = Field(default="", max_length=200)
    address: str = Field(default="", max_length=300)
    health_notes: str = Field(default="", max_length=4000)
    age_band: AgeBand = Field(default="50-64", sa_type=_STR32)
    sex: Sex = Field(default="M", sa_type=_STR32)
    basic_livelihood: bool = False
    chronic_illness: bool = False
    alcohol: bool = False
    disability: bool = False
    housing: Housing = Field(default="house", sa_type=_STR32)
    social_contact: SocialContact = Field(default="weekly", sa_type=_STR32)
    crisis_report: bool = False


class HouseholdPrivateCreate(HouseholdPrivateBase, InputModel):
    MULTILINE = frozenset({"address", "health_notes"})


class HouseholdPrivateUpdate(PatchModel):
    MULTILINE = frozenset({"address", "health_notes"})

    label: str | None = Field(default=None, max_length=200)
    contact: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=300)
    health_notes: str | None = Field(default=None, max_length=4000)
    age_band: AgeBand | None = None
    sex: Sex | None = None
    basic_livelihood: bool | None = None
    chronic_illness: bool | None = None
    alcohol: bool | None = None
    disability: bool | None = None
    housing: Housing | None = None
    social_contact: SocialContact | None = None
    crisis_report: bool | None = None


class HouseholdPrivate(HouseholdPrivateBase, table=True):
    __tablename__ = "household_private"

    household_id: str = Field(foreign_key="household.id", primary_key=True, max_length=40)
    updated_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)


class HouseholdPrivatePublic(HouseholdPrivateBase):
    household_id: str
    updated_at: dt.datetime


RISK_FIELDS = (
    "age_band", "sex", "basic_livelihood", "chronic_illness", "alcohol", "disability", "housing",
    "social_contact", "crisis_report",
)


class HouseholdCreate(HouseholdBase, InputModel):
    private: HouseholdPrivateCreate | None = None


class HouseholdUpdate(PatchModel):
    NULLABLE = frozenset({"ref", "last_contact", "preferred_worker_id", "priority"})

    ref: str | None = Field(default=None, max_length=128)
    dong: str | None = Field(default=None, max_length=64)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    last_contact: IsoDate | None = None
    preferred_worker_id: str | None = Field(default=None, max_length=40)
    languages: list[Tag] | None = Field(default=None, max_length=32)
    availability: dict[str, list[list[str]]] | None = None
    priority: float | None = Field(default=None, ge=0, le=MAX_PRIORITY)
    active: bool | None = None

    @field_validator("availability")
    @classmethod
    def _availability(cls, v: dict[str, Any] | None) -> dict[str, list[list[str]]] | None:
        return None if v is None else check_availability(v)


class Household(HouseholdBase, table=True):
    __table_args__ = (sa.UniqueConstraint("team_id", "ref", name="uq_household_team_ref"),)

    id: str = Field(default_factory=lambda: new_id("hh"), primary_key=True, max_length=40)
    team_id: str = Field(foreign_key="team.id", index=True, max_length=40)
    risk_tier: str = Field(default="self_care", sa_type=_STR32)
    created_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)


class HouseholdPublic(HouseholdBase):
    id: str
    team_id: str
    risk_tier: str = Field(description="urgent, intensive, regular or self_care (risk model)")
    created_at: dt.datetime
    updated_at: dt.datetime


# ---- visit requests and reports --------------------------------------------------------------


class CrewSeat(BaseModel):
    """One worker of a joint visit (the planner's ``crew`` seat): a role, skills, a named worker, its own time."""

    model_config = ConfigDict(extra="forbid")

    role: WorkerRole | None = None
    skills: list[Tag] = Field(default_factory=list, max_length=32)
    worker_id: str | None = Field(default=None, max_length=40)
    duration_s: int | None = Field(default=None, ge=1, le=12 * 3600)


_CREW_DOC = ("a joint visit: 2 seats, one per worker, both starting together (the earlier waits); "
             "empty = one worker")
_DUE_DOC = "soft due time HH:MM: starting later costs late_cost per second (time windows stay hard)"


def _due(value: Any) -> str | None:
    if value is None:
        return None
    clock_from_json(value, "due")
    return str(value)


_SEAT_DOC = ('{"role": one worker role, "skills": [tags], "worker_id": a worker of the team, "duration_s": '
             "this seat's service seconds}, every key optional")


def _check_crew(v: Any) -> list[dict[str, Any]]:
    """Two seats or none, each a :class:`CrewSeat`, no worker named twice; kept as plain JSON (the planner's)."""
    seats = []
    for i, seat in enumerate(v or []):
        try:
            seats.append(CrewSeat.model_validate(seat))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"])
            raise ValueError(f"crew[{i}]{'.' + where if where else ''}: {first['msg']}") from None
    if seats and len(seats) != 2:
        raise ValueError("crew: a joint visit has 2 seats (one per worker)")
    named = [s.worker_id for s in seats if s.worker_id]
    if len(named) != len(set(named)):
        raise ValueError("crew: the same worker cannot take two seats")
    return [s.model_dump(exclude_defaults=True, mode="json") for s in seats]


class VisitRequestBase(SQLModel):
    household_id: str = Field(foreign_key="household.id", index=True, max_length=40)
    date: IsoDate = Field(index=True)
    kind: VisitKind = Field(default=VisitKind.ROUTINE, sa_type=_STR32)
    duration_s: int | None = Field(default=None, ge=1, le=12 * 3600)
    mandatory: bool = False
    urgent: bool = False
    time_windows: list[list[str]] = Field(default_factory=list, sa_type=sa.JSON, max_length=16)
    required_skills: list[Tag] = Field(default_factory=list, sa_type=sa.JSON, max_length=32)
    required_worker_id: str | None = Field(default=None, max_length=40)
    forbidden_worker_ids: list[str] = Field(default_factory=list, sa_type=sa.JSON, max_length=250)
    allowed_roles: list[WorkerRole] = Field(
        default_factory=list, sa_type=sa.JSON, description="empty = any role"
    )
    load: int = Field(default=0, ge=0, le=MAX_LOAD, description="units delivered (kits, food boxes)")
    priority: float | None = Field(default=None, ge=0, le=MAX_PRIORITY, description=_PRIORITY_DOC)
    crew: list[dict[str, Any]] = Field(default_factory=list, sa_type=sa.JSON, max_length=2,
                                       description=_CREW_DOC + "; each seat: " + _SEAT_DOC)
    due: str | None = Field(default=None, max_length=5, description=_DUE_DOC)
    late_cost: float | None = Field(default=None, ge=0, le=1_000_000,
                                    description="cost per second late, in seconds of travel (default 1 with due)")

    @field_validator("time_windows")
    @classmethod
    def _tw(cls, v: Any) -> list[list[str]]:
        return _windows(v, "time_windows")

    @field_validator("crew")
    @classmethod
    def _crew(cls, v: Any) -> list[dict[str, Any]]:
        return _check_crew(v)

    @field_validator("due")
    @classmethod
    def _due(cls, v: Any) -> str | None:
        return _due(v)


class VisitRequestCreate(VisitRequestBase, InputModel):
    pass


class VisitRequestUpdate(PatchModel):
    NULLABLE = frozenset({"duration_s", "required_worker_id", "priority", "due", "late_cost"})

    kind: VisitKind | None = None
    duration_s: int | None = Field(default=None, ge=1, le=12 * 3600)
    mandatory: bool | None = None
    urgent: bool | None = None
    time_windows: list[list[str]] | None = Field(default=None, max_length=16)
    required_skills: list[Tag] | None = Field(default=None, max_length=32)
    required_worker_id: str | None = Field(default=None, max_length=40)
    forbidden_worker_ids: list[str] | None = Field(default=None, max_length=250)
    allowed_roles: list[WorkerRole] | None = None
    load: int | None = Field(default=None, ge=0, le=MAX_LOAD)
    priority: float | None = Field(default=None, ge=0, le=MAX_PRIORITY)
    status: Literal["open", "cancelled"] | None = None
    crew: list[dict[str, Any]] | None = Field(default=None, max_length=2,
                                              description=_CREW_DOC + "; [] = one worker; each seat: " + _SEAT_DOC)
    due: str | None = Field(default=None, max_length=5, description=_DUE_DOC)
    late_cost: float | None = Field(default=None, ge=0, le=1_000_000)

    @field_validator("time_windows")
    @classmethod
    def _tw(cls, v: Any) -> list[list[str]] | None:
        return None if v is None else _windows(v, "time_windows")

    @field_validator("crew")
    @classmethod
    def _crew(cls, v: Any) -> list[dict[str, Any]] | None:
        return None if v is None else _check_crew(v)

    @field_validator("due")
    @classmethod
    def _due(cls, v: Any) -> str | None:
        return _due(v)


class PrecedenceItem(BaseModel):
    """Visit request ``then`` starts ``min_gap_s``..``max_gap_s`` after ``first`` starts, the same day (the
    planner's ``precedences``); ``then`` is planned only with ``first``."""

    model_config = ConfigDict(extra="forbid")

    first: str = Field(min_length=1, max_length=40)
    then: str = Field(min_length=1, max_length=40)
    min_gap_s: int = Field(default=0, ge=0, le=86_400)
    max_gap_s: int | None = Field(default=None, ge=0, le=86_400)

    @model_validator(mode="after")
    def _gap(self) -> Any:
        if self.max_gap_s is not None and self.max_gap_s < self.min_gap_s:
            raise ValueError(f"max_gap_s: {self.max_gap_s} is less than min_gap_s {self.min_gap_s}")
        if self.first == self.then:
            raise ValueError("then: a visit cannot follow itself")
        return self


class PrecedenceList(BaseModel):
    """A team's precedences between its visit requests (replaced as a whole)."""

    model_config = ConfigDict(extra="forbid")

    data: list[PrecedenceItem] = Field(max_length=2000)


class VisitRequest(VisitRequestBase, table=True):
    __tablename__ = "visit_request"
    __table_args__ = (sa.Index("ix_visit_request_team_date", "team_id", "date"),)

    id: str = Field(default_factory=lambda: new_id("vr"), primary_key=True, max_length=40)
    team_id: str = Field(foreign_key="team.id", max_length=40)
    source: VisitSource = Field(default=VisitSource.MANUAL, sa_type=_STR32)
    status: VisitStatus = Field(default=VisitStatus.OPEN, sa_type=_STR32)
    parent_id: str | None = Field(default=None, max_length=40)
    report_id: str | None = Field(default=None, max_length=40)
    created_by: str | None = Field(default=None, max_length=40)
    created_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)


class VisitRequestPublic(VisitRequestBase):
    id: str
    team_id: str
    source: VisitSource
    status: VisitStatus
    parent_id: str | None
    report_id: str | None
    created_at: dt.datetime


class ReportBase(SQLModel):
    household_id: str = Field(foreign_key="household.id", index=True, max_length=40)
    reporter_kind: ReporterKind = Field(sa_type=_STR32)
    summary: str = Field(default="", max_length=2000, description="what was noticed (kept private)")
    date: IsoDate | None = Field(
        default=None, description="day of the urgent visit; default today (Asia/Seoul)"
    )


class ReportCreate(ReportBase, InputModel):
    MULTILINE = frozenset({"summary"})


class Report(ReportBase, table=True):
    id: str = Field(default_factory=lambda: new_id("rp"), primary_key=True, max_length=40)
    team_id: str = Field(foreign_key="team.id", index=True, max_length=40)
    visit_request_id: str | None = Field(default=None, max_length=40)
    created_by: str | None = Field(default=None, max_length=40)
    received_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)


class ReportPublic(ReportBase):
    id: str
    team_id: str
    visit_request_id: str | None
    received_at: dt.datetime


# ---- plan jobs -----------------------------------------------------------------------------

# The planner's engines (planner.SOLVERS), as the API's literal type.
SolverName = Literal[SOLVERS]  # type: ignore[valid-type]


class PlanJobBase(SQLModel):
    team_id: str = Field(foreign_key="team.id", max_length=40)
    date: IsoDate
    date_to: IsoDate | None = Field(
        default=None, description="plan every day from date to date_to (inclusive, at most 28 days): the "
        "planner picks each open request's day (on or after its own date), then routes each day; one plan "
        "version per day with visits")
    time_limit_s: float = Field(default=10.0, gt=0, le=3600)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    solver: SolverName = Field(
        default="auto", sa_type=_STR32,
        description="the engine, as `salpimi plan --solver`: auto (the day's hybrid against OR-Tools), race, "
        "ortools, pyvrp or vroom")
    deterministic: bool = Field(
        default=False, description="stop on the work budget (solution_limit), not the clock: the same day, seed "
        "and budget give the same plan as `salpimi plan --deterministic`; time_limit_s stays a safety cap")
    solution_limit: int = Field(default=2000, ge=1, le=10**9, description="the work budget of deterministic")


class PlanJobCreate(PlanJobBase, InputModel):
    publish: bool = Field(default=False, description="publish each plan the job stores when it succeeds")


class ReplanRequest(InputModel):
    now: IsoDateTime = Field(
        description="the moment to re-plan from, with its offset, on the plan's day (required: a re-plan "
        "never guesses the time)"
    )
    time_limit_s: float = Field(default=10.0, gt=0, le=3600)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    deterministic: bool = Field(default=False, description="stop on the work budget, not the clock")
    solution_limit: int = Field(default=2000, ge=1, le=10**9, description="the work budget of deterministic")
    publish: bool = Field(default=True, description="publish the new version when the job succeeds")


class PlanJob(PlanJobBase, table=True):
    __tablename__ = "plan_job"
    __table_args__ = (
        sa.Index(
            "uq_plan_job_active",
            "team_id",
            "date",
            unique=True,
            sqlite_where=sa.text("status IN ('queued', 'running')"),
            postgresql_where=sa.text("status IN ('queued', 'running')"),
        ),
    )

    id: str = Field(default_factory=lambda: new_id("pj"), primary_key=True, max_length=40)
    kind: JobKind = Field(default=JobKind.PLAN, sa_type=_STR32)
    status: JobStatus = Field(default=JobStatus.QUEUED, sa_type=_STR32)
    progress: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    error: str | None = Field(default=None, max_length=1000)
    plan_id: str | None = Field(default=None, max_length=40)
    plan_ids: list[str] | None = Field(default=None, sa_type=sa.JSON)  # a date range's plans, one per day
    base_plan_id: str | None = Field(default=None, max_length=40)
    publish_on_finish: bool = False
    cancel_requested: bool = False
    created_by: str | None = Field(default=None, max_length=40)
    created_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    started_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)


class JobProgress(BaseModel):
    elapsed_s: float = 0.0
    objective: float | None = None
    visits_covered: int | None = None
    visits_total: int | None = None
    fraction: float = Field(default=0.0, description="elapsed share of the time limit, 0..1")


class PlanJobPublic(PlanJobBase):
    id: str
    kind: JobKind
    status: JobStatus
    progress: JobProgress
    error: str | None
    plan_id: str | None
    plan_ids: list[str] = Field(default_factory=list, description="a date range's plans, one per day with visits")
    base_plan_id: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None


# ---- plans -----------------------------------------------------------------------------------


class PlanBase(SQLModel):
    team_id: str = Field(foreign_key="team.id", max_length=40)
    date: dt.date


class Plan(PlanBase, table=True):
    __table_args__ = (
        sa.UniqueConstraint("team_id", "date", "version", name="uq_plan_version"),
        # One published version per team and day (migration 0002).
        sa.Index(
            "uq_plan_published", "team_id", "date", unique=True,
            sqlite_where=sa.text("published"), postgresql_where=sa.text("published"),
        ),
    )

    id: str = Field(default_factory=lambda: new_id("pl"), primary_key=True, max_length=40)
    version: int = Field(ge=1)
    kind: PlanKind = Field(default=PlanKind.SOLVE, sa_type=_STR32)
    published: bool = False
    published_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    job_id: str | None = Field(default=None, max_length=40)
    base_plan_id: str | None = Field(default=None, max_length=40)
    stopped_early: bool = False
    data: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    problem: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    kpis: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    created_by: str | None = Field(default=None, max_length=40)
    created_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)


class PartnerPublic(BaseModel):
    worker_id: str
    role: str


class CrewPublic(BaseModel):
    seat: int = Field(description="this worker's seat of the joint visit (0-based)")
    partners: list[PartnerPublic] = Field(description="the other workers there, starting at the same moment")


class StopPublic(BaseModel):
    visit_id: str
    household_id: str
    arrival: dt.datetime
    start: dt.datetime
    end: dt.datetime
    travel_s: int
    travel_m: int
    status: str = Field(default="open", description="visit request status (done, in_progress, ...)")
    crew: CrewPublic | None = Field(default=None, description="set on each stop of a joint visit")


class BreakPublic(BaseModel):
    start: dt.datetime
    end: dt.datetime


class RoutePublic(BaseModel):
    worker_id: str
    departure: dt.datetime
    # "return" is a keyword, hence the alias.
    return_: dt.datetime = Field(alias="return", serialization_alias="return")
    travel_s: int
    travel_m: int
    break_: BreakPublic | None = Field(default=None, alias="break", serialization_alias="break")
    stops: list[StopPublic]

    model_config = ConfigDict(populate_by_name=True)


class UnassignedPublic(BaseModel):
    visit_id: str
    household_id: str
    reason: str
    detail: str
    mandatory: bool
    urgent: bool


class PlanSummary(PlanBase):
    id: str
    version: int
    kind: PlanKind
    published: bool
    published_at: dt.datetime | None
    job_id: str | None
    base_plan_id: str | None
    stopped_early: bool
    kpis: dict[str, Any]
    created_at: dt.datetime


class PlanPublic(PlanSummary):
    routes: list[RoutePublic]
    unassigned: list[UnassignedPublic]
    meta: dict[str, Any]


class ViolationPublic(BaseModel):
    code: str
    worker_id: str | None = None
    visit_id: str | None = None
    message: str


class CheckResult(BaseModel):
    ok: bool
    violations: list[ViolationPublic]
    kpis: dict[str, Any]


class ScheduleStop(BaseModel):
    """A stop on a field worker's own schedule (no personal data; see the household's page)."""

    visit_id: str
    household_id: str
    dong: str
    lat: float
    lon: float
    kind: str
    arrival: dt.datetime
    start: dt.datetime
    end: dt.datetime
    status: str
    with_roles: list[str] = Field(default_factory=list,
                                  description="a joint visit: the roles of the workers met there (no names)")


class SchedulePublic(BaseModel):
    worker_id: str
    date: dt.date
    plan_id: str | None
    version: int | None
    departure: dt.datetime | None
    return_: dt.datetime | None = Field(default=None, serialization_alias="return")
    break_: BreakPublic | None = Field(default=None, serialization_alias="break")
    stops: list[ScheduleStop]


# ---- outcomes --------------------------------------------------------------------------------


class OutcomeBase(SQLModel):
    kind: OutcomeKind = Field(sa_type=_STR32)
    visit_id: str | None = Field(default=None, max_length=40, description="for visit outcomes")
    worker_id: str | None = Field(
        default=None, max_length=40, description="for worker_delayed and worker_off_sick"
    )
    at: IsoDateTime | None = Field(
        default=None, sa_type=UTCDateTime, description="when it happened (default: now)"
    )
    delay_s: int | None = Field(default=None, ge=0, le=12 * 3600, description="for worker_delayed")

    @model_validator(mode="after")
    def _target(self) -> Any:
        if self.kind in VISIT_OUTCOMES and not self.visit_id:
            raise ValueError(f"visit_id: required for a {self.kind.value} outcome")
        if self.kind in WORKER_OUTCOMES and not self.worker_id:
            raise ValueError(f"worker_id: required for a {self.kind.value} outcome")
        if self.kind == OutcomeKind.WORKER_DELAYED and self.delay_s is None:
            raise ValueError("delay_s: required for a worker_delayed outcome")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError("at: give an offset, e.g. 2026-11-24T14:05:00+09:00")
        return self


class OutcomeCreate(OutcomeBase, InputModel):
    pass


class Outcome(OutcomeBase, table=True):
    id: str = Field(default_factory=lambda: new_id("oc"), primary_key=True, max_length=40)
    plan_id: str = Field(foreign_key="plan.id", index=True, max_length=40)
    team_id: str = Field(foreign_key="team.id", max_length=40)
    date: dt.date
    follow_up_request_id: str | None = Field(default=None, max_length=40)
    recorded_by: str | None = Field(default=None, max_length=40)
    created_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)


class OutcomePublic(OutcomeBase):
    id: str
    plan_id: str
    team_id: str
    date: dt.date
    follow_up_request_id: str | None
    created_at: dt.datetime


# ---- audit -------------------------------------------------------------------------------------


class AuditLog(SQLModel, table=True):
    """Append-only: rows are inserted, never updated or deleted (enforced by triggers too)."""

    __tablename__ = "audit_log"

    id: str = Field(default_factory=lambda: new_id("au"), primary_key=True, max_length=40)
    at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime, index=True)
    actor_id: str | None = Field(default=None, max_length=40, index=True)
    actor_role: str = Field(default="", max_length=32)
    action: str = Field(max_length=32)
    resource: str = Field(max_length=32)
    resource_id: str | None = Field(default=None, max_length=40)
    team_id: str | None = Field(default=None, max_length=40)
    detail: str = Field(default="", max_length=500, description="ids and counts only")


class AuditPublic(SQLModel):
    id: str
    at: dt.datetime
    actor_id: str | None
    actor_role: str
    action: str
    resource: str
    resource_id: str | None
    team_id: str | None
    detail: str


class ImportResult(BaseModel):
    created: int
    updated: int
    ids: list[str]


class TeamLoadResult(BaseModel):
    team: TeamPublic
    workers: int
    households: int
    visit_requests: int


# ---- calendar feeds (issue 11) -----------------------------------------------------------------
# A feed's secret URL (only its SHA-256 is stored) and, per published visit and worker, what the
# worker's calendar shows: kept up to date by every publish, so a feed fetch is one indexed read.


class FeedKind(StrEnum):
    WORKER = "worker"  # one field worker's visits and lunch breaks
    TEAM = "team"  # every worker's visits of a team, for a dispatcher or manager


class FeedToken(SQLModel, table=True):
    """A calendar feed's secret: at most one live feed per worker, and per user and team."""

    __tablename__ = "feed_token"
    __table_args__ = (
        sa.Index(
            "uq_feed_token_live", "team_id", "subject", unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"), postgresql_where=sa.text("revoked_at IS NULL"),
        ),
    )

    id: str = Field(default_factory=lambda: new_id("fd"), primary_key=True, max_length=40)
    team_id: str = Field(foreign_key="team.id", max_length=40)
    kind: FeedKind = Field(sa_type=_STR32)
    subject: str = Field(max_length=40, description="the worker's id (worker feeds), the owner's user id (team feeds)")
    worker_id: str | None = Field(default=None, max_length=40)
    user_id: str | None = Field(default=None, max_length=40, description="owner of a team feed")
    token_hash: str = Field(unique=True, index=True, max_length=64)
    created_by: str | None = Field(default=None, max_length=40)
    created_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class FeedPublic(SQLModel):
    id: str
    team_id: str
    kind: FeedKind
    worker_id: str | None
    user_id: str | None
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None


class FeedCreated(FeedPublic):
    url: str = Field(description="https form (Google Calendar: 'From URL'); shown once")
    webcal_url: str = Field(description="webcal form (Apple Calendar, Outlook); shown once")


class FeedRevoked(BaseModel):
    revoked: int


class FeedEvent(SQLModel, table=True):
    """One event of one worker's calendar: a visit (``item_id`` = its id) or the lunch break
    (``item_id`` = ``"break"``).  A visit moved to another worker gets a row for the new worker
    and the old worker's row turns ``cancelled``; rows are never deleted."""

    __tablename__ = "feed_event"
    __table_args__ = (sa.Index("ix_feed_event_worker_date", "worker_id", "date"),)

    team_id: str = Field(primary_key=True, max_length=40)
    date: dt.date = Field(primary_key=True)
    item_id: str = Field(primary_key=True, max_length=40)
    worker_id: str = Field(primary_key=True, max_length=40)
    household_id: str | None = Field(default=None, max_length=40)
    dong: str = Field(default="", max_length=64)
    visit_kind: str = Field(default="", max_length=32)
    start: dt.datetime = Field(sa_type=UTCDateTime)
    end: dt.datetime = Field(sa_type=UTCDateTime)
    travel_s: int = 0
    partner_roles: str = Field(default="", max_length=64, description="a joint visit: the partners' roles")
    sequence: int = 0
    cancelled: bool = False
    plan_id: str = Field(max_length=40, description="the version that last changed it")
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    changed_at: dt.datetime = Field(sa_type=UTCDateTime, description="DTSTAMP and LAST-MODIFIED")
    cancelled_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


# ---- what-if scenarios (managers) ------------------------------------------------------------------


class Scenario(SQLModel, table=True):
    """A validated scenario: the spec as plain data with its base problem embedded (a fixture or a team's
    rows; never served back: only the changes are)."""

    __tablename__ = "scenario"

    id: str = Field(default_factory=lambda: new_id("sc"), primary_key=True, max_length=40)
    name: str = Field(max_length=128)
    description: str = Field(default="", max_length=2000)
    base_name: str = Field(default="", max_length=128)
    team_id: str | None = Field(default=None, foreign_key="team.id", max_length=40, index=True)
    start: dt.date
    weeks: int
    seeds: int
    spec: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    created_by: str | None = Field(default=None, max_length=40)
    created_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)


class ScenarioPublic(SQLModel):
    id: str
    name: str
    description: str
    base_name: str = Field(description="the fixture it starts from, or team:<id> for a team's data")
    team_id: str | None
    start: dt.date
    weeks: int
    seeds: int
    changes: dict[str, Any] = Field(description="the spec without its base problem")
    created_by: str | None
    created_at: dt.datetime


class StaffSweep(InputModel):
    role: Role = Field(description="the role whose head count varies")
    counts: list[int] = Field(min_length=1, max_length=12, description="head counts to simulate (0..200 each)")

    @field_validator("counts")
    @classmethod
    def _counts(cls, value: list[int]) -> list[int]:
        bad = [c for c in value if not 0 <= c <= 200]
        if bad:
            raise ValueError(f"{bad[0]} is not a head count in 0..200")
        return sorted(set(value))


class ScenarioRunCreate(InputModel):
    seeds: int | None = Field(default=None, ge=1, le=50, description="seeds 0..n-1 (default the spec's, at most 50)")
    policies: list[Literal["salpimi", "manual", "day_by_day"]] = Field(
        default_factory=lambda: ["salpimi"], min_length=1, max_length=3,
        description="salpimi (the week planner), manual (manual practice), day_by_day (each day alone)")
    staff: StaffSweep | None = Field(default=None, description="simulate each head count of a role "
                                     "(coverage within cadence versus staff)")


class ScenarioRun(SQLModel, table=True):
    """A scenario's sweep (seeds x policies, or seeds x head counts) as a job; its runs are stored as they
    finish, so a run interrupted by a restart resumes without redoing them."""

    __tablename__ = "scenario_run"

    id: str = Field(default_factory=lambda: new_id("sr"), primary_key=True, max_length=40)
    scenario_id: str = Field(foreign_key="scenario.id", max_length=40, index=True)
    status: JobStatus = Field(default=JobStatus.QUEUED, sa_type=_STR32)
    seeds: int
    policies: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    staff: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    progress: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    result: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    error: str | None = Field(default=None, max_length=1000)
    cancel_requested: bool = False
    created_by: str | None = Field(default=None, max_length=40)
    created_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)
    started_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(default_factory=now_utc, sa_type=UTCDateTime)


class SweepProgressPublic(BaseModel):
    total: int = 0
    done: int = 0
    running: int = 0
    left: int = 0
    failed: int = 0
    elapsed_s: float = 0.0
    eta_s: float | None = Field(default=None, description="estimated seconds left")


class ScenarioRunPublic(SQLModel):
    id: str
    scenario_id: str
    status: JobStatus
    seeds: int
    policies: list[str]
    staff: dict[str, Any] | None
    progress: SweepProgressPublic
    error: str | None
    aggregates: list[dict[str, Any]] = Field(
        default_factory=list, description="per policy (or head count): every KPI's mean, min and max over the "
        "seeds, and the weekly series")
    failed_runs: list[dict[str, Any]] = Field(default_factory=list, description="runs that failed twice: "
                                              "seed, policy, head count and the reason")
    charts: list[str] = Field(default_factory=list, description="chart URLs (PNG; .svg alike)")
    created_by: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
