"""Workers (nurses, case managers, counsellors, mobile units), their CSV import and schedules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status
from fastapi.responses import Response

from planner import DayClock

from .. import crud, csvimport, services
from ..deps import PrincipalDep, SessionDep, SettingsDep
from ..errors import ApiError, forbidden, not_found, problem_responses
from ..mappers import today_seoul, worker_public
from ..models import (
    MAX_OFFSET,
    BreakPublic,
    ImportResult,
    IsoDate,
    Page,
    SchedulePublic,
    ScheduleStop,
    Worker,
    WorkerCreate,
    WorkerPublic,
    WorkerUpdate,
)

router = APIRouter(tags=["workers"], responses=problem_responses(401, 403, 422))


def _worker(session: SessionDep, worker_id: str) -> Worker:
    worker = crud.get(session, Worker, worker_id)
    if worker is None:
        raise not_found("worker", worker_id)
    return worker


async def read_csv_upload(file: UploadFile, limit: int) -> bytes:
    raw = await file.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, f"the CSV file exceeds the limit of {limit} bytes")
    return raw


@router.get(
    "/teams/{team_id}/workers", response_model=Page[WorkerPublic],
    summary="A team's workers (a field worker sees only herself: names and home coordinates are personal)",
    responses=problem_responses(404),
)
def list_workers(
    team_id: str, session: SessionDep, p: PrincipalDep, active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[WorkerPublic]:
    services.get_team(session, team_id)
    services.require_team_read(p, team_id)
    if p.is_field_worker:
        own = crud.get(session, Worker, p.worker_id) if p.worker_id else None
        rows = [w for w in [own] if w is not None and w.team_id == team_id and active in (None, w.active)]
        return Page(data=[worker_public(w) for w in rows[offset: offset + limit]], count=len(rows))
    rows, total = crud.list_workers(session, team_id, active=active, limit=limit, offset=offset)
    return Page(data=[worker_public(w) for w in rows], count=total)


@router.post(
    "/teams/{team_id}/workers", response_model=WorkerPublic, status_code=status.HTTP_201_CREATED,
    summary="Add a worker", responses=problem_responses(404, 409),
)
def create_worker(
    team_id: str, body: WorkerCreate, session: SessionDep, p: PrincipalDep
) -> WorkerPublic:
    services.get_team(session, team_id)
    services.require_team_write(p, team_id)
    worker = services.create_worker(session, team_id, body)
    services.audit(session, p, "create", "worker", worker.id, team_id=team_id)
    return worker_public(worker)


@router.post(
    "/teams/{team_id}/workers/import", response_model=ImportResult,
    summary="Import workers from CSV (all rows or none; matched by ref)",
    description="Columns: " + ", ".join(csvimport.WORKER_COLUMNS) + ". " + (csvimport.__doc__ or ""),
    responses=problem_responses(404, 413),
)
async def import_workers(
    team_id: str, session: SessionDep, p: PrincipalDep, settings: SettingsDep,
    file: Annotated[UploadFile, File(description="CSV, UTF-8 or CP949")],
) -> ImportResult:
    services.get_team(session, team_id)
    services.require_team_write(p, team_id)
    raw = await read_csv_upload(file, settings.max_csv_bytes)
    created, updated, ids = csvimport.import_workers(session, team_id, raw)
    services.audit(session, p, "import", "worker", None, team_id=team_id,
                   detail=f"created={created} updated={updated}")
    return ImportResult(created=created, updated=updated, ids=ids)


@router.get(
    "/workers/{worker_id}", response_model=WorkerPublic,
    summary="One worker (field workers: only themselves)", responses=problem_responses(404),
)
def get_worker(worker_id: str, session: SessionDep, p: PrincipalDep) -> WorkerPublic:
    worker = _worker(session, worker_id)
    services.require_team_read(p, worker.team_id)
    if p.is_field_worker and p.worker_id != worker.id:
        raise forbidden("field workers read only their own worker record")
    return worker_public(worker)


@router.patch(
    "/workers/{worker_id}", response_model=WorkerPublic, summary="Change a worker",
    responses=problem_responses(404, 409),
)
def update_worker(
    worker_id: str, body: WorkerUpdate, session: SessionDep, p: PrincipalDep
) -> WorkerPublic:
    worker = _worker(session, worker_id)
    services.require_team_write(p, worker.team_id)
    worker = services.update_worker(session, worker, body)
    services.audit(session, p, "update", "worker", worker.id, team_id=worker.team_id)
    return worker_public(worker)


@router.delete(
    "/workers/{worker_id}", status_code=status.HTTP_204_NO_CONTENT,
    summary="Deactivate a worker (kept for past plans)", responses=problem_responses(404),
)
def delete_worker(worker_id: str, session: SessionDep, p: PrincipalDep) -> Response:
    worker = _worker(session, worker_id)
    services.require_team_write(p, worker.team_id)
    services.update_worker(session, worker, WorkerUpdate(active=False))
    services.audit(session, p, "delete", "worker", worker.id, team_id=worker.team_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/workers/{worker_id}/schedule", response_model=SchedulePublic,
    summary="A worker's stops in the published plan of a day (field workers: their own only)",
    responses=problem_responses(404),
)
def schedule(
    worker_id: str, session: SessionDep, p: PrincipalDep, date: IsoDate | None = None
) -> SchedulePublic:
    day = date or today_seoul()
    worker, plan, route = services.worker_schedule(session, p, worker_id, day)
    stops: list[ScheduleStop] = []
    brk = None
    clock = DayClock(day)
    if plan is not None and route is not None:
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
                )
            )
        if route.break_start_s is not None:
            end_s = route.break_end_s if route.break_end_s is not None else route.break_start_s
            brk = BreakPublic(start=clock.to_datetime(route.break_start_s), end=clock.to_datetime(end_s))
    return SchedulePublic(
        worker_id=worker.id, date=day, plan_id=plan.id if plan else None,
        version=plan.version if plan else None,
        departure=clock.to_datetime(route.depart_s) if route else None,
        return_=clock.to_datetime(route.return_s) if route else None,
        break_=brk, stops=stops,
    )
