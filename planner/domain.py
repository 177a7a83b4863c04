"""Frozen, validated domain types: households, workers, visits and the day's problem."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from .timeline import WEEKDAYS as _WEEKDAYS

__all__ = [
    "MAX_CREW",
    "TIERS",
    "Household",
    "Location",
    "Precedence",
    "Problem",
    "RiskFactors",
    "RiskSettings",
    "Role",
    "Seat",
    "ServiceTimes",
    "TimeWindow",
    "TravelModeName",
    "TravelTable",
    "Visit",
    "VisitKind",
    "WeeklyWindow",
    "Worker",
]

_DAY_S = 24 * 3600
#: Seats of a joint visit: two workers (the model and the checks take any number; the file format two).
MAX_CREW = 2
#: Risk tiers, most pressing first (``planner.risk`` assigns them).
TIERS = ("urgent", "intensive", "regular", "self_care")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _check_priority(value: object, owner: str) -> None:
    if value is not None:
        _require(
            isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0,
            f"{owner}: priority must be a non-negative number, got {value!r}",
        )


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
    priority: float | None = None  # the skip penalty of its visits, replacing the risk model's (not aged)

    def __post_init__(self) -> None:
        _check_id(self.id, "household.id")
        _require(bool(self.languages), f"household {self.id}: languages must not be empty")
        _check_priority(self.priority, f"household {self.id}")

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
class Seat:
    """One of the workers a joint visit needs: optionally of a role, with skills, or a named worker.

    ``duration_s`` is this seat's own service time (default: the visit's for the seat worker's role);
    the seats start together and each worker is busy for its own seat's time.
    """

    role: Role | None = None
    skills: frozenset[str] = frozenset()
    worker_id: str | None = None
    duration_s: int | None = None

    def __post_init__(self) -> None:
        if self.duration_s is not None:
            _require(
                isinstance(self.duration_s, int) and 0 < self.duration_s <= 12 * 3600,
                f"duration_s must be a positive number of seconds up to 12 h, got {self.duration_s!r}",
            )


@dataclass(frozen=True, slots=True, kw_only=True)
class Precedence:
    """Visit ``then`` starts ``min_gap_s``..``max_gap_s`` seconds after visit ``first`` starts, the same day;
    ``then`` is planned only if ``first`` is."""

    first: str
    then: str
    min_gap_s: int = 0
    max_gap_s: int | None = None

    def __post_init__(self) -> None:
        _check_id(self.first, "precedence.first")
        _check_id(self.then, "precedence.then")
        _require(self.first != self.then, f"precedence {self.first} -> {self.then}: a visit cannot follow itself")
        _require(
            isinstance(self.min_gap_s, int) and 0 <= self.min_gap_s <= _DAY_S,
            f"precedence {self.first} -> {self.then}: min_gap_s must lie in 0..86400, got {self.min_gap_s!r}",
        )
        if self.max_gap_s is not None:
            _require(
                isinstance(self.max_gap_s, int) and self.max_gap_s >= self.min_gap_s,
                f"precedence {self.first} -> {self.then}: max_gap_s {self.max_gap_s!r} is less than "
                f"min_gap_s {self.min_gap_s}",
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
    priority: float | None = None  # the skip penalty, replacing the household's and the risk model's (not aged)
    crew: tuple[Seat, ...] = ()  # a joint visit: one seat per worker, all starting together
    due_s: int | None = None  # soft: starting later costs late_cost per second
    late_cost: float = 1.0

    def __post_init__(self) -> None:
        _check_id(self.id, "visit.id")
        if self.crew:
            _require(
                2 <= len(self.crew) <= MAX_CREW,
                f"visit {self.id}: crew must have 2 seats (one per worker), got {len(self.crew)}",
            )
            _require(
                self.required_worker_id is None,
                f"visit {self.id}: required_worker_id cannot be combined with crew; name each seat's worker "
                "(crew[i].worker_id)",
            )
            named: dict[str, int] = {}
            for i, seat in enumerate(self.crew):
                if seat.worker_id is None:
                    continue
                _require(
                    seat.worker_id not in named,
                    f"visit {self.id}: crew[{i}].worker_id {seat.worker_id!r} already takes "
                    f"crew[{named.get(seat.worker_id)}] (the same worker cannot take two seats)",
                )
                _require(
                    seat.worker_id not in self.forbidden_worker_ids,
                    f"visit {self.id}: crew[{i}].worker_id {seat.worker_id!r} is among forbidden_worker_ids",
                )
                named[seat.worker_id] = i
        if self.due_s is not None:
            _require(
                isinstance(self.due_s, int) and 0 <= self.due_s <= 2 * _DAY_S,
                f"visit {self.id}: due must be a time of the planning day, got {self.due_s!r}",
            )
        _require(
            isinstance(self.late_cost, int | float) and not isinstance(self.late_cost, bool)
            and math.isfinite(self.late_cost) and self.late_cost >= 0,
            f"visit {self.id}: late_cost must be a non-negative number, got {self.late_cost!r}",
        )
        _check_priority(self.priority, f"visit {self.id}")
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
class RiskSettings:
    """A problem's own risk model settings: cadences (days) and weights by tier, over the model's."""

    cadence_days: Mapping[str, int] = field(default_factory=dict)
    weight: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, table in (("cadence_days", self.cadence_days), ("weight", self.weight)):
            for tier, value in table.items():
                _require(tier in TIERS, f"risk_model.{name}: {tier!r} is not one of {', '.join(TIERS)}")
                _require(
                    isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
                    and value > 0,
                    f"risk_model.{name}.{tier}: must be positive, got {value!r}",
                )


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class TravelTable:
    """Travel times (and optionally distances) a user brings for the problem's places, per travel mode.

    ``duration_s[mode]`` and ``distance_m[mode]`` are ``n x n`` int64 arrays over ``locations``
    (row: from, column: to; never symmetrised); a mode without distances counts 0 m.
    """

    locations: tuple[Location, ...]
    duration_s: Mapping[str, np.ndarray]
    distance_m: Mapping[str, np.ndarray] = field(default_factory=dict)
    source: str = "given matrix"
    _index: dict[tuple[float, float], int] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.locations)
        index: dict[tuple[float, float], int] = {}
        for i, p in enumerate(self.locations):
            key = (p.lat, p.lon)
            _require(key not in index, f"travel_matrix.locations[{i}]: repeats locations[{index.get(key)}]")
            index[key] = i
        object.__setattr__(self, "_index", index)
        _require(bool(self.duration_s), "travel_matrix: give the travel times of at least one mode (walk or drive)")
        modes = {m.value for m in TravelModeName}
        for what, tables in (("duration_s", self.duration_s), ("distance_m", self.distance_m)):
            for mode, table in tables.items():
                where = f"travel_matrix.{mode}.{what}"
                _require(mode in modes, f"travel_matrix: {mode!r} is not one of {', '.join(sorted(modes))}")
                _require(mode in self.duration_s, f"{where}: given without {mode}.duration_s")
                _require(
                    isinstance(table, np.ndarray) and table.shape == (n, n),
                    f"{where}: expected {n} rows of {n} values (one per location), got shape "
                    f"{getattr(table, 'shape', None)}",
                )
                _require(table.dtype == np.int64, f"{where}: expected int64 values, got {table.dtype}")
                _require(not table.size or int(table.min()) >= 0, f"{where}: negative value")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TravelTable):
            return NotImplemented
        return (
            self.locations == other.locations and self.source == other.source
            and _same_arrays(self.duration_s, other.duration_s) and _same_arrays(self.distance_m, other.distance_m)
        )

    __hash__ = None  # type: ignore[assignment]

    def index_of(self, location: Location) -> int | None:
        """The row of ``location`` (an exact match of its coordinates), or ``None``."""
        return self._index.get((location.lat, location.lon))


def _same_arrays(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """Everything needed to plan one day: who, whom, when and with which rules."""

    date: dt.date
    households: tuple[Household, ...]
    workers: tuple[Worker, ...]
    visits: tuple[Visit, ...]
    name: str = ""
    service_times: ServiceTimes = field(default_factory=ServiceTimes)
    risk_model: RiskSettings | None = None
    travel_matrix: TravelTable | None = None
    precedences: tuple[Precedence, ...] = ()

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
            if v.crew:
                self._check_crew(v)
        if self.precedences:
            self._check_precedences()
        if self.travel_matrix is not None:
            self._check_travel_matrix(self.travel_matrix)

    def _check_crew(self, v: Visit) -> None:
        """Each seat of a joint visit can be taken by someone: a known worker of the seat's role and skills."""
        workers = self.workers_by_id()
        roles = {w.role for w in self.workers}
        for i, seat in enumerate(v.crew):
            where = f"visit {v.id}: crew[{i}]"
            if seat.role is not None:
                _require(seat.role in roles, f"{where}.role {seat.role.value!r}: no worker has this role")
                _require(
                    not v.allowed_roles or seat.role in v.allowed_roles,
                    f"{where}.role {seat.role.value!r} is not among the visit's allowed_roles",
                )
            for skill in sorted(seat.skills):
                _require(any(skill in w.skills for w in self.workers), f"{where}.skills: no worker has skill {skill!r}")
            if seat.worker_id is not None:
                worker = workers.get(seat.worker_id)
                _require(worker is not None, f"{where}.worker_id {seat.worker_id!r} is not a known worker")
                assert worker is not None
                _require(
                    seat.role is None or worker.role == seat.role,
                    f"{where}.worker_id {seat.worker_id!r} is a {worker.role.value}, "
                    f"not a {seat.role.value if seat.role else ''}",
                )
                missing = sorted(seat.skills - worker.skills)
                _require(not missing, f"{where}.worker_id {seat.worker_id!r} lacks skill(s) {missing}")

    def _check_precedences(self) -> None:
        """Known, distinct visits; a gap the visits' windows can hold; no pair twice and no cycle."""
        visits = self.visits_by_id()
        seen: set[tuple[str, str]] = set()
        after: dict[str, list[str]] = {}
        for i, p in enumerate(self.precedences):
            where = f"precedences[{i}]"
            for end in ("first", "then"):
                vid = getattr(p, end)
                _require(vid in visits, f"{where}.{end}: {vid!r} is not a known visit")
            _require((p.first, p.then) not in seen, f"{where}: {p.first} -> {p.then} appears twice")
            seen.add((p.first, p.then))
            a, b = visits[p.first], visits[p.then]
            earliest = min((w.start_s for w in a.time_windows), default=0)
            latest = max((w.end_s for w in b.time_windows), default=_DAY_S)
            _require(
                latest - earliest >= p.min_gap_s,
                f"{where}.min_gap_s: {p.min_gap_s} s cannot fit the day: {p.then} starts at the latest "
                f"{latest - earliest} s after {p.first} can start",
            )
            after.setdefault(p.first, []).append(p.then)
        # A cycle (a -> b -> ... -> a) can never hold with non-negative gaps (and is surely a typo).
        state: dict[str, int] = {}
        for root in sorted(after):
            if state.get(root):
                continue
            stack = [(root, iter(after.get(root, ())))]
            state[root] = 1
            while stack:
                node, children = stack[-1]
                child = next(children, None)
                if child is None:
                    state[node] = 2
                    stack.pop()
                elif state.get(child) == 1:
                    path = [n for n, _ in stack] + [child]
                    raise ValueError(f"precedences: cycle {' -> '.join(path[path.index(child):])}")
                elif not state.get(child):
                    state[child] = 1
                    stack.append((child, iter(after.get(child, ()))))

    def _check_travel_matrix(self, table: TravelTable) -> None:
        """Every place a route may touch has a row and every mode in use a matrix (errors name ids, not places)."""
        for w in self.workers:
            _require(
                w.travel_mode.value in table.duration_s,
                f"travel_matrix: has no {w.travel_mode.value} matrix, but worker {w.id} travels by "
                f"{w.travel_mode.value}",
            )
            for end, place in (("start", w.start), ("end", w.end)):
                _require(
                    table.index_of(place) is not None,
                    f"travel_matrix.locations: the {end} of worker {w.id} is not among them",
                )
        households = self.households_by_id()
        for v in self.visits:
            _require(
                table.index_of(households[v.household_id].location) is not None,
                f"travel_matrix.locations: the location of household {v.household_id} (visit {v.id}) is not among them",
            )

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
