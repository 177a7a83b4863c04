"""Teams (one per district office) and loading a whole problem file as a team."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status

from .. import services
from ..deps import PrincipalDep, RiskDep, SessionDep
from ..errors import ApiError, problem_responses
from ..mappers import team_public
from ..models import ErrorItem, Page, TeamCreate, TeamLoadResult, TeamPublic
from ..redact import scrub_values

router = APIRouter(tags=["teams"], responses=problem_responses(401, 403, 422))


@router.get("/teams", response_model=Page[TeamPublic], summary="Teams you can see")
def list_teams(session: SessionDep, p: PrincipalDep) -> Page[TeamPublic]:
    teams = services.visible_teams(session, p)
    return Page(data=[team_public(t) for t in teams], count=len(teams))


@router.post(
    "/teams", response_model=TeamPublic, status_code=status.HTTP_201_CREATED,
    summary="Create a team (managers)",
)
def create_team(body: TeamCreate, session: SessionDep, p: PrincipalDep) -> TeamPublic:
    services.require_manager(p)
    team = services.create_team(session, body)
    services.audit(session, p, "create", "team", team.id, team_id=team.id)
    return team_public(team)


@router.get(
    "/teams/{team_id}", response_model=TeamPublic, summary="One team",
    responses=problem_responses(404),
)
def get_team(team_id: str, session: SessionDep, p: PrincipalDep) -> TeamPublic:
    team = services.get_team(session, team_id)
    services.require_team_read(p, team.id)
    return team_public(team)


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
    services.require_manager(p)
    try:
        team, workers, households, visits = services.load_problem_data(
            session, problem, risk_model=risk_model, team_name=name, actor=p
        )
    except (ValueError, TypeError, KeyError) as exc:
        # The planner's message names the field and quotes the value: keep the field only.
        where, _, why = str(exc).partition(": ")
        raise ApiError(
            422, f"not a valid problem: {scrub_values(str(exc))}", slug="invalid-problem",
            errors=[ErrorItem(field=where if why else "body", message=why or str(exc))],
        ) from None
    return TeamLoadResult(
        team=team_public(team), workers=workers, households=households, visit_requests=visits
    )
