"""The horizon problem and horizon plan files: field tables over the day problem's, parser, serialiser, JSON Schema."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from ..domain import ServiceTimes, TimeWindow, Visit, Worker
from ..horizon.model import MAX_DAYS, FollowUp, Holidays, HorizonProblem, HorizonVisit, WorkerCalendar
from ..horizon.result import (
    HorizonKpis,
    HorizonPlan,
    HorizonSummary,
    HorizonUnassigned,
    HouseholdVisits,
    PlannedVisit,
    WorkerDay,
)
from ..timeline import WEEKDAYS
from .fields import (
    DATE_RANGE,
    LIMITS,
    Choice,
    Codec,
    Const,
    Date,
    Field,
    Ident,
    JsonObject,
    ListOf,
    MapOf,
    Nullable,
    Number,
    NumberRange,
    Record,
    Text,
    Window,
    require_list,
    require_mapping,
    show,
)
from .plan import plan_from_json, plan_to_json
from .problem import HOUSEHOLD, RISK_SETTINGS, VISIT, WORKER, _ServiceTimes, _too_many, _TravelMatrix

__all__ = [
    "HORIZON",
    "horizon_from_json",
    "horizon_json_schema",
    "horizon_plan_from_json",
    "horizon_plan_to_json",
    "horizon_to_json",
    "is_horizon_json",
]

_DAYS = NumberRange(1, MAX_DAYS, "days")
_GAP = NumberRange(0, MAX_DAYS, "days")
_COUNT = NumberRange(1, MAX_DAYS, "visits")
_DATES = ListOf(Date(), limit=400, unique=True)
_ID = Ident()
_HORIZON_KEYS = ("from", "to", "holidays", "working_weekdays")
_WORKDAYS = ["mon", "tue", "wed", "thu", "fri"]


class _DateMap(Codec[dict[dt.date, TimeWindow | None]]):
    """``{"2026-11-26": ["13:00", "18:00"], "2026-11-27": null}``: a shift (or none) for single dates."""

    _date = Date()
    _shift = Nullable(Window())

    def parse(self, value: Any, where: str) -> dict[dt.date, TimeWindow | None]:
        out: dict[dt.date, TimeWindow | None] = {}
        for key, shift in require_mapping(value, where).items():
            day = self._date.parse(key, f"{where}")
            out[day] = self._shift.parse(shift, f"{where}.{key}")
        return out

    def dump(self, value: dict[dt.date, TimeWindow | None]) -> dict[str, Any]:
        return {d.isoformat(): self._shift.dump(s) for d, s in sorted(value.items())}

    def schema(self) -> dict[str, Any]:
        return {"type": "object", "propertyNames": {"pattern": r"^\d{4}-\d{2}-\d{2}$"},
                "additionalProperties": self._shift.schema(),
                "description": "A shift (or null: not working) for single dates; wins over holidays and weekends."}


_WEEKLY = MapOf(Choice(WEEKDAYS), Nullable(Window()),
                description="A shift per weekday (null: not working that weekday); weekdays not named keep the "
                            "worker's shift on the problem's working weekdays.")

HOLIDAYS: Record[Holidays] = Record(
    [
        Field("calendar", Choice(("KR", "none")), default="KR",
              description="KR: Korean public holidays 2025-2028 built in (substitute and election days included)."),
        Field("add", _DATES, default=[], description="More non-working days (a district's own closing days)."),
        Field("remove", _DATES, default=[], description="Built-in holidays worked as usual."),
    ],
    cls=Holidays,
    description="Days nobody works unless a worker's own `days` says otherwise.",
)

FOLLOW: Record[FollowUp] = Record(
    [
        Field("visit_id", _ID),
        Field("days", Number(_DAYS), description="Calendar days after that visit."),
        Field("slack_days", Number(_GAP), default=0, description="It may also come up to this many days later."),
    ],
    cls=FollowUp,
    description="This visit comes a given number of days after another visit (each happening once).",
)


def _entry_fields(fields: tuple[Field, ...], inner: str) -> list[Field]:
    """The day record's fields, reading their values off the wrapped day object when writing."""
    out = []
    for f in fields:
        def get(obj: Any, f: Field = f) -> Any:
            return f.value_of(getattr(obj, inner) if not isinstance(obj, tuple) else obj[0])
        out.append(dataclasses.replace(f, get=get))
    return out


def _worker_entry(v: dict[str, Any]) -> tuple[Worker, WorkerCalendar]:
    w = WORKER.make(v)
    return w, WorkerCalendar(worker_id=w.id, weekly=v["weekly"], leave=v["leave"], days=v["days"])


WORKER_ENTRY: Record[tuple[Worker, WorkerCalendar]] = Record(
    [
        *_entry_fields(WORKER.fields, "worker"),
        Field("weekly", _WEEKLY, default={}, get=lambda e: e[1].weekly),
        Field("leave", _DATES, default=[], get=lambda e: e[1].leave, description="Days off (leave, training)."),
        Field("days", _DateMap(), default={}, get=lambda e: e[1].days),
    ],
    make=_worker_entry,
    named="worker",
)


def _visit_entry(v: dict[str, Any]) -> HorizonVisit:
    visit: Visit = VISIT.make(v)
    return HorizonVisit(
        visit=visit, count=v["count"], min_spacing_days=v["min_spacing_days"], earliest=v["earliest"],
        latest=v["latest"], day_patterns=tuple(tuple(sorted(p)) for p in v["day_patterns"]),
        not_same_day_as=v["not_same_day_as"], after=v["after"],
    )


VISIT_ENTRY: Record[HorizonVisit] = Record(
    [
        *_entry_fields(VISIT.fields, "visit"),
        Field("count", Number(_COUNT), default=1, description="Visits within the horizon."),
        Field("min_spacing_days", Number(_DAYS), default=1, description="Calendar days between two of them."),
        Field("earliest", Nullable(Date()), default=None),
        Field("latest", Nullable(Date()), default=None),
        Field("day_patterns", ListOf(ListOf(Date(), limit=MAX_DAYS, unique=True), limit=64), default=[],
              get=lambda hv: [list(p) for p in hv.day_patterns],
              description="Allowed sets of days (each of `count` dates), as in the periodic VRP; empty: any."),
        Field("not_same_day_as", ListOf(_ID, limit=LIMITS["forbidden_worker_ids"], unique=True), default=[],
              description="Visits (of other households or services) it may not share a day with."),
        Field("after", Nullable(FOLLOW), default=None),
    ],
    make=_visit_entry,
    named="visit",
)


def _make(v: dict[str, Any]) -> HorizonProblem:
    entries = v["workers"]
    return HorizonProblem(
        start=v["from"], end=v["to"], name=v["name"], households=v["households"],
        workers=tuple(w for w, _ in entries),
        calendars=tuple(c for _, c in entries if c.weekly or c.leave or c.days),
        visits=v["visits"], holidays=v["holidays"],
        working_weekdays=tuple(d for d in WEEKDAYS if d in v["working_weekdays"]),  # the week's order, not a set's
        service_times=v["service_times"] or ServiceTimes(), risk_model=v["risk_model"],
        travel_matrix=v["travel_matrix"],
    )


def _workers_of(p: HorizonProblem) -> list[tuple[Worker, WorkerCalendar]]:
    return [(w, p.calendar_of(w.id)) for w in p.workers]


HORIZON: Record[HorizonProblem] = Record(
    [
        Field("$schema", Text(max_chars=LIMITS["note_chars"]), optional=True, write=False),
        Field("name", Text(), default="", path="problem.name"),
        Field("from", Date(), path="problem.from", get=lambda p: p.start,
              description="First day of the horizon; the CLI's --from overrides it."),
        Field("to", Date(), path="problem.to", get=lambda p: p.end,
              description=f"Last day (inclusive; at most {MAX_DAYS} days in all); the CLI's --to overrides it."),
        Field("date", Nullable(Date()), default=None, write=False, path="problem.date",
              description="A day problem's date: read as a horizon of that one day when from/to are absent."),
        Field("timezone", Const("Asia/Seoul"), default="Asia/Seoul", path="problem.timezone",
              get=lambda p: "Asia/Seoul"),
        Field("meta", JsonObject(), default={}, write=False, path="problem.meta"),
        Field("holidays", HOLIDAYS, default={}, path="holidays"),
        Field("working_weekdays", ListOf(Choice(WEEKDAYS), limit=7, unique=True), default=_WORKDAYS,
              path="working_weekdays", get=lambda p: list(p.working_weekdays),
              description="Weekdays worked unless a holiday; a worker's own weekly or days wins."),
        Field("service_times", Nullable(_ServiceTimes()), default=None, path="service_times"),
        Field("risk_model", Nullable(RISK_SETTINGS), default=None, path="risk_model"),
        Field("households", ListOf(HOUSEHOLD, limit=LIMITS["households"], too_many=_too_many("households")),
              default=[], path="households"),
        Field("workers", ListOf(WORKER_ENTRY, limit=LIMITS["workers"], too_many=_too_many("workers")),
              default=[], path="workers", get=_workers_of),
        Field("visits", ListOf(VISIT_ENTRY, limit=LIMITS["visits"], too_many=_too_many("visits")),
              default=[], path="visits"),
        Field("travel_matrix", Nullable(_TravelMatrix()), default=None, path="travel_matrix"),
    ],
    make=_make,
)


def is_horizon_json(data: Any) -> bool:
    """Whether parsed JSON is a horizon problem (it has ``from``/``to`` or a horizon-only field)."""
    if not isinstance(data, Mapping):
        return False
    if any(k in data for k in _HORIZON_KEYS):
        return True
    visits = data.get("visits")
    horizon_visit_keys = {"count", "min_spacing_days", "earliest", "latest", "day_patterns", "not_same_day_as",
                          "after"}
    worker_keys = {"weekly", "leave", "days"}
    workers = data.get("workers")
    return (isinstance(visits, list) and any(isinstance(v, Mapping) and horizon_visit_keys & v.keys()
                                             for v in visits)) \
        or (isinstance(workers, list) and any(isinstance(w, Mapping) and worker_keys & w.keys() for w in workers))


def horizon_from_json(data: Any, *, start: dt.date | None = None, end: dt.date | None = None) -> HorizonProblem:
    """Build a validated :class:`HorizonProblem` from parsed JSON (a horizon file, or a day file planned over
    ``start``..``end``); ``start``/``end`` override the file's ``from``/``to``.  Raises ``ValueError``
    naming the field."""
    raw = dict(require_mapping(data, "problem"))
    for name, value in (("--from", start), ("--to", end)):
        if value is not None and not DATE_RANGE[0] <= value <= DATE_RANGE[1]:
            raise ValueError(f"{name}: {value.isoformat()} lies outside {DATE_RANGE[0]}..{DATE_RANGE[1]}")
    if start is not None:
        raw["from"] = start.isoformat()
    if end is not None:
        raw["to"] = end.isoformat()
    day = raw.get("date")
    for key in ("from", "to"):
        if raw.get(key) is None:
            if day is None:
                flag = "--from" if key == "from" else "--to"
                raise ValueError(f"problem.{key}: missing (give {flag} YYYY-MM-DD)")
            raw[key] = day
    return HORIZON.parse(raw, "problem")


def horizon_to_json(problem: HorizonProblem) -> dict[str, Any]:
    """The inverse of :func:`horizon_from_json` (round-trips)."""
    out = HORIZON.dump(problem)
    for key in ("risk_model", "travel_matrix"):
        if out[key] is None:
            del out[key]
    return out


def horizon_json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of the horizon problem file, from the same field table as the parser."""
    schema = HORIZON.schema()
    schema["required"] = ["from", "to", "households", "workers", "visits"]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://salpimi.example/schema/horizon.json",
        "title": "Salpimi horizon problem",
        "description": f"Households, workers and visit requests over up to {MAX_DAYS} days (Asia/Seoul): the day "
                       "problem's fields plus dates, holidays, per-worker calendars and visit rules across days. "
                       "Rules a schema cannot state (spacing within the horizon, known ids) are checked by the parser.",
        **schema,
    }


# ---- the horizon plan file ------------------------------------------------------------------------


def _unassigned_to_json(u: HorizonUnassigned) -> dict[str, Any]:
    return {"visit_id": u.visit_id, "request_id": u.request_id, "household_id": u.household_id,
            "reason": u.reason, "detail": u.detail, "mandatory": u.mandatory, "urgent": u.urgent}


def _summary_to_json(s: HorizonSummary) -> dict[str, Any]:
    return {
        "kpis": dataclasses.asdict(s.kpis),
        "households": [
            {"household_id": h.household_id, "tier": h.tier, "due": None if h.due is None else h.due.isoformat(),
             "within_cadence": h.within_cadence, "left_out": h.left_out,
             "visits": [{"date": v.date.isoformat(), "visit_id": v.visit_id, "worker_id": v.worker_id,
                         "days_overdue": v.days_overdue} for v in h.visits]}
            for h in s.households
        ],
        "loads": [{"worker_id": x.worker_id, "date": x.date.isoformat(), "status": x.status, "visits": x.visits,
                   "work_s": x.work_s, "service_s": x.service_s, "travel_s": x.travel_s} for x in s.loads],
    }


def horizon_plan_to_json(plan: HorizonPlan) -> dict[str, Any]:
    """``{"from", "to", "plans": [day plans], "unassigned": [...], "summary": {...}, "meta": {...}}``."""
    out: dict[str, Any] = {
        "from": plan.start.isoformat(), "to": plan.end.isoformat(),
        "plans": [plan_to_json(p) for p in plan.plans],
        "unassigned": [_unassigned_to_json(u) for u in plan.unassigned],
    }
    if plan.summary is not None:
        out["summary"] = _summary_to_json(plan.summary)
    out["meta"] = dict(plan.meta)
    return out


def _summary_from_json(raw: Any) -> HorizonSummary:
    s = require_mapping(raw, "summary")
    date = Date()
    households = tuple(
        HouseholdVisits(
            household_id=h["household_id"], tier=h["tier"],
            due=None if h.get("due") is None else date.parse(h["due"], "summary.households.due"),
            left_out=int(h.get("left_out", 0)),
            visits=tuple(PlannedVisit(date=date.parse(v["date"], "summary.households.visits.date"),
                                      visit_id=v["visit_id"], worker_id=v["worker_id"],
                                      days_overdue=int(v["days_overdue"])) for v in h.get("visits", [])),
        )
        for h in require_list(s.get("households", []), "summary.households")
    )
    loads = tuple(
        WorkerDay(worker_id=x["worker_id"], date=date.parse(x["date"], "summary.loads.date"), status=x["status"],
                  visits=int(x["visits"]), work_s=int(x["work_s"]), service_s=int(x["service_s"]),
                  travel_s=int(x["travel_s"]))
        for x in require_list(s.get("loads", []), "summary.loads")
    )
    return HorizonSummary(households=households, loads=loads, kpis=HorizonKpis(**require_mapping(s["kpis"],
                                                                                                  "summary.kpis")))


def horizon_plan_from_json(data: Any) -> HorizonPlan:
    """Read a horizon plan file (possibly hand-edited); raises ``ValueError`` naming the bad field."""
    raw = require_mapping(data, "plan")
    date = Date()
    start = date.parse(raw.get("from"), "plan.from")
    end = date.parse(raw.get("to"), "plan.to")
    plans = tuple(plan_from_json(p) for p in require_list(raw.get("plans", []), "plan.plans"))
    unassigned = []
    for i, u in enumerate(require_list(raw.get("unassigned", []), "plan.unassigned")):
        item = require_mapping(u, f"plan.unassigned[{i}]")
        for key in ("visit_id", "reason"):
            if not isinstance(item.get(key), str):
                raise ValueError(f"plan.unassigned[{i}].{key}: expected a string, got {show(item.get(key))}")
        unassigned.append(HorizonUnassigned(
            visit_id=item["visit_id"], request_id=str(item.get("request_id", item["visit_id"])),
            household_id=str(item.get("household_id", "")), reason=item["reason"], detail=str(item.get("detail", "")),
            mandatory=bool(item.get("mandatory", False)), urgent=bool(item.get("urgent", False))))
    summary = None
    if raw.get("summary") is not None:
        try:
            summary = _summary_from_json(raw["summary"])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"plan.summary: {exc}") from None
    return HorizonPlan(start=start, end=end, plans=plans, unassigned=tuple(unassigned), summary=summary,
                       meta=dict(raw.get("meta") or {}))
