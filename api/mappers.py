"""Mapping rows to API models, rows to the planner's Problem, and stored plans (read by the planner) to API models."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import planner

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


def household_public_json(row: Any) -> bytes:
    """``household_public`` of a Core row (``crud.household_row``), serialised: the same JSON, without an ORM
    object or a second validation (the row was validated when it was written)."""
    data: dict[str, Any] = {name: seoul(v) if isinstance(v, dt.datetime) else v for name, v in row._mapping.items()}
    return HouseholdPublic.model_construct(**data).model_dump_json().encode()


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
    data["plan_ids"] = list(row.plan_ids or [])
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


def stored_plan(row: Plan) -> planner.Plan:
    """The plan a row stores, read by the planner's parser (the one reader of plan JSON)."""
    return planner.plan_from_json({**(row.data or {}), "date": row.date.isoformat()})


def plan_public(row: Plan, statuses: Mapping[str, str] | None = None) -> PlanPublic:
    """The stored plan with its version fields; stops carry the visit's current status."""
    statuses = statuses or {}
    data = _dump(row, exclude=("data", "problem"))
    body = planner.plan_to_json(stored_plan(row))
    for route in body["routes"]:
        for stop in route["stops"]:
            stop["status"] = statuses.get(stop["visit_id"], "open")
    data["routes"] = body["routes"]
    data["unassigned"] = body["unassigned"]
    data["meta"] = body["meta"]
    return PlanPublic.model_validate(data)


# ---- rows -> the planner's Problem -----------------------------------------------------------


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
        "priority": row.priority,
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
        "priority": row.priority,
        **({"crew": [dict(seat) for seat in row.crew]} if row.crew else {}),
        **({"due": row.due, **({"late_cost": row.late_cost} if row.late_cost is not None else {})}
           if row.due else {}),
    }


def problem_of(
    *, name: str, date: dt.date, households: Iterable[tuple[Household, HouseholdPrivate | None]],
    workers: Iterable[Worker], visits: Iterable[VisitRequest], extra: Mapping[str, Any] | None = None,
) -> planner.Problem:
    """The planner's :class:`~planner.Problem` of these rows, validated once by the planner's parser.

    References to workers who are not among ``workers`` (inactive, or of another team) are dropped.
    ``extra`` adds the team's own problem-level inputs (``travel_matrix``, ``risk_model``; of its
    ``precedences`` those between two of ``visits``).  Raises ``ValueError`` naming the field, as the parser does.
    """
    visits = list(visits)
    extra = dict(extra or {})
    if extra.get("precedences"):
        ids = {v.id for v in visits}
        extra["precedences"] = [p for p in extra["precedences"] if p.get("first") in ids and p.get("then") in ids]
    if not extra.get("precedences"):
        extra.pop("precedences", None)
    workers = list(workers)
    worker_ids = {w.id for w in workers}
    household_rows = []
    for h, private in households:
        data = household_json(h, private)
        if data["preferred_worker_id"] not in worker_ids:
            data["preferred_worker_id"] = None
        household_rows.append(data)
    return planner.problem_from_json({
        "name": name,
        "date": date.isoformat(),
        "timezone": "Asia/Seoul",
        "households": household_rows,
        "workers": [worker_json(w) for w in workers],
        "visits": [visit_json(v, known_workers=worker_ids) for v in visits],
        **(extra or {}),
    })
