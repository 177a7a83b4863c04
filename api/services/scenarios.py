"""What-if scenarios for managers: specs validated and saved, sweeps run as jobs (seeds x policies, or seeds x
head counts), results aggregated over seeds, compared side by side and drawn as charts."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

import planner
from planner.scenarios.kpis import aggregate
from planner.scenarios.spec import MAX_SPEC_CHARS, SpecError, parse_spec, read_spec_text

from .. import crud
from ..config import Settings
from ..db import session_scope
from ..errors import ApiError, conflict, not_found
from ..mappers import problem_of
from ..models import (
    ErrorItem,
    JobStatus,
    Scenario,
    ScenarioPublic,
    ScenarioRun,
    ScenarioRunCreate,
    ScenarioRunPublic,
    SweepProgressPublic,
    now_utc,
)
from ..redact import scrub_values
from ..scenariorunner import ScenarioRunner
from ..security import Principal
from .access import require_manager
from .audit import audit
from .registry import get_team, team_inputs

__all__ = [
    "CHART_NAMES",
    "ScenarioEvents",
    "cancel_run",
    "chart_file",
    "compare_runs",
    "create_run",
    "create_scenario",
    "get_run",
    "get_scenario",
    "list_runs",
    "list_scenarios",
    "resume_unfinished",
    "run_public",
    "scenario_public",
]

_log = logging.getLogger("salpimi.services")

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "problems"
#: Runs (seeds x policies x head counts) one sweep may hold.
MAX_TASKS = 120
#: Runs one comparison may put side by side.
MAX_COMPARE = 12
_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")
CHART_NAMES = ("overdue_days", "weekly_coverage", "coverage_vs_staff")
_FIXTURE_NAME = re.compile(r"[a-z0-9_]{1,64}")
_TERMINAL = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


# ---- scenarios ---------------------------------------------------------------------------------------------


def _read_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """The spec's keys from a TOML or JSON body; hostile text (too long, dotted keys tomllib takes quadratic
    work on, deep nesting, NUL, unpaired surrogates) is refused before and after parsing (``read_spec_text``)."""
    kind = content_type.split(";")[0].strip().lower()
    if kind != "application/toml" and not (kind == "application/json" or kind.endswith("+json")):
        raise ApiError(415, f"send the scenario as application/json or application/toml, not {kind or 'nothing'}"
                       [:200])
    if len(raw) > MAX_SPEC_CHARS:
        raise ApiError(413, f"a scenario spec is at most {MAX_SPEC_CHARS // 1024} KiB ({len(raw)} bytes sent)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "body: not UTF-8 text", errors=[ErrorItem(field="body", message="not UTF-8")]) from None
    try:
        return read_spec_text(text, fmt="toml" if kind == "application/toml" else "json", source="body")
    except SpecError as exc:
        field = f"body.{exc.key}" if exc.key else "body"
        raise ApiError(422, str(exc)[:900], errors=[ErrorItem(field=field, message=str(exc)[:300])]) from None


def _team_problem(session: Session, p: Principal, team_id: str, start: dt.date) -> dict[str, Any]:
    """A team's households and active workers as the planner's problem JSON (no visits: the simulation makes
    its own requests).  Names, contacts and notes never enter it."""
    team = get_team(session, team_id)
    workers, _ = crud.list_workers(session, team.id, active=True)
    households, _ = crud.list_households(session, team.id, active=True)
    privates = crud.privates_by_ids(session, [h.id for h in households])
    try:
        problem = problem_of(
            name=team.name, date=start, households=[(h, privates.get(h.id)) for h in households],
            workers=workers, visits=[], extra=team_inputs(session, team.id),
        )
    except (ValueError, TypeError) as exc:
        raise ApiError(422, f"the team's data do not form a valid problem: {scrub_values(str(exc))}") from None
    audit(session, p, "read", "team_data", team.id, team_id=team.id,
          detail=f"scenario base: households={len(households)} workers={len(workers)}")
    return planner.problem_to_json(problem)


def _base(session: Session, p: Principal, data: Mapping[str, Any]) -> tuple[dict[str, Any], str, str | None]:
    """The base problem a spec names: ``team:<id>`` (the team's data) or a fixture's name (``osan``)."""
    raw = data.get("base")
    field = [ErrorItem(field="body.base", message="team:<team id> or a fixture's name")]
    if not isinstance(raw, str) or not raw:
        raise ApiError(422, "body: base: name the base data: team:<team id> or a fixture (e.g. osan)", errors=field)
    if raw.startswith("team:"):
        start = data.get("start")
        try:
            day = start if isinstance(start, dt.date) else dt.date.fromisoformat(str(start))
        except ValueError:
            day = dt.date.today()
        team_id = raw.removeprefix("team:")
        return _team_problem(session, p, team_id, day), raw, team_id
    name = raw.removesuffix(".json")
    path = FIXTURES / f"{name}.json"
    if not _FIXTURE_NAME.fullmatch(name) or not path.is_file():
        known = sorted(f.stem for f in FIXTURES.glob("*.json")) if FIXTURES.is_dir() else []
        raise ApiError(422, f"body: base: {raw!r} is neither team:<id> nor a fixture ({', '.join(known)})"[:900],
                       errors=field)
    return json.loads(path.read_text(encoding="utf-8")), name, None


def create_scenario(session: Session, p: Principal, raw: bytes, *, content_type: str) -> Scenario:
    """Validate and save a scenario (managers): TOML or JSON with the keys of ``docs/scenarios.md``; ``base``
    is ``team:<id>`` or a fixture's name.  422 names the key."""
    require_manager(p)
    data = _read_body(raw, content_type)
    problem, base_name, team_id = _base(session, p, data)
    try:
        spec = parse_spec(data, base_problem=problem, source="body")
    except SpecError as exc:
        key = f"body.{exc.key}" if exc.key else "body"
        raise ApiError(422, str(exc)[:900], errors=[ErrorItem(field=key, message=str(exc)[:300])]) from None
    except (ValueError, TypeError, KeyError) as exc:  # the checker missed something: still the caller's input
        raise ApiError(422, f"body: not a valid scenario ({type(exc).__name__})",
                       errors=[ErrorItem(field="body", message="not a valid scenario")]) from None
    stored = spec.to_dict()
    scenario = Scenario(name=spec.name, description=spec.description, base_name=base_name, team_id=team_id,
                        start=spec.start, weeks=spec.weeks, seeds=spec.seeds, spec=stored, created_by=p.user_id)
    crud.add(session, scenario)
    audit(session, p, "create", "scenario", scenario.id, team_id=team_id,
          detail=f"base={base_name} weeks={spec.weeks} seeds={spec.seeds}")
    return scenario


def scenario_public(s: Scenario) -> ScenarioPublic:
    changes = {k: v for k, v in (s.spec or {}).items() if k != "base"}
    return ScenarioPublic(id=s.id, name=s.name, description=s.description, base_name=s.base_name,
                          team_id=s.team_id, start=s.start, weeks=s.weeks, seeds=s.seeds, changes=changes,
                          created_by=s.created_by, created_at=s.created_at)


def get_scenario(session: Session, p: Principal, scenario_id: str, *, read: bool = False) -> Scenario:
    """A scenario (managers); ``read``: the caller shows it, so the read is audited."""
    require_manager(p)
    s = crud.get(session, Scenario, scenario_id)
    if s is None:
        raise not_found("scenario", scenario_id)
    if read:
        audit(session, p, "read", "scenario", s.id, team_id=s.team_id)
    return s


def list_scenarios(session: Session, p: Principal, *, limit: int, offset: int) -> tuple[list[Scenario], int]:
    require_manager(p)
    total = session.exec(select(func.count()).select_from(Scenario)).one()
    rows = session.exec(select(Scenario).order_by(col(Scenario.created_at).desc(), col(Scenario.id))
                        .limit(limit).offset(offset)).all()
    audit(session, p, "list", "scenario", None, detail=f"rows={len(rows)}")
    return list(rows), int(total)


# ---- runs ------------------------------------------------------------------------------------------------


def _tasks(scenario: Scenario, run: ScenarioRun) -> list[dict[str, Any]]:
    """The run's tasks in a fixed order: for each head count (or none), each policy, each seed."""
    counts: list[int | None] = list(run.staff["counts"]) if run.staff else [None]
    role = run.staff["role"] if run.staff else None
    out = []
    for count in counts:
        overrides = {"staff": {role: count}} if role is not None else {}
        for policy in run.policies:
            for seed in range(run.seeds):
                out.append({"spec": scenario.spec, "seed": seed, "policy": policy, "overrides": overrides})
    return out


def create_run(session: Session, p: Principal, scenario_id: str, body: ScenarioRunCreate, *,
               runner: ScenarioRunner) -> ScenarioRun:
    """Run a scenario's sweep as a job (managers): 202; its runs go to worker processes one sweep at a time."""
    scenario = get_scenario(session, p, scenario_id)
    seeds = body.seeds or min(scenario.seeds, 50)
    policies: list[str] = list(dict.fromkeys(body.policies))
    counts = list(body.staff.counts) if body.staff else []
    staff: dict[str, Any] | None = {"role": str(body.staff.role), "counts": counts} if body.staff else None
    total = seeds * len(policies) * (len(counts) if staff else 1)
    if total > MAX_TASKS:
        raise ApiError(422, f"seeds x policies x counts gives {total} runs, more than {MAX_TASKS} in one sweep",
                       errors=[ErrorItem(field="body.seeds", message=f"at most {MAX_TASKS} runs in all")])
    if staff is not None:
        try:  # the head count must be one the spec can take: checked once here, not in every worker
            parse_spec({**scenario.spec, "staff": {**scenario.spec.get("staff", {}),
                                                   staff["role"]: max(counts)}})
        except SpecError as exc:
            raise ApiError(422, f"body.staff: {exc}"[:900],
                           errors=[ErrorItem(field="body.staff", message=str(exc)[:300])]) from None
    run = ScenarioRun(scenario_id=scenario.id, seeds=seeds, policies=policies, staff=staff, created_by=p.user_id,
                      progress={"total": total, "left": total})
    crud.add(session, run)
    audit(session, p, "run", "scenario", scenario.id, team_id=scenario.team_id,
          detail=f"run={run.id} runs={total} policies={','.join(policies)}"
                 + (f" staff={staff['role']}:{','.join(map(str, staff['counts']))}" if staff else ""))
    session.commit()
    runner.submit(run.id, _tasks(scenario, run))
    return run


def get_run(session: Session, p: Principal, run_id: str, *, read: bool = False) -> ScenarioRun:
    """A scenario run (managers); ``read``: the caller shows it (status, results, a chart), so it is audited."""
    require_manager(p)
    run = crud.get(session, ScenarioRun, run_id)
    if run is None:
        raise not_found("scenario run", run_id)
    if read:
        audit(session, p, "read", "scenario_run", run.id, detail=f"scenario={run.scenario_id}")
    return run


def list_runs(session: Session, p: Principal, scenario_id: str, *, limit: int, offset: int
              ) -> tuple[list[ScenarioRun], int]:
    get_scenario(session, p, scenario_id)
    where = col(ScenarioRun.scenario_id) == scenario_id
    total = session.exec(select(func.count()).select_from(ScenarioRun).where(where)).one()
    rows = session.exec(select(ScenarioRun).where(where).order_by(col(ScenarioRun.created_at).desc(),
                                                                  col(ScenarioRun.id)).limit(limit).offset(offset))
    out = list(rows.all())
    audit(session, p, "list", "scenario_run", None, detail=f"scenario={scenario_id} rows={len(out)}")
    return out, int(total)


def cancel_run(session: Session, p: Principal, run_id: str, *, runner: ScenarioRunner) -> ScenarioRun:
    """Stop a sweep: the runs that finished stay, and the result aggregates them."""
    run = get_run(session, p, run_id)
    if run.status in _TERMINAL:
        raise conflict(f"scenario run {run_id} has already finished ({run.status})", slug="job-finished")
    run.cancel_requested = True
    run.updated_at = now_utc()
    session.add(run)
    audit(session, p, "cancel", "scenario_run", run.id, detail=f"scenario={run.scenario_id}")
    session.commit()
    runner.cancel(run.id)
    return run


def _public_aggregate(agg: Mapping[str, Any]) -> dict[str, Any]:
    """An aggregate without the pooled per-household overdue lists (the charts show them), with their size."""
    out = {k: v for k, v in agg.items() if k != "overdue_days"}
    out["households_overdue_counted"] = {t: len(v) for t, v in (agg.get("overdue_days") or {}).items()}
    return out


def run_public(run: ScenarioRun) -> ScenarioRunPublic:
    result = run.result or {}
    progress = SweepProgressPublic.model_validate({k: v for k, v in (run.progress or {}).items()
                                                   if k in SweepProgressPublic.model_fields})
    charts = [f"/v1/scenario-runs/{run.id}/charts/{name}.png" for name in _charts_of(result)]
    return ScenarioRunPublic(
        id=run.id, scenario_id=run.scenario_id, status=run.status, seeds=run.seeds, policies=list(run.policies),
        staff=run.staff, progress=progress, error=run.error,
        aggregates=[_public_aggregate(a) for a in result.get("aggregates", [])],
        failed_runs=list(result.get("failed", [])), charts=charts, created_by=run.created_by,
        created_at=run.created_at, started_at=run.started_at, finished_at=run.finished_at,
    )


def _charts_of(result: Mapping[str, Any]) -> list[str]:
    names = []
    if result.get("aggregates"):
        names += ["overdue_days", "weekly_coverage"]
    if result.get("staff_curve"):
        names.append("coverage_vs_staff")
    return names


def compare_runs(session: Session, p: Principal, run_ids: Sequence[str]) -> dict[str, Any]:
    """Finished runs side by side: one column per aggregate (scenario, policy, head count), one row per KPI
    (mean, min and max over the seeds)."""
    require_manager(p)
    ids = list(dict.fromkeys(run_ids))
    if not 1 <= len(ids) <= MAX_COMPARE:
        raise ApiError(422, f"ids: give 1 to {MAX_COMPARE} scenario run ids",
                       errors=[ErrorItem(field="query.ids", message=f"1 to {MAX_COMPARE} ids")])
    for i, rid in enumerate(ids):
        if not _ID.fullmatch(rid):
            raise ApiError(422, f"ids[{i}]: not a scenario run id (letters, digits, _ and -, at most 40)",
                           errors=[ErrorItem(field=f"query.ids[{i}]", message="not an id")])
    columns = []
    for rid in ids:
        run = get_run(session, p, rid, read=True)
        for agg in (run.result or {}).get("aggregates", []):
            columns.append({"run_id": run.id, "scenario_id": run.scenario_id, "scenario": agg.get("scenario"),
                            "policy": agg.get("policy"), "overrides": agg.get("overrides", {}),
                            "runs": agg.get("runs"), "kpis": agg.get("kpis", {})})
    names = sorted({k for c in columns for k in c["kpis"]})
    return {"columns": columns, "kpis": names, "count": len(columns)}


# ---- charts ----------------------------------------------------------------------------------------------------


def chart_file(session: Session, p: Principal, run_id: str, name: str, ext: str, *, settings: Settings) -> Path:
    """The chart ``name`` of a finished run as a file (drawn once, then kept with the run's data)."""
    run = get_run(session, p, run_id)
    result = run.result or {}
    audit(session, p, "read", "scenario_chart", run.id, detail=f"{name[:40]}.{ext[:8]}")
    if name not in CHART_NAMES or ext not in ("png", "svg"):
        raise not_found("chart", f"{name}.{ext}")
    if name not in _charts_of(result):
        raise not_found("chart", f"{name}.{ext} of scenario run {run_id} (not finished, or not this kind of run)")
    folder = Path(settings.data_dir) / "scenario-charts" / run.id
    path = folder / f"{name}.{ext}"
    if not path.is_file():
        with _CHART_LOCK:  # matplotlib's pyplot is not thread-safe
            if not path.is_file():
                from planner.scenarios.charts import write_charts

                write_charts(result.get("aggregates", []), folder, min_staff=result.get("staff_curve"))
    if not path.is_file():
        raise not_found("chart", f"{name}.{ext}")
    return path


_CHART_LOCK = threading.Lock()


# ---- events from the runner ---------------------------------------------------------------------------------


def _summarise(run: ScenarioRun, scenario: Scenario | None, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregates over seeds per (head count, policy), the failed runs, and the staff curve for the chart."""
    tasks = _tasks(scenario, run) if scenario is not None else []
    groups: dict[tuple[int | None, str], list[dict[str, Any]]] = {}
    failed = []
    role = run.staff["role"] if run.staff else None
    for task, outcome in zip(tasks, outcomes, strict=False):
        count = task["overrides"].get("staff", {}).get(role) if role else None
        if outcome.get("status") == "ok" and isinstance(outcome.get("result"), dict):
            groups.setdefault((count, task["policy"]), []).append(outcome["result"])
        elif outcome.get("status") == "failed":
            failed.append({"seed": task["seed"], "policy": task["policy"], "count": count,
                           "error": scrub_values(str(outcome.get("error") or "failed"))[:300]})
    aggregates = []
    for (count, _policy), results in groups.items():
        agg = aggregate(results)
        if count is not None:
            agg["scenario"] = f"{agg.get('scenario', '')} · {role} {count}"
            agg["count"] = count
        aggregates.append(agg)
    out: dict[str, Any] = {"aggregates": aggregates, "failed": failed}
    if role is not None:
        first = run.policies[0]
        out["staff_curve"] = {
            "role": role, "target": "", "answer": None,
            "evaluated": [{"count": c, "aggregate": aggregate(rs)}
                          for (c, pol), rs in sorted(groups.items(), key=lambda g: g[0][0] or 0) if pol == first],
        }
    return out


class ScenarioEvents:
    """Records the scenario runner's events (in its thread) in the database."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def __call__(self, run_id: str, kind: str, data: dict[str, Any]) -> None:
        with session_scope(self._engine) as session:
            run = crud.get(session, ScenarioRun, run_id)
            if run is None or run.status in _TERMINAL:
                return
            now = now_utc()
            if kind == "started":
                run.status = JobStatus.RUNNING
                run.started_at = run.started_at or now
            elif kind == "progress":
                run.progress = {k: data.get(k) for k in SweepProgressPublic.model_fields}
            elif kind == "result":
                scenario = crud.get(session, Scenario, run.scenario_id)
                try:
                    result = _summarise(run, scenario, list(data.get("outcomes") or []))
                except Exception as exc:  # a result that cannot be summarised must not leave the run running
                    _log.error("scenario run %s: could not summarise (%s)", run_id, type(exc).__name__)
                    run.status = JobStatus.FAILED
                    run.error = f"the results could not be summarised ({type(exc).__name__})"
                else:
                    run.result = result
                    if run.cancel_requested or data.get("cancelled"):
                        run.status = JobStatus.CANCELLED
                    elif not result["aggregates"]:
                        run.status = JobStatus.FAILED
                        run.error = (result["failed"][0]["error"] if result["failed"] else "no run finished")[:1000]
                    else:
                        run.status = JobStatus.SUCCEEDED
                run.finished_at = now
            elif kind == "error":
                run.status = JobStatus.FAILED
                run.error = str(data.get("message") or "failed")[:1000]
                run.finished_at = now
            run.updated_at = now
            session.add(run)


def resume_unfinished(session: Session, runner: ScenarioRunner) -> int:
    """Sweeps a previous server process left queued or running are queued again; the runs they finished are
    in their stores and are not redone."""
    rows = session.exec(select(ScenarioRun).where(col(ScenarioRun.status).in_(
        [JobStatus.QUEUED.value, JobStatus.RUNNING.value]))).all()
    for run in sorted(rows, key=lambda r: r.created_at):
        scenario = crud.get(session, Scenario, run.scenario_id)
        if scenario is None or run.cancel_requested:
            run.status = JobStatus.CANCELLED if run.cancel_requested else JobStatus.FAILED
            run.finished_at = run.updated_at = now_utc()
            session.add(run)
            continue
        run.status = JobStatus.QUEUED
        session.add(run)
        runner.submit(run.id, _tasks(scenario, run))
    return len(rows)

