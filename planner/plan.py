"""The plan a solve produces (or a dispatcher edits): routes, stops, unassigned visits with reasons."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .timeline import DayClock

__all__ = ["Plan", "Reason", "Route", "Stop", "Unassigned"]


def _whole(value: Any, where: str) -> int:
    """A travel figure of a hand-edited plan: a finite number 0..1e9 (0 when absent), truncated."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
        math.isfinite(value) and 0 <= value <= 10**9
    ):
        raise ValueError(f"{where}: expected a number 0..1e9, got {repr(value)[:40]}")
    return int(value)


class Reason(StrEnum):
    """Why a visit is not in the plan; each comes with a sentence in ``Unassigned.detail``."""

    NO_QUALIFIED_WORKER = "no_qualified_worker"
    OUTSIDE_EVERY_SHIFT = "outside_every_shift"
    UNREACHABLE = "unreachable"
    OVER_CAPACITY = "over_capacity"
    LOWER_PRIORITY = "lower_priority"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop:
    visit_id: str
    household_id: str
    arrival_s: int
    start_s: int
    end_s: int
    travel_s: int = 0
    travel_m: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    worker_id: str
    depart_s: int
    return_s: int
    stops: tuple[Stop, ...] = ()
    break_start_s: int | None = None
    break_end_s: int | None = None
    travel_s: int = 0
    travel_m: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Unassigned:
    visit_id: str
    reason: Reason
    detail: str
    household_id: str = ""
    mandatory: bool = False
    urgent: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A day's plan in planner seconds; ``to_json``/``from_json`` speak ISO 8601 with offset."""

    date: dt.date
    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...] = ()
    kpis: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def route_of(self, worker_id: str) -> Route | None:
        return next((r for r in self.routes if r.worker_id == worker_id), None)

    def assigned_visit_ids(self) -> set[str]:
        return {s.visit_id for r in self.routes for s in r.stops}

    # ---- JSON -----------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        clock = DayClock(self.date)
        routes = []
        for r in self.routes:
            routes.append(
                {
                    "worker_id": r.worker_id,
                    "departure": clock.to_iso(r.depart_s),
                    "return": clock.to_iso(r.return_s),
                    "travel_s": r.travel_s,
                    "travel_m": r.travel_m,
                    "break": None
                    if r.break_start_s is None
                    else {
                        "start": clock.to_iso(r.break_start_s),
                        "end": clock.to_iso(r.break_end_s if r.break_end_s is not None else r.break_start_s),
                    },
                    "stops": [
                        {
                            "visit_id": s.visit_id,
                            "household_id": s.household_id,
                            "arrival": clock.to_iso(s.arrival_s),
                            "start": clock.to_iso(s.start_s),
                            "end": clock.to_iso(s.end_s),
                            "travel_s": s.travel_s,
                            "travel_m": s.travel_m,
                        }
                        for s in r.stops
                    ],
                }
            )
        return {
            "date": self.date.isoformat(),
            "timezone": str(clock.tz),
            "routes": routes,
            "unassigned": [
                {
                    "visit_id": u.visit_id,
                    "household_id": u.household_id,
                    "reason": u.reason.value,
                    "detail": u.detail,
                    "mandatory": u.mandatory,
                    "urgent": u.urgent,
                }
                for u in self.unassigned
            ],
            "kpis": self.kpis,
            "meta": self.meta,
        }

    @classmethod
    def from_json(cls, data: Any) -> Plan:
        """Read a plan (possibly hand-edited); raises ``ValueError`` naming the bad field."""
        from .io import require_list, require_mapping, require_str

        data = require_mapping(data, "plan")
        date_text = require_str(data.get("date"), "plan.date")
        try:
            date = dt.date.fromisoformat(date_text)
        except ValueError:
            raise ValueError(f"plan.date: {date_text!r} is not a date (expected YYYY-MM-DD)") from None
        clock = DayClock(date)

        def secs(value: Any, where: str) -> int:
            try:
                seconds = clock.to_seconds(require_str(value, where, max_chars=40), field=where)
            except OverflowError:
                raise ValueError(f"{where}: lies outside any usable date") from None
            if abs(seconds) > 7 * 86400:
                raise ValueError(f"{where}: more than a week away from the plan's day")
            return seconds

        routes = []
        for i, raw in enumerate(require_list(data.get("routes", []), "plan.routes")):
            where = f"plan.routes[{i}]"
            raw = require_mapping(raw, where)
            stops = []
            for k, rs in enumerate(require_list(raw.get("stops", []), f"{where}.stops")):
                sw = f"{where}.stops[{k}]"
                rs = require_mapping(rs, sw)
                start = secs(rs.get("start"), f"{sw}.start")
                end = secs(rs["end"], f"{sw}.end") if rs.get("end") is not None else start
                arrival = secs(rs["arrival"], f"{sw}.arrival") if rs.get("arrival") is not None else start
                stops.append(
                    Stop(
                        visit_id=require_str(rs.get("visit_id"), f"{sw}.visit_id"),
                        household_id=str(rs.get("household_id", "")),
                        arrival_s=arrival,
                        start_s=start,
                        end_s=end,
                        travel_s=_whole(rs.get("travel_s"), f"{sw}.travel_s"),
                        travel_m=_whole(rs.get("travel_m"), f"{sw}.travel_m"),
                    )
                )
            brk = raw.get("break")
            b_start = b_end = None
            if brk is not None:
                brk = require_mapping(brk, f"{where}.break")
                b_start = secs(brk.get("start"), f"{where}.break.start")
                b_end = secs(brk.get("end"), f"{where}.break.end")
            depart = secs(raw["departure"], f"{where}.departure") if raw.get("departure") else (
                stops[0].arrival_s if stops else 0
            )
            ret = secs(raw["return"], f"{where}.return") if raw.get("return") else (
                stops[-1].end_s if stops else depart
            )
            routes.append(
                Route(
                    worker_id=require_str(raw.get("worker_id"), f"{where}.worker_id"),
                    depart_s=depart,
                    return_s=ret,
                    stops=tuple(stops),
                    break_start_s=b_start,
                    break_end_s=b_end,
                    travel_s=_whole(raw.get("travel_s"), f"{where}.travel_s"),
                    travel_m=_whole(raw.get("travel_m"), f"{where}.travel_m"),
                )
            )
        unassigned = []
        for i, ru in enumerate(require_list(data.get("unassigned", []), "plan.unassigned")):
            where = f"plan.unassigned[{i}]"
            ru = require_mapping(ru, where)
            reason_text = require_str(ru.get("reason", "lower_priority"), f"{where}.reason")
            try:
                reason = Reason(reason_text)
            except ValueError:
                raise ValueError(f"{where}.reason: {reason_text!r} is not a known reason") from None
            unassigned.append(
                Unassigned(
                    visit_id=require_str(ru.get("visit_id"), f"{where}.visit_id"),
                    reason=reason,
                    detail=str(ru.get("detail", "")),
                    household_id=str(ru.get("household_id", "")),
                    mandatory=bool(ru.get("mandatory", False)),
                    urgent=bool(ru.get("urgent", False)),
                )
            )
        return cls(
            date=date,
            routes=tuple(routes),
            unassigned=tuple(unassigned),
            kpis=dict(data.get("kpis") or {}),
            meta=dict(data.get("meta") or {}),
        )
