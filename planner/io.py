"""Reading and writing problem and plan files (JSON), with errors that name the field."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .domain import (
    Household,
    Location,
    Problem,
    RiskFactors,
    Role,
    ServiceTimes,
    TimeWindow,
    TravelModeName,
    Visit,
    VisitKind,
    WeeklyWindow,
    Worker,
)
from .timeline import WEEKDAYS, format_hhmm, parse_date, parse_hhmm

__all__ = [
    "ProblemFileError",
    "load_problem",
    "problem_from_json",
    "problem_json_schema",
    "problem_to_json",
    "read_json",
    "require_list",
    "require_mapping",
    "require_str",
]


class ProblemFileError(ValueError):
    """A problem or plan file that cannot be used; the message is one line for the user."""


def require_mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def require_list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def require_str(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: expected a non-empty string, got {value!r}")
    return value


def _int(value: Any, where: str, *, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise ValueError(f"{where}: expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{where}: must be at least {minimum}, got {value!r}")
    return int(value)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where}: expected true or false, got {value!r}")
    return value


def _str_list(value: Any, where: str) -> list[str]:
    items = require_list(value, where)
    for i, item in enumerate(items):
        require_str(item, f"{where}[{i}]")
    return items


def _window(value: Any, where: str) -> TimeWindow:
    """``["09:00", "12:00"]`` or ``{"start": "09:00", "end": "12:00"}``."""
    if isinstance(value, Mapping):
        start, end = value.get("start"), value.get("end")
    elif isinstance(value, list) and len(value) == 2:
        start, end = value
    else:
        raise ValueError(f"{where}: expected [\"HH:MM\", \"HH:MM\"], got {value!r}")
    s = parse_hhmm(start, field=f"{where}.start")
    e = parse_hhmm(end, field=f"{where}.end")
    if e <= s:
        raise ValueError(f"{where}: end {end} is not after start {start}")
    return TimeWindow(start_s=s, end_s=e)


def _location(value: Any, where: str) -> Location:
    value = require_mapping(value, where)
    lat, lon = value.get("lat"), value.get("lon")
    for name, v in (("lat", lat), ("lon", lon)):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"{where}.{name}: expected a number, got {v!r}")
    try:
        return Location(lat=float(lat), lon=float(lon))
    except ValueError as exc:
        raise ValueError(f"{where}.{exc}") from None


def _enum(cls: Any, value: Any, where: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise ValueError(f"{where}: {value!r} is not one of {allowed}") from None


def _check_keys(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")


def _household(raw: Any, where: str) -> Household:
    raw = require_mapping(raw, where)
    _check_keys(
        raw,
        {"id", "location", "dong", "risk", "last_contact", "preferred_worker_id", "languages",
         "availability", "label"},
        where,
    )
    hid = require_str(raw.get("id"), f"{where}.id")
    where = f"household {hid}"
    risk_raw = require_mapping(raw.get("risk", {}), f"{where}.risk")
    _check_keys(risk_raw, set(RiskFactors.__dataclass_fields__), f"{where}.risk")
    try:
        risk = RiskFactors(**risk_raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}.risk.{exc}") from None
    avail: list[WeeklyWindow] = []
    for day, windows in require_mapping(raw.get("availability", {}), f"{where}.availability").items():
        if day not in WEEKDAYS:
            raise ValueError(f"{where}.availability: {day!r} is not one of {', '.join(WEEKDAYS)}")
        for i, w in enumerate(require_list(windows, f"{where}.availability.{day}")):
            avail.append(WeeklyWindow(weekday=day, window=_window(w, f"{where}.availability.{day}[{i}]")))
    last = raw.get("last_contact")
    return Household(
        id=hid,
        location=_location(raw.get("location"), f"{where}.location"),
        dong=str(raw.get("dong", "")),
        risk=risk,
        last_contact=None if last is None else parse_date(last, field=f"{where}.last_contact"),
        preferred_worker_id=raw.get("preferred_worker_id"),
        languages=tuple(_str_list(raw.get("languages", ["ko"]), f"{where}.languages")) or ("ko",),
        availability=tuple(avail),
    )


def _worker(raw: Any, where: str) -> Worker:
    raw = require_mapping(raw, where)
    _check_keys(
        raw,
        {"id", "name", "role", "team", "skills", "languages", "start", "end", "shift", "break",
         "max_visits", "max_work_s", "travel_mode", "speed_factor", "capacity"},
        where,
    )
    wid = require_str(raw.get("id"), f"{where}.id")
    where = f"worker {wid}"
    start = _location(raw.get("start"), f"{where}.start")
    end = _location(raw["end"], f"{where}.end") if raw.get("end") is not None else start
    shift = _window(raw.get("shift", ["09:00", "18:00"]), f"{where}.shift")
    brk = raw.get("break")
    break_window, break_s = None, 0
    if brk is not None:
        brk = require_mapping(brk, f"{where}.break")
        break_window = _window(brk.get("window"), f"{where}.break.window")
        break_s = _int(brk.get("duration_s", break_window.length_s), f"{where}.break.duration_s", minimum=0)
    speed = raw.get("speed_factor", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise ValueError(f"{where}.speed_factor: expected a number, got {speed!r}")
    return Worker(
        id=wid,
        name=str(raw.get("name", "")),
        team=str(raw.get("team", "")),
        role=_enum(Role, raw.get("role"), f"{where}.role"),
        skills=frozenset(_str_list(raw.get("skills", []), f"{where}.skills")),
        languages=tuple(_str_list(raw.get("languages", ["ko"]), f"{where}.languages")) or ("ko",),
        start=start,
        end=end,
        shift=shift,
        break_window=break_window,
        break_s=break_s,
        max_visits=None if raw.get("max_visits") is None else _int(raw["max_visits"], f"{where}.max_visits", minimum=0),
        max_work_s=None if raw.get("max_work_s") is None else _int(raw["max_work_s"], f"{where}.max_work_s", minimum=1),
        travel_mode=_enum(TravelModeName, raw.get("travel_mode", "walk"), f"{where}.travel_mode"),
        speed_factor=float(speed),
        capacity=None if raw.get("capacity") is None else _int(raw["capacity"], f"{where}.capacity", minimum=0),
    )


def _visit(raw: Any, where: str) -> Visit:
    raw = require_mapping(raw, where)
    _check_keys(
        raw,
        {"id", "household_id", "kind", "duration_s", "required_skills", "time_windows", "mandatory",
         "urgent", "required_worker_id", "forbidden_worker_ids", "allowed_roles", "note", "load"},
        where,
    )
    vid = require_str(raw.get("id"), f"{where}.id")
    where = f"visit {vid}"
    duration = raw.get("duration_s")
    return Visit(
        id=vid,
        household_id=require_str(raw.get("household_id"), f"{where}.household_id"),
        kind=_enum(VisitKind, raw.get("kind", "routine"), f"{where}.kind"),
        duration_s=None if duration is None else _int(duration, f"{where}.duration_s", minimum=1),
        required_skills=frozenset(_str_list(raw.get("required_skills", []), f"{where}.required_skills")),
        time_windows=tuple(
            _window(w, f"{where}.time_windows[{i}]")
            for i, w in enumerate(require_list(raw.get("time_windows", []), f"{where}.time_windows"))
        ),
        mandatory=_bool(raw.get("mandatory", False), f"{where}.mandatory"),
        urgent=_bool(raw.get("urgent", False), f"{where}.urgent"),
        required_worker_id=raw.get("required_worker_id"),
        forbidden_worker_ids=frozenset(_str_list(raw.get("forbidden_worker_ids", []), f"{where}.forbidden_worker_ids")),
        allowed_roles=frozenset(
            _enum(Role, r, f"{where}.allowed_roles")
            for r in _str_list(raw.get("allowed_roles", []), f"{where}.allowed_roles")
        ),
        load=_int(raw.get("load", 0), f"{where}.load", minimum=0),
    )


def _service_times(raw: Any) -> ServiceTimes:
    if raw is None:
        return ServiceTimes()
    raw = require_mapping(raw, "service_times")
    by_kind = dict(ServiceTimes().by_kind_s)
    by_role: dict[str, dict[str, int]] = {}
    for key, value in raw.items():
        if key == "by_role":
            for kind, roles in require_mapping(value, "service_times.by_role").items():
                _enum(VisitKind, kind, "service_times.by_role")
                by_role[kind] = {}
                for role, secs in require_mapping(roles, f"service_times.by_role.{kind}").items():
                    _enum(Role, role, f"service_times.by_role.{kind}")
                    by_role[kind][role] = _int(secs, f"service_times.by_role.{kind}.{role}", minimum=1)
        else:
            _enum(VisitKind, key, "service_times")
            by_kind[key] = _int(value, f"service_times.{key}", minimum=1)
    return ServiceTimes(by_kind_s=by_kind, by_kind_role_s=by_role)


def problem_from_json(data: Any, *, date: dt.date | None = None) -> Problem:
    """Build a validated :class:`Problem` from parsed JSON; ``date`` overrides the file's."""
    data = require_mapping(data, "problem")
    _check_keys(
        data,
        {"name", "date", "timezone", "service_times", "households", "workers", "visits", "meta",
         "$schema"},
        "problem",
    )
    if date is None:
        if data.get("date") is None:
            raise ValueError("problem.date: missing (give --date YYYY-MM-DD)")
        date = parse_date(data["date"], field="problem.date")
    households = [
        _household(h, f"households[{i}]")
        for i, h in enumerate(require_list(data.get("households", []), "households"))
    ]
    workers = [
        _worker(w, f"workers[{i}]") for i, w in enumerate(require_list(data.get("workers", []), "workers"))
    ]
    visits = [_visit(v, f"visits[{i}]") for i, v in enumerate(require_list(data.get("visits", []), "visits"))]
    return Problem(
        date=date,
        name=str(data.get("name", "")),
        households=tuple(households),
        workers=tuple(workers),
        visits=tuple(visits),
        service_times=_service_times(data.get("service_times")),
    )


def read_json(path: str | Path, *, what: str = "file") -> Any:
    """Read a JSON file; raise :class:`ProblemFileError` with one clear line on failure."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProblemFileError(f"{what} {p}: no such file") from None
    except IsADirectoryError:
        raise ProblemFileError(f"{what} {p}: is a directory, not a file") from None
    except UnicodeDecodeError:
        raise ProblemFileError(f"{what} {p}: not UTF-8 text") from None
    except OSError as exc:
        raise ProblemFileError(f"{what} {p}: cannot read ({exc.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProblemFileError(
            f"{what} {p}: malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


def load_problem(path: str | Path, *, date: dt.date | None = None) -> Problem:
    """Load and validate a problem file."""
    data = read_json(path, what="problem")
    try:
        return problem_from_json(data, date=date)
    except (ValueError, TypeError) as exc:
        raise ProblemFileError(f"problem {path}: {exc}") from None


def _window_json(w: TimeWindow) -> list[str]:
    return [format_hhmm(w.start_s), format_hhmm(w.end_s)]


def problem_to_json(problem: Problem) -> dict[str, Any]:
    """The inverse of :func:`problem_from_json` (round-trips)."""
    st = problem.service_times
    return {
        "name": problem.name,
        "date": problem.date.isoformat(),
        "timezone": "Asia/Seoul",
        "service_times": {**st.by_kind_s, "by_role": st.by_kind_role_s},
        "households": [
            {
                "id": h.id,
                "location": {"lat": h.location.lat, "lon": h.location.lon},
                "dong": h.dong,
                "risk": {f: getattr(h.risk, f) for f in RiskFactors.__dataclass_fields__},
                "last_contact": None if h.last_contact is None else h.last_contact.isoformat(),
                "preferred_worker_id": h.preferred_worker_id,
                "languages": list(h.languages),
                "availability": {
                    day: [_window_json(w.window) for w in h.availability if w.weekday == day]
                    for day in WEEKDAYS
                    if any(w.weekday == day for w in h.availability)
                },
            }
            for h in problem.households
        ],
        "workers": [
            {
                "id": w.id,
                "name": w.name,
                "team": w.team,
                "role": w.role.value,
                "skills": sorted(w.skills),
                "languages": list(w.languages),
                "start": {"lat": w.start.lat, "lon": w.start.lon},
                "end": {"lat": w.end.lat, "lon": w.end.lon},
                "shift": _window_json(w.shift),
                "break": None
                if w.break_window is None
                else {"window": _window_json(w.break_window), "duration_s": w.break_s},
                "max_visits": w.max_visits,
                "max_work_s": w.max_work_s,
                "travel_mode": w.travel_mode.value,
                "speed_factor": w.speed_factor,
                "capacity": w.capacity,
            }
            for w in problem.workers
        ],
        "visits": [
            {
                "id": v.id,
                "household_id": v.household_id,
                "kind": v.kind.value,
                "duration_s": v.duration_s,
                "required_skills": sorted(v.required_skills),
                "time_windows": [_window_json(w) for w in v.time_windows],
                "mandatory": v.mandatory,
                "urgent": v.urgent,
                "required_worker_id": v.required_worker_id,
                "forbidden_worker_ids": sorted(v.forbidden_worker_ids),
                "allowed_roles": sorted(r.value for r in v.allowed_roles),
                "load": v.load,
            }
            for v in problem.visits
        ],
    }


def problem_json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of the problem file."""
    hhmm = {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$"}
    window = {"type": "array", "items": hhmm, "minItems": 2, "maxItems": 2,
              "description": "[start, end] local clock times, end after start"}
    loc = {
        "type": "object",
        "required": ["lat", "lon"],
        "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90},
                       "lon": {"type": "number", "minimum": -180, "maximum": 180}},
        "additionalProperties": False,
    }
    ident = {"type": "string", "minLength": 1, "maxLength": 128}
    date = {"type": "string", "format": "date"}
    strs = {"type": "array", "items": {"type": "string", "minLength": 1}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://salpimi.example/schema/problem.json",
        "title": "Salpimi planning problem",
        "description": "Households, workers and candidate visits for one planning day (Asia/Seoul).",
        "type": "object",
        "required": ["households", "workers", "visits"],
        "additionalProperties": False,
        "properties": {
            "$schema": {"type": "string"},
            "name": {"type": "string"},
            "date": {**date, "description": "Planning day; the CLI's --date overrides it."},
            "timezone": {"const": "Asia/Seoul"},
            "meta": {"type": "object"},
            "service_times": {
                "type": "object",
                "description": "Default service seconds by visit kind; by_role overrides per role.",
                "properties": {
                    **{k.value: {"type": "integer", "minimum": 1} for k in VisitKind},
                    "by_role": {"type": "object"},
                },
                "additionalProperties": False,
            },
            "households": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "location"],
                    "additionalProperties": False,
                    "properties": {
                        "id": ident,
                        "label": {"type": "string"},
                        "location": loc,
                        "dong": {"type": "string"},
                        "risk": {
                            "type": "object",
                            "additionalProperties": False,
                            "properties": {
                                "age_band": {"enum": list(RiskFactors.AGE_BANDS)},
                                "sex": {"enum": list(RiskFactors.SEXES)},
                                "housing": {"enum": list(RiskFactors.HOUSING)},
                                "social_contact": {"enum": list(RiskFactors.SOCIAL)},
                                **{b: {"type": "boolean"} for b in (
                                    "basic_livelihood", "chronic_illness", "alcohol", "disability",
                                    "crisis_report")},
                            },
                        },
                        "last_contact": {"anyOf": [date, {"type": "null"}]},
                        "preferred_worker_id": {"anyOf": [ident, {"type": "null"}]},
                        "languages": strs,
                        "availability": {
                            "type": "object",
                            "propertyNames": {"enum": list(WEEKDAYS)},
                            "additionalProperties": {"type": "array", "items": window},
                            "description": "Weekly windows when someone is home; absent = any time.",
                        },
                    },
                },
            },
            "workers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "role", "start"],
                    "additionalProperties": False,
                    "properties": {
                        "id": ident,
                        "name": {"type": "string"},
                        "team": {"type": "string"},
                        "role": {"enum": [r.value for r in Role]},
                        "skills": strs,
                        "languages": strs,
                        "start": loc,
                        "end": loc,
                        "shift": window,
                        "break": {
                            "type": ["object", "null"],
                            "properties": {"window": window,
                                           "duration_s": {"type": "integer", "minimum": 0}},
                            "required": ["window"],
                        },
                        "max_visits": {"type": ["integer", "null"], "minimum": 0},
                        "max_work_s": {"type": ["integer", "null"], "minimum": 1,
                                       "description": "Working seconds excluding the break."},
                        "travel_mode": {"enum": [m.value for m in TravelModeName]},
                        "speed_factor": {"type": "number", "minimum": 0.1, "maximum": 10,
                                         "description": ">1 travels faster than the mode's default"},
                        "capacity": {"type": ["integer", "null"], "minimum": 0,
                                     "description": "Load units carried (kits, food boxes); null = unlimited"},
                    },
                },
            },
            "visits": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "household_id"],
                    "additionalProperties": False,
                    "properties": {
                        "id": ident,
                        "household_id": ident,
                        "note": {"type": "string"},
                        "kind": {"enum": [k.value for k in VisitKind]},
                        "duration_s": {"type": ["integer", "null"], "minimum": 1, "maximum": 43200},
                        "required_skills": strs,
                        "time_windows": {"type": "array", "items": window},
                        "mandatory": {"type": "boolean"},
                        "urgent": {"type": "boolean"},
                        "required_worker_id": {"anyOf": [ident, {"type": "null"}]},
                        "forbidden_worker_ids": strs,
                        "allowed_roles": {"type": "array", "items": {"enum": [r.value for r in Role]}},
                        "load": {"type": "integer", "minimum": 0, "description": "Units the worker delivers"},
                    },
                },
            },
        },
    }
