"""Workers (nurses, case managers, counsellors, mobile units), their CSV import and schedules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile, status
from fastapi.responses import Response

from .. import csvimport
from ..deps import PrincipalDep, SessionDep, SettingsDep
from ..errors import problem_responses
from ..mappers import today_seoul, worker_public
from ..models import (
    MAX_OFFSET,
    ImportResult,
    IsoDate,
    Page,
    SchedulePublic,
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
    return plans.worker_schedule(session, p, worker_id, date or today_seoul())
