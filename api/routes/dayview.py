"""The day as the web page shows it: timeline, map layers, where unassigned visits could fit, moves by hand, diffs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

import planner

from ..deps import PrincipalDep, SessionDep, SettingsDep
from ..errors import problem_responses
from ..mappers import plan_summary
from ..models import CheckResult, CrewPublic, InputModel, IsoDate, IsoDateTime, PlanSummary, ViolationPublic
from ..services import webviews

router = APIRouter(tags=["web page"], responses=problem_responses(401, 403, 422))

_GEOJSON = {"content": {"application/geo+json": {"schema": {"type": "object"}}}, "description": "a FeatureCollection"}
_ID = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.:-]+$")]


def _cache(request: Request) -> webviews.ViewCache:
    cache: webviews.ViewCache = request.app.state.view_cache
    return cache


# ---- models ------------------------------------------------------------------------------------------


class Segment(BaseModel):
    kind: str = Field(description="travel | visit | break | idle")
    start: dt.datetime
    end: dt.datetime
    duration_s: int
    visit_id: str | None = None
    household_id: str | None = None
    order: int | None = Field(default=None, description="the visit's place in the route (1, 2, ...)")
    status: str | None = Field(default=None, description="visits: the visit request's status")
    crew: CrewPublic | None = Field(default=None, description="a joint visit's half: this worker's seat and the "
                                    "partners, whose rows hold the other halves (same visit_id, same start)")


class TimelineRow(BaseModel):
    worker_id: str
    name: str
    role: str
    shift_start: dt.datetime
    shift_end: dt.datetime
    departure: dt.datetime | None
    return_: dt.datetime | None = Field(default=None, alias="return", serialization_alias="return")
    segments: list[Segment]

    model_config = {"populate_by_name": True}


class TimelineUnassigned(BaseModel):
    visit_id: str
    household_id: str
    reason: str
    detail: str
    mandatory: bool
    urgent: bool


class Timeline(BaseModel):
    plan_id: str
    version: int
    date: dt.date
    kpis: dict[str, Any]
    workers: list[TimelineRow]
    unassigned: list[TimelineUnassigned]


class PublishedDay(BaseModel):
    date: dt.date
    plan_id: str
    version: int
    stops: int = Field(description="the worker's stops that day")
    departure: dt.datetime


class PublishedDays(BaseModel):
    worker_id: str
    date_from: dt.date
    date_to: dt.date
    data: list[PublishedDay]
    count: int


class PrecedencePlanned(BaseModel):
    first: str
    then: str
    min_gap_s: int
    max_gap_s: int | None
    gap_s: int | None = Field(description="start of then minus start of first as planned; null when either is out")
    ok: bool = Field(description="the rule holds, or the follower is not planned")


class PlanPrecedences(BaseModel):
    plan_id: str
    data: list[PrecedencePlanned]
    count: int


class ScheduleRule(BaseModel):
    visit_id: str = Field(description="the worker's own visit")
    relation: str = Field(description="before: her visit comes first; after: it follows the other one")
    other_roles: list[str] = Field(description="the roles of the workers on the other visit (no names)")
    other_planned: bool
    min_gap_s: int
    max_gap_s: int | None
    gap_s: int | None = Field(description="start of the later minus start of the earlier visit as planned")


class ScheduleRules(BaseModel):
    worker_id: str
    date: dt.date
    plan_id: str | None
    data: list[ScheduleRule]
    count: int


class Displaced(BaseModel):
    visit_id: str
    household_id: str


class FitOptionPublic(BaseModel):
    worker_id: str
    position: int = Field(description="the 0-based place the visit would take in the worker's stops")
    after_visit_id: str | None
    before_visit_id: str | None
    start: dt.datetime
    added_s: int = Field(description="how much longer the worker's day gets (departure to return)")
    added_travel_s: int
    overtime_s: int = Field(description="past the shift end or working-time limit; 0 when it fits")
    fits: bool
    displaces: Displaced | None = Field(description="the stop taken out of the route to make room, if any")


class VisitFits(BaseModel):
    visit_id: str
    household_id: str
    reason: str
    options: list[FitOptionPublic]


class Fits(BaseModel):
    plan_id: str
    data: list[VisitFits]
    count: int


class MoveRequest(InputModel):
    visit_id: _ID
    worker_id: _ID | None = Field(default=None, description="null: leave the visit unassigned")
    position: int | None = Field(default=None, ge=0, le=10_000,
                                 description="0-based place in the worker's stops; null: where it fits best")
    displace_visit_id: _ID | None = Field(
        default=None, description="a stop of that worker's route to take out first (it becomes unassigned)")
    from_worker_id: _ID | None = Field(
        default=None, description="a joint visit: the worker whose seat moves to worker_id (the partners stay; "
        "every tied route is re-timed so the seats still start together)")
    at: IsoDateTime | None = Field(
        default=None, description="where a drag on the timeline dropped it (with offset, on the plan's day): the "
        "visit goes before the first of the worker's stops starting later; used when position is null")


class MoveCheck(CheckResult):
    kpis_delta: dict[str, float]
    plan: dict[str, Any] = Field(description="the edited plan (planner plan JSON: routes, unassigned, kpis)")


class MoveSaved(BaseModel):
    plan: PlanSummary
    check: CheckResult
    kpis_delta: dict[str, float]


class PlanRef(BaseModel):
    id: str
    version: int


class Moved(BaseModel):
    visit_id: str
    from_worker_id: str
    to_worker_id: str
    shift_s: int


class Retimed(BaseModel):
    visit_id: str
    worker_id: str
    shift_s: int


class Added(BaseModel):
    visit_id: str
    worker_id: str


class Removed(BaseModel):
    visit_id: str
    worker_id: str
    reason: str | None


class PlanDiff(BaseModel):
    from_: PlanRef = Field(alias="from", serialization_alias="from")
    to: PlanRef
    moved: list[Moved]
    retimed: list[Retimed]
    added: list[Added]
    removed: list[Removed]
    kpis_delta: dict[str, float]

    model_config = {"populate_by_name": True}


def _check(ev: Any) -> CheckResult:
    return CheckResult(
        ok=bool(ev.ok),
        violations=[ViolationPublic(code=str(v.code), worker_id=v.worker_id or None, visit_id=v.visit_id or None,
                                    message=v.message) for v in ev.violations],
        kpis=planner.kpis_to_json(ev.kpis),
    )


# ---- routes ------------------------------------------------------------------------------------------


@router.get("/plans/{plan_id}/timeline", response_model=Timeline, response_model_by_alias=True,
            summary="One row per worker (visits, travel, break, idle), the KPIs and the unassigned visits",
            responses=problem_responses(404, 409))
def timeline(plan_id: str, session: SessionDep, p: PrincipalDep) -> Timeline:
    return Timeline.model_validate(webviews.plan_timeline(session, p, plan_id))


@router.get("/plans/{plan_id}/fits", response_model=Fits,
            summary="Where each unassigned visit could fit: the planner's cheapest insertions with the minutes "
            "they add, overtime, and the stop they would displace (at most 3 per visit)",
            responses=problem_responses(404, 409, 503))
def fits(plan_id: str, request: Request, session: SessionDep, p: PrincipalDep, settings: SettingsDep) -> Fits:
    return Fits.model_validate(webviews.plan_fits(session, p, plan_id, network=settings.network,
                                                  data_dir=settings.data_dir, cache=_cache(request),
                                                  risk_model=request.app.state.risk_model))


@router.post("/plans/{plan_id}/moves/check", response_model=MoveCheck,
             summary="The evaluator's verdict on this plan with one visit moved by hand (nothing is stored); "
             "409 for a visit already done, under way, unanswered or refused",
             responses=problem_responses(404, 409, 503))
def check_move(plan_id: str, body: MoveRequest, session: SessionDep, p: PrincipalDep,
               settings: SettingsDep) -> MoveCheck:
    edited, ev, delta = webviews.check_move(session, p, plan_id, body, network=settings.network,
                                            data_dir=settings.data_dir)
    return MoveCheck(**_check(ev).model_dump(), kpis_delta=delta, plan=planner.plan_to_json(edited))


@router.post("/plans/{plan_id}/moves", response_model=MoveSaved, status_code=status.HTTP_201_CREATED,
             summary="Save this plan with one visit moved by hand as a new unpublished version (kind edit; "
             "audited); publish it as any version; 409 (crew-broken) when it would split a joint visit's seats "
             "in time or break a precedence",
             responses=problem_responses(404, 409, 503))
def save_move(plan_id: str, body: MoveRequest, session: SessionDep, p: PrincipalDep,
              settings: SettingsDep) -> MoveSaved:
    stored, ev, delta = webviews.save_move(session, p, plan_id, body, network=settings.network,
                                           data_dir=settings.data_dir)
    return MoveSaved(plan=plan_summary(stored), check=_check(ev), kpis_delta=delta)


@router.get("/plans/{plan_id}/precedences", response_model=PlanPrecedences,
            summary="The day's precedences (one visit a gap after another) with the gap as this version plans it",
            responses=problem_responses(404, 409))
def precedences(plan_id: str, session: SessionDep, p: PrincipalDep) -> PlanPrecedences:
    return PlanPrecedences.model_validate(webviews.plan_precedences(session, p, plan_id))


@router.get("/plans/{plan_id}/diff", response_model=PlanDiff, response_model_by_alias=True,
            summary="What changed between this version and another of the day (default: the published one, "
            "else the version before): visits moved, re-timed, added, removed; KPI deltas",
            responses=problem_responses(404, 409))
def diff(plan_id: str, session: SessionDep, p: PrincipalDep,
         against: Annotated[str | None, Query(max_length=64, description="another plan id of the same day")] = None,
         ) -> PlanDiff:
    return PlanDiff.model_validate(webviews.plan_diff(session, p, plan_id, against))


@router.get("/teams/{team_id}/streets", summary="The road network's streets around the team (simplified, "
            "bounded) as the map's base layer; no network: an empty collection with network null",
            responses={**problem_responses(404, 503), 200: _GEOJSON})
def streets(team_id: str, request: Request, session: SessionDep, p: PrincipalDep, settings: SettingsDep,
            mode: Annotated[str | None, Query(pattern="^(walk|drive)$",
                                              description="walk or drive; default: how most of the team travels")]
            = None) -> JSONResponse:
    body = webviews.team_streets(session, p, team_id, mode=mode, network=settings.network,
                                 data_dir=settings.data_dir, cache=_cache(request))
    return JSONResponse(body, media_type="application/geo+json", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/workers/{worker_id}/schedule/geojson",
            summary="A worker's own route in the day's published plan as GeoJSON (legs along the streets with a "
            "road network, numbered stops); audited as a schedule read",
            responses={**problem_responses(404), 200: _GEOJSON})
def schedule_geojson(worker_id: str, date: IsoDate, session: SessionDep, p: PrincipalDep,
                     settings: SettingsDep) -> JSONResponse:
    body = webviews.schedule_map(session, p, worker_id, date, network=settings.network, data_dir=settings.data_dir)
    return JSONResponse(body, media_type="application/geo+json")


@router.get("/workers/{worker_id}/published-days", response_model=PublishedDays,
            summary="The days whose published plan gives this worker stops (default: a month back to two months "
            "ahead; at most 366 days): the worker herself or her team's readers; audited as a schedule read",
            responses=problem_responses(404))
def published_days(
    worker_id: str, session: SessionDep, p: PrincipalDep,
    date_from: Annotated[IsoDate | None, Query(description="first day (default: 31 days before today)")] = None,
    date_to: Annotated[IsoDate | None, Query(description="last day (default: 62 days after today)")] = None,
) -> PublishedDays:
    return PublishedDays.model_validate(webviews.published_days(session, p, worker_id, date_from, date_to))


@router.get("/workers/{worker_id}/schedule/rules", response_model=ScheduleRules,
            summary="The order rules (precedences) touching a worker's own stops in the day's published plan, the "
            "other visit's workers by role only; the worker herself or her team's readers; audited",
            responses=problem_responses(404))
def schedule_rules(worker_id: str, date: IsoDate, session: SessionDep, p: PrincipalDep) -> ScheduleRules:
    return ScheduleRules.model_validate(webviews.schedule_rules(session, p, worker_id, date))
