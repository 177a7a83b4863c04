"""Households: the planning part for everyone who plans, the private part for those who visit."""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, File, Query, Request, UploadFile, status
from fastapi.responses import Response
from sqlmodel import Session

from .. import csvimport
from ..deps import ApiKeyDep, PrincipalDep, RiskDep, SessionDep, SettingsDep, TokenDep, loop_version, run_authenticated
from ..errors import problem_responses
from ..mappers import household_public, private_public
from ..models import (
    MAX_OFFSET,
    HouseholdCreate,
    HouseholdPrivatePublic,
    HouseholdPrivateUpdate,
    HouseholdPublic,
    HouseholdUpdate,
    ImportResult,
    Page,
)
from ..security import Principal
from ..services import registry

router = APIRouter(tags=["households"], responses=problem_responses(401, 403, 422))


@router.get(
    "/teams/{team_id}/households", response_model=Page[HouseholdPublic],
    summary="A team's households (planning data only); field workers see those on their route",
    responses=problem_responses(404),
)
def list_households(
    team_id: str, session: SessionDep, p: PrincipalDep, active: bool | None = None,
    dong: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[HouseholdPublic]:
    rows, total = registry.list_households(session, p, team_id, active=active, dong=dong, limit=limit, offset=offset)
    return Page(data=[household_public(h) for h in rows], count=total)


@router.post(
    "/teams/{team_id}/households", response_model=HouseholdPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Add a household (the optional `private` part is stored apart)",
    responses=problem_responses(404, 409),
)
def create_household(
    team_id: str, body: HouseholdCreate, session: SessionDep, p: PrincipalDep, risk: RiskDep
) -> HouseholdPublic:
    household, _private = registry.create_household(session, p, team_id, body, risk)
    return household_public(household)


@router.post(
    "/teams/{team_id}/households/import", response_model=ImportResult,
    summary="Import households from CSV (all rows or none; matched by ref)",
    description="Columns: " + ", ".join(csvimport.HOUSEHOLD_COLUMNS) + ". " + (csvimport.__doc__ or ""),
    responses=problem_responses(404, 413),
)
async def import_households(
    team_id: str, session: SessionDep, p: PrincipalDep, settings: SettingsDep, risk: RiskDep,
    file: Annotated[UploadFile, File(description="CSV, UTF-8 or CP949")],
) -> ImportResult:
    created, updated, ids = registry.import_households(
        session, p, team_id, file.file, max_bytes=settings.max_csv_bytes, risk_model=risk
    )
    return ImportResult(created=created, updated=updated, ids=ids)


@router.get(
    "/households/{household_id}", response_model=HouseholdPublic,
    summary="One household's planning data", responses=problem_responses(404),
)
async def get_household(household_id: str, request: Request, token: TokenDep, api_key: ApiKeyDep) -> Response:
    # A hot, audited read: authentication (from memory while nothing was committed), one query, the access rule
    # and the audit entry in one worker-thread call, the body serialised there (no second validation).
    version = await loop_version(request)

    def work(session: Session, p: Principal) -> bytes:
        return registry.read_household_json(session, p, household_id)

    body = await anyio.to_thread.run_sync(run_authenticated, request, token, api_key, work, version)
    return Response(body, media_type="application/json")


@router.patch(
    "/households/{household_id}", response_model=HouseholdPublic,
    summary="Change a household's planning data", responses=problem_responses(404, 409),
)
def update_household(
    household_id: str, body: HouseholdUpdate, session: SessionDep, p: PrincipalDep, risk: RiskDep
) -> HouseholdPublic:
    return household_public(registry.update_household(session, p, household_id, body, risk))


@router.delete(
    "/households/{household_id}", status_code=status.HTTP_204_NO_CONTENT,
    summary="Deactivate a household (kept for past plans)", responses=problem_responses(404),
)
def delete_household(
    household_id: str, session: SessionDep, p: PrincipalDep, risk: RiskDep
) -> Response:
    registry.update_household(session, p, household_id, HouseholdUpdate(active=False), risk)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/households/{household_id}/private", response_model=HouseholdPrivatePublic,
    summary="Label, contact, health notes and risk factors (the team's dispatchers and the "
    "worker whose published route includes the household)",
    responses=problem_responses(404),
)
def get_private(household_id: str, session: SessionDep, p: PrincipalDep) -> HouseholdPrivatePublic:
    return private_public(registry.read_private(session, p, household_id))


@router.patch(
    "/households/{household_id}/private", response_model=HouseholdPrivatePublic,
    summary="Change a household's personal data or risk factors (dispatchers)",
    responses=problem_responses(404),
)
def update_private(
    household_id: str, body: HouseholdPrivateUpdate, session: SessionDep, p: PrincipalDep,
    risk: RiskDep,
) -> HouseholdPrivatePublic:
    return private_public(registry.update_private(session, p, household_id, body, risk))
