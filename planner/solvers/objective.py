"""The full model's objective of any routes, and whether PyVRP's relaxation of a day drops none of its rules."""

from __future__ import annotations

from collections.abc import Sequence

from ..instance import Instance
from ..params import SolveParams
from ..schedule import schedule_route

__all__ = ["INFEASIBLE", "full_objective", "no_worse", "objective_parts", "relaxation_is_exact", "resolution"]

#: The objective of routes that break a hard rule (above any sum of penalties).
INFEASIBLE = 1 << 62


def full_objective(inst: Instance, routes: Sequence[Sequence[int]], params: SolveParams,
                   previous_worker: Sequence[int] | None = None) -> int:
    """The full model's objective of ``routes``: travel, skip penalties, continuity; :data:`INFEASIBLE` when a route
    breaks a hard rule (visit or load limit, qualification, timing)."""
    skip, rest = objective_parts(inst, routes, params, previous_worker)
    return skip + rest


def objective_parts(inst: Instance, routes: Sequence[Sequence[int]], params: SolveParams,
                    previous_worker: Sequence[int] | None = None) -> tuple[int, int]:
    """:func:`full_objective` in two parts: the skip penalties of the visits left out, and travel plus continuity;
    ``(INFEASIBLE, 0)`` when a route breaks a hard rule."""
    total = 0
    served: set[int] = set()
    for w, order in enumerate(routes):
        if not order:
            continue
        worker = inst.worker(w)
        if (worker.max_visits is not None and len(order) > worker.max_visits) or (
            worker.capacity is not None and sum(inst.visit(v).load for v in order) > worker.capacity
        ) or any(w not in inst.allowed[v] for v in order):
            return INFEASIBLE, 0
        timing = schedule_route(inst, w, order)
        if not timing.ok:
            return INFEASIBLE, 0
        total += sum(s for s, _ in timing.legs)
        for v in order:
            served.add(v)
            if inst.preferred[v] >= 0 and inst.preferred[v] != w:
                total += params.continuity_cost_s
            if previous_worker is not None and previous_worker[v] >= 0 and previous_worker[v] != w:
                total += 3 * params.continuity_cost_s
    return sum(int(inst.penalty[v]) for v in range(inst.n_visits) if v not in served), total


def resolution(params: SolveParams) -> int:
    """``params.coverage_resolution`` in objective units (skip penalty)."""
    return round(params.coverage_resolution * params.penalty_unit)


def no_worse(a: tuple[int, int], b: tuple[int, int], within: int) -> bool:
    """Whether a plan of :func:`objective_parts` ``a`` is at least as good as one of ``b``: where their skip
    penalties differ by at most ``within`` (:func:`resolution`), the one with less travel and continuity cost (then
    the lower skip penalty); elsewhere the lower full objective."""
    if abs(a[0] - b[0]) <= within:
        return a[1] < b[1] or (a[1] == b[1] and a[0] <= b[0])
    return a[0] + a[1] <= b[0] + b[1]


def relaxation_is_exact(inst: Instance, previous_worker: Sequence[int] | None = None) -> bool:
    """True when PyVRP can express the whole day: no lunch breaks, no preferred workers, no plan to stay close to."""
    return (all(inst.worker(w).break_s == 0 for w in range(inst.n_workers))
            and not (inst.preferred >= 0).any()
            and not (previous_worker is not None and any(x >= 0 for x in previous_worker)))
