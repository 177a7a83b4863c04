"""Plans: versions, publishing, GeoJSON, checks of hand-edited plans, outcomes and re-planning."""

from __future__ import annotations

from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Body, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlmodel import Session

import planner

from ..deps import (
    ApiKeyDep,
    EventsDep,
    PrincipalDep,
    RunnerDep,
    SessionDep,
    SettingsDep,
    TokenDep,
    cached_principal,
    run_authenticated,
    shared_check,
)
from ..errors import problem_responses
from ..mappers import job_public, outcome_public, plan_summary
from ..models import (
    MAX_OFFSET,
    CheckResult,
    IsoDate,
    OutcomeCreate,
    OutcomePublic,
    Page,
    PlanJobPublic,
    PlanPublic,
    PlanSummary,
    ReplanRequest,
    ViolationPublic,
)
from ..plancache import CachedBody
from ..security import Principal
from ..services import jobs, plans, webviews

router = APIRouter(tags=["plans"], responses=problem_responses(401, 403, 422))


class EditedPlan(BaseModel):
    plan: PlanSummary
    check: CheckResult


def _check_result(ev: Any) -> CheckResult:
    return CheckResult(
        ok=bool(ev.ok),
        violations=[
            ViolationPublic(
                code=str(v.code), worker_id=v.worker_id, visit_id=v.visit_id, message=v.message
            )
            for v in ev.violations
        ],
        kpis=planner.kpis_to_json(ev.kpis),
    )


@router.get(
    "/teams/{team_id}/plans", response_model=Page[PlanSummary],
    summary="A team's plan versions (newest first)", responses=problem_responses(404),
)
def list_plans(
    team_id: str, session: SessionDep, p: PrincipalDep, date: IsoDate | None = None,
    published: bool | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[PlanSummary]:
    rows, total = plans.list_plans(session, p, team_id, date=date, published=published, limit=limit, offset=offset)
    return Page(data=[plan_summary(r) for r in rows], count=total)


@router.get(
    "/plans/{plan_id}", response_model=PlanPublic, response_model_by_alias=True,
    summary="Routes, unassigned visits with reasons, KPIs (ETag; If-None-Match answers 304)",
    responses={**problem_responses(404), 304: {"description": "unchanged since the ETag in If-None-Match"}},
)
async def get_plan(plan_id: str, request: Request, token: TokenDep, api_key: ApiKeyDep) -> Response:
    # The hottest read.  While nothing has been committed since the caller's credential and the plan's
    # body were last checked, both come from memory in the event loop, with no query (the check: microseconds
    # on SQLite, one asynchronous round trip shared by concurrent reads on PostgreSQL); else authentication,
    # access check and body in one worker-thread call.
    cache = request.app.state.plan_cache

    def work(session: Session, p: Principal) -> CachedBody:
        return plans.read_plan_body(session, p, plan_id, cache)

    cached: CachedBody | None = None
    version: Any = None
    watch = getattr(request.app.state, "change_watch", None)
    if watch is not None:
        version = await watch.current_async()
        p = cached_principal(request, token, api_key, version)
        cached = None if p is None else plans.fresh_plan_body(p, plan_id, cache, version)
    if cached is None:
        # After a commit every read in flight misses at once (on PostgreSQL the audit writer's batches and other
        # databases' commits change the version many times a second): the reads of this plan with this
        # credential at this version share one check instead of each taking a thread and its queries.
        cached = await shared_check(
            request, ("plan", token, api_key, plan_id, version),
            lambda: anyio.to_thread.run_sync(run_authenticated, request, token, api_key, work, version),
        )
    # The body is sent as built (bytes, no validation); gzip-compressed (once, when built) if the client accepts it.
    zipped = _accepts_gzip(request.headers.get("accept-encoding", ""))
    etag = cached.gzip_etag if zipped else cached.etag
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": "Accept-Encoding"}
    match = request.headers.get("if-none-match", "")
    tags = {t.strip().removeprefix("W/") for t in match.split(",")}
    if cached.etag in tags or cached.gzip_etag in tags or match.strip() == "*":
        return Response(status_code=304, headers=headers)
    if zipped:
        return Response(cached.gzipped, media_type="application/json", headers={**headers, "Content-Encoding": "gzip"})
    return Response(cached.body, media_type="application/json", headers=headers)


def _accepts_gzip(accept_encoding: str) -> bool:
    """``gzip`` is among the accepted codings with a q-value above 0 (RFC 9110 12.5.3)."""
    for item in accept_encoding.lower().split(","):
        coding, _, params = item.strip().partition(";")
        if coding.strip() in ("gzip", "x-gzip"):
            q = params.strip().removeprefix("q=").strip()
            try:
                return not q or float(q) > 0
            except ValueError:
                return False
    return False


@router.get(
    "/plans/{plan_id}/geojson",
    summary="Routes as GeoJSON: one LineString per leg (along the streets when the server has a road network, "
    "else straight: properties.geometry says which), numbered stops with risk tier and status, unassigned households",
    responses={**problem_responses(404, 409), 200: {
        "content": {"application/geo+json": {"schema": {"type": "object"}}},
        "description": "a FeatureCollection of leg LineStrings, stop Points and unassigned Points"}},
)
def get_geojson(
    plan_id: str, request: Request, session: SessionDep, p: PrincipalDep, settings: SettingsDep,
) -> JSONResponse:
    body = webviews.plan_map(session, p, plan_id, network=settings.network, data_dir=settings.data_dir,
                             cache=request.app.state.view_cache)
    return JSONResponse(body, media_type="application/geo+json")


@router.post(
    "/plans/{plan_id}/publish", response_model=PlanSummary,
    summary="Publish this version (earlier versions of the day are unpublished); a version the evaluator "
    "objects to needs force=true, recorded in the audit log with its violations",
    responses=problem_responses(404, 409),
)
def publish(
    plan_id: str, session: SessionDep, p: PrincipalDep, settings: SettingsDep,
    force: Annotated[bool, Query(description="publish although the evaluator finds violations (audited)")] = False,
) -> PlanSummary:
    plan = plans.publish(session, p, plan_id, force=force, network=settings.network, data_dir=settings.data_dir)
    return plan_summary(plan)


@router.post(
    "/plans/{plan_id}/check", response_model=CheckResult,
    summary="Check this plan, or a hand-edited copy of it (the body), with the evaluator",
    responses=problem_responses(404),
)
def check(
    plan_id: str, session: SessionDep, p: PrincipalDep, settings: SettingsDep,
    edited: Annotated[dict[str, Any] | None, Body(
        description="a plan as returned by GET /v1/plans/{id}, edited; omit to check the stored one"
    )] = None,
) -> CheckResult:
    return _check_result(plans.check_plan(session, p, plan_id, edited, network=settings.network,
                                          data_dir=settings.data_dir))


@router.post(
    "/plans/{plan_id}/versions", response_model=EditedPlan, status_code=status.HTTP_201_CREATED,
    summary="Save a hand-edited copy as a new (unpublished) version, with its check",
    responses=problem_responses(404),
)
def save_edit(
    plan_id: str, session: SessionDep, p: PrincipalDep,
    edited: Annotated[dict[str, Any], Body(description="the edited plan")],
) -> EditedPlan:
    plan, ev = plans.save_edited_plan(session, p, plan_id, edited)
    return EditedPlan(plan=plan_summary(plan), check=_check_result(ev))


@router.get(
    "/plans/{plan_id}/outcomes", response_model=Page[OutcomePublic],
    summary="Outcomes recorded against this plan's day", responses=problem_responses(404),
)
def list_outcomes(plan_id: str, session: SessionDep, p: PrincipalDep) -> Page[OutcomePublic]:
    rows = plans.list_outcomes(session, p, plan_id)
    return Page(data=[outcome_public(o) for o in rows], count=len(rows))


@router.post(
    "/plans/{plan_id}/outcomes", response_model=OutcomePublic,
    status_code=status.HTTP_201_CREATED,
    summary="Record an outcome: done, in_progress, no_answer (creates a next-day follow-up), "
    "refused, worker_delayed, worker_off_sick",
    responses=problem_responses(404, 409),
)
def record_outcome(
    plan_id: str, body: OutcomeCreate, session: SessionDep, p: PrincipalDep
) -> OutcomePublic:
    return outcome_public(plans.record_outcome(session, p, plan_id, body))


@router.post(
    "/plans/{plan_id}/replan", status_code=status.HTTP_202_ACCEPTED, response_model=PlanJobPublic,
    summary="Re-plan the rest of the day from `now` (what happened stays as it happened, few changes); "
    "the job's plan is a new version, published when the evaluator finds no violation",
    responses=problem_responses(404, 409),
)
def replan(
    plan_id: str, body: ReplanRequest, session: SessionDep, p: PrincipalDep, runner: RunnerDep, events: EventsDep,
    settings: SettingsDep,
) -> JSONResponse:
    job = jobs.create_replan_job(session, p, plan_id, body, runner=runner, events=events, settings=settings)
    return JSONResponse(
        job_public(job).model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED,
        headers={"Location": f"/v1/plan-jobs/{job.id}"},
    )
