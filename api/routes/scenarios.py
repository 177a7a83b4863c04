"""What-if scenarios (managers): create and list specs, run sweeps as jobs (202 + Location, progress, cancel),
read results and charts, compare runs side by side."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request, status
from fastapi.responses import FileResponse, JSONResponse

from ..deps import PrincipalDep, ScenarioRunnerDep, SessionDep, SettingsDep
from ..errors import problem_responses
from ..models import MAX_OFFSET, Page, ScenarioPublic, ScenarioRunCreate, ScenarioRunPublic
from ..services import scenarios

router = APIRouter(tags=["scenarios"], responses=problem_responses(401, 403, 422))

_SPEC_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the scenario's keys (docs/scenarios.md); base is team:<team id> or a fixture's name",
        "content": {
            "application/json": {"schema": {"type": "object", "additionalProperties": True}},
            "application/toml": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "/scenarios", status_code=status.HTTP_201_CREATED, response_model=ScenarioPublic,
    summary="Save a scenario (TOML or JSON); 422 names the key at fault",
    responses={**problem_responses(404, 415), 201: {"headers": {"Location": {
        "description": "the scenario's URL", "schema": {"type": "string"}}}}},
    openapi_extra=_SPEC_BODY,
)
async def create_scenario(request: Request, session: SessionDep, p: PrincipalDep) -> JSONResponse:
    raw = await request.body()
    kind = request.headers.get("content-type", "")

    def create() -> ScenarioPublic:
        row = scenarios.create_scenario(session, p, raw, content_type=kind)
        session.commit()
        return scenarios.scenario_public(row)

    public = await anyio.to_thread.run_sync(create)
    return JSONResponse(public.model_dump(mode="json"), status_code=201,
                        headers={"Location": f"/v1/scenarios/{public.id}"})


@router.get("/scenarios", response_model=Page[ScenarioPublic], summary="Saved scenarios, newest first")
def list_scenarios(
    session: SessionDep, p: PrincipalDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[ScenarioPublic]:
    rows, total = scenarios.list_scenarios(session, p, limit=limit, offset=offset)
    return Page(data=[scenarios.scenario_public(s) for s in rows], count=total)


@router.get("/scenarios/{scenario_id}", response_model=ScenarioPublic, summary="A scenario (its changes)",
            responses=problem_responses(404))
def get_scenario(scenario_id: str, session: SessionDep, p: PrincipalDep) -> ScenarioPublic:
    return scenarios.scenario_public(scenarios.get_scenario(session, p, scenario_id, read=True))


def _accepted(public: ScenarioRunPublic) -> JSONResponse:
    return JSONResponse(public.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED,
                        headers={"Location": f"/v1/scenario-runs/{public.id}"})


@router.post(
    "/scenarios/{scenario_id}/runs", status_code=status.HTTP_202_ACCEPTED, response_model=ScenarioRunPublic,
    summary="Run the scenario over seeds and policies (or head counts) in worker processes (202 with Location)",
    responses={**problem_responses(404), 202: {"headers": {"Location": {
        "description": "the run's URL", "schema": {"type": "string"}}}}},
)
def create_run(scenario_id: str, body: ScenarioRunCreate, session: SessionDep, p: PrincipalDep,
               runner: ScenarioRunnerDep) -> JSONResponse:
    run = scenarios.create_run(session, p, scenario_id, body, runner=runner)
    return _accepted(scenarios.run_public(run))


@router.get("/scenarios/{scenario_id}/runs", response_model=Page[ScenarioRunPublic],
            summary="A scenario's runs, newest first", responses=problem_responses(404))
def list_runs(
    scenario_id: str, session: SessionDep, p: PrincipalDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[ScenarioRunPublic]:
    rows, total = scenarios.list_runs(session, p, scenario_id, limit=limit, offset=offset)
    return Page(data=[scenarios.run_public(r) for r in rows], count=total)


_COMPARE_ERRORS = problem_responses(404, 422)
_COMPARE_ERRORS[404]["description"] = "A scenario run of ids does not exist"
_COMPARE_ERRORS[422]["description"] = ("ids missing, empty, not run ids (letters, digits, _ and -, at most 40 "
                                       "each) or more than 12")


@router.get("/scenario-runs/compare", summary="Finished runs side by side: every KPI's mean, min and max",
            responses=_COMPARE_ERRORS)
def compare_runs(
    session: SessionDep, p: PrincipalDep,
    ids: Annotated[list[str], Query(min_length=1, max_length=12,  # scenarios.MAX_COMPARE
                                    description="1 to 12 scenario run ids (repeat ids=); an unknown id is 404")],
) -> dict[str, Any]:
    return scenarios.compare_runs(session, p, ids)


@router.get("/scenario-runs/{run_id}", response_model=ScenarioRunPublic,
            summary="A run's status, progress (runs done, running, left, time left) and results",
            responses=problem_responses(404))
def get_run(run_id: str, session: SessionDep, p: PrincipalDep) -> ScenarioRunPublic:
    return scenarios.run_public(scenarios.get_run(session, p, run_id, read=True))


@router.delete("/scenario-runs/{run_id}", status_code=status.HTTP_202_ACCEPTED, response_model=ScenarioRunPublic,
               summary="Cancel a run; the runs that finished are kept and aggregated",
               responses=problem_responses(404, 409))
def cancel_run(run_id: str, session: SessionDep, p: PrincipalDep, runner: ScenarioRunnerDep) -> JSONResponse:
    return _accepted(scenarios.run_public(scenarios.cancel_run(session, p, run_id, runner=runner)))


@router.get(
    "/scenario-runs/{run_id}/charts/{name}.{ext}",
    summary="A chart of a finished run: overdue_days, weekly_coverage or coverage_vs_staff, as png or svg",
    response_class=FileResponse, responses={**problem_responses(404), 200: {"content": {
        "image/png": {"schema": {"type": "string", "format": "binary"}},
        "image/svg+xml": {"schema": {"type": "string"}}}}},
)
async def chart(run_id: str, name: str, ext: str, session: SessionDep, p: PrincipalDep,
                settings: SettingsDep) -> FileResponse:
    path = await anyio.to_thread.run_sync(
        lambda: scenarios.chart_file(session, p, run_id, name, ext, settings=settings))
    return FileResponse(path, media_type="image/png" if ext == "png" else "image/svg+xml",
                        headers={"Cache-Control": "private, max-age=3600"})
