"""Visit requests (cadence-generated, manual, follow-ups) and reports that become urgent visits."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from ..deps import PrincipalDep, RiskDep, SessionDep
from ..errors import problem_responses
from ..mappers import report_public, visit_request_public
from ..models import (
    MAX_OFFSET,
    IsoDate,
    Page,
    PrecedenceList,
    ReportCreate,
    ReportPublic,
    VisitRequestCreate,
    VisitRequestPublic,
    VisitRequestUpdate,
    VisitStatus,
)
from ..services import visits

router = APIRouter(tags=["visits"], responses=problem_responses(401, 403, 422))


@router.get(
    "/teams/{team_id}/visit-requests", response_model=Page[VisitRequestPublic],
    summary="A team's visit requests", responses=problem_responses(404),
)
def list_visit_requests(
    team_id: str, session: SessionDep, p: PrincipalDep, date: IsoDate | None = None,
    status_: Annotated[list[VisitStatus] | None, Query(alias="status")] = None,
    household_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500, offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[VisitRequestPublic]:
    rows, total = visits.list_visit_requests(
        session, p, team_id, date=date, statuses=[s.value for s in status_ or []],
        household_id=household_id, limit=limit, offset=offset,
    )
    return Page(data=[visit_request_public(v) for v in rows], count=total)


@router.post(
    "/teams/{team_id}/visit-requests", response_model=VisitRequestPublic,
    status_code=status.HTTP_201_CREATED, summary="Add a visit request by hand",
    responses=problem_responses(404),
)
def create_visit_request(
    team_id: str, body: VisitRequestCreate, session: SessionDep, p: PrincipalDep
) -> VisitRequestPublic:
    return visit_request_public(visits.create_visit_request(session, p, team_id, body))


@router.post(
    "/teams/{team_id}/visit-requests/generate", response_model=Page[VisitRequestPublic],
    status_code=status.HTTP_201_CREATED,
    summary="Generate the day's candidate visits from the risk model's cadences (idempotent)",
    responses=problem_responses(404),
)
def generate_visit_requests(
    team_id: str, date: IsoDate, session: SessionDep, p: PrincipalDep, risk: RiskDep,
    lookahead_days: Annotated[int, Query(ge=0, le=60)] = 0,
) -> Page[VisitRequestPublic]:
    rows = visits.generate_visits(session, p, team_id, date, risk, lookahead_days=lookahead_days)
    return Page(data=[visit_request_public(v) for v in rows], count=len(rows))


@router.get(
    "/visit-requests/{visit_id}", response_model=VisitRequestPublic, summary="One visit request",
    responses=problem_responses(404),
)
def get_visit_request(visit_id: str, session: SessionDep, p: PrincipalDep) -> VisitRequestPublic:
    return visit_request_public(visits.get_visit_request(session, p, visit_id))


@router.patch(
    "/visit-requests/{visit_id}", response_model=VisitRequestPublic,
    summary="Change or cancel a visit request", responses=problem_responses(404, 409),
)
def update_visit_request(
    visit_id: str, body: VisitRequestUpdate, session: SessionDep, p: PrincipalDep
) -> VisitRequestPublic:
    return visit_request_public(visits.update_visit_request(session, p, visit_id, body))


@router.post(
    "/reports", response_model=ReportPublic, status_code=status.HTTP_201_CREATED,
    summary="A report from a utility worker, landlord, neighbour... becomes an urgent visit",
    responses=problem_responses(404),
)
def create_report(
    body: ReportCreate, session: SessionDep, p: PrincipalDep, risk: RiskDep
) -> ReportPublic:
    return report_public(visits.create_report(session, p, body, risk))


@router.get(
    "/teams/{team_id}/reports", response_model=Page[ReportPublic],
    summary="A team's reports (dispatchers)", responses=problem_responses(404),
)
def list_reports(
    team_id: str, session: SessionDep, p: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[ReportPublic]:
    rows, total = visits.list_reports(session, p, team_id, limit=limit, offset=offset)
    return Page(data=[report_public(r) for r in rows], count=total)


@router.get(
    "/teams/{team_id}/precedences", response_model=PrecedenceList,
    summary="A team's precedences between its visit requests (one visit a gap after another, the same day)",
    responses=problem_responses(404),
)
def read_precedences(team_id: str, session: SessionDep, p: PrincipalDep) -> PrecedenceList:
    return PrecedenceList(data=visits.read_precedences(session, p, team_id))


@router.put(
    "/teams/{team_id}/precedences", response_model=PrecedenceList,
    summary="Replace a team's precedences (each between two of its visit requests on one day)",
    responses=problem_responses(404),
)
def set_precedences(team_id: str, body: PrecedenceList, session: SessionDep, p: PrincipalDep) -> PrecedenceList:
    return PrecedenceList(data=visits.set_precedences(session, p, team_id, body))
