"""The plan file's field table, and from it the parser, the serialiser and the JSON Schema."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from ..bound import BOUND_METHODS
from ..domain import TIERS
from ..plan import Crew, Kpis, LeftBehind, Partner, Plan, Reason, Route, Stop, TierCount, Unassigned
from ..timeline import DayClock
from .fields import (
    LIMITS,
    Bool,
    Choice,
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
    NumberRange,
    Record,
    Text,
    require_mapping,
    require_str,
    show,
)

__all__ = ["KPIS", "kpis_from_json", "kpis_to_json", "plan_from_json", "plan_json_schema", "plan_to_json"]

_WEEK_S = 7 * 86400
_COUNT = Number(NumberRange(0, 10**9, "count"))
_AMOUNT = Number(NumberRange(0, 1e15, "skip penalty", integer=False))
_SHARE = Number(NumberRange(0, 1e6, "share", integer=False))


class _Whole(Codec[int]):
    """A travel figure: a finite number 0..1e9 (0 when absent or null), truncated to an integer."""

    def parse(self, value: Any, where: str) -> int:
        if value is None:
            return 0
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
            math.isfinite(value) and 0 <= value <= 10**9
        ):
            raise ValueError(f"{where}: expected a number 0..1e9, got {show(value)}")
        return int(value)

    def schema(self) -> dict[str, Any]:
        return {"type": ["number", "null"], "minimum": 0, "maximum": 10**9}


class _Moment(Codec[int]):
    """An ISO 8601 date-time with offset, as seconds after the plan day's local midnight (within a week)."""

    def __init__(self, clock: DayClock) -> None:
        self.clock = clock

    def parse(self, value: Any, where: str) -> int:
        try:
            seconds = self.clock.to_seconds(require_str(value, where, max_chars=40), field=where)
        except OverflowError:
            raise ValueError(f"{where}: lies outside any usable date") from None
        if abs(seconds) > _WEEK_S:
            raise ValueError(f"{where}: more than a week away from the plan's day")
        return seconds

    def dump(self, value: int) -> str:
        return self.clock.to_iso(value)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date-time", "maxLength": 40,
                "description": "ISO 8601 with offset, e.g. 2026-11-24T09:30:00+09:00"}


_TIER_COUNT: Record[TierCount] = Record([Field("total", _COUNT), Field("served", _COUNT)], cls=TierCount)
_LEFT_BEHIND: Record[LeftBehind] = Record(
    [Field("visit_id", Ident()), Field("household_id", Ident()), Field("tier", Choice(TIERS)),
     Field("days_overdue", Number(NumberRange(0, 10**6, "days")))],
    cls=LeftBehind,
)

KPIS: Record[Kpis] = Record(
    [
        Field("visits_total", _COUNT),
        Field("visits_assigned", _COUNT),
        Field("visits_unassigned", _COUNT),
        Field("risk_weighted_coverage", _SHARE,
              description="Skip penalty of the planned visits over that of all candidates (0..1)."),
        Field("risk_covered", _AMOUNT),
        Field("risk_total", _AMOUNT),
        Field("visits_by_tier", MapOf(Choice(TIERS), _TIER_COUNT)),
        Field("mandatory_unassigned", _COUNT),
        Field("urgent_unassigned", _COUNT),
        Field("travel_s", _COUNT),
        Field("travel_m", _COUNT),
        Field("service_s", _COUNT),
        Field("utilisation", MapOf(Ident(), _SHARE), description="Busy share of each worker's available time."),
        Field("worst_overdue_left_out", Nullable(_LEFT_BEHIND), default=None),
        Field("coverage_bound", Nullable(_AMOUNT), default=None, omit_default=True,
              description="No plan of the day can cover more risk than this (same unit as risk_covered): an "
                          "upper bound from a relaxation that keeps who may do what, shifts, windows, visit and "
                          "working-time limits and the least travel, but not the order of the routes."),
        Field("coverage_gap", Nullable(_SHARE), default=None, omit_default=True,
              description="(coverage_bound - risk_covered) / coverage_bound: how much searching longer could "
                          "add at most (0..1)."),
        Field("coverage_bound_method", Nullable(Choice(BOUND_METHODS)), default=None, omit_default=True,
              description="The relaxation that gave coverage_bound: assignment_mip (exact, or its proven bound), "
                          "assignment_lp (its linear relaxation) or selection (a knapsack over all workers' "
                          "minutes and visit slots, when time was short)."),
    ],
    cls=Kpis,
    extra="ignore",
    description="Figures of the plan; coverage counts each visit's skip penalty (its given priority, "
                "else the risk model's).",
)


class _Kpis(Codec[Kpis | None]):
    """The KPIs, or ``{}`` (``None``) for a plan nobody has evaluated."""

    def parse(self, value: Any, where: str) -> Kpis | None:
        if value is None or (isinstance(value, dict) and not value):
            return None
        return KPIS.parse(value, where)

    def dump(self, value: Kpis | None) -> dict[str, Any]:
        return {} if value is None else KPIS.dump(value)

    def schema(self) -> dict[str, Any]:
        return {"anyOf": [KPIS.schema(), {"type": "object", "maxProperties": 0}]}


_PARTNER: Record[Partner] = Record([Field("worker_id", Ident()), Field("role", Ident())], cls=Partner,
                                   extra="ignore")
CREW: Record[Crew] = Record(
    [
        Field("seat", Number(NumberRange(0, 9, "seat")), description="The seat (0-based) of the visit's crew."),
        Field("partners", ListOf(_PARTNER, limit=9), default=[],
              description="The other workers of the joint visit, starting at the same moment."),
    ],
    cls=Crew,
    extra="ignore",
    description="On each stop of a joint visit: this worker's seat and the partners (same visit_id, same start).",
)


def _stop(v: dict[str, Any]) -> Stop:
    start = v["start"]
    return Stop(
        visit_id=v["visit_id"], household_id=v["household_id"],
        arrival_s=start if v["arrival"] is None else v["arrival"], start_s=start,
        end_s=start if v["end"] is None else v["end"], travel_s=v["travel_s"], travel_m=v["travel_m"],
        crew=v["crew"],
    )


def _route(v: dict[str, Any]) -> Route:
    stops: tuple[Stop, ...] = v["stops"]
    depart = v["departure"] if v["departure"] else (stops[0].arrival_s if stops else 0)
    ret = v["return"] if v["return"] else (stops[-1].end_s if stops else depart)
    brk = v["break"]
    return Route(
        worker_id=v["worker_id"], depart_s=depart, return_s=ret, stops=stops,
        break_start_s=None if brk is None else brk[0], break_end_s=None if brk is None else brk[1],
        travel_s=v["travel_s"], travel_m=v["travel_m"],
    )


def _tables(clock: DayClock) -> Record[Plan]:
    """The plan's field table; times are read and written on ``clock``'s day."""
    moment = _Moment(clock)
    whole = _Whole()
    stop: Record[Stop] = Record(
        [
            Field("visit_id", Ident()),
            Field("household_id", Text(max_chars=LIMITS["id_chars"]), default=""),
            Field("arrival", Nullable(moment), default=None, get=lambda s: s.arrival_s,
                  description="Default: the start."),
            Field("start", moment, get=lambda s: s.start_s, description="When the service starts."),
            Field("end", Nullable(moment), default=None, get=lambda s: s.end_s, description="Default: the start."),
            Field("travel_s", whole, default=0, description="Travel from the previous place."),
            Field("travel_m", whole, default=0),
            Field("crew", Nullable(CREW), default=None, omit_default=True),
        ],
        make=_stop,
        extra="ignore",
    )
    brk: Record[tuple[int, int]] = Record(
        [Field("start", moment, get=lambda b: b[0]), Field("end", moment, get=lambda b: b[1])],
        make=lambda v: (v["start"], v["end"]),
        extra="ignore",
    )
    route: Record[Route] = Record(
        [
            Field("worker_id", Ident()),
            Field("departure", Nullable(moment), default=None, get=lambda r: r.depart_s,
                  description="Default: the first stop's arrival."),
            Field("return", Nullable(moment), default=None, get=lambda r: r.return_s,
                  description="Default: the last stop's end."),
            Field("travel_s", whole, default=0),
            Field("travel_m", whole, default=0),
            Field("break", Nullable(brk), default=None,
                  get=lambda r: None if r.break_start_s is None else (
                      r.break_start_s, r.break_end_s if r.break_end_s is not None else r.break_start_s)),
            Field("stops", ListOf(stop), default=[]),
        ],
        make=_route,
        extra="ignore",
    )
    unassigned: Record[Unassigned] = Record(
        [
            Field("visit_id", Ident()),
            Field("household_id", Text(max_chars=LIMITS["id_chars"]), default=""),
            Field("reason", EnumOf(Reason), default="lower_priority"),
            Field("detail", Text(max_chars=LIMITS["note_chars"], multiline=True), default="",
                  description="A sentence a dispatcher can act on."),
            Field("mandatory", Bool(), default=False),
            Field("urgent", Bool(), default=False),
        ],
        cls=Unassigned,
        extra="ignore",
    )
    return Record(
        [
            Field("date", Date(), path="plan.date"),
            Field("timezone", Const(str(clock.tz)), default=str(clock.tz), get=lambda p: str(clock.tz),
                  path="plan.timezone"),
            Field("routes", ListOf(route), default=[], path="plan.routes"),
            Field("unassigned", ListOf(unassigned), default=[], path="plan.unassigned"),
            Field("kpis", _Kpis(), default={}, path="plan.kpis"),
            Field("meta", Nullable(JsonObject()), default={}, get=lambda p: p.meta, path="plan.meta"),
        ],
        make=lambda v: Plan(date=v["date"], routes=v["routes"], unassigned=v["unassigned"], kpis=v["kpis"],
                            meta=v["meta"] or {}),
        extra="ignore",
    )


def plan_from_json(data: Any) -> Plan:
    """Read a plan file (one the planner wrote, or edited by hand); raises ``ValueError`` naming the field.

    Unknown keys are ignored (the API's plans carry their version fields and each stop's status);
    a stop's ``arrival`` and ``end`` default to its start, a route's departure and return to its
    first and last stop.
    """
    raw = require_mapping(data, "plan")
    date = Date().parse(raw.get("date"), "plan.date")
    return _tables(DayClock(date)).parse(raw, "plan")


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The plan file: times in ISO 8601 with the Asia/Seoul offset (the inverse of :func:`plan_from_json`)."""
    return _tables(DayClock(plan.date)).dump(plan)


def kpis_to_json(kpis: Kpis | None) -> dict[str, Any]:
    """The ``kpis`` object of a plan file (``{}`` for none)."""
    return _Kpis().dump(kpis)


def kpis_from_json(data: Any) -> Kpis | None:
    """Read the ``kpis`` object of a plan file."""
    return _Kpis().parse(data, "kpis")


def plan_json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of the plan file, from the same field table as the parser."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://salpimi.example/schema/plan.json",
        "title": "Salpimi plan",
        "description": "Routes, unassigned visits with reasons, and KPIs of one planning day (Asia/Seoul).",
        **_tables(DayClock(dt.date(2026, 1, 1))).schema(),
        "required": ["date"],
    }
