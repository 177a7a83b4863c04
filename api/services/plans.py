"""Plans of a day: stored versions, publishing, checks and hand edits, GeoJSON, workers' schedules and outcomes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

import planner

from .. import crud
from ..changewatch import DB_VERSION
from ..errors import ApiError, conflict, not_found
from ..mappers import plan_public, stored_plan
from ..models import (
    BreakPublic,
    ErrorItem,
    Household,
    Outcome,
    OutcomeCreate,
    OutcomeKind,
    Plan,
    PlanKind,
    SchedulePublic,
    ScheduleStop,
    VisitKind,
    VisitRequest,
    VisitSource,
    VisitStatus,
    Worker,
    now_utc,
)
from ..plancache import CachedBody, PlanBodyCache
from ..redact import scrub_values
from ..security import Principal
from .access import (
    require_not_field_worker,
    require_outcome,
    require_schedule_read,
    require_team_read,
    require_team_write,
)
from .audit import audit
from .feedevents import record_publish
from .registry import get_team
from .visits import FINISHED_VISIT

_PUBLISH_ATTEMPTS = 5
#: Violations that make an edited plan something other than a version of the day (saved plans may break
#: other rules: the check goes with them, and publishing them needs force).
_STRUCTURAL = frozenset({"unknown_worker", "unknown_visit", "missing_visit", "duplicate_visit", "duplicate_route",
                         "date"})

# ---- stored versions ----------------------------------------------------------------------------------


def store_plan(
    session: Session, *, team_id: str, date: dt.date, plan_json: dict[str, Any],
    problem: dict[str, Any], kind: PlanKind, job_id: str | None, base_plan_id: str | None,
    stopped_early: bool, created_by: str | None, publish: bool,
) -> Plan:
    """Save a new version (1, 2, 3 ... per team and day), optionally published.

    ``plan_json`` is read by the planner's parser and stored as the planner writes it.  A hand edit
    (kind ``edit``) of a version that already has one is a 409 naming that edit, and nothing is
    written: two dispatchers editing the same version cannot both save, and neither loses the
    other's change unseen (the day's versions are locked, so concurrent editors go one at a time).
    """
    parsed = planner.plan_from_json({**plan_json, "date": date.isoformat()})
    data = planner.plan_to_json(parsed)
    exclusive = kind == PlanKind.EDIT and base_plan_id is not None
    if exclusive:
        crud.lock_plan_day(session, team_id, date)
    for _attempt in range(5):
        version = crud.max_plan_version(session, team_id, date) + 1
        plan = Plan(
            team_id=team_id, date=date, version=version, kind=kind, job_id=job_id,
            base_plan_id=base_plan_id, stopped_early=stopped_early, data=data,
            problem=problem, kpis=data["kpis"], created_by=created_by,
        )
        try:
            with session.begin_nested():
                crud.add(session, plan)
                # After the insert: on SQLite it took the write lock, so this read sees every committed edit.
                earlier = (crud.other_edit_of(session, base_plan_id, excluding=plan.id)
                           if exclusive and base_plan_id is not None else None)
                if earlier is not None:
                    raise conflict(
                        f"plan {base_plan_id} was already edited (version {earlier[1]}, {earlier[0]}): "
                        f"make the change on that version", slug="plan-already-edited")
        except IntegrityError:
            continue
        if publish:
            publish_plan(session, plan)
        return plan
    raise conflict("could not allocate a plan version; try again")


def list_plans(
    session: Session, p: Principal, team_id: str, *, date: dt.date | None, published: bool | None, limit: int,
    offset: int,
) -> tuple[list[Plan], int]:
    get_team(session, team_id)
    require_not_field_worker(p, "whole plans")
    require_team_read(p, team_id)
    return crud.list_plans(session, team_id, date=date, published=published, limit=limit, offset=offset)


def get_plan(session: Session, p: Principal, plan_id: str) -> Plan:
    """A whole plan: the team (managers: every team), never field workers."""
    plan = crud.plan_without_bodies(session, plan_id)  # the JSON loads only if it is used
    if plan is None:
        raise not_found("plan", plan_id)
    require_not_field_worker(p, "whole plans")
    require_team_read(p, plan.team_id)
    return plan


def _stop_visit_ids(plan: Plan) -> tuple[str, ...]:
    return tuple(s.visit_id for r in stored_plan(plan).routes for s in r.stops)


def read_plan_body(session: Session, p: Principal, plan_id: str, cache: PlanBodyCache) -> CachedBody:
    """``GET /v1/plans/{id}``: the access checks of ``get_plan``, then the JSON body and ETag from
    ``cache`` unless the plan's row or one of its visits' statuses changed since it was built.

    A cache hit costs three small queries (the plan's columns without its JSON, the day's visit
    statuses) and loads no plan JSON and no ORM object; ``fresh_plan_body`` needs none while nothing
    has been committed since.
    """
    state = crud.plan_state(session, plan_id)
    if state is None:
        raise not_found("plan", plan_id)
    require_not_field_worker(p, "whole plans")
    require_team_read(p, state.team_id)
    plan: Plan | None = None
    visit_ids = cache.visit_ids(plan_id)
    if visit_ids is None:
        plan = crud.plan_without_bodies(session, plan_id)
        assert plan is not None
        visit_ids = _stop_visit_ids(plan)
    statuses = crud.day_status_map(session, state.team_id, state.date)  # a plan's visits are its day's
    missing = [v for v in visit_ids if v not in statuses]
    if missing:
        statuses.update(crud.visit_status_map(session, missing))
    key = (tuple(state), tuple(statuses.get(v, "open") for v in visit_ids))
    version = session.info.get(DB_VERSION)  # read before this session's first query, if at all
    hit = cache.lookup(plan_id, key, version=version)
    if hit is not None:
        return hit
    plan = plan or crud.plan_without_bodies(session, plan_id)
    assert plan is not None
    body = CachedBody.build(key, plan_public(plan, statuses).model_dump_json(by_alias=True).encode(),
                            team_id=state.team_id)
    cache.store(plan_id, visit_ids, body, version=version)
    return body


def fresh_plan_body(p: Principal, plan_id: str, cache: PlanBodyCache, version: Any) -> CachedBody | None:
    """``read_plan_body`` with no query, when nothing has been committed since the cached body was checked
    (``version``: the database's version now); the same access checks, on the cached plan's team."""
    hit = cache.fresh(plan_id, version)
    if hit is None:
        return None
    require_not_field_worker(p, "whole plans")
    require_team_read(p, hit.team_id)
    return hit


# ---- publishing ---------------------------------------------------------------------------------------


def publish_plan(session: Session, plan: Plan, *, at: dt.datetime | None = None) -> Plan:
    """Publish ``plan``; earlier versions of the team's day stay stored but unpublished.

    Atomic: the day's other versions are unpublished and ``plan`` published in one transaction,
    under a lock on the day's versions, and the database allows one published version per team
    and day (a partial unique index).  A publisher that still loses a race retries.  The calendar
    feeds' events follow in the same transaction (``feedevents.record_publish``).
    """
    for _attempt in range(_PUBLISH_ATTEMPTS):
        try:
            with session.begin_nested():
                crud.publish_exclusively(session, plan, at=at or now_utc())
                record_publish(session, plan, at=at or now_utc())
        except IntegrityError:
            continue
        return plan
    raise conflict(f"plan {plan.id}: another version of the day was being published; try again",
                   slug="publish-conflict")


def violations_brief(violations: Sequence[Any], *, limit: int = 12) -> str:
    """Violations (the evaluator's, or their JSON) as codes and ids only, for the audit log:
    ``3 (break: w1; travel: w1/v2; ...)``."""
    def field(v: Any, name: str) -> str:
        return str((v.get(name) if isinstance(v, dict) else getattr(v, name, "")) or "")

    parts = [f"{field(v, 'code')}: " + "/".join(x for x in (field(v, "worker_id"), field(v, "visit_id")) if x)
             for v in violations[:limit]]
    more = f"; {len(violations) - limit} more" if len(violations) > limit else ""
    return f"{len(violations)} ({'; '.join(parts)}{more})"


def publish(
    session: Session, p: Principal, plan_id: str, *, force: bool, network: str | None = None, data_dir: Any = None,
) -> Plan:
    """Publish a version by hand (the team's dispatchers): only if the evaluator finds no violation, or with
    ``force``, which the audit log records together with the violations (ids only)."""
    plan = get_plan(session, p, plan_id)
    require_team_write(p, plan.team_id)
    # Every version the API stores carries its problem; a bare row (made in tests) has nothing to check against.
    ev = evaluate_plan(plan, None, network=network, data_dir=data_dir) if plan.problem else None
    if ev is not None and ev.violations and not force:
        raise ApiError(
            409, f"plan {plan.id} breaks {len(ev.violations)} rule(s); fix it, or publish with force=true "
            "(recorded in the audit log)", slug="plan-has-violations",
            errors=[ErrorItem(field=v.code, message=v.message) for v in ev.violations[:50]],
        )
    publish_plan(session, plan)
    detail = f"version={plan.version}"
    if ev is not None and ev.violations:
        detail += f" forced despite violations={violations_brief(ev.violations)}"
    audit(session, p, "publish", "plan", plan.id, team_id=plan.team_id, detail=detail)
    return plan


# ---- travel, checks, edits, GeoJSON -----------------------------------------------------------------------


def travel_provider(network: str | None, *, data_dir: Any = None) -> Any:
    """The travel-time provider of this server: a named road network (in ``data_dir``), or straight lines."""
    if not network:
        return planner.HaversineProvider()
    try:
        return planner.road_network(network, data_dir=data_dir)
    except ValueError as exc:
        raise ApiError(503, f"road network unavailable: {exc}", slug="network-unavailable") from None


def plan_travel(problem: planner.Problem, network: str | None, *, data_dir: Any = None) -> Any:
    """The travel provider a plan of ``problem`` is made and checked with: the problem's own travel
    matrix (the team's), else the server's road network, else straight lines."""
    if problem.travel_matrix is not None:
        return planner.MatrixProvider(problem.travel_matrix)
    return travel_provider(network, data_dir=data_dir)


def _read_edit(plan: Plan, edited: dict[str, Any] | None) -> planner.Plan:
    data = dict(edited) if edited is not None else dict(plan.data)
    data.setdefault("date", plan.date.isoformat())
    try:
        return planner.plan_from_json(data)
    except (ValueError, TypeError, KeyError) as exc:
        why = scrub_values(f"missing {exc.args[0]}" if isinstance(exc, KeyError) and exc.args else str(exc))
        raise ApiError(422, f"not a readable plan: {why}",
                       errors=[ErrorItem(field="body", message=why)]) from None


def evaluate_plan(
    plan: Plan, edited: dict[str, Any] | None, *, network: str | None = None, data_dir: Any = None
) -> planner.Evaluation:
    """Evaluate the stored (or an edited) plan against the problem it was made for."""
    problem = planner.problem_from_json(plan.problem)
    candidate = _read_edit(plan, edited)
    if candidate.date != plan.date:
        raise ApiError(422, f"plan.date: {candidate.date} differs from the plan's {plan.date}")
    return planner.evaluate(problem, candidate, plan_travel(problem, network, data_dir=data_dir))


def check_plan(
    session: Session, p: Principal, plan_id: str, edited: dict[str, Any] | None, *, network: str | None = None,
    data_dir: Any = None,
) -> planner.Evaluation:
    """``POST /v1/plans/{id}/check``: the evaluator on the stored plan, or on a hand-edited copy."""
    return evaluate_plan(get_plan(session, p, plan_id), edited, network=network, data_dir=data_dir)


def save_edited_plan(
    session: Session, p: Principal, plan_id: str, edited: dict[str, Any]
) -> tuple[Plan, planner.Evaluation]:
    """Store a dispatcher's hand-edited plan as a new (unpublished) version, with its check."""
    base = get_plan(session, p, plan_id)
    require_team_write(p, base.team_id)
    ev = evaluate_plan(base, edited)
    broken = [v for v in ev.violations if v.code in _STRUCTURAL]
    if broken:
        raise ApiError(
            422, f"the edited plan names unknown workers or visits, or loses visits ({len(broken)} problem(s)); "
            "every visit of the day must be planned or listed as unassigned", slug="plan-incomplete",
            errors=[ErrorItem(field=v.code, message=v.message) for v in broken[:50]],
        )
    normalised = planner.plan_to_json(replace(_read_edit(base, edited), kpis=ev.kpis))
    plan = store_plan(
        session, team_id=base.team_id, date=base.date, plan_json=normalised, problem=base.problem,
        kind=PlanKind.EDIT, job_id=None, base_plan_id=base.id, stopped_early=False,
        created_by=p.user_id, publish=False,
    )
    audit(session, p, "create", "plan", plan.id, team_id=plan.team_id,
          detail=f"edit of {base.id} version={plan.version}")
    return plan, ev


# ---- schedules -----------------------------------------------------------------------------------


def published_route(session: Session, p: Principal, worker_id: str, date: dt.date) -> tuple[Worker, Plan | None, Any]:
    """The worker, the day's published plan of her team (None when nothing is published) and her route in it
    (None when she has none), for the worker herself or whoever reads her team; the caller audits the read."""
    worker = crud.get(session, Worker, worker_id)
    if worker is None:
        raise not_found("worker", worker_id)
    require_schedule_read(p, worker)
    plan = crud.published_plan(session, worker.team_id, date)
    route = stored_plan(plan).route_of(worker.id) if plan is not None else None
    return worker, plan, route


def worker_schedule(session: Session, p: Principal, worker_id: str, date: dt.date) -> SchedulePublic:
    """A worker's stops in the day's published plan, with each visit's current status (the worker herself, or
    anyone who reads her team); audited."""
    worker, plan, route = published_route(session, p, worker_id, date)
    audit(session, p, "read", "schedule", worker.id, team_id=worker.team_id,
          detail=f"date={date.isoformat()} stops={len(route.stops) if route else 0}")
    stops: list[ScheduleStop] = []
    brk = None
    clock = planner.DayClock(date)
    if route is not None:
        places = crud.households_by_ids(session, {s.household_id for s in route.stops})
        visits = crud.visit_requests_by_ids(session, {s.visit_id for s in route.stops})
        for s in route.stops:
            h = places.get(s.household_id)
            v = visits.get(s.visit_id)
            stops.append(
                ScheduleStop(
                    visit_id=s.visit_id, household_id=s.household_id,
                    dong=h.dong if h else "", lat=h.lat if h else 0.0, lon=h.lon if h else 0.0,
                    kind=str(v.kind) if v else "routine", arrival=clock.to_datetime(s.arrival_s),
                    start=clock.to_datetime(s.start_s), end=clock.to_datetime(s.end_s),
                    status=str(v.status) if v else "open",
                    with_roles=sorted(x.role for x in s.crew.partners) if s.crew is not None else [],
                )
            )
        if route.break_start_s is not None:
            end_s = route.break_end_s if route.break_end_s is not None else route.break_start_s
            brk = BreakPublic(start=clock.to_datetime(route.break_start_s), end=clock.to_datetime(end_s))
    return SchedulePublic(
        worker_id=worker.id, date=date, plan_id=plan.id if plan else None,
        version=plan.version if plan else None,
        departure=clock.to_datetime(route.depart_s) if route else None,
        return_=clock.to_datetime(route.return_s) if route else None,
        break_=brk, stops=stops,
    )


# ---- outcomes -------------------------------------------------------------------------------------


def _route_of_visit(plan: Plan, visit_id: str) -> str | None:
    for route in stored_plan(plan).routes:
        if any(s.visit_id == visit_id for s in route.stops):
            return route.worker_id
    return None


def list_outcomes(session: Session, p: Principal, plan_id: str) -> list[Outcome]:
    """Outcomes recorded against the plan's day (whoever reads the whole plan)."""
    plan = get_plan(session, p, plan_id)
    return crud.list_outcomes(session, team_id=plan.team_id, date=plan.date)


def record_outcome(session: Session, p: Principal, plan_id: str, body: OutcomeCreate) -> Outcome:
    """Record what happened; a no-answer creates a mandatory, urgent follow-up the next day."""
    plan = crud.get(session, Plan, plan_id)
    if plan is None:
        raise not_found("plan", plan_id)
    at = body.at or now_utc()
    visit: VisitRequest | None = None
    worker_ids = {w["id"] for w in (plan.problem or {}).get("workers", [])}
    if body.visit_id is not None:
        visit = crud.get(session, VisitRequest, body.visit_id)
        if visit is None or visit.team_id != plan.team_id or visit.date != plan.date:
            raise ApiError(422, f"visit_id: {body.visit_id} is not a visit of this plan's day",
                           errors=[ErrorItem(field="visit_id", message="not a visit of this day")])
    if body.worker_id is not None and body.worker_id not in worker_ids:
        raise ApiError(422, f"worker_id: {body.worker_id} is not a worker of this plan",
                       errors=[ErrorItem(field="worker_id", message="not a worker of this plan")])
    require_outcome(
        p, plan_id=plan.id, team_id=plan.team_id, visit_id=visit.id if visit is not None else None,
        visit_worker_id=_route_of_visit(plan, visit.id) if visit is not None and p.is_field_worker else None,
        worker_id=body.worker_id,
    )
    outcome = Outcome.model_validate(
        body, update={"plan_id": plan.id, "team_id": plan.team_id, "date": plan.date, "at": at,
                      "recorded_by": p.user_id},
    )
    if visit is not None:
        if visit.status in FINISHED_VISIT or visit.status == VisitStatus.CANCELLED:
            raise conflict(f"visit {visit.id} is already {visit.status}")
        visit.status = VisitStatus(body.kind.value)
        visit.updated_at = now_utc()
        session.add(visit)
        household = crud.get(session, Household, visit.household_id)
        if household is not None and body.kind in (OutcomeKind.DONE, OutcomeKind.REFUSED):
            household.last_contact = plan.date
            household.updated_at = now_utc()
            session.add(household)
        if body.kind == OutcomeKind.NO_ANSWER:
            follow = VisitRequest(
                team_id=visit.team_id, household_id=visit.household_id,
                date=plan.date + dt.timedelta(days=1), kind=VisitKind.FOLLOW_UP, mandatory=True,
                urgent=True, source=VisitSource.FOLLOW_UP, parent_id=visit.id,
                created_by=p.user_id, required_skills=list(visit.required_skills or []),
                allowed_roles=list(visit.allowed_roles or []),
            )
            session.add(follow)
            outcome.follow_up_request_id = follow.id
        audit(session, p, "outcome", "household", visit.household_id, team_id=plan.team_id,
              detail=f"visit={visit.id} outcome={body.kind.value}")
    session.add(outcome)
    session.flush()
    return outcome
