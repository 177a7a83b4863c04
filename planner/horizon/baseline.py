"""The baseline the horizon planner is measured against: the day planner run day after day, carrying forward
who was seen (each day takes every visit still due that may happen that day, riskiest first)."""

from __future__ import annotations

import time
from collections.abc import Callable

from ..params import SolveParams
from ..risk import RiskModel
from ..solvers.base import Progress, RoutingSolver
from ..travel.base import TravelTimeProvider
from .assign import Assignment, HorizonParams
from .context import prepare
from .model import HorizonProblem
from .plan import Router
from .result import HorizonResult
from .summary import summarise

__all__ = ["plan_day_by_day"]


def plan_day_by_day(
    problem: HorizonProblem,
    travel: TravelTimeProvider,
    params: SolveParams | None = None,
    *,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    solver: RoutingSolver | None = None,
    risk_model: RiskModel | None = None,
) -> HorizonResult:
    """Plan each working day on its own, in order: the day's candidates are the visits not yet made that
    the horizon's rules allow that day (spacing since the last one, dates, follow-ups; of two visits that
    may not share a day the riskier); the day planner picks and routes; who was seen is carried forward.
    The budget is split evenly over the days."""
    params = params or SolveParams()
    t0 = time.perf_counter()
    deadline = t0 + params.time_limit_s
    ctx = prepare(problem, travel, risk_model=risk_model)
    a = Assignment(ctx, HorizonParams(), seed=params.seed)
    router = Router(ctx, a, ctx.travel, params, solver=solver, risk_model=risk_model, progress=progress,
                    should_stop=should_stop, t0=t0)
    days = list(ctx.work_days)
    for i, d in enumerate(days):
        if router.stopped or (should_stop is not None and should_stop()):
            break
        a.frozen_until = d - 1
        ranked: list[tuple[float, int]] = []
        for t, occs in enumerate(a.task_occ):
            todo = [o for o in occs if a.day[o] < 0]
            if todo and a.day_ok(t, d, without=todo[0]):
                gain = a.task_cost[t] - a._task_cost(t, [*a.planned(t), (d, -1)])
                ranked.append((-gain, todo[0]))
        ranked.sort()
        chosen: list[int] = []
        tasks: set[int] = set()
        for _, o in ranked:
            t = a.occ_task[o]
            if not any(u in tasks for u in a.excl[t]):
                chosen.append(o)
                tasks.add(t)
        room = max(0.0, deadline - time.perf_counter() - 0.05 * (len(days) - i))
        router.route_day(d, room / (len(days) - i), assigned=chosen, fill=False)
        a.frozen_until = d
    out, left = router.finish()
    summary = summarise(ctx, [x.plan for x in out], left)
    return HorizonResult(start=problem.start, end=problem.end, days=out, unassigned=left, summary=summary,
                         elapsed_s=time.perf_counter() - t0, stopped_early=router.stopped,
                         meta={"method": "day by day (baseline)", "time_limit_s": params.time_limit_s})
