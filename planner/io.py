"""Reading and writing problem and plan files (JSON), with errors that name the field."""

from __future__ import annotations

import datetime as dt
import json
import math
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

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
    "DATE_RANGE",
    "LIMITS",
    "RANGES",
    "NumberRange",
    "ProblemFileError",
    "load_problem",
    "parse_json_text",
    "problem_from_json",
    "problem_json_schema",
    "problem_to_json",
    "read_json",
    "require_list",
    "require_mapping",
    "require_str",
    "show",
]


class ProblemFileError(ValueError):
    """A problem or plan file that cannot be used; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class NumberRange:
    """The accepted values of one numeric field: ``minimum..maximum`` in ``unit``."""

    minimum: float
    maximum: float
    unit: str
    integer: bool = True

    def text(self) -> str:
        """``1..86400 (s)``: the range as the docs and error messages write it."""
        low, high = (int(x) if float(x).is_integer() else x for x in (self.minimum, self.maximum))
        return f"{low}..{high} ({self.unit})"

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of a value in this range."""
        return {"type": "integer" if self.integer else "number", "minimum": self.minimum,
                "maximum": self.maximum}


# Every numeric field of a problem file and its sane range (also the JSON Schema's and the docs').
RANGES: Final[Mapping[str, NumberRange]] = MappingProxyType({
    "lat": NumberRange(-90, 90, "degrees", integer=False),
    "lon": NumberRange(-180, 180, "degrees", integer=False),
    "service_s": NumberRange(1, 12 * 3600, "s"),  # service_times.*, by_role, visit.duration_s
    "break_s": NumberRange(0, 4 * 3600, "s"),  # worker.break.duration_s
    "max_visits": NumberRange(0, 100, "visits"),
    "max_work_s": NumberRange(1, 24 * 3600, "s"),
    "speed_factor": NumberRange(0.1, 10, "x the mode's speed", integer=False),
    "capacity": NumberRange(0, 1_000_000, "load units"),
    "load": NumberRange(0, 1_000_000, "load units"),
})

# Sizes: a 10 s budget plans about 2,000 visits (10.1 s wall, 0.6 GB with one worker; 3,000 took 15 s
# and 1.0 GB, 5,000 took 22 s and 2.4 GB), so larger problems are refused rather than exhausting the machine.
LIMITS: Final[Mapping[str, int]] = MappingProxyType({
    "visits": 2_000,
    "workers": 250,
    "households": 20_000,
    "windows": 16,  # time windows of a visit; availability windows of a weekday
    "tags": 32,  # skills, languages, required skills, allowed roles of one item
    "forbidden_worker_ids": 250,
    "id_chars": 128,
    "tag_chars": 64,
    "text_chars": 200,  # name, team, dong, label
    "note_chars": 4000,
})

DATE_RANGE: Final[tuple[dt.date, dt.date]] = (dt.date(1900, 1, 1), dt.date(2100, 12, 31))

_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def show(value: Any, *, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, control characters escaped: safe in one error line.

    A cut string keeps its closing quote (``'abc…'``); a long list or object is named, not shown.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    if isinstance(value, str):
        quoted = repr(value[:limit])
        return quoted[: limit - 2] + "…" + quoted[0]
    return f"a {type(value).__name__} of {len(text):,} characters"


def require_mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def require_list(value: Any, where: str, *, limit: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
    if limit is not None and len(value) > limit:
        raise ValueError(f"{where}: {len(value)} items exceed the limit of {limit}")
    return value


def _bad_char(text: str, *, multiline: bool = False) -> str | None:
    for ch in text:
        if multiline and ch in "\t\n\r":
            continue
        if unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI:
            return ch
    return None


def require_str(value: Any, where: str, *, max_chars: int = LIMITS["id_chars"]) -> str:
    """A non-empty identifier-like string: at most ``max_chars``, no control characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: expected a non-empty string, got {show(value)}")
    if len(value) > max_chars:
        raise ValueError(f"{where}: longer than {max_chars} characters")
    bad = _bad_char(value)
    if bad is not None:
        raise ValueError(f"{where}: contains the control character {bad!r}")
    return value


def _text(value: Any, where: str, *, max_chars: int = LIMITS["text_chars"], multiline: bool = False) -> str:
    """Free text (may be empty): at most ``max_chars``, no control characters (tabs and newlines if multiline)."""
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a string, got {type(value).__name__}")
    if len(value) > max_chars:
        raise ValueError(f"{where}: longer than {max_chars} characters")
    bad = _bad_char(value, multiline=multiline)
    if bad is not None:
        raise ValueError(f"{where}: contains the control character {bad!r}")
    return value


def _number(value: Any, where: str, key: str) -> Any:
    """A finite number within ``RANGES[key]`` (an integer where the range says so)."""
    r = RANGES[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where}: expected a number, got {show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where}: expected a finite number, got {show(value)}")
    if r.integer and value != int(value):
        raise ValueError(f"{where}: expected an integer, got {show(value)}")
    if not r.minimum <= value <= r.maximum:
        raise ValueError(f"{where}: must lie in {r.text()}, got {show(value)}")
    return int(value) if r.integer else float(value)


def _date(value: Any, where: str) -> dt.date:
    if not isinstance(value, str):
        raise ValueError(f"{where}: expected a date YYYY-MM-DD, got {show(value)}")
    day = parse_date(value, field=where)
    low, high = DATE_RANGE
    if not low <= day <= high:
        raise ValueError(f"{where}: {day.isoformat()} lies outside {low.isoformat()}..{high.isoformat()}")
    return day


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{where}: expected true or false, got {show(value)}")
    return value


def _str_list(value: Any, where: str, *, limit: int = LIMITS["tags"]) -> list[str]:
    items = require_list(value, where, limit=limit)
    for i, item in enumerate(items):
        require_str(item, f"{where}[{i}]", max_chars=LIMITS["tag_chars"])
    return items


def _optional_id(value: Any, where: str) -> str | None:
    return None if value is None else require_str(value, where)


def _clock(value: Any, where: str) -> int:
    if not isinstance(value, str) or len(value) > 8:
        raise ValueError(f"{where}: expected 'HH:MM', got {show(value)}")
    return parse_hhmm(value, field=where)


def _window(value: Any, where: str) -> TimeWindow:
    """``["09:00", "12:00"]`` or ``{"start": "09:00", "end": "12:00"}``."""
    if isinstance(value, Mapping):
        start, end = value.get("start"), value.get("end")
    elif isinstance(value, list) and len(value) == 2:
        start, end = value
    else:
        raise ValueError(f"{where}: expected [\"HH:MM\", \"HH:MM\"], got {show(value)}")
    s = _clock(start, f"{where}.start")
    e = _clock(end, f"{where}.end")
    if e <= s:
        raise ValueError(f"{where}: end {end} is not after start {start}")
    return TimeWindow(start_s=s, end_s=e)


def _location(value: Any, where: str) -> Location:
    value = require_mapping(value, where)
    _check_keys(value, {"lat", "lon"}, where)
    return Location(lat=_number(value.get("lat"), f"{where}.lat", "lat"),
                    lon=_number(value.get("lon"), f"{where}.lon", "lon"))


def _enum(cls: Any, value: Any, where: str) -> Any:
    try:
        return cls(value)
    except (ValueError, TypeError):
        allowed = ", ".join(m.value for m in cls)
        raise ValueError(f"{where}: {show(value)} is not one of {allowed}") from None


def _check_keys(raw: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted((k for k in raw if k not in allowed), key=str)
    if unknown:
        names = ", ".join(show(k) for k in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ValueError(f"{where}: unknown field(s) {names}")


def _risk(raw: Any, where: str) -> RiskFactors:
    raw = require_mapping(raw, where)
    _check_keys(raw, set(RiskFactors.__dataclass_fields__), where)
    for key, value in raw.items():
        if not isinstance(value, str | bool) or (isinstance(value, str) and len(value) > 16):
            raise ValueError(f"{where}.{key}: {show(value)} is not a valid value")
    try:
        return RiskFactors(**raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}.{exc}") from None


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
    risk = _risk(raw.get("risk", {}), f"{where}.risk")
    avail: list[WeeklyWindow] = []
    for day, windows in require_mapping(raw.get("availability", {}), f"{where}.availability").items():
        if day not in WEEKDAYS:
            raise ValueError(f"{where}.availability: {show(day)} is not one of {', '.join(WEEKDAYS)}")
        for i, w in enumerate(require_list(windows, f"{where}.availability.{day}", limit=LIMITS["windows"])):
            avail.append(WeeklyWindow(weekday=day, window=_window(w, f"{where}.availability.{day}[{i}]")))
    last = raw.get("last_contact")
    _text(raw.get("label", ""), f"{where}.label")
    return Household(
        id=hid,
        location=_location(raw.get("location"), f"{where}.location"),
        dong=_text(raw.get("dong", ""), f"{where}.dong"),
        risk=risk,
        last_contact=None if last is None else _date(last, f"{where}.last_contact"),
        preferred_worker_id=_optional_id(raw.get("preferred_worker_id"), f"{where}.preferred_worker_id"),
        languages=tuple(_str_list(raw.get("languages", ["ko"]), f"{where}.languages")) or ("ko",),
        availability=tuple(avail),
    )


def _optional_number(raw: Mapping[str, Any], key: str, where: str, range_key: str | None = None) -> Any:
    value = raw.get(key)
    return None if value is None else _number(value, f"{where}.{key}", range_key or key)


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
        _check_keys(brk, {"window", "duration_s"}, f"{where}.break")
        break_window = _window(brk.get("window"), f"{where}.break.window")
        break_s = _number(brk.get("duration_s", break_window.length_s), f"{where}.break.duration_s", "break_s")
    return Worker(
        id=wid,
        name=_text(raw.get("name", ""), f"{where}.name"),
        team=_text(raw.get("team", ""), f"{where}.team"),
        role=_enum(Role, raw.get("role"), f"{where}.role"),
        skills=frozenset(_str_list(raw.get("skills", []), f"{where}.skills")),
        languages=tuple(_str_list(raw.get("languages", ["ko"]), f"{where}.languages")) or ("ko",),
        start=start,
        end=end,
        shift=shift,
        break_window=break_window,
        break_s=break_s,
        max_visits=_optional_number(raw, "max_visits", where),
        max_work_s=_optional_number(raw, "max_work_s", where),
        travel_mode=_enum(TravelModeName, raw.get("travel_mode", "walk"), f"{where}.travel_mode"),
        speed_factor=_number(raw.get("speed_factor", 1.0), f"{where}.speed_factor", "speed_factor"),
        capacity=_optional_number(raw, "capacity", where),
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
    _text(raw.get("note", ""), f"{where}.note", max_chars=LIMITS["note_chars"], multiline=True)
    return Visit(
        id=vid,
        household_id=require_str(raw.get("household_id"), f"{where}.household_id"),
        kind=_enum(VisitKind, raw.get("kind", "routine"), f"{where}.kind"),
        duration_s=_optional_number(raw, "duration_s", where, "service_s"),
        required_skills=frozenset(_str_list(raw.get("required_skills", []), f"{where}.required_skills")),
        time_windows=tuple(
            _window(w, f"{where}.time_windows[{i}]")
            for i, w in enumerate(
                require_list(raw.get("time_windows", []), f"{where}.time_windows", limit=LIMITS["windows"])
            )
        ),
        mandatory=_bool(raw.get("mandatory", False), f"{where}.mandatory"),
        urgent=_bool(raw.get("urgent", False), f"{where}.urgent"),
        required_worker_id=_optional_id(raw.get("required_worker_id"), f"{where}.required_worker_id"),
        forbidden_worker_ids=frozenset(_str_list(
            raw.get("forbidden_worker_ids", []), f"{where}.forbidden_worker_ids",
            limit=LIMITS["forbidden_worker_ids"],
        )),
        allowed_roles=frozenset(
            _enum(Role, r, f"{where}.allowed_roles")
            for r in _str_list(raw.get("allowed_roles", []), f"{where}.allowed_roles")
        ),
        load=_number(raw.get("load", 0), f"{where}.load", "load"),
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
                    by_role[kind][role] = _number(secs, f"service_times.by_role.{kind}.{role}", "service_s")
        else:
            _enum(VisitKind, key, "service_times")
            by_kind[key] = _number(value, f"service_times.{key}", "service_s")
    return ServiceTimes(by_kind_s=by_kind, by_kind_role_s=by_role)


def _sized(data: Mapping[str, Any], key: str) -> list[Any]:
    items = require_list(data.get(key, []), key)
    if len(items) > LIMITS[key]:
        raise ValueError(
            f"{key}: {len(items)} {key} exceed the limit of {LIMITS[key]:,} per problem "
            "(what a 10 s budget can plan; split the day or the district)"
        )
    return items


def problem_from_json(data: Any, *, date: dt.date | None = None) -> Problem:
    """Build a validated :class:`Problem` from parsed JSON; ``date`` overrides the file's.

    Every numeric field must lie in its :data:`RANGES` entry and every list within :data:`LIMITS`;
    ids are at most 128 characters without control characters.  Raises ``ValueError`` naming the field.
    """
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
        date = _date(data["date"], "problem.date")
    elif not DATE_RANGE[0] <= date <= DATE_RANGE[1]:
        raise ValueError(f"date: {date.isoformat()} lies outside {DATE_RANGE[0]}..{DATE_RANGE[1]}")
    if data.get("timezone", "Asia/Seoul") != "Asia/Seoul":
        raise ValueError(f"problem.timezone: {show(data.get('timezone'))} is not Asia/Seoul")
    households = [_household(h, f"households[{i}]") for i, h in enumerate(_sized(data, "households"))]
    workers = [_worker(w, f"workers[{i}]") for i, w in enumerate(_sized(data, "workers"))]
    visits = [_visit(v, f"visits[{i}]") for i, v in enumerate(_sized(data, "visits"))]
    return Problem(
        date=date,
        name=_text(data.get("name", ""), "problem.name"),
        households=tuple(households),
        workers=tuple(workers),
        visits=tuple(visits),
        service_times=_service_times(data.get("service_times")),
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number (JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large a number")
    return value


def parse_json_text(text: str) -> Any:
    """``json.loads`` that refuses NaN, Infinity, overflowing numbers and deep nesting (``ValueError``)."""
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except ValueError as exc:  # NaN, Infinity, 1e999, integers of more than 4,300 digits
        message = str(exc).split(";")[0]
        raise ValueError(f"unusable number: {message}") from None


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
        return parse_json_text(text)
    except ValueError as exc:
        raise ProblemFileError(f"{what} {p}: {exc}") from None


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
    """JSON Schema (2020-12) of the problem file, with the ranges of :data:`RANGES` and sizes of :data:`LIMITS`."""
    hhmm = {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$"}
    window = {"type": "array", "items": hhmm, "minItems": 2, "maxItems": 2,
              "description": "[start, end] local clock times, end after start"}
    windows = {"type": "array", "items": window, "maxItems": LIMITS["windows"]}
    loc = {
        "type": "object",
        "required": ["lat", "lon"],
        "properties": {"lat": RANGES["lat"].schema(), "lon": RANGES["lon"].schema()},
        "additionalProperties": False,
    }
    no_controls = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
    ident = {"type": "string", "minLength": 1, "maxLength": LIMITS["id_chars"], "pattern": no_controls}
    text = {"type": "string", "maxLength": LIMITS["text_chars"], "pattern": no_controls}
    date = {"type": "string", "format": "date",
            "description": f"YYYY-MM-DD from {DATE_RANGE[0].isoformat()} to {DATE_RANGE[1].isoformat()}"}
    strs = {"type": "array", "maxItems": LIMITS["tags"],
            "items": {"type": "string", "minLength": 1, "maxLength": LIMITS["tag_chars"], "pattern": no_controls}}

    def number(key: str, *, null: bool = False, **extra: Any) -> dict[str, Any]:
        r = RANGES[key]
        out: dict[str, Any] = {**r.schema(), **extra}
        if null:
            out["type"] = [out["type"], "null"]
        return out

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://salpimi.example/schema/problem.json",
        "title": "Salpimi planning problem",
        "description": "Households, workers and candidate visits for one planning day (Asia/Seoul).",
        "type": "object",
        "required": ["households", "workers", "visits"],
        "$comment": "Problems above the maxItems of visits, workers or households are refused: "
                    "a 10 s budget plans about 2,000 visits.",
        "additionalProperties": False,
        "properties": {
            "$schema": {"type": "string"},
            "name": text,
            "date": {**date, "description": "Planning day; the CLI's --date overrides it."},
            "timezone": {"const": "Asia/Seoul"},
            "meta": {"type": "object"},
            "service_times": {
                "type": "object",
                "description": "Default service seconds by visit kind; by_role overrides per role.",
                "properties": {
                    **{k.value: number("service_s") for k in VisitKind},
                    "by_role": {
                        "type": "object",
                        "propertyNames": {"enum": [k.value for k in VisitKind]},
                        "additionalProperties": {
                            "type": "object",
                            "propertyNames": {"enum": [r.value for r in Role]},
                            "additionalProperties": number("service_s"),
                        },
                    },
                },
                "additionalProperties": False,
            },
            "households": {
                "type": "array",
                "maxItems": LIMITS["households"],
                "items": {
                    "type": "object",
                    "required": ["id", "location"],
                    "additionalProperties": False,
                    "properties": {
                        "id": ident,
                        "label": text,
                        "location": loc,
                        "dong": text,
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
                            "additionalProperties": windows,
                            "description": "Weekly windows when someone is home; absent = any time.",
                        },
                    },
                },
            },
            "workers": {
                "type": "array",
                "maxItems": LIMITS["workers"],
                "items": {
                    "type": "object",
                    "required": ["id", "role", "start"],
                    "additionalProperties": False,
                    "properties": {
                        "id": ident,
                        "name": text,
                        "team": text,
                        "role": {"enum": [r.value for r in Role]},
                        "skills": strs,
                        "languages": strs,
                        "start": loc,
                        "end": loc,
                        "shift": window,
                        "break": {
                            "type": ["object", "null"],
                            "properties": {"window": window, "duration_s": number("break_s")},
                            "required": ["window"],
                            "additionalProperties": False,
                        },
                        "max_visits": number("max_visits", null=True),
                        "max_work_s": number("max_work_s", null=True,
                                             description="Working seconds excluding the break."),
                        "travel_mode": {"enum": [m.value for m in TravelModeName]},
                        "speed_factor": number("speed_factor",
                                               description=">1 travels faster than the mode's default"),
                        "capacity": number("capacity", null=True,
                                           description="Load units carried (kits, food boxes); null = unlimited"),
                    },
                },
            },
            "visits": {
                "type": "array",
                "maxItems": LIMITS["visits"],
                "items": {
                    "type": "object",
                    "required": ["id", "household_id"],
                    "additionalProperties": False,
                    "properties": {
                        "id": ident,
                        "household_id": ident,
                        "note": {"type": "string", "maxLength": LIMITS["note_chars"]},
                        "kind": {"enum": [k.value for k in VisitKind]},
                        "duration_s": number("service_s", null=True),
                        "required_skills": strs,
                        "time_windows": windows,
                        "mandatory": {"type": "boolean"},
                        "urgent": {"type": "boolean"},
                        "required_worker_id": {"anyOf": [ident, {"type": "null"}]},
                        "forbidden_worker_ids": {"type": "array", "items": ident,
                                                 "maxItems": LIMITS["forbidden_worker_ids"]},
                        "allowed_roles": {"type": "array", "items": {"enum": [r.value for r in Role]}},
                        "load": number("load", description="Units the worker delivers"),
                    },
                },
            },
        },
    }
