"""Teams (one per district office) and loading a whole problem file as a team."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status

from ..deps import PrincipalDep, RiskDep, SessionDep
from ..errors import problem_responses
from ..mappers import team_public
from ..models import Page, TeamCreate, TeamLoadResult, TeamPublic
from ..services import loading, registry

router = APIRouter(tags=["teams"], responses=problem_responses(401, 403, 422))


@router.get("/teams", response_model=Page[TeamPublic], summary="Teams you can see")
def list_teams(session: SessionDep, p: PrincipalDep) -> Page[TeamPublic]:
    teams = registry.visible_teams(session, p)
    return Page(data=[team_public(t) for t in teams], count=len(teams))


@router.post(
    "/teams", response_model=TeamPublic, status_code=status.HTTP_201_CREATED,
    summary="Create a team (managers)",
)
def create_team(body: TeamCreate, session: SessionDep, p: PrincipalDep) -> TeamPublic:
    return team_public(registry.create_team(session, p, body))


@router.get(
    "/teams/{team_id}", response_model=TeamPublic, summary="One team",
    responses=problem_responses(404),
)
def get_team(team_id: str, session: SessionDep, p: PrincipalDep) -> TeamPublic:
    return team_public(registry.read_team(session, p, team_id))


@router.post(
    "/teams/load", response_model=TeamLoadResult, status_code=status.HTTP_201_CREATED,
    summary="Create a team from a planner problem file (managers; fixtures and scenarios)",
    responses=problem_responses(413),
)
def load_team(
    session: SessionDep,
    p: PrincipalDep,
    risk_model: RiskDep,
    problem: dict[str, Any] = Body(  # noqa: B008
        ..., description="a problem JSON in the planner.io format (see `salpimi schema`)"
    ),
    name: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
) -> TeamLoadResult:
    team, workers, households, visits = loading.load_team(session, p, problem, risk_model=risk_model, team_name=name)
    return TeamLoadResult(
        team=team_public(team), workers=workers, households=households, visit_requests=visits
    )
