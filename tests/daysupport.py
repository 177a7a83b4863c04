"""Shared test helpers: small hand-checkable problems near Gwanak-gu's health centre.

A plain module (tests import it by name): a module named ``conftest`` is ambiguous once tests/web/ has its
own conftest.py, and which one ``from conftest import`` found depended on the order of the paths given."""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path
from typing import Any

from planner import (
    Household,
    Location,
    Problem,
    RiskFactors,
    Role,
    TimeWindow,
    TravelModeName,
    Visit,
    Worker,
)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DAY = dt.date(2026, 11, 24)  # a Tuesday
BASE = Location(lat=37.4784, lon=126.9516)


def hm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 3600 + int(m) * 60


def window(a: str, b: str) -> TimeWindow:
    return TimeWindow(start_s=hm(a), end_s=hm(b))


def household(i: int, *, dlat: float = 0.0, dlon: float = 0.0, **kw: object) -> Household:
    kw.setdefault("last_contact", dt.date(2026, 10, 1))
    return Household(id=f"h{i}", location=Location(lat=BASE.lat + dlat, lon=BASE.lon + dlon), **kw)  # type: ignore[arg-type]


def worker(i: int, **kw: object) -> Worker:
    defaults: dict[str, object] = dict(
        role=Role.VISITING_NURSE,
        start=BASE,
        end=BASE,
        shift=window("09:00", "18:00"),
        break_window=window("12:00", "13:30"),
        break_s=3600,
        skills=frozenset({"nursing"}),
        travel_mode=TravelModeName.WALK,
    )
    defaults.update(kw)
    return Worker(id=f"w{i}", **defaults)  # type: ignore[arg-type]


def problem(households: list[Household], workers: list[Worker], visits: list[Visit]) -> Problem:
    return Problem(date=DAY, households=tuple(households), workers=tuple(workers), visits=tuple(visits))


def assert_plan_clean(p: Problem, result: object) -> object:
    """The plan of ``result`` has no violations (straight-line travel) and accounts for every visit."""
    from planner import HaversineProvider, evaluate

    plan = result.plan  # type: ignore[attr-defined]
    ev = evaluate(p, plan, HaversineProvider())
    assert ev.ok, [v.message for v in ev.violations]
    assert len(plan.unassigned) + plan.kpis.visits_assigned == len(p.visits)
    assert_plan_conforms(plan)
    return ev


@functools.cache
def _validator(which: str) -> Any:
    import jsonschema

    from planner import horizon_json_schema, plan_json_schema, problem_json_schema

    schemas = {"plan": plan_json_schema, "problem": problem_json_schema, "horizon": horizon_json_schema}
    schema = schemas[which]()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def assert_conforms(data: Any, which: str) -> None:
    """``data`` (problem or plan JSON) is valid under the planner's JSON Schema of that file."""
    errors = sorted(_validator(which).iter_errors(data), key=lambda e: list(e.absolute_path))
    assert not errors, [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:5]]


def assert_plan_conforms(plan: Any) -> None:
    """A plan the tests produced: its JSON passes the JSON Schema and reads back equal."""
    from planner import plan_from_json, plan_to_json

    data = json.loads(json.dumps(plan_to_json(plan)))
    assert_conforms(data, "plan")
    assert plan_from_json(data) == plan



def serve_without_listening(monkeypatch: Any) -> list[object]:
    """``salpimi serve`` run in the test's process builds its app and server as configured but never listens:
    ``uvicorn.Server.run`` records the app and marks the server started.  Returns the apps served."""
    import uvicorn

    served: list[object] = []

    def run(self: uvicorn.Server, sockets: object = None) -> None:
        served.append(self.config.app)
        self.started = True

    monkeypatch.setattr(uvicorn.Server, "run", run)
    return served

__all__ = [
    "BASE",
    "DAY",
    "REPO",
    "RiskFactors",
    "Visit",
    "assert_conforms",
    "assert_plan_clean",
    "assert_plan_conforms",
    "hm",
    "household",
    "problem",
    "serve_without_listening",
    "window",
    "worker",
]


def vroom_start(inst: Any) -> list[tuple[int, ...]]:
    """VROOM's level-0 routes for a compiled day, each cut to its feasible part: a start for the local searches."""
    from planner.schedule import feasible_part
    from planner.solvers.vroom_hybrid import vroom_routes

    return [feasible_part(inst, w, r) for w, r in enumerate(vroom_routes(inst, seconds=None, exploration_level=0))]
