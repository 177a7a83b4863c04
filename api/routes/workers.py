"""Workers (nurses, case managers, counsellors, mobile units), their CSV import and schedules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status
from fastapi.responses import Response

from planner import DayClock

from .. import crud, csvimport
from ..deps import PrincipalDep, SessionDep, SettingsDep
from ..errors import problem_responses
from ..mappers import today_seoul, worker_public
from ..models import (
    MAX_OFFSET,
    BreakPublic,
    ImportResult,
    IsoDate,
    Page,
    SchedulePublic,
    ScheduleStop,
    WorkerCreate,
    WorkerPublic,
    WorkerUpdate,
)
from ..services import plans, registry

router = APIRouter(tags=["workers"], responses=problem_responses(401, 403, 422))


@router.get(
    "/teams/{team_id}/workers", response_model=Page[WorkerPublic],
    summary="A team's workers (a field worker sees only herself: names and home coordinates are personal)",
    responses=problem_responses(404),
)
def list_workers(
    team_id: str, session: SessionDep, p: PrincipalDep, active: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[WorkerPublic]:
    rows, total = registry.list_workers(session, p, team_id, active=active, limit=limit, offset=offset)
    return Page(data=[worker_public(w) for w in rows], count=total)


@router.post(
    "/teams/{team_id}/workers", response_model=WorkerPublic, status_code=status.HTTP_201_CREATED,
    summary="Add a worker", responses=problem_responses(404, 409),
)
def create_worker(
    team_id: str, body: WorkerCreate, session: SessionDep, p: PrincipalDep
) -> WorkerPublic:
    return worker_public(registry.create_worker(session, p, team_id, body))


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
    created, updated, ids = registry.import_workers(session, p, team_id, file.file, max_bytes=settings.max_csv_bytes)
    return ImportResult(created=created, updated=updated, ids=ids)


@router.get(
    "/workers/{worker_id}", response_model=WorkerPublic,
    summary="One worker (field workers: only themselves)", responses=problem_responses(404),
)
def get_worker(worker_id: str, session: SessionDep, p: PrincipalDep) -> WorkerPublic:
    return worker_public(registry.read_worker(session, p, worker_id))


@router.patch(
    "/workers/{worker_id}", response_model=WorkerPublic, summary="Change a worker",
    responses=problem_responses(404, 409),
)
def update_worker(
    worker_id: str, body: WorkerUpdate, session: SessionDep, p: PrincipalDep
) -> WorkerPublic:
    return worker_public(registry.update_worker(session, p, worker_id, body))


@router.delete(
    "/workers/{worker_id}", status_code=status.HTTP_204_NO_CONTENT,
    summary="Deactivate a worker (kept for past plans)", responses=problem_responses(404),
)
def delete_worker(worker_id: str, session: SessionDep, p: PrincipalDep) -> Response:
    registry.update_worker(session, p, worker_id, WorkerUpdate(active=False), action="delete")
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
    worker, plan, route = plans.worker_schedule(session, p, worker_id, day)
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
