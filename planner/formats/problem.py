"""The problem file's field table, and from it the parser, the serialiser and the JSON Schema."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..domain import (
    MAX_CREW,
    TIERS,
    Household,
    Location,
    Precedence,
    Problem,
    RiskFactors,
    RiskSettings,
    Role,
    Seat,
    ServiceTimes,
    TimeWindow,
    TravelModeName,
    TravelTable,
    Visit,
    VisitKind,
    WeeklyWindow,
    Worker,
)
from ..timeline import WEEKDAYS
from .fields import (
    DATE_RANGE,
    LIMITS,
    RANGES,
    Bool,
    Choice,
    Clock,
    Codec,
    Const,
    Date,
    EnumOf,
    Field,
    Ident,
    JsonObject,
    ListOf,
    MapOf,
    Nullable,
    Number,
    Record,
    Text,
    Window,
    check_keys,
    require_list,
    require_mapping,
    show,
)

__all__ = [
    "PRECEDENCE",
    "PROBLEM",
    "SEAT",
    "availability_from_json",
    "availability_to_json",
    "clock_from_json",
    "problem_from_json",
    "problem_json_schema",
    "problem_to_json",
    "windows_from_json",
    "windows_to_json",
]

_TAG = Ident(max_chars=LIMITS["tag_chars"])
_TAGS = ListOf(_TAG, limit=LIMITS["tags"])
_TAG_SET = ListOf(_TAG, limit=LIMITS["tags"], unique=True)
_ID = Ident()
_WINDOWS = ListOf(Window(), limit=LIMITS["windows"])
_PRIORITY = Nullable(Number("priority"))

LOCATION: Record[Location] = Record(
    [Field("lat", Number("lat")), Field("lon", Number("lon"))], cls=Location,
)


class _Availability(Codec[tuple[WeeklyWindow, ...]]):
    """``{"tue": [["09:00", "12:00"]], ...}``: weekly windows when someone is home."""

    _windows = _WINDOWS

    def parse(self, value: Any, where: str) -> tuple[WeeklyWindow, ...]:
        out: list[WeeklyWindow] = []
        for day, windows in require_mapping(value, where).items():
            if day not in WEEKDAYS:
                raise ValueError(f"{where}: {show(day)} is not one of {', '.join(WEEKDAYS)}")
            out.extend(WeeklyWindow(weekday=day, window=w) for w in self._windows.parse(windows, f"{where}.{day}"))
        return tuple(out)

    def dump(self, value: tuple[WeeklyWindow, ...]) -> dict[str, list[list[str]]]:
        return {day: self._windows.dump([w.window for w in value if w.weekday == day])
                for day in WEEKDAYS if any(w.weekday == day for w in value)}

    def schema(self) -> dict[str, Any]:
        return {"type": "object", "propertyNames": {"enum": list(WEEKDAYS)},
                "additionalProperties": self._windows.schema(),
                "description": "Weekly windows when someone is home; absent = any time."}


_defaults = RiskFactors()
RISK: Record[RiskFactors] = Record(
    [
        Field("age_band", Choice(RiskFactors.AGE_BANDS), default=_defaults.age_band),
        Field("sex", Choice(RiskFactors.SEXES), default=_defaults.sex),
        Field("basic_livelihood", Bool(), default=False),
        Field("chronic_illness", Bool(), default=False),
        Field("alcohol", Bool(), default=False),
        Field("disability", Bool(), default=False),
        Field("housing", Choice(RiskFactors.HOUSING), default=_defaults.housing),
        Field("social_contact", Choice(RiskFactors.SOCIAL), default=_defaults.social_contact),
        Field("crisis_report", Bool(), default=False),
    ],
    cls=RiskFactors,
    description="Published loneliness-death risk factors; the risk model turns them into a tier and a skip penalty.",
)


def _languages(values: tuple[str, ...]) -> tuple[str, ...]:
    return values or ("ko",)


HOUSEHOLD: Record[Household] = Record(
    [
        Field("id", _ID),
        Field("label", Text(), default="", write=False, description="The team's name for it (not used in planning)."),
        Field("location", LOCATION),
        Field("dong", Text(), default=""),
        Field("risk", RISK, default={}),
        Field("last_contact", Nullable(Date()), default=None),
        Field("preferred_worker_id", Nullable(_ID), default=None),
        Field("languages", _TAGS, default=["ko"]),
        Field("availability", _Availability(), default={}),
        Field("priority", _PRIORITY, default=None,
              description="The skip penalty of this household's visits, used as given (not aged); replaces "
                          "the risk model's. null: the risk model's ageing penalty."),
    ],
    make=lambda v: Household(
        id=v["id"], location=v["location"], dong=v["dong"], risk=v["risk"], last_contact=v["last_contact"],
        preferred_worker_id=v["preferred_worker_id"], languages=_languages(v["languages"]),
        availability=v["availability"], priority=v["priority"],
    ),
    named="household",
)

BREAK: Record[tuple[TimeWindow, int]] = Record(
    [
        Field("window", Window(), get=lambda b: b[0]),
        Field("duration_s", Number("break_s"), optional=True, get=lambda b: b[1],
              description="Seconds of the break (default: the whole window)."),
    ],
    make=lambda v: (v["window"], v.get("duration_s", v["window"].length_s)),
    description="Lunch, taken inside its window and the working day (possibly while travelling).",
)


def _worker(v: dict[str, Any]) -> Worker:
    brk = v["break"]
    return Worker(
        id=v["id"], name=v["name"], team=v["team"], role=v["role"], skills=v["skills"],
        languages=_languages(v["languages"]), start=v["start"], end=v["end"] if v["end"] is not None else v["start"],
        shift=v["shift"], break_window=None if brk is None else brk[0], break_s=0 if brk is None else brk[1],
        max_visits=v["max_visits"], max_work_s=v["max_work_s"], travel_mode=v["travel_mode"],
        speed_factor=v["speed_factor"], capacity=v["capacity"],
    )


WORKER: Record[Worker] = Record(
    [
        Field("id", _ID),
        Field("name", Text(), default=""),
        Field("team", Text(), default=""),
        Field("role", EnumOf(Role)),
        Field("skills", _TAG_SET, default=[]),
        Field("languages", _TAGS, default=["ko"]),
        Field("start", LOCATION),
        Field("end", Nullable(LOCATION), default=None, description="Where the day ends (default: the start)."),
        Field("shift", Window(), default=["09:00", "18:00"]),
        Field("break", Nullable(BREAK), default=None,
              get=lambda w: None if w.break_window is None else (w.break_window, w.break_s)),
        Field("max_visits", Nullable(Number("max_visits")), default=None),
        Field("max_work_s", Nullable(Number("max_work_s")), default=None,
              description="Working seconds excluding the break."),
        Field("travel_mode", EnumOf(TravelModeName), default="walk"),
        Field("speed_factor", Number("speed_factor"), default=1.0,
              description=">1 travels faster than the mode's default"),
        Field("capacity", Nullable(Number("capacity")), default=None,
              description="Load units carried (kits, food boxes); null = unlimited"),
    ],
    make=_worker,
    named="worker",
)

SEAT: Record[Seat] = Record(
    [
        Field("role", Nullable(EnumOf(Role)), default=None, omit_default=True,
              description="The role the seat's worker must have (null: any the visit allows)."),
        Field("skills", _TAG_SET, default=[], omit_default=True,
              description="Skills the seat's worker must have, besides the visit's required_skills."),
        Field("worker_id", Nullable(_ID), default=None, omit_default=True,
              description="A named worker for this seat."),
        Field("duration_s", Nullable(Number("service_s")), default=None, omit_default=True,
              description="This seat's service seconds (default: the visit's, for the seat worker's role)."),
    ],
    cls=Seat,
    description="One worker of a joint visit; {} = any worker the visit allows.",
)

PRECEDENCE: Record[Precedence] = Record(
    [
        Field("first", _ID),
        Field("then", _ID),
        Field("min_gap_s", Number("gap_s"), default=0,
              description="Seconds from the start of `first` to the start of `then`, at least."),
        Field("max_gap_s", Nullable(Number("gap_s")), default=None, description="At most (null: no limit)."),
    ],
    cls=Precedence,
    description="Visit `then` starts min_gap_s..max_gap_s after visit `first` starts, the same day; "
                "`then` is planned only if `first` is.",
)


def _visit(v: dict[str, Any]) -> Visit:
    due, late = v.get("due"), v.get("late_cost")
    if late is not None and due is None:
        raise ValueError(f"visit {v['id']}.late_cost: given without due")
    return Visit(
        id=v["id"], household_id=v["household_id"], kind=v["kind"], duration_s=v["duration_s"],
        required_skills=v["required_skills"], time_windows=v["time_windows"], mandatory=v["mandatory"],
        urgent=v["urgent"], required_worker_id=v["required_worker_id"],
        forbidden_worker_ids=v["forbidden_worker_ids"], allowed_roles=v["allowed_roles"], load=v["load"],
        priority=v["priority"], crew=v.get("crew", ()), due_s=due, late_cost=1.0 if late is None else late,
    )


VISIT: Record[Visit] = Record(
    [
        Field("id", _ID),
        Field("household_id", _ID),
        Field("note", Text(max_chars=LIMITS["note_chars"], multiline=True), default="", write=False),
        Field("kind", EnumOf(VisitKind), default="routine"),
        Field("duration_s", Nullable(Number("service_s")), default=None,
              description="Service seconds (default: service_times by kind and role)."),
        Field("required_skills", _TAG_SET, default=[]),
        Field("time_windows", _WINDOWS, default=[],
              description="When the service may start; empty = any time (within the household's availability)."),
        Field("mandatory", Bool(), default=False),
        Field("urgent", Bool(), default=False),
        Field("required_worker_id", Nullable(_ID), default=None),
        Field("forbidden_worker_ids", ListOf(_ID, limit=LIMITS["forbidden_worker_ids"], unique=True), default=[]),
        Field("allowed_roles", ListOf(EnumOf(Role), limit=LIMITS["tags"], unique=True), default=[],
              description="Empty = any role."),
        Field("load", Number("load", description="Units the worker delivers"), default=0),
        Field("priority", _PRIORITY, default=None,
              description="The skip penalty of this visit, used as given (not aged); replaces the household's "
                          "priority and the risk model's. null: the household's, else the risk model's."),
        Field("crew", ListOf(SEAT, limit=MAX_CREW), default=[], omit_default=True,
              description=f"A joint visit: {MAX_CREW} seats, one per worker; both start together (the earlier "
                          "waits), each is busy for its seat's service time, and either both go or the visit "
                          "is left out. Empty: one worker."),
        Field("due", Nullable(Clock()), default=None, omit_default=True, get=lambda v: v.due_s,
              description="Soft due time HH:MM: starting later costs late_cost per second (time windows stay "
                          "hard)."),
        Field("late_cost", Nullable(Number("late_cost")), default=None, omit_default=True,
              get=lambda v: v.late_cost if v.due_s is not None else None,
              description="Cost per second of starting after due, in seconds of travel (default 1 when due "
                          "is given)."),
    ],
    make=_visit,
    named="visit",
)


class _ServiceTimes(Codec[ServiceTimes]):
    """Default service seconds by visit kind; ``by_role`` overrides per role."""

    _seconds = Number("service_s")

    def parse(self, value: Any, where: str) -> ServiceTimes:
        if value is None:
            return ServiceTimes()
        raw = require_mapping(value, where)
        kinds, roles = EnumOf(VisitKind), EnumOf(Role)
        by_kind = dict(ServiceTimes().by_kind_s)
        by_role: dict[str, dict[str, int]] = {}
        for key, item in raw.items():
            if key == "by_role":
                for kind, per_role in require_mapping(item, f"{where}.by_role").items():
                    kinds.parse(kind, f"{where}.by_role")
                    by_role[kind] = {}
                    for role, secs in require_mapping(per_role, f"{where}.by_role.{kind}").items():
                        roles.parse(role, f"{where}.by_role.{kind}")
                        by_role[kind][role] = self._seconds.parse(secs, f"{where}.by_role.{kind}.{role}")
            else:
                kinds.parse(key, where)
                by_kind[key] = self._seconds.parse(item, f"{where}.{key}")
        return ServiceTimes(by_kind_s=by_kind, by_kind_role_s=by_role)

    def dump(self, value: ServiceTimes) -> dict[str, Any]:
        return {**value.by_kind_s, "by_role": value.by_kind_role_s}

    def schema(self) -> dict[str, Any]:
        seconds = self._seconds.schema()
        return {
            "type": "object",
            "description": "Default service seconds by visit kind; by_role overrides per role.",
            "properties": {
                **{k.value: seconds for k in VisitKind},
                "by_role": {
                    "type": "object",
                    "propertyNames": {"enum": [k.value for k in VisitKind]},
                    "additionalProperties": {
                        "type": "object", "propertyNames": {"enum": [r.value for r in Role]},
                        "additionalProperties": seconds,
                    },
                },
            },
            "additionalProperties": False,
        }


RISK_SETTINGS: Record[RiskSettings] = Record(
    [
        Field("cadence_days", MapOf(Choice(TIERS), Number("cadence_days")), default={},
              description="Days between visits by tier (over the risk model's)."),
        Field("weight", MapOf(Choice(TIERS), Number("tier_weight")), default={},
              description="Base skip penalty by tier (over the risk model's)."),
    ],
    cls=RiskSettings,
    description="This problem's own risk model settings; tiers not named keep the model's "
                "(the packaged planner/risk_defaults.toml, or the server's).",
)


class _Matrix(Codec[np.ndarray]):
    """``n`` rows of ``n`` non-negative numbers (seconds or metres), rounded to whole units."""

    def __init__(self, key: str) -> None:
        self.range = RANGES[key]

    def parse(self, value: Any, where: str) -> np.ndarray:
        rows = require_list(value, where, limit=LIMITS["matrix_locations"])
        n = len(rows)
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != n:
                got = f"{len(row)} values" if isinstance(row, list) else type(row).__name__
                raise ValueError(f"{where}[{i}]: expected a row of {n} values (one per location), got {got}")
        table: np.ndarray | None
        try:
            table = np.array(rows, dtype=float).reshape(n, n)
        except (TypeError, ValueError):
            table = None
        if table is None or np.isnan(table).any():
            self._first_bad(rows, where)
        assert table is not None
        low, high = self.range.minimum, self.range.maximum
        bad = np.argwhere((table < low) | (table > high))
        if bad.size:
            i, j = (int(x) for x in bad[0])
            what = "negative value" if table[i, j] < 0 else "value"
            raise ValueError(f"{where}[{i}][{j}]: {what} {show(rows[i][j])} outside {self.range.text()}")
        return np.rint(table).astype(np.int64)

    @staticmethod
    def _first_bad(rows: list[list[Any]], where: str) -> None:
        for i, row in enumerate(rows):
            for j, x in enumerate(row):
                if x is None:
                    raise ValueError(f"{where}[{i}][{j}]: missing value (null)")
                if isinstance(x, bool) or not isinstance(x, int | float):
                    raise ValueError(f"{where}[{i}][{j}]: expected a number, got {show(x)}")
        raise ValueError(f"{where}: not a table of numbers")

    def dump(self, value: np.ndarray) -> list[list[int]]:
        return value.tolist()

    def schema(self) -> dict[str, Any]:
        return {"type": "array", "maxItems": LIMITS["matrix_locations"],
                "items": {"type": "array", "items": self.range.schema()},
                "description": f"One row per location (from), one column per location (to); {self.range.text()}"}


_MODE_TABLE: Record[tuple[np.ndarray, np.ndarray | None]] = Record(
    [
        Field("duration_s", _Matrix("travel_s"), get=lambda t: t[0]),
        Field("distance_m", Nullable(_Matrix("travel_m")), default=None, get=lambda t: t[1],
              description="Optional; without it the mode's legs count 0 m."),
    ],
    make=lambda v: (v["duration_s"], v["distance_m"]),
)


class _TravelMatrix(Codec[TravelTable]):
    """``{"locations": [...], "walk": {"duration_s": [[...]], "distance_m": [[...]]}, "drive": {...}}``."""

    _locations = ListOf(LOCATION, limit=LIMITS["matrix_locations"])
    _source = Text()
    _modes = tuple(m.value for m in TravelModeName)

    def parse(self, value: Any, where: str) -> TravelTable:
        raw = require_mapping(value, where)
        check_keys(raw, ("locations", "source", *self._modes), where)
        locations = self._locations.parse(raw.get("locations"), f"{where}.locations")
        durations: dict[str, np.ndarray] = {}
        distances: dict[str, np.ndarray] = {}
        for mode in self._modes:
            if raw.get(mode) is None:
                continue
            given = raw[mode]
            for what in ("duration_s", "distance_m"):
                rows = given.get(what) if isinstance(given, Mapping) else None
                if isinstance(rows, list) and len(rows) != len(locations):
                    raise ValueError(f"{where}.{mode}.{what}: {len(rows)} rows for {len(locations)} locations")
            d, m = _MODE_TABLE.parse(given, f"{where}.{mode}")
            durations[mode] = d
            if m is not None:
                distances[mode] = m
        return TravelTable(locations=locations, duration_s=durations, distance_m=distances,
                           source=self._source.parse(raw.get("source", "given matrix"), f"{where}.source"))

    def dump(self, value: TravelTable) -> dict[str, Any]:
        out: dict[str, Any] = {"locations": self._locations.dump(value.locations), "source": value.source}
        for mode, d in value.duration_s.items():
            out[mode] = _MODE_TABLE.dump((d, value.distance_m.get(mode)))
        return out

    def schema(self) -> dict[str, Any]:
        return {
            "type": "object",
            "description": "Travel times (and optionally distances) the user brings, e.g. from OSRM or Valhalla: "
                           "rows and columns follow `locations`, which must hold every visited household's "
                           "location and every worker's start and end (the same coordinates), one matrix "
                           "per travel mode in use. Used instead of straight lines or a road network.",
            "required": ["locations"],
            "properties": {
                "locations": self._locations.schema(),
                "source": {**self._source.schema(), "description": "A label shown in the plan's meta.travel."},
                **{mode: _MODE_TABLE.schema() for mode in self._modes},
            },
            "additionalProperties": False,
        }


def _too_many(key: str) -> Callable[[str, int], str]:
    def message(where: str, n: int) -> str:
        return (f"{where}: {n} {key} exceed the limit of {LIMITS[key]:,} per problem "
                "(what a 10 s budget can plan; split the day or the district)")
    return message


PROBLEM: Record[Problem] = Record(
    [
        Field("$schema", Text(max_chars=LIMITS["note_chars"]), optional=True, write=False),
        Field("name", Text(), default="", path="problem.name"),
        Field("date", Date(), path="problem.date", description="Planning day; the CLI's --date overrides it."),
        Field("timezone", Const("Asia/Seoul"), default="Asia/Seoul", path="problem.timezone",
              get=lambda p: "Asia/Seoul"),
        Field("meta", JsonObject(), default={}, write=False, path="problem.meta"),
        Field("service_times", Nullable(_ServiceTimes()), default=None, path="service_times"),
        Field("risk_model", Nullable(RISK_SETTINGS), default=None, path="risk_model"),
        Field("households", ListOf(HOUSEHOLD, limit=LIMITS["households"], too_many=_too_many("households")),
              default=[], path="households"),
        Field("workers", ListOf(WORKER, limit=LIMITS["workers"], too_many=_too_many("workers")),
              default=[], path="workers"),
        Field("visits", ListOf(VISIT, limit=LIMITS["visits"], too_many=_too_many("visits")),
              default=[], path="visits"),
        Field("travel_matrix", Nullable(_TravelMatrix()), default=None, path="travel_matrix"),
        Field("precedences", ListOf(PRECEDENCE, limit=LIMITS["precedences"]), default=[], omit_default=True,
              path="precedences"),
    ],
    make=lambda v: Problem(
        date=v["date"], name=v["name"], households=v["households"], workers=v["workers"], visits=v["visits"],
        service_times=v["service_times"] or ServiceTimes(), risk_model=v["risk_model"],
        travel_matrix=v["travel_matrix"], precedences=v["precedences"],
    ),
)


def problem_from_json(data: Any, *, date: dt.date | None = None) -> Problem:
    """Build a validated :class:`Problem` from parsed JSON; ``date`` overrides the file's.

    Every numeric field must lie in its :data:`RANGES` entry and every list within :data:`LIMITS`;
    ids are at most 128 characters without control characters.  Raises ``ValueError`` naming the field.
    """
    data = require_mapping(data, "problem")
    if date is None:
        if data.get("date") is None:
            raise ValueError("problem.date: missing (give --date YYYY-MM-DD)")
    else:
        if not DATE_RANGE[0] <= date <= DATE_RANGE[1]:
            raise ValueError(f"date: {date.isoformat()} lies outside {DATE_RANGE[0]}..{DATE_RANGE[1]}")
        data = {**data, "date": date.isoformat()}
    return PROBLEM.parse(data, "problem")


def problem_to_json(problem: Problem) -> dict[str, Any]:
    """The inverse of :func:`problem_from_json` (round-trips)."""
    out = PROBLEM.dump(problem)
    for key in ("risk_model", "travel_matrix"):
        if out[key] is None:
            del out[key]  # optional inputs stay out of files that do not use them
    return out


def problem_json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of the problem file, from the same field table as the parser."""
    schema = PROBLEM.schema()
    schema["required"] = ["households", "workers", "visits"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://salpimi.example/schema/problem.json",
        "title": "Salpimi planning problem",
        "description": "Households, workers and candidate visits for one planning day (Asia/Seoul). "
                       "Rules a schema cannot state (a window's end after its start, ids that refer to "
                       "known households and workers, unique ids) are checked by the parser.",
        "$comment": "Problems above the maxItems of visits, workers or households are refused: "
                    "a whole city's day (10,000 visits) is planned in parts within about 60 s.",
        **schema,
    }


def clock_from_json(value: Any, where: str) -> int:
    """A local clock time ``HH:MM`` as seconds after midnight (the problem file's rule)."""
    return Clock().parse(value, where)


def windows_from_json(value: Any, where: str) -> tuple[TimeWindow, ...]:
    """A list of ``["HH:MM", "HH:MM"]`` windows, each ending after it starts, at most 16."""
    return _WINDOWS.parse(value, where)


def windows_to_json(windows: Sequence[TimeWindow]) -> list[list[str]]:
    return _WINDOWS.dump(windows)


def availability_from_json(value: Any, where: str) -> tuple[WeeklyWindow, ...]:
    """``{"mon": [["09:00", "12:00"]], ...}``: a household's weekly availability."""
    return _Availability().parse(value, where)


def availability_to_json(availability: Sequence[WeeklyWindow]) -> dict[str, list[list[str]]]:
    return _Availability().dump(tuple(availability))
