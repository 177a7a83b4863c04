"""What-if scenario specs: a base problem plus changes, read from TOML, validated with one-line errors by key."""

from __future__ import annotations

import copy
import datetime as dt
import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..domain import TIERS, Role
from ..io import ProblemFileError, duplicate_key, key_path, read_json
from ..params import SOLVERS
from ..timeline import parse_hhmm

__all__ = ["MAX_SPEC_CHARS", "POLICIES", "Spec", "SpecError", "WorkerAdd", "deep_merge", "load_spec", "parse_spec",
           "read_spec_text"]

#: Planning policies a scenario runs under: the week planner, the manual-practice baseline and each day alone.
POLICIES = ("salpimi", "manual", "day_by_day")
_ROLES = tuple(r.value for r in Role)
_KPI_TIERS = tuple(t for t in TIERS if t != "urgent")
_TOP = ("name", "description", "base", "start", "weeks", "seeds", "warmup_weeks", "staff", "workers", "leave",
        "shifts", "max_visits", "demand", "cadence_days", "rates", "planner", "closing_days")
_SECTIONS: dict[str, tuple[str, ...]] = {
    "workers": ("add", "remove"),
    "demand": ("growth", "new_households_per_week", "look_ahead_days"),
    "rates": ("no_answer", "urgent_reports_per_week", "risk_change_per_week", "visit_overrun", "overrun_extra"),
    "planner": ("solver", "solution_limit", "time_limit_s", "margin_days"),
}
_ADD_KEYS = ("id", "like", "skills", "travel_mode", "shift")
_LEAVE_KEYS = ("worker", "from", "to")
MAX_WEEKS = 52
MAX_SEEDS = 1000
#: A spec's own text (the base problem is read apart): a real one is a few hundred bytes.
MAX_SPEC_CHARS = 64 * 1024
#: Nesting of a spec's tables and lists (a real one nests at most 4 deep).
MAX_DEPTH = 16
#: Parts of one dotted key (``a.b.c``): tomllib's time and memory grow with the square of them (10 000 parts
#: took 400 MB), so a line with more dots outside strings than this is refused before it is parsed.
MAX_KEY_DOTS = 64
#: Entries of the list keys (``workers.add``, ``workers.remove``, ``leave``, ``closing_days``).
MAX_LIST = 400


class SpecError(ValueError):
    """A spec that cannot be used: one line naming the file and the key (``key`` holds the key alone)."""

    def __init__(self, message: str, *, key: str = "", source: str = "spec") -> None:
        key = "".join(ch if ch.isprintable() else "?" for ch in key[:120])  # a hostile key stays one short line
        self.key = key
        self.source = source
        super().__init__(f"{source}: {key}: {message}" if key else f"{source}: {message}")


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerAdd:
    """A worker the scenario adds: a copy of worker ``like`` with a new id and, optionally, other skills,
    travel mode or shift."""

    id: str
    like: str
    skills: tuple[str, ...] | None = None
    travel_mode: str | None = None
    shift: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Spec:
    """A validated scenario.  ``base`` is the base problem's JSON (a day or horizon problem file), embedded so a
    spec travels as plain data; every other field is a change to it or a setting of the simulation."""

    name: str
    base: Mapping[str, Any]
    base_name: str = ""
    description: str = ""
    start: dt.date
    weeks: int = 8
    seeds: int = 5
    warmup_weeks: int = 0
    staff: Mapping[str, int] = field(default_factory=dict)
    add_workers: tuple[WorkerAdd, ...] = ()
    remove_workers: tuple[str, ...] = ()
    leave: tuple[tuple[str, dt.date, dt.date], ...] = ()
    shifts: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    max_visits: Mapping[str, int] = field(default_factory=dict)
    growth: Mapping[str, float] = field(default_factory=dict)
    new_households_per_week: float = 1.0
    look_ahead_days: int = 7
    cadence_days: Mapping[str, int] = field(default_factory=dict)
    no_answer: float = 0.1
    urgent_reports_per_week: float = 2.0
    risk_change_per_week: float = 0.01
    visit_overrun: float = 0.0
    overrun_extra: float = 0.5
    solver: str = "ortools"
    solution_limit: int = 1
    time_limit_s: float = 600.0
    margin_days: int = 0
    closing_days: tuple[dt.date, ...] = ()

    @property
    def end(self) -> dt.date:
        """The horizon's last day (a Sunday)."""
        return self.start + dt.timedelta(days=7 * self.weeks - 1)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data; :func:`parse_spec` reads it back to an equal spec."""
        out: dict[str, Any] = {
            "name": self.name, "description": self.description,
            "base": {"name": self.base_name, "problem": copy.deepcopy(dict(self.base))},
            "start": self.start.isoformat(), "weeks": self.weeks, "seeds": self.seeds,
            "warmup_weeks": self.warmup_weeks, "staff": dict(self.staff),
            "workers": {
                "add": [{k: (list(v) if isinstance(v, tuple) else v) for k, v in
                         (("id", a.id), ("like", a.like), ("skills", a.skills), ("travel_mode", a.travel_mode),
                          ("shift", a.shift)) if v is not None} for a in self.add_workers],
                "remove": list(self.remove_workers),
            },
            "leave": [{"worker": w, "from": a.isoformat(), "to": b.isoformat()} for w, a, b in self.leave],
            "shifts": {k: list(v) for k, v in self.shifts.items()},
            "max_visits": dict(self.max_visits),
            "demand": {"growth": dict(self.growth), "new_households_per_week": self.new_households_per_week,
                       "look_ahead_days": self.look_ahead_days},
            "cadence_days": dict(self.cadence_days),
            "rates": {"no_answer": self.no_answer, "urgent_reports_per_week": self.urgent_reports_per_week,
                      "risk_change_per_week": self.risk_change_per_week, "visit_overrun": self.visit_overrun,
                      "overrun_extra": self.overrun_extra},
            "planner": {"solver": self.solver, "solution_limit": self.solution_limit,
                        "time_limit_s": self.time_limit_s, "margin_days": self.margin_days},
            "closing_days": [d.isoformat() for d in self.closing_days],
        }
        return out


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``over`` laid on top: mappings merge key by key, anything else replaces."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


class _Reader:
    """Checks one spec mapping, raising :class:`SpecError` with the key's dotted path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> SpecError:
        return SpecError(message, key=key, source=self.source)

    def table(self, value: Any, key: str, allowed: tuple[str, ...] | None = None) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(key, f"expected a table, got {_show(value)}")
        if allowed is not None:
            for k in value:
                if k not in allowed:
                    raise self.fail(f"{key}.{k}" if key else str(k),
                                    f"unknown key (known: {', '.join(allowed)})")
        return value

    def tables(self, value: Any, key: str, allowed: tuple[str, ...]) -> list[Mapping[str, Any]]:
        """A list of tables (``[[key]]`` in TOML), each checked against ``allowed``; absent is empty."""
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, f"expected a list of tables ([[{key}]]), got {_show(value)}")
        self.at_most(value, key)
        return [self.table(v, f"{key}[{i}]", allowed) for i, v in enumerate(value)]

    def at_most(self, values: list[Any], key: str, limit: int = MAX_LIST) -> None:
        if len(values) > limit:
            raise self.fail(key, f"{len(values)} entries, more than {limit}")

    def integer(self, value: Any, key: str, lo: int, hi: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected a whole number, got {_show(value)}")
        if not lo <= value <= hi:
            raise self.fail(key, f"{value} is not in {lo}..{hi}")
        return value

    def number(self, value: Any, key: str, lo: float, hi: float, what: str = "") -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(key, f"expected a number, got {_show(value)}")
        if not lo <= value <= hi:
            raise self.fail(key, f"{value} is not {what or f'in {lo:g}..{hi:g}'}")
        return float(value)

    def text(self, value: Any, key: str, *, limit: int = 128) -> str:
        if not isinstance(value, str) or not value.strip() or len(value) > limit:
            raise self.fail(key, f"expected a non-empty string (at most {limit} characters), got {_show(value)}")
        if any(not ch.isprintable() for ch in value):
            raise self.fail(key, "contains control characters")
        return value

    def date(self, value: Any, key: str) -> dt.date:
        if isinstance(value, dt.datetime):
            raise self.fail(key, f"expected a date (YYYY-MM-DD), got a date and time {_show(value)}")
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
        raise self.fail(key, f"expected a date (YYYY-MM-DD), got {_show(value)}")

    def shift(self, value: Any, key: str) -> tuple[str, str]:
        if not (isinstance(value, list | tuple) and len(value) == 2):
            raise self.fail(key, f"expected [\"HH:MM\", \"HH:MM\"], got {_show(value)}")
        try:
            a, b = parse_hhmm(value[0], field="start"), parse_hhmm(value[1], field="end")
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None
        if b <= a:
            raise self.fail(key, f"the shift ends ({value[1]}) before it starts ({value[0]})")
        return str(value[0]), str(value[1])

    def tiers(self, value: Any, key: str, tiers: tuple[str, ...]) -> Mapping[str, Any]:
        return self.table(value, key, tiers)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _base_problem(data: Mapping[str, Any], base_problem: Mapping[str, Any] | None, r: _Reader
                  ) -> tuple[Mapping[str, Any], str]:
    raw = data.get("base")
    if base_problem is not None:
        name = raw if isinstance(raw, str) else (raw or {}).get("name", "") if isinstance(raw, Mapping) else ""
        return base_problem, str(name)
    if isinstance(raw, Mapping) and isinstance(raw.get("problem"), Mapping):
        return raw["problem"], str(raw.get("name", ""))
    if raw is None:
        raise r.fail("base", "missing: name the base problem file (a day or week problem JSON)")
    raise r.fail("base", f"expected the path of a problem file, got {_show(raw)}")


def _base_ids(problem: Mapping[str, Any], r: _Reader) -> dict[str, str]:
    """Worker id -> role of the base problem (a light look; the problem itself is validated when simulated)."""
    workers = problem.get("workers")
    households = problem.get("households")
    if not isinstance(workers, list) or not isinstance(households, list):
        raise r.fail("base", "not a problem file: it needs workers and households lists")
    if problem.get("travel_matrix") is not None:
        raise r.fail("base", "a problem with its own travel_matrix cannot be simulated: new households would "
                             "have no travel times (use straight lines or a road network)")
    out: dict[str, str] = {}
    for w in workers:
        if isinstance(w, Mapping) and isinstance(w.get("id"), str):
            out[w["id"]] = str(w.get("role", ""))
    return out


def parse_spec(data: Mapping[str, Any], *, base_problem: Mapping[str, Any] | None = None,
               source: str = "spec") -> Spec:
    """Validate a scenario (parsed TOML or :meth:`Spec.to_dict` output) into a :class:`Spec`.

    Parameters
    ----------
    data
        The scenario's keys (see ``docs/scenarios.md``).
    base_problem
        The base problem's parsed JSON; without it ``data["base"]`` must embed it (``{"name", "problem"}``).
    source
        How errors name the spec (a file name).

    Raises
    ------
    SpecError
        One line naming the key and the value.
    """
    r = _Reader(source)
    top = r.table(data, "", _TOP)
    if not top:
        raise r.fail("", "empty spec: give at least name, base and start")
    problem, base_name = _base_problem(top, base_problem, r)
    if not isinstance(problem, Mapping):
        raise r.fail("base", "the base problem is not a JSON object")
    roles_of = _base_ids(problem, r)
    if "name" not in top:
        raise r.fail("name", "missing: give the scenario a name")
    name = r.text(top["name"], "name")
    description = top.get("description", "")
    if not isinstance(description, str) or len(description) > 2000:
        raise r.fail("description", "expected a string of at most 2000 characters")
    if "start" not in top:
        raise r.fail("start", "missing: the first day of the simulation (a Monday, YYYY-MM-DD)")
    start = r.date(top["start"], "start")
    if start.weekday() != 0:
        raise r.fail("start", f"{start.isoformat()} is a {start:%A}; the simulation starts on a Monday")
    if not dt.date(2020, 1, 1) <= start <= dt.date(2035, 12, 31):
        raise r.fail("start", f"{start.isoformat()} lies outside 2020-01-01..2035-12-31")
    weeks = r.integer(top.get("weeks", 8), "weeks", 1, MAX_WEEKS)
    seeds = r.integer(top.get("seeds", 5), "seeds", 1, MAX_SEEDS)
    warmup = r.integer(top.get("warmup_weeks", 0), "warmup_weeks", 0, MAX_WEEKS)
    if warmup >= weeks:
        raise r.fail("warmup_weeks", f"{warmup} warm-up weeks leave none of the {weeks} weeks to measure")
    end = start + dt.timedelta(days=7 * weeks - 1)

    workers = r.table(top.get("workers"), "workers", _SECTIONS["workers"])
    remove_raw = workers.get("remove", [])
    if not isinstance(remove_raw, list):
        raise r.fail("workers.remove", f"expected a list of worker ids, got {_show(remove_raw)}")
    r.at_most(remove_raw, "workers.remove")
    remove: list[str] = []
    for i, wid in enumerate(remove_raw):
        wid = r.text(wid, f"workers.remove[{i}]")
        if wid not in roles_of:
            raise r.fail(f"workers.remove[{i}]", f"{wid!r} is not a worker of the base problem")
        remove.append(wid)
    known = dict(roles_of)
    adds: list[WorkerAdd] = []
    for i, a in enumerate(r.tables(workers.get("add"), "workers.add", _ADD_KEYS)):
        key = f"workers.add[{i}]"
        wid = r.text(a.get("id"), f"{key}.id")
        if wid in known:
            raise r.fail(f"{key}.id", f"{wid!r} is already a worker")
        like = r.text(a.get("like"), f"{key}.like")
        if like not in roles_of:
            raise r.fail(f"{key}.like", f"{like!r} is not a worker of the base problem")
        skills = a.get("skills")
        if skills is not None:
            if not isinstance(skills, list):
                raise r.fail(f"{key}.skills", f"expected a list of skills, got {_show(skills)}")
            r.at_most(skills, f"{key}.skills", 32)
            skills = tuple(r.text(s, f"{key}.skills[{j}]", limit=64) for j, s in enumerate(skills))
        mode = a.get("travel_mode")
        if mode is not None and mode not in ("walk", "drive"):
            raise r.fail(f"{key}.travel_mode", f"{_show(mode)} is not one of walk, drive")
        shift = r.shift(a["shift"], f"{key}.shift") if "shift" in a else None
        known[wid] = roles_of[like]
        adds.append(WorkerAdd(id=wid, like=like, skills=skills, travel_mode=mode, shift=shift))

    staff: dict[str, int] = {}
    for role, n in r.table(top.get("staff"), "staff", _ROLES).items():
        staff[role] = r.integer(n, f"staff.{role}", 0, 200)
        if not any(known[w] == role for w in known if w not in remove) and staff[role] > 0:
            raise r.fail(f"staff.{role}", f"the base problem has no {role} to copy")

    leave: list[tuple[str, dt.date, dt.date]] = []
    for i, entry in enumerate(r.tables(top.get("leave"), "leave", _LEAVE_KEYS)):
        key = f"leave[{i}]"
        wid = r.text(entry.get("worker"), f"{key}.worker")
        if wid not in known and not _is_copy_id(wid, known):
            raise r.fail(f"{key}.worker", f"{wid!r} is not a worker of the scenario")
        a_day = r.date(entry.get("from"), f"{key}.from")
        b_day = r.date(entry.get("to", entry.get("from")), f"{key}.to")
        if b_day < a_day:
            raise r.fail(f"{key}.to", f"{b_day.isoformat()} is before from {a_day.isoformat()}")
        leave.append((wid, a_day, b_day))

    shifts: dict[str, tuple[str, str]] = {}
    for k, v in r.table(top.get("shifts"), "shifts").items():
        if k not in _ROLES and k not in known:
            raise r.fail(f"shifts.{k}", f"not a role ({', '.join(_ROLES)}) or a worker of the scenario")
        shifts[k] = r.shift(v, f"shifts.{k}")
    max_visits: dict[str, int] = {}
    for k, v in r.table(top.get("max_visits"), "max_visits").items():
        if k not in _ROLES and k not in known:
            raise r.fail(f"max_visits.{k}", f"not a role ({', '.join(_ROLES)}) or a worker of the scenario")
        max_visits[k] = r.integer(v, f"max_visits.{k}", 0, 50)

    demand = r.table(top.get("demand"), "demand", _SECTIONS["demand"])
    growth = {t: r.number(v, f"demand.growth.{t}", 0.0, 10.0, "a share in 0..10 (0.2: 20 % more by the end)")
              for t, v in r.tiers(demand.get("growth"), "demand.growth", _KPI_TIERS).items()}
    inflow = r.number(demand.get("new_households_per_week", 1.0), "demand.new_households_per_week", 0.0, 1000.0)
    ahead = r.integer(demand.get("look_ahead_days", 7), "demand.look_ahead_days", 0, 60)

    cadence = {t: r.integer(v, f"cadence_days.{t}", 1, 3650)
               for t, v in r.tiers(top.get("cadence_days"), "cadence_days", TIERS).items()}
    rates = r.table(top.get("rates"), "rates", _SECTIONS["rates"])
    no_answer = r.number(rates.get("no_answer", 0.1), "rates.no_answer", 0.0, 0.9, "a share in 0..0.9")
    urgent = r.number(rates.get("urgent_reports_per_week", 2.0), "rates.urgent_reports_per_week", 0.0, 1000.0)
    risk = r.number(rates.get("risk_change_per_week", 0.01), "rates.risk_change_per_week", 0.0, 1.0,
                    "a share in 0..1")
    overrun = r.number(rates.get("visit_overrun", 0.0), "rates.visit_overrun", 0.0, 1.0, "a share in 0..1")
    extra = r.number(rates.get("overrun_extra", 0.5), "rates.overrun_extra", 0.0, 5.0,
                     "in 0..5 (0.5: an overrunning visit takes 50 % longer on average)")

    planner = r.table(top.get("planner"), "planner", _SECTIONS["planner"])
    solver = planner.get("solver", "ortools")
    if solver not in SOLVERS:
        raise r.fail("planner.solver", f"{_show(solver)} is not one of {', '.join(SOLVERS)}")
    limit = r.integer(planner.get("solution_limit", 1), "planner.solution_limit", 1, 100_000)
    cap = r.number(planner.get("time_limit_s", 600.0), "planner.time_limit_s", 1.0, 86400.0, "in 1..86400 s")
    margin = r.integer(planner.get("margin_days", 0), "planner.margin_days", 0, 60)

    closing_raw = top.get("closing_days", [])
    if not isinstance(closing_raw, list):
        raise r.fail("closing_days", f"expected a list of dates, got {_show(closing_raw)}")
    r.at_most(closing_raw, "closing_days")
    closing = tuple(r.date(d, f"closing_days[{i}]") for i, d in enumerate(closing_raw))
    for i, d in enumerate(closing):
        if not start <= d <= end:
            raise r.fail(f"closing_days[{i}]", f"{d.isoformat()} lies outside the horizon {start}..{end}")

    return Spec(
        name=name, base=problem, base_name=base_name, description=description, start=start, weeks=weeks,
        seeds=seeds, warmup_weeks=warmup, staff=staff, add_workers=tuple(adds), remove_workers=tuple(remove),
        leave=tuple(leave), shifts=shifts, max_visits=max_visits, growth=growth, new_households_per_week=inflow,
        look_ahead_days=ahead, cadence_days=cadence, no_answer=no_answer, urgent_reports_per_week=urgent,
        risk_change_per_week=risk, visit_overrun=overrun, overrun_extra=extra, solver=str(solver),
        solution_limit=limit, time_limit_s=cap, margin_days=margin, closing_days=closing,
    )


def _is_copy_id(wid: str, known: Mapping[str, str]) -> bool:
    """Whether ``wid`` names a copy a ``staff`` count may add (``<worker>-extra<k>``)."""
    head, sep, tail = wid.rpartition("-extra")
    return bool(sep) and tail.isdigit() and head in known


# Outside strings and comments, only a dot between key parts (or in a number) remains; strings follow TOML 1.0.
_TOML_TOKENS = re.compile(
    r'''"""(?:[^\\]|\\[\s\S])*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:[^"\\\n]|\\.)*"|\'[^\'\n]*\'|#[^\n]*|\n|\.''')


def _toml_dotted_line(text: str) -> int:
    """The first line with more than :data:`MAX_KEY_DOTS` dots outside strings and comments (0: none)."""
    line, dots = 1, 0
    for m in _TOML_TOKENS.finditer(text):
        tok = m.group()
        if tok == ".":
            dots += 1
            if dots > MAX_KEY_DOTS:
                return line
        elif "\n" in tok:
            line += tok.count("\n")
            dots = 0
    return 0


def _check_plain(data: Any, source: str) -> None:
    """Refuse what no scenario holds and a database cannot store: nesting deeper than :data:`MAX_DEPTH`,
    strings with NUL characters or unpaired surrogates (JSON's ``\\ud800``).  Iterative: no recursion limit."""
    stack: list[tuple[Any, int, str]] = [(data, 0, "")]
    while stack:
        value, depth, key = stack.pop()
        if depth > MAX_DEPTH:
            raise SpecError(f"nested more than {MAX_DEPTH} deep", key=key, source=source)
        if isinstance(value, Mapping):
            for k, v in value.items():
                child = f"{key}.{k}" if key else str(k)
                _check_string(k, child, source)
                stack.append((v, depth + 1, child))
        elif isinstance(value, list | tuple):
            stack.extend((v, depth + 1, f"{key}[{i}]") for i, v in enumerate(value))
        elif isinstance(value, str):
            _check_string(value, key, source)


def _check_string(value: Any, key: str, source: str) -> None:
    if not isinstance(value, str):
        return
    if "\x00" in value:
        raise SpecError("contains a NUL character", key=key, source=source)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise SpecError("contains an unpaired surrogate (not Unicode text)", key=key, source=source) from None


def read_spec_text(text: str, *, fmt: str = "toml", source: str = "spec") -> dict[str, Any]:
    """A spec's keys from its TOML (or JSON) text, refusing hostile text before and after parsing.

    At most :data:`MAX_SPEC_CHARS` characters; no line of TOML with more than :data:`MAX_KEY_DOTS` dots
    outside strings (tomllib's work grows with the square of a dotted key's parts); nesting at most
    :data:`MAX_DEPTH` deep (the parsers recurse); no NUL characters or unpaired surrogates.  The result still
    goes through :func:`parse_spec`.

    Raises
    ------
    SpecError
        One line (``key`` empty, or the key at fault).
    """
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(f"{len(text)} characters, more than a scenario spec's {MAX_SPEC_CHARS}", source=source)
    if fmt != "json" and (bad := _toml_dotted_line(text)):
        raise SpecError(f"line {bad}: a key with more than {MAX_KEY_DOTS} dotted parts", source=source)
    try:
        data = json.loads(text, parse_constant=_no_constant) if fmt == "json" else tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"not valid TOML: {exc}", source=source) from None
    except RecursionError:
        raise SpecError(f"nested more than {MAX_DEPTH} deep", source=source) from None
    except ValueError as exc:  # json.JSONDecodeError, too many digits, NaN
        raise SpecError(f"not valid JSON: {str(exc)[:200]}", source=source) from None
    if fmt == "json" and (where := duplicate_key(text)) is not None:  # TOML refuses a repeated key itself
        raise SpecError("duplicate key (an object names it twice; remove one)", key=key_path(where), source=source)
    if not isinstance(data, dict):
        raise SpecError("expected a table of the scenario's keys", source=source)
    _check_plain(data, source)
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def load_spec(path: str | Path, *, overrides: Mapping[str, Any] | None = None) -> Spec:
    """Read a scenario TOML file and the base problem it names (relative to the TOML file).

    Raises :class:`SpecError` (one line naming the file and key) for any problem with either file.
    """
    p = Path(path)
    source = f"spec {p.name}"
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("no such file", source=f"spec {p}") from None
    except IsADirectoryError:
        raise SpecError("is a directory, not a file", source=f"spec {p}") from None
    except UnicodeDecodeError:
        raise SpecError("not UTF-8 text", source=source) from None
    except OSError as exc:
        raise SpecError(f"cannot read ({exc.strerror})", source=source) from None
    data = read_spec_text(text, source=source)
    if overrides:
        data = deep_merge(data, overrides)
    base = data.get("base")
    if isinstance(base, Mapping):
        return parse_spec(data, source=source)
    if not isinstance(base, str) or not base.strip():
        raise SpecError("missing: name the base problem file (a day or week problem JSON)" if base is None
                        else f"expected the path of a problem file, got {_show(base)}", key="base", source=source)
    base_path = (p.parent / base) if not Path(base).is_absolute() else Path(base)
    try:
        problem = read_json(base_path, what="problem")
    except ProblemFileError as exc:
        raise SpecError(str(exc), key="base", source=source) from None
    if not isinstance(problem, Mapping):
        raise SpecError("the base problem is not a JSON object", key="base", source=source)
    return parse_spec(data, base_problem=problem, source=source)
