"""Ready-made task functions: a near-empty task (a sweep's own overhead) and one day's plan of one office."""

from __future__ import annotations

import hashlib
from typing import Any

__all__ = ["echo", "fail", "solve_day"]


def echo(task: dict[str, Any]) -> dict[str, Any]:
    """A near-empty task: the task's ``value`` and a hash of it back (measures a sweep's overhead per task)."""
    value = task.get("value")
    return {"value": value, "digest": hashlib.sha256(repr(value).encode()).hexdigest()[:16]}


def fail(task: dict[str, Any]) -> dict[str, Any]:
    """A task that fails as ``task["how"]`` says: ``"raise"`` (an exception) or ``"die"`` (its process exits
    at once, as a crashed solver would), ``"die_once"`` (dies unless the file ``task["marker"]`` exists,
    which it creates: the retry succeeds); anything else returns ``task``."""
    import os
    from pathlib import Path

    how = task.get("how")
    if how == "raise":
        raise RuntimeError("this task always fails")
    if how == "die":
        os._exit(3)
    if how == "die_once":
        marker = Path(str(task["marker"]))
        if not marker.exists():
            marker.write_text("died once\n")
            os._exit(3)
    return dict(task)


def solve_day(task: dict[str, Any]) -> dict[str, Any]:
    """Plan one office's day: ``task["problem"]`` (planner JSON) with ``seed`` and ``solution_limit`` in the
    deterministic mode (``time_limit_s`` only a safety cap; ``solver`` default ``"auto"``).  Returns the
    plan's KPIs and its routes as visit ids (no timings of the run itself)."""
    from planner import HaversineProvider, MatrixProvider, SolveParams, kpis_to_json, problem_from_json, solve

    problem = problem_from_json(task["problem"])
    params = SolveParams(time_limit_s=float(task.get("time_limit_s", 120.0)), seed=int(task.get("seed", 0)),
                         deterministic=True, solution_limit=int(task.get("solution_limit", 200)),
                         solver=str(task.get("solver", "auto")))
    travel = MatrixProvider(problem.travel_matrix) if problem.travel_matrix is not None else HaversineProvider()
    result = solve(problem, travel, params)
    plan = result.plan
    return {
        "kpis": kpis_to_json(plan.kpis),
        "routes": {r.worker_id: [s.visit_id for s in r.stops] for r in plan.routes},
        "unassigned": sorted(u.visit_id for u in plan.unassigned),
    }
