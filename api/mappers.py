"""Mapping rows to API models, and rows to the planner's plain problem JSON (and back)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from .models import (
    RISK_FIELDS,
    AuditLog,
    AuditPublic,
    Household,
    HouseholdPrivate,
    HouseholdPrivatePublic,
    HouseholdPublic,
    JobProgress,
    Outcome,
    OutcomePublic,
    Plan,
    PlanJob,
    PlanJobPublic,
    PlanPublic,
    PlanSummary,
    Report,
    ReportPublic,
    Team,
    TeamPublic,
    User,
    UserPublic,
    VisitRequest,
    VisitRequestPublic,
    Worker,
    WorkerPublic,
)

SEOUL = ZoneInfo("Asia/Seoul")


def seoul(value: dt.datetime | None) -> dt.datetime | None:
    """An aware datetime shown in Asia/Seoul (``+09:00``)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(SEOUL)


def today_seoul() -> dt.date:
    return dt.datetime.now(SEOUL).date()


def seconds_of_day(moment: dt.datetime, day: dt.date) -> int:
    """Seconds from local midnight of ``day`` (Asia/Seoul) to ``moment``."""
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=SEOUL)
    return round((moment - midnight).total_seconds())


def _dump(row: Any, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    data = row.model_dump(exclude=set(exclude), warnings=False)
    for key, value in data.items():
        if isinstance(value, dt.datetime):
            data[key] = seoul(value)
    return data


def team_public(row: Team) -> TeamPublic:
    return TeamPublic.model_validate(_dump(row))


def user_public(row: User) -> UserPublic:
    return UserPublic.model_validate(_dump(row, exclude=("password_hash",)))


def worker_public(row: Worker) -> WorkerPublic:
    return WorkerPublic.model_validate(_dump(row))


def household_public(row: Household) -> HouseholdPublic:
    return HouseholdPublic.model_validate(_dump(row))


def private_public(row: HouseholdPrivate) -> HouseholdPrivatePublic:
    return HouseholdPrivatePublic.model_validate(_dump(row))


def visit_request_public(row: VisitRequest) -> VisitRequestPublic:
    return VisitRequestPublic.model_validate(_dump(row))


def report_public(row: Report) -> ReportPublic:
    return ReportPublic.model_validate(_dump(row))


def outcome_public(row: Outcome) -> OutcomePublic:
    return OutcomePublic.model_validate(_dump(row))


def audit_public(row: AuditLog) -> AuditPublic:
    return AuditPublic.model_validate(_dump(row))


def job_public(row: PlanJob) -> PlanJobPublic:
    data = _dump(row, exclude=("progress",))
    progress = dict(row.progress or {})
    elapsed = float(progress.get("elapsed_s", 0.0) or 0.0)
    if row.status in ("succeeded", "cancelled"):
        fraction = 1.0
    else:
        fraction = min(1.0, elapsed / row.time_limit_s) if row.time_limit_s else 0.0
    data["progress"] = JobProgress(
        elapsed_s=elapsed,
        objective=progress.get("objective"),
        visits_covered=progress.get("visits_covered"),
        visits_total=progress.get("visits_total"),
        fraction=round(fraction, 3),
    )
    return PlanJobPublic.model_validate(data)


def plan_summary(row: Plan) -> PlanSummary:
    return PlanSummary.model_validate(_dump(row, exclude=("data", "problem")))


def plan_public(row: Plan, statuses: Mapping[str, str] | None = None) -> PlanPublic:
    """The stored plan JSON with its version fields; stops carry the visit's current status."""
    statuses = statuses or {}
    data = _dump(row, exclude=("data", "problem"))
    body = row.data or {}
    routes = []
    for route in body.get("routes", []):
        route = dict(route)
        route["stops"] = [
            {**stop, "status": statuses.get(stop["visit_id"], "open")} for stop in route["stops"]
        ]
        routes.append(route)
    data["routes"] = routes
    data["unassigned"] = body.get("unassigned", [])
    data["meta"] = body.get("meta", {})
    return PlanPublic.model_validate(data)


# ---- rows -> planner problem JSON ------------------------------------------------------------


def risk_json(private: HouseholdPrivate | None) -> dict[str, Any]:
    if private is None:
        return {}
    return {name: getattr(private, name) for name in RISK_FIELDS}


def household_json(row: Household, private: HouseholdPrivate | None) -> dict[str, Any]:
    """The planner's view of a household: location, dong, risk factors, availability."""
    return {
        "id": row.id,
        "location": {"lat": row.lat, "lon": row.lon},
        "dong": row.dong,
        "risk": risk_json(private),
        "last_contact": row.last_contact.isoformat() if row.last_contact else None,
        "preferred_worker_id": row.preferred_worker_id,
        "languages": list(row.languages or ["ko"]),
        "availability": {day: [list(w) for w in ws] for day, ws in (row.availability or {}).items()},
    }


def worker_json(row: Worker) -> dict[str, Any]:
    start = {"lat": row.start_lat, "lon": row.start_lon}
    end = (
        {"lat": row.end_lat, "lon": row.end_lon}
        if row.end_lat is not None and row.end_lon is not None
        else start
    )
    brk = None
    if row.break_start and row.break_end:
        brk = {"window": [row.break_start, row.break_end], "duration_s": row.break_s}
    return {
        "id": row.id,
        "name": row.name,
        "team": row.team_id,
        "role": str(row.role),
        "skills": list(row.skills or []),
        "languages": list(row.languages or ["ko"]),
        "start": start,
        "end": end,
        "shift": [row.shift_start, row.shift_end],
        "break": brk,
        "max_visits": row.max_visits,
        "max_work_s": row.max_work_s,
        "travel_mode": str(row.travel_mode),
        "speed_factor": row.speed_factor,
        "capacity": row.capacity,
    }


def visit_json(row: VisitRequest, *, known_workers: Iterable[str]) -> dict[str, Any]:
    known = set(known_workers)
    return {
        "id": row.id,
        "household_id": row.household_id,
        "kind": str(row.kind),
        "duration_s": row.duration_s,
        "required_skills": list(row.required_skills or []),
        "time_windows": [list(w) for w in row.time_windows or []],
        "mandatory": bool(row.mandatory),
        "urgent": bool(row.urgent),
        "required_worker_id": row.required_worker_id if row.required_worker_id in known else None,
        "forbidden_worker_ids": [w for w in row.forbidden_worker_ids or [] if w in known],
        "allowed_roles": [str(r) for r in row.allowed_roles or []],
        "load": int(row.load or 0),
    }


# ---- GeoJSON -----------------------------------------------------------------------------------


def plan_geojson(row: Plan) -> dict[str, Any]:
    """Routes as LineStrings (straight lines between stops) and stops as Points."""
    problem = row.problem or {}
    places = {h["id"]: h["location"] for h in problem.get("households", [])}
    workers = {w["id"]: w for w in problem.get("workers", [])}
    features: list[dict[str, Any]] = []
    for route in (row.data or {}).get("routes", []):
        worker = workers.get(route["worker_id"])
        coords: list[list[float]] = []
        if worker:
            coords.append([worker["start"]["lon"], worker["start"]["lat"]])
        for seq, stop in enumerate(route.get("stops", []), start=1):
            loc = places.get(stop["household_id"])
            if loc is None:
                continue
            coords.append([loc["lon"], loc["lat"]])
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "Point", "coordinates": [loc["lon"], loc["lat"]]},
                    "properties": {
                        "kind": "stop",
                        "worker_id": route["worker_id"],
                        "sequence": seq,
                        "visit_id": stop["visit_id"],
                        "household_id": stop["household_id"],
                        "start": stop.get("start"),
                        "end": stop.get("end"),
                    },
                }
            )
        if worker:
            end = worker.get("end") or worker["start"]
            coords.append([end["lon"], end["lat"]])
        if len(coords) >= 2:
            features.append(
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": coords},
                    "properties": {
                        "kind": "route",
                        "worker_id": route["worker_id"],
                        "stops": len(route.get("stops", [])),
                        "travel_s": route.get("travel_s", 0),
                        "travel_m": route.get("travel_m", 0),
                        "geometry_source": "straight_lines",
                    },
                }
            )
    return {
        "type": "FeatureCollection",
        "features": features,
        "properties": {"plan_id": row.id, "version": row.version, "date": row.date.isoformat()},
    }
