"""Planning jobs: 202 + Location, status and progress, a live event stream, cancellation."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse
from sse_starlette.sse import EventSourceResponse

from ..deps import EventsDep, PrincipalDep, RunnerDep, SessionDep, SettingsDep, StreamPrincipalDep
from ..errors import problem_responses
from ..mappers import job_public
from ..models import MAX_OFFSET, IsoDate, JobStatus, Page, PlanJob, PlanJobCreate, PlanJobPublic, StreamToken
from ..security import STREAM_TOKEN_TTL_S, issue_stream_token
from ..services import jobs

router = APIRouter(tags=["plan jobs"], responses=problem_responses(401, 403, 422))

_TERMINAL = (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value, JobStatus.CANCELLED.value)


def _accepted(job: PlanJob) -> JSONResponse:
    return JSONResponse(
        job_public(job).model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED,
        headers={"Location": f"/v1/plan-jobs/{job.id}"},
    )


@router.post(
    "/plan-jobs", status_code=status.HTTP_202_ACCEPTED, response_model=PlanJobPublic,
    summary="Plan a team's day in a worker process (202 with Location; 409 if one is running)",
    responses={**problem_responses(404, 409), 202: {"headers": {"Location": {
        "description": "the job's URL", "schema": {"type": "string"}}}}},
)
def create_plan_job(
    body: PlanJobCreate, session: SessionDep, p: PrincipalDep, runner: RunnerDep,
    events: EventsDep, settings: SettingsDep,
) -> JSONResponse:
    job = jobs.create_plan_job(session, p, body, runner=runner, events=events, settings=settings)
    return _accepted(job)


@router.get(
    "/teams/{team_id}/plan-jobs", response_model=Page[PlanJobPublic], summary="A team's jobs",
    responses=problem_responses(404),
)
def list_jobs(
    team_id: str, session: SessionDep, p: PrincipalDep, date: IsoDate | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[PlanJobPublic]:
    rows, total = jobs.list_jobs(session, p, team_id, date=date, limit=limit, offset=offset)
    return Page(data=[job_public(j) for j in rows], count=total)


@router.get(
    "/plan-jobs/{job_id}", response_model=PlanJobPublic, summary="A job's status and progress",
    responses=problem_responses(404),
)
def get_job(job_id: str, session: SessionDep, p: PrincipalDep) -> PlanJobPublic:
    return job_public(jobs.get_job(session, p, job_id))


@router.delete(
    "/plan-jobs/{job_id}", status_code=status.HTTP_202_ACCEPTED, response_model=PlanJobPublic,
    summary="Cancel a job; a running solve stops and keeps the best plan found so far",
    responses=problem_responses(404, 409),
)
def cancel_job(
    job_id: str, session: SessionDep, p: PrincipalDep, runner: RunnerDep
) -> JSONResponse:
    job = jobs.cancel_job(session, p, job_id, runner=runner)
    return _accepted(job)


@router.post(
    "/plan-jobs/{job_id}/stream-token", response_model=StreamToken, status_code=status.HTTP_201_CREATED,
    summary="A 60-second token that opens this job's event stream (for browsers' EventSource: "
    "GET /v1/plan-jobs/{id}/events?token=...); valid for this job and caller only, nowhere else",
    responses=problem_responses(404),
)
def create_stream_token(job_id: str, request: Request, session: SessionDep, p: PrincipalDep) -> StreamToken:
    job = jobs.get_job(session, p, job_id)  # 404 / 403 as for the job itself
    token = issue_stream_token(p, job.id, secret=request.app.state.secret_key)
    return StreamToken(token=token, expires_in=STREAM_TOKEN_TTL_S,
                       url=f"/v1/plan-jobs/{job.id}/events?token={token}")


@router.get(
    "/plan-jobs/{job_id}/events",
    summary="Server-sent events: `status` and `progress` while the job runs, then `end` "
    "(authenticate with a header, or with ?token= from POST /v1/plan-jobs/{id}/stream-token)",
    response_class=EventSourceResponse,
    responses={
        **problem_responses(404),
        200: {"content": {"text/event-stream": {"schema": {
            "type": "object", "description": "one event of the stream",
            "properties": {"event": {"type": "string", "enum": ["status", "progress", "end"]},
                           "data": {"type": "string", "contentMediaType": "application/json",
                                    "description": "the job as JSON"},
                           "id": {"type": "string"}, "retry": {"type": "integer"}}}}},
              "description": "event: progress|status|end; data: the job as JSON"},
    },
)
async def job_events(
    job_id: str, request: Request, session: SessionDep, p: StreamPrincipalDep,
    interval_s: Annotated[float, Query(ge=0.05, le=10)] = 0.25,
) -> EventSourceResponse:
    jobs.get_job(session, p, job_id)  # 404 / 403 before the stream starts
    engine = request.app.state.engine

    def load() -> dict[str, Any] | None:
        job = jobs.job_now(engine, job_id)
        return None if job is None else job_public(job).model_dump(mode="json")

    async def stream() -> AsyncIterator[dict[str, Any]]:
        last: dict[str, Any] | None = None
        seq = 0
        while True:
            if await request.is_disconnected():
                return
            current = await anyio.to_thread.run_sync(load)
            if current is None:
                return
            if current != last:
                seq += 1
                kind = "status" if last is None or current["status"] != last["status"] else "progress"
                yield {"event": kind, "id": str(seq), "data": json.dumps(current)}
                last = current
            if current["status"] in _TERMINAL:
                yield {"event": "end", "id": str(seq + 1), "data": json.dumps(current)}
                return
            await anyio.sleep(interval_s)

    return EventSourceResponse(stream(), ping=15)
