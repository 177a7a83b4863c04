"""Frozen, validated domain types: households, workers, visits and the day's problem."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "Household",
    "Location",
    "Problem",
    "RiskFactors",
    "Role",
    "ServiceTimes",
    "TimeWindow",
    "TravelModeName",
    "Visit",
    "VisitKind",
    "WeeklyWindow",
    "Worker",
]

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_S = 24 * 3600


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _check_id(value: object, field_name: str) -> None:
    _require(
        isinstance(value, str) and bool(value.strip()) and len(value) <= 128,
        f"{field_name}: expected a non-empty string id (at most 128 characters), got {value!r}",
    )


class Role(StrEnum):
    """What kind of outreach worker (or vehicle) a route belongs to."""

    VISITING_NURSE = "visiting_nurse"
    CASE_MANAGER = "case_manager"
    COUNSELLOR = "counsellor"
    MOBILE_UNIT = "mobile_unit"


class VisitKind(StrEnum):
    """Why a visit happens; drives the default service time."""

    ASSESSMENT = "assessment"
    ROUTINE = "routine"
    FOLLOW_UP = "follow_up"
    CRISIS = "crisis"


class TravelModeName(StrEnum):
    WALK = "walk"
    DRIVE = "drive"


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """A WGS84 point."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        for name, value, limit in (("lat", self.lat, 90.0), ("lon", self.lon, 180.0)):
            _require(
                isinstance(value, int | float) and math.isfinite(value) and abs(value) <= limit,
                f"{name}: {value!r} is not a valid coordinate (|{name}| <= {limit:g})",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class TimeWindow:
    """A half-open interval of seconds after the planning day's local midnight."""

    start_s: int
    end_s: int

    def __post_init__(self) -> None:
        _require(
            isinstance(self.start_s, int) and isinstance(self.end_s, int),
            f"time window: expected integer seconds, got {self.start_s!r}..{self.end_s!r}",
        )
        _require(
            0 <= self.start_s <= 2 * _DAY_S and 0 <= self.end_s <= 2 * _DAY_S,
            f"time window: {self.start_s}..{self.end_s} s lies outside the planning day",
        )
        _require(
            self.end_s > self.start_s,
            f"time window: end {self.end_s} s is not after start {self.start_s} s",
        )

    @property
    def length_s(self) -> int:
        return self.end_s - self.start_s

    def intersect(self, other: TimeWindow) -> TimeWindow | None:
        start, end = max(self.start_s, other.start_s), min(self.end_s, other.end_s)
        return TimeWindow(start_s=start, end_s=end) if end > start else None


@dataclass(frozen=True, slots=True, kw_only=True)
class WeeklyWindow:
    """A recurring availability window on one weekday (``mon`` .. ``sun``)."""

    weekday: str
    window: TimeWindow

    def __post_init__(self) -> None:
        _require(
            self.weekday in _WEEKDAYS,
            f"weekday: {self.weekday!r} is not one of {', '.join(_WEEKDAYS)}",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskFactors:
    """Published loneliness-death risk factors of a household (see ``planner.risk``)."""

    age_band: str = "50-64"
    sex: str = "M"
    basic_livelihood: bool = False
    chronic_illness: bool = False
    alcohol: bool = False
    disability: bool = False
    housing: str = "house"
    social_contact: str = "weekly"
    crisis_report: bool = False

    AGE_BANDS = ("<40", "40-49", "50-64", "65-74", "75+")
    SEXES = ("M", "F")
    HOUSING = ("house", "apartment", "one_room", "goshiwon", "banjiha", "motel", "rooftop")
    SOCIAL = ("none", "rare", "monthly", "weekly", "daily")

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("age_band", self.age_band, self.AGE_BANDS),
            ("sex", self.sex, self.SEXES),
            ("housing", self.housing, self.HOUSING),
            ("social_contact", self.social_contact, self.SOCIAL),
        ):
            _require(value in allowed, f"{name}: {value!r} is not one of {', '.join(allowed)}")
        for name in ("basic_livelihood", "chronic_illness", "alcohol", "disability", "crisis_report"):
            value = getattr(self, name)
            _require(isinstance(value, bool), f"{name}: expected true or false, got {value!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Household:
    """An at-risk household: where it is, how risky, and when someone may call."""

    id: str
    location: Location
    dong: str = ""
    risk: RiskFactors = field(default_factory=RiskFactors)
    last_contact: dt.date | None = None
    preferred_worker_id: str | None = None
    languages: tuple[str, ...] = ("ko",)
    availability: tuple[WeeklyWindow, ...] = ()

    def __post_init__(self) -> None:
        _check_id(self.id, "household.id")
        _require(bool(self.languages), f"household {self.id}: languages must not be empty")

    def windows_on(self, weekday: str) -> tuple[TimeWindow, ...] | None:
        """Availability on ``weekday``; ``None`` means no restriction was given."""
        if not self.availability:
            return None
        return tuple(w.window for w in self.availability if w.weekday == weekday)


@dataclass(frozen=True, slots=True, kw_only=True)
class Worker:
    """One outreach worker (or counselling vehicle): one route per day."""

    id: str
    role: Role
    start: Location
    end: Location
    shift: TimeWindow
    name: str = ""
    team: str = ""
    skills: frozenset[str] = frozenset()
    languages: tuple[str, ...] = ("ko",)
    break_window: TimeWindow | None = None
    break_s: int = 0
    max_visits: int | None = None
    max_work_s: int | None = None
    travel_mode: TravelModeName = TravelModeName.WALK
    speed_factor: float = 1.0
    capacity: int | None = None

    def __post_init__(self) -> None:
        _check_id(self.id, "worker.id")
        _require(
            isinstance(self.break_s, int) and self.break_s >= 0,
            f"worker {self.id}: break_s must be a non-negative integer, got {self.break_s!r}",
        )
        if self.break_s:
            _require(self.break_window is not None, f"worker {self.id}: break_s without a break_window")
        if self.break_window is not None:
            bw = self.break_window
            _require(
                bw.length_s >= self.break_s,
                f"worker {self.id}: break window is shorter than the {self.break_s} s break",
            )
            _require(
                self.shift.start_s <= bw.start_s and bw.end_s <= self.shift.end_s,
                f"worker {self.id}: break window lies outside the shift",
            )
        if self.max_visits is not None:
            _require(
                isinstance(self.max_visits, int) and self.max_visits >= 0,
                f"worker {self.id}: max_visits must be a non-negative integer, got {self.max_visits!r}",
            )
        if self.max_work_s is not None:
            _require(
                isinstance(self.max_work_s, int) and self.max_work_s > 0,
                f"worker {self.id}: max_work_s must be a positive integer, got {self.max_work_s!r}",
            )
        if self.capacity is not None:
            _require(
                isinstance(self.capacity, int) and self.capacity >= 0,
                f"worker {self.id}: capacity must be a non-negative integer, got {self.capacity!r}",
            )
        _require(
            isinstance(self.speed_factor, int | float) and 0.1 <= self.speed_factor <= 10,
            f"worker {self.id}: speed_factor must lie in 0.1..10, got {self.speed_factor!r}",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Visit:
    """A candidate visit to a household on the planning day."""

    id: str
    household_id: str
    kind: VisitKind = VisitKind.ROUTINE
    duration_s: int | None = None
    required_skills: frozenset[str] = frozenset()
    time_windows: tuple[TimeWindow, ...] = ()
    mandatory: bool = False
    urgent: bool = False
    required_worker_id: str | None = None
    forbidden_worker_ids: frozenset[str] = frozenset()
    allowed_roles: frozenset[Role] = frozenset()
    load: int = 0

    def __post_init__(self) -> None:
        _check_id(self.id, "visit.id")
        _require(
            isinstance(self.load, int) and self.load >= 0,
            f"visit {self.id}: load must be a non-negative integer, got {self.load!r}",
        )
        _check_id(self.household_id, f"visit {self.id}: household_id")
        if self.duration_s is not None:
            _require(
                isinstance(self.duration_s, int) and 0 < self.duration_s <= 12 * 3600,
                f"visit {self.id}: duration_s must be a positive number of seconds up to 12 h, "
                f"got {self.duration_s!r}",
            )
        spans = sorted((w.start_s, w.end_s) for w in self.time_windows)
        for (_, a_end), (b_start, _) in itertools.pairwise(spans):
            _require(b_start >= a_end, f"visit {self.id}: time windows overlap")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceTimes:
    """Default service seconds by visit kind, with optional per-role overrides."""

    by_kind_s: dict[str, int] = field(
        default_factory=lambda: {
            "assessment": 3600,
            "routine": 2400,
            "follow_up": 1800,
            "crisis": 2700,
        }
    )
    by_kind_role_s: dict[str, dict[str, int]] = field(default_factory=dict)

    def seconds(self, kind: str, role: str) -> int:
        per_role = self.by_kind_role_s.get(kind, {})
        if role in per_role:
            return per_role[role]
        return self.by_kind_s.get(kind, 2400)


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """Everything needed to plan one day: who, whom, when and with which rules."""

    date: dt.date
    households: tuple[Household, ...]
    workers: tuple[Worker, ...]
    visits: tuple[Visit, ...]
    name: str = ""
    service_times: ServiceTimes = field(default_factory=ServiceTimes)

    def __post_init__(self) -> None:
        for kind, items in (("household", self.households), ("worker", self.workers), ("visit", self.visits)):
            seen: set[str] = set()
            for item in items:
                _require(item.id not in seen, f"{kind} id {item.id!r} appears twice")
                seen.add(item.id)
        household_ids = {h.id for h in self.households}
        worker_ids = {w.id for w in self.workers}
        for h in self.households:
            if h.preferred_worker_id is not None:
                _require(
                    h.preferred_worker_id in worker_ids,
                    f"household {h.id}: preferred_worker_id {h.preferred_worker_id!r} is not a known worker",
                )
        for v in self.visits:
            _require(
                v.household_id in household_ids,
                f"visit {v.id}: household_id {v.household_id!r} is not a known household",
            )
            if v.required_worker_id is not None:
                _require(
                    v.required_worker_id in worker_ids,
                    f"visit {v.id}: required_worker_id {v.required_worker_id!r} is not a known worker",
                )
            unknown = sorted(v.forbidden_worker_ids - worker_ids)
            _require(not unknown, f"visit {v.id}: forbidden worker(s) {unknown} are not known workers")

    def household(self, household_id: str) -> Household:
        """The household with this id (a linear scan: use :meth:`households_by_id` in loops)."""
        for h in self.households:
            if h.id == household_id:
                return h
        raise KeyError(household_id)

    def households_by_id(self) -> dict[str, Household]:
        return {h.id: h for h in self.households}

    def workers_by_id(self) -> dict[str, Worker]:
        return {w.id: w for w in self.workers}

    def visits_by_id(self) -> dict[str, Visit]:
        return {v.id: v for v in self.visits}
