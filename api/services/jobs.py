"""Plan jobs: a team's rows become the planner's problem, solved in a worker process (a plan or a re-plan);
runner events recorded; status, cancellation."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

import planner

from .. import crud
from ..config import Settings
from ..db import session_scope
from ..errors import ApiError, conflict, not_found
from ..mappers import problem_of, seconds_of_day, stored_plan
from ..models import (
    ErrorItem,
    JobKind,
    JobStatus,
    OutcomeKind,
    Plan,
    PlanJob,
    PlanJobCreate,
    PlanKind,
    ReplanRequest,
    Team,
    VisitRequest,
    VisitStatus,
    now_utc,
)
from ..redact import scrub_values
from ..runner import JobRunner
from ..security import Principal
from .access import require_not_field_worker, require_planner, require_team_read, require_team_write
from .audit import audit
from .plans import get_plan, store_plan, violations_brief
from .registry import get_team, team_inputs
from .visits import FINISHED_VISIT, NOT_CANCELLED

_log = logging.getLogger("salpimi.services")


def build_problem(session: Session, team: Team, date: dt.date, *, statuses: Collection[str]) -> planner.Problem:
    """The planner's Problem for ``team`` on ``date`` (no names, contacts or notes), validated once by
    the planner; 422 when the team's rows do not form a valid problem."""
    workers, _ = crud.list_workers(session, team.id, active=True)
    visits, _ = crud.list_visit_requests(session, team.id, date=date, statuses=statuses)
    households = crud.households_by_ids(session, {v.household_id for v in visits})
    households = {k: h for k, h in households.items() if h.active}
    privates = crud.privates_by_ids(session, list(households))
    try:
        return problem_of(
            name=team.name, date=date,
            households=[(h, privates.get(h.id)) for h in sorted(households.values(), key=lambda h: h.id)],
            workers=workers, visits=[v for v in visits if v.household_id in households],
            extra=team_inputs(session, team.id),
        )
    except (ValueError, TypeError) as exc:
        raise ApiError(422, f"the team's data do not form a valid problem: {scrub_values(str(exc))}") from None


def build_horizon_problem(session: Session, team: Team, start: dt.date, end: dt.date) -> planner.HorizonProblem:
    """The planner's HorizonProblem for ``team`` from ``start`` to ``end``: the open visit requests dated in
    the range, each on its own date or later (the planner picks the day); the team's active workers on their
    usual shifts on weekdays, Korean public holidays off.  422 when the rows do not form a valid problem."""
    workers, _ = crud.list_workers(session, team.id, active=True)
    requests = []
    day = start
    while day <= end:
        found, _ = crud.list_visit_requests(session, team.id, date=day, statuses=(VisitStatus.OPEN.value,))
        requests.extend(found)
        day += dt.timedelta(days=1)
    households = crud.households_by_ids(session, {v.household_id for v in requests})
    households = {k: h for k, h in households.items() if h.active}
    privates = crud.privates_by_ids(session, list(households))
    requests = [v for v in requests if v.household_id in households]
    dated = {v.id: v.date for v in requests}
    try:
        day_problem = problem_of(
            name=team.name, date=start,
            households=[(h, privates.get(h.id)) for h in sorted(households.values(), key=lambda h: h.id)],
            workers=workers, visits=requests, extra=team_inputs(session, team.id),
        )
        return planner.HorizonProblem(
            start=start, end=end, name=day_problem.name, households=day_problem.households,
            workers=day_problem.workers,
            visits=tuple(planner.HorizonVisit(visit=v, earliest=dated[v.id] if dated[v.id] > start else None)
                         for v in day_problem.visits),
            service_times=day_problem.service_times, risk_model=day_problem.risk_model,
            travel_matrix=day_problem.travel_matrix,
        )
    except (ValueError, TypeError) as exc:
        raise ApiError(422, f"the team's data do not form a valid problem: {scrub_values(str(exc))}") from None


def _store_days(session: Session, job: PlanJob, data: dict[str, Any]) -> list[str]:
    """A date range's result: each planned request moves to the day it got, each day's plan becomes that
    day's next version (published when asked and the evaluator finds nothing)."""
    ids: list[str] = []
    moved = 0
    for day in data["days"]:
        date = dt.date.fromisoformat(day["date"])
        plan_json = day["plan"]
        listed = {s["visit_id"] for r in plan_json.get("routes", []) for s in r.get("stops", [])}
        listed |= {u["visit_id"] for u in plan_json.get("unassigned", [])}
        for vid in sorted(listed):
            request = crud.get(session, VisitRequest, vid)
            if request is not None and request.team_id == job.team_id and request.date != date:
                request.date = date
                request.updated_at = now_utc()
                session.add(request)
                moved += 1
        violations = list(day.get("violations") or [])
        plan = store_plan(
            session, team_id=job.team_id, date=date, plan_json=plan_json, problem=day["problem"],
            kind=PlanKind.SOLVE, job_id=job.id, base_plan_id=None, stopped_early=bool(data.get("stopped_early")),
            created_by=job.created_by, publish=job.publish_on_finish and not violations,
        )
        if job.publish_on_finish and violations:
            audit(session, None, "publish_withheld", "plan", plan.id, team_id=job.team_id,
                  detail=f"version={plan.version} job={job.id} violations={violations_brief(violations)}")
        ids.append(plan.id)
    audit(session, None, "plan_range", "plan_job", job.id, team_id=job.team_id,
          detail=f"days={len(ids)} requests_moved={moved} left_out={len(data.get('unassigned') or [])}")
    return ids


class JobEvents:
    """Receives runner events (in the runner's monitor thread) and records them in the database."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._problems: dict[str, dict[str, Any]] = {}

    def remember(self, job_id: str, problem: planner.Problem) -> None:
        with self._lock:
            self._problems[job_id] = planner.problem_to_json(problem)

    def _take(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            return self._problems.pop(job_id, {})

    def __call__(self, job_id: str, kind: str, data: dict[str, Any]) -> None:
        try:
            self._record(job_id, kind, data)
        except Exception as exc:
            if kind not in ("result", "error", "died"):
                raise
            # A finished job whose plan cannot be stored must not stay "running" forever.
            _log.error("job %s: could not record %s (%s)", job_id, kind, type(exc).__name__)
            with session_scope(self._engine) as session:
                job = crud.get(session, PlanJob, job_id)
                if job is not None and job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
                    job.status = JobStatus.FAILED
                    job.error = f"the result could not be stored ({type(exc).__name__})"
                    job.finished_at = job.updated_at = now_utc()
                    session.add(job)

    def _record(self, job_id: str, kind: str, data: dict[str, Any]) -> None:
        with session_scope(self._engine) as session:
            job = crud.get(session, PlanJob, job_id)
            if job is None:
                return
            now = now_utc()
            if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
                if kind in ("result", "error", "died"):
                    self._take(job_id)
                return
            if kind == "started":
                job.status = JobStatus.RUNNING
                job.started_at = now
            elif kind == "progress":
                job.progress = {**data}
            elif kind == "result" and "days" in data:
                self._take(job_id)
                ids = _store_days(session, job, data)
                job.plan_id = ids[0] if ids else None
                job.plan_ids = ids
                job.status = JobStatus.CANCELLED if job.cancel_requested else JobStatus.SUCCEEDED
                job.finished_at = now
                progress = dict(job.progress or {})
                progress.setdefault("elapsed_s", (now - (job.started_at or now)).total_seconds())
                job.progress = progress
            elif kind == "result":
                # A re-plan is checked against the day as it now stands (the planner's ``Replanned.day``).
                remembered = self._take(job_id)
                problem = data.get("problem") or remembered
                violations = list(data.get("violations") or [])
                plan = store_plan(
                    session, team_id=job.team_id, date=job.date, plan_json=data["plan"],
                    problem=problem,
                    kind=PlanKind.REPLAN if job.kind == JobKind.REPLAN else PlanKind.SOLVE,
                    job_id=job.id, base_plan_id=job.base_plan_id,
                    stopped_early=bool(data.get("stopped_early")), created_by=job.created_by,
                    publish=job.publish_on_finish and not violations,  # never a plan the evaluator objects to
                )
                if job.publish_on_finish and violations:
                    audit(session, None, "publish_withheld", "plan", plan.id, team_id=job.team_id,
                          detail=f"version={plan.version} job={job.id} violations={violations_brief(violations)}")
                job.plan_id = plan.id
                job.status = JobStatus.CANCELLED if job.cancel_requested else JobStatus.SUCCEEDED
                job.finished_at = now
                progress = dict(job.progress or {})
                progress.setdefault("elapsed_s", (now - (job.started_at or now)).total_seconds())
                job.progress = progress
            elif kind in ("error", "died"):
                self._take(job_id)
                job.status = JobStatus.FAILED
                job.error = str(data.get("message") or data.get("reason") or "failed")[:1000]
                job.finished_at = now
            job.updated_at = now
            session.add(job)
        if kind in ("result", "error", "died"):
            _log.info("job %s finished: %s", job_id, kind)


def _job_payload(job: PlanJob, problem: planner.Problem, **extra: Any) -> dict[str, Any]:
    return {"problem": problem, **_search(job), **extra}


def _search(job: PlanJob) -> dict[str, Any]:
    """The job's search parameters for the worker process (``salpimi plan``'s options)."""
    return {"time_limit_s": job.time_limit_s, "seed": job.seed, "solver": job.solver,
            "deterministic": job.deterministic, "solution_limit": job.solution_limit}


def _insert_job(session: Session, job: PlanJob) -> None:
    if crud.active_job(session, job.team_id, job.date) is not None:
        raise conflict(
            f"a plan job for team {job.team_id} on {job.date.isoformat()} is already running",
            slug="job-running",
        )
    try:
        with session.begin_nested():
            crud.add(session, job)
    except IntegrityError:
        raise conflict(
            f"a plan job for team {job.team_id} on {job.date.isoformat()} is already running",
            slug="job-running",
        ) from None


def create_plan_job(
    session: Session, p: Principal, body: PlanJobCreate, *, runner: JobRunner, events: JobEvents,
    settings: Settings,
) -> PlanJob:
    """Plan a team's day: the team's dispatchers, or a manager (scenarios)."""
    team = get_team(session, body.team_id)
    require_planner(p, team.id)
    if body.time_limit_s > settings.max_time_limit_s:
        raise ApiError(
            422, f"time_limit_s: at most {settings.max_time_limit_s} s on this server",
            errors=[ErrorItem(field="body.time_limit_s", message=f"at most {settings.max_time_limit_s}")],
        )
    if body.date_to is not None and body.date_to != body.date:
        return _create_range_job(session, p, team, body, runner=runner, settings=settings)
    problem = build_problem(session, team, body.date, statuses=(VisitStatus.OPEN.value,))
    if not problem.workers:
        raise ApiError(422, f"team {team.id} has no active workers to plan", slug="nothing-to-plan")
    if not problem.visits:
        raise ApiError(
            422, f"team {team.id} has no open visit requests on {body.date.isoformat()}; "
            "generate them first (POST /v1/teams/{team_id}/visit-requests/generate)",
            slug="nothing-to-plan",
        )
    job = PlanJob.model_validate(body.model_dump(exclude={"publish", "date_to"}),
                                 update={"kind": JobKind.PLAN, "created_by": p.user_id,
                                         "publish_on_finish": body.publish})
    _insert_job(session, job)
    session.commit()
    events.remember(job.id, problem)
    runner.submit(job.id, _job_payload(job, problem, network=settings.network, data_dir=str(settings.data_dir)))
    return job


def _create_range_job(session: Session, p: Principal, team: Team, body: PlanJobCreate, *, runner: JobRunner,
                      settings: Settings) -> PlanJob:
    """Plan the days from ``date`` to ``date_to``: one job; its result is a plan version per day."""
    assert body.date_to is not None
    days = (body.date_to - body.date).days + 1
    if days < 1 or days > planner.MAX_DAYS:
        why = "is before date" if days < 1 else f"gives {days} days, more than {planner.MAX_DAYS}"
        raise ApiError(422, f"date_to: {body.date_to.isoformat()} {why}",
                       errors=[ErrorItem(field="body.date_to", message=f"within {planner.MAX_DAYS} days from date")])
    problem = build_horizon_problem(session, team, body.date, body.date_to)
    if not problem.workers:
        raise ApiError(422, f"team {team.id} has no active workers to plan", slug="nothing-to-plan")
    if not problem.visits:
        raise ApiError(422, f"team {team.id} has no open visit requests from {body.date.isoformat()} to "
                            f"{body.date_to.isoformat()}", slug="nothing-to-plan")
    for k in range(1, days):
        day = body.date + dt.timedelta(days=k)
        if crud.active_job(session, team.id, day) is not None:
            raise conflict(f"a plan job for team {team.id} on {day.isoformat()} is already running",
                           slug="job-running")
    job = PlanJob.model_validate(body.model_dump(exclude={"publish"}),
                                 update={"kind": JobKind.PLAN, "created_by": p.user_id,
                                         "publish_on_finish": body.publish})
    _insert_job(session, job)
    session.commit()
    runner.submit(job.id, {"horizon": problem, **_search(job), "network": settings.network,
                           "data_dir": str(settings.data_dir)})
    return job


def list_jobs(
    session: Session, p: Principal, team_id: str, *, date: dt.date | None, limit: int, offset: int
) -> tuple[list[PlanJob], int]:
    get_team(session, team_id)
    require_not_field_worker(p, "plan jobs")
    require_team_read(p, team_id)
    return crud.list_jobs(session, team_id, date=date, limit=limit, offset=offset)


def job_now(engine: sa.Engine, job_id: str) -> PlanJob | None:
    """A job's row as it stands, read in a short session of its own (the event stream polls it; access was
    checked when the stream started)."""
    with Session(engine) as session:
        return crud.get(session, PlanJob, job_id)


def get_job(session: Session, p: Principal, job_id: str) -> PlanJob:
    job = crud.get(session, PlanJob, job_id)
    if job is None:
        raise not_found("plan job", job_id)
    require_not_field_worker(p, "plan jobs")
    require_team_read(p, job.team_id)
    return job


def cancel_job(session: Session, p: Principal, job_id: str, *, runner: JobRunner) -> PlanJob:
    """Cancel a queued or running job; a running solve stops and keeps the best plan found so far."""
    job = get_job(session, p, job_id)
    require_planner(p, job.team_id)
    if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        raise conflict(f"plan job {job.id} already {job.status}", slug="job-finished")
    job.cancel_requested = True
    job.updated_at = now_utc()
    session.add(job)
    session.commit()
    outcome = runner.cancel(job.id)
    if outcome in ("dequeued", "unknown"):
        session.refresh(job)
        if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            job.status = JobStatus.CANCELLED
            job.finished_at = now_utc()
            job.error = None if outcome == "dequeued" else "no worker process was running the job"
            session.add(job)
            session.commit()
    return job


def fail_orphaned_jobs(session: Session) -> int:
    """Jobs left queued or running by a previous server process can never finish."""
    jobs = crud.active_jobs(session)
    for job in jobs:
        job.status = JobStatus.FAILED
        job.error = "the server restarted before the job finished"
        job.finished_at = now_utc()
        job.updated_at = now_utc()
        session.add(job)
    return len(jobs)


# ---- re-planning ------------------------------------------------------------------------------------


def replan_args(session: Session, plan: Plan, now: dt.datetime) -> dict[str, Any]:
    """What has happened so far today, in the planner's seconds (see planner.replan.freeze): visits
    finished and under way, who went off sick and when, who is held up until when and since when."""
    now_s = seconds_of_day(now, plan.date)
    visits, _ = crud.list_visit_requests(session, plan.team_id, date=plan.date)
    outcomes = crud.list_outcomes(session, team_id=plan.team_id, date=plan.date)
    done = sorted(v.id for v in visits if v.status in FINISHED_VISIT)
    in_progress: dict[str, int] = {}
    off_sick: dict[str, int] = {}
    delay_until: dict[str, int] = {}
    delayed_at: dict[str, int] = {}
    for o in outcomes:
        at_s = seconds_of_day(o.at or o.created_at, plan.date)
        if o.kind == OutcomeKind.IN_PROGRESS and o.visit_id:
            in_progress[o.visit_id] = at_s
        elif o.kind == OutcomeKind.WORKER_OFF_SICK and o.worker_id:
            off_sick[o.worker_id] = min(off_sick.get(o.worker_id, at_s), at_s)
        elif o.kind == OutcomeKind.WORKER_DELAYED and o.worker_id:
            until = at_s + int(o.delay_s or 0)
            delay_until[o.worker_id] = max(delay_until.get(o.worker_id, 0), until)
            delayed_at[o.worker_id] = min(delayed_at.get(o.worker_id, at_s), at_s)
    still = {v.id for v in visits if v.status == VisitStatus.IN_PROGRESS}
    in_progress = {k: v for k, v in in_progress.items() if k in still}
    delayed = {w: until - now_s for w, until in delay_until.items() if until > now_s}
    return {
        "now_s": now_s, "done": done, "in_progress": in_progress, "off_sick": off_sick,
        "delayed_s": delayed, "delayed_at_s": delayed_at,
    }


def create_replan_job(
    session: Session, p: Principal, plan_id: str, body: ReplanRequest, *, runner: JobRunner,
    events: JobEvents, settings: Settings,
) -> PlanJob:
    """Re-plan the rest of the plan's day from ``now`` (the team's dispatchers): a job whose result is a
    new version."""
    plan = get_plan(session, p, plan_id)
    require_team_write(p, plan.team_id)
    if body.time_limit_s > settings.max_time_limit_s:
        raise ApiError(422, f"time_limit_s: at most {settings.max_time_limit_s} s on this server")
    now = body.now
    if now.tzinfo is None:
        raise ApiError(422, "now: give an offset, e.g. 2026-11-24T13:30:00+09:00",
                       errors=[ErrorItem(field="body.now", message="a date and time with an offset")])
    if not 0 <= seconds_of_day(now, plan.date) < 24 * 3600:
        raise ApiError(422, f"now: not a moment of the plan's day ({plan.date.isoformat()}, Seoul time)",
                       errors=[ErrorItem(field="body.now", message="not on the plan's day")])
    team = get_team(session, plan.team_id)
    problem = build_problem(session, team, plan.date, statuses=NOT_CANCELLED)
    if not problem.workers:
        raise ApiError(422, f"team {team.id} has no active workers to plan", slug="nothing-to-plan")
    args = replan_args(session, plan, now)
    job = PlanJob(
        team_id=plan.team_id, date=plan.date, time_limit_s=body.time_limit_s, seed=body.seed,
        deterministic=body.deterministic, solution_limit=body.solution_limit,
        kind=JobKind.REPLAN, base_plan_id=plan.id, publish_on_finish=body.publish,
        created_by=p.user_id,
    )
    _insert_job(session, job)
    session.commit()
    events.remember(job.id, problem)
    previous = stored_plan(plan)
    runner.submit(job.id, _job_payload(job, problem, previous=previous, replan=args, network=settings.network,
                                         data_dir=str(settings.data_dir)))
    return job
