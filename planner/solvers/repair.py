"""The greedy repair every plan goes through (dropped visits put where they still fit) and the settled objective."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..insertion import InsertionIndex
from ..instance import Instance
from ..params import SolveParams
from ..schedule import Timing, schedule_route
from .objective import full_objective

__all__ = ["REPAIR_TRIES", "repair", "settle"]

#: Cheapest insertion candidates re-timed in full per dropped visit.
REPAIR_TRIES = 40


def repair(inst: Instance, routes: list[tuple[int, ...]], timings: list[Timing], *,
           stop: Callable[[], bool] | None = None) -> None:
    """Insert any dropped visit that still fits somewhere (cheapest feasible insertion), riskiest first.

    ``routes`` and ``timings`` (one per worker, all feasible) are updated in place.  ``stop`` (polled before each
    visit; on the clock, the budget's end) ends the repair early: every route stays feasible, the riskiest
    dropped visits were tried first.
    """
    served = {v for r in routes for v in r}
    dropped = sorted((v for v in range(inst.n_visits) if v not in served and inst.allowed[v] and inst.windows[v]),
                     key=lambda v: -int(inst.penalty[v]))
    if not dropped:
        return
    index = InsertionIndex(inst, routes)
    for v in dropped:
        if stop is not None and stop():
            return
        # Travel does not depend on timing: the first insertion that times out feasibly is the cheapest.
        for _, w, pos in index.candidates(v, limit=REPAIR_TRIES):
            cand = (*routes[w][:pos], v, *routes[w][pos:])
            t = schedule_route(inst, w, cand)
            if t.ok:
                routes[w], timings[w] = cand, t
                index.update(w, cand)
                break


def settle(inst: Instance, routes: Sequence[Sequence[int]], params: SolveParams,
           previous_worker: Sequence[int] | None = None, *,
           stop: Callable[[], bool] | None = None) -> tuple[int, tuple[tuple[int, ...], ...] | None]:
    """``routes`` after the greedy :func:`repair` the solve pipeline applies to every solver's routes, and the
    :func:`~planner.solvers.objective.full_objective` of them: what the plan will be.  The routes are ``None``
    when some route cannot be timed.  ``stop`` ends the repair early (see :func:`repair`)."""
    fixed = [tuple(r) for r in routes] + [() for _ in range(inst.n_workers - len(routes))]
    timings = [schedule_route(inst, w, r) for w, r in enumerate(fixed)]
    if not all(t.ok for t in timings):
        return full_objective(inst, fixed, params, previous_worker), None
    repair(inst, fixed, timings, stop=stop)
    return full_objective(inst, fixed, params, previous_worker), tuple(fixed)
