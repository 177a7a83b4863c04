"""Race a hybrid (VROOM or PyVRP, in a child process) against plain OR-Tools (here) and keep the better plan."""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..instance import Instance
from ..params import SolveParams
from ..schedule import schedule_route
from .base import Progress, RawSolution

__all__ = ["RaceSolver", "full_objective", "settle"]

_GRACE_S = 2.0


def full_objective(inst: Instance, routes: Sequence[Sequence[int]], params: SolveParams,
                   previous_worker: Sequence[int] | None = None) -> int:
    """The full model's objective of ``routes``: travel, skip penalties, continuity; huge if infeasible."""
    total = 0
    served: set[int] = set()
    for w, order in enumerate(routes):
        if not order:
            continue
        worker = inst.worker(w)
        if (worker.max_visits is not None and len(order) > worker.max_visits) or (
            worker.capacity is not None and sum(inst.visit(v).load for v in order) > worker.capacity
        ) or any(w not in inst.allowed[v] for v in order):
            return 1 << 62
        timing = schedule_route(inst, w, order)
        if not timing.ok:
            return 1 << 62
        total += sum(s for s, _ in timing.legs)
        for v in order:
            served.add(v)
            if inst.preferred[v] >= 0 and inst.preferred[v] != w:
                total += params.continuity_cost_s
            if previous_worker is not None and previous_worker[v] >= 0 and previous_worker[v] != w:
                total += 3 * params.continuity_cost_s
    total += sum(int(inst.penalty[v]) for v in range(inst.n_visits) if v not in served)
    return total


def settle(inst: Instance, routes: Sequence[Sequence[int]], params: SolveParams,
           previous_worker: Sequence[int] | None = None) -> tuple[int, tuple[tuple[int, ...], ...] | None]:
    """``routes`` after the greedy repair :func:`planner.solve.solve` applies to every solver's routes
    (dropped visits inserted where they still fit), and :func:`full_objective` of them: what the plan
    will be.  The routes are ``None`` when some route cannot be timed."""
    from ..solve import _repair

    fixed = [tuple(r) for r in routes] + [() for _ in range(inst.n_workers - len(routes))]
    timings = [schedule_route(inst, w, r) for w, r in enumerate(fixed)]
    if not all(t.ok for t in timings):
        return full_objective(inst, fixed, params, previous_worker), None
    _repair(inst, fixed, timings)
    return full_objective(inst, fixed, params, previous_worker), tuple(fixed)


def _settled(raw: RawSolution, routes: tuple[tuple[int, ...], ...] | None) -> RawSolution:
    if routes is None:
        return raw
    return RawSolution(routes=routes, objective=raw.objective, stopped_early=raw.stopped_early, status=raw.status,
                       solver=raw.solver, settled=True)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def relaxation_is_exact(inst: Instance, previous_worker: Sequence[int] | None = None) -> bool:
    """True when PyVRP can express the whole day: no breaks, no continuity, no plan to stay close to."""
    return (all(inst.worker(w).break_s == 0 for w in range(inst.n_workers))
            and not (inst.preferred >= 0).any()
            and not (previous_worker is not None and any(x >= 0 for x in previous_worker)))


def _challenger(name: str) -> Any:
    if name == "vroom":
        from .vroom_hybrid import VroomHybridSolver

        return VroomHybridSolver()
    from .pyvrp_hybrid import PyVrpHybridSolver

    return PyVrpHybridSolver()


def _child(inst: Instance, params: SolveParams, deadline: float, stop: Any, conn: Any, challenger: str,
           previous_worker: Sequence[int] | None) -> None:
    left = max(0.1, deadline - time.time())
    # Deterministic: work budgets decide, the clock is only a safety cap; keep the caller's.
    mine = params if params.deterministic else SolveParams(
        **{f: getattr(params, f) for f in params.__dataclass_fields__} | {"time_limit_s": left})
    try:
        raw = _challenger(challenger).solve(inst, mine, previous_worker=previous_worker, should_stop=stop.is_set)
        conn.send(raw)
    except BaseException as exc:
        conn.send(repr(exc))
    finally:
        conn.close()


class RaceSolver:
    """Two strategies on two cores, the better full-model objective wins.

    The challenger (``"auto"``, the default: :class:`PyVrpHybridSolver` when PyVRP's relaxation
    is exact — no breaks, no continuity — where PyVRP's search is the strongest, and
    :class:`VroomHybridSolver` otherwise, since VROOM expresses breaks; or ``"vroom"`` / ``"pyvrp"``)
    runs in a forked child process, plain OR-Tools in this one (so progress
    reports and cancellation behave as before); both get the same wall-clock budget and seed,
    so the deterministic mode stays deterministic.  With one core, without fork, or in a daemonic process
    (which may not start children), only one strategy runs: the VROOM hybrid (which ends with
    OR-Tools on the full model from VROOM's routes); for the PyVRP challenger, the hybrid when
    PyVRP's relaxation is exact (no breaks, no continuity), OR-Tools otherwise.  Mid-day re-planning (a previous
    plan as hint) always goes to OR-Tools, which starts from that plan.
    """

    name = "race"

    def __init__(self, *, processes: int | None = None, challenger: str = "auto") -> None:
        if challenger not in ("auto", "vroom", "pyvrp"):
            raise ValueError(f"challenger: must be 'auto', 'vroom' or 'pyvrp', got {challenger!r}")
        self.processes = processes
        self.challenger = challenger

    def solve(
        self,
        inst: Instance,
        params: SolveParams,
        *,
        initial: Sequence[Sequence[int]] | None = None,
        previous_worker: Sequence[int] | None = None,
        progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> RawSolution:
        from .ortools_routing import OrToolsSolver

        if initial is not None or inst.n_visits == 0 or inst.n_workers == 0:
            return OrToolsSolver().solve(inst, params, initial=initial, previous_worker=previous_worker,
                                         progress=progress, should_stop=should_stop)
        challenger = self.challenger
        if challenger == "auto":
            challenger = "pyvrp" if relaxation_is_exact(inst, previous_worker) else "vroom"
        cores = self.processes if self.processes is not None else _cores()
        # Fork (not spawn): the child must not re-import the caller's main module.
        if cores < 2 or mp.current_process().daemon or "fork" not in mp.get_all_start_methods():
            if challenger == "vroom":
                solo: Any = _challenger("vroom")
                raw = solo.solve(inst, params, previous_worker=previous_worker, progress=progress,
                                 should_stop=should_stop)
                # Never worse than the greedy plan the solve pipeline builds when a search finds nothing.
                empty: tuple[tuple[int, ...], ...] = tuple(() for _ in range(inst.n_workers))
                greedy, greedy_routes = settle(inst, empty, params, previous_worker)
                found, found_routes = settle(inst, raw.routes, params, previous_worker)
                if greedy < found:
                    return _settled(RawSolution(routes=empty, stopped_early=raw.stopped_early, solver="greedy"),
                                    greedy_routes)
                return _settled(raw, found_routes)
            from .pyvrp_hybrid import PyVrpHybridSolver

            one = PyVrpHybridSolver() if relaxation_is_exact(inst, previous_worker) else OrToolsSolver()
            return one.solve(inst, params, previous_worker=previous_worker, progress=progress,
                             should_stop=should_stop)

        ctx = mp.get_context("fork")
        stop = ctx.Event()
        recv, send = ctx.Pipe(duplex=False)
        deadline = time.time() + params.time_limit_s
        child = ctx.Process(target=_child, args=(inst, params, deadline, stop, send, challenger, previous_worker),
                            name="salpimi-race")
        child.start()
        send.close()

        def stopping() -> bool:
            if should_stop is not None and should_stop():
                stop.set()
                return True
            return False

        own = OrToolsSolver().solve(inst, params, previous_worker=previous_worker, progress=progress,
                                    should_stop=stopping if should_stop is not None else None)
        other: RawSolution | None = None
        wait = max(0.0, deadline - time.time()) + _GRACE_S
        if params.deterministic:  # the challenger's safety caps add up to twice the budget
            wait += params.time_limit_s
        if recv.poll(wait):
            try:
                got = recv.recv()
                other = got if isinstance(got, RawSolution) else None
            except EOFError:
                other = None
        else:
            stop.set()
            if recv.poll(_GRACE_S):
                got = recv.recv()
                other = got if isinstance(got, RawSolution) else None
        child.join(timeout=_GRACE_S)
        if child.is_alive():
            child.terminate()
            child.join()
        if other is None or not other.routes:
            return own
        # Compared as the plans will be, after the pipeline's greedy repair (OR-Tools without a solution
        # leaves empty routes, which the repair fills); the winner is handed back repaired.
        mine, mine_routes = settle(inst, own.routes, params, previous_worker)
        theirs, their_routes = settle(inst, other.routes, params, previous_worker)
        # Ties go to the hybrid (its search is the stronger one); the choice is deterministic.
        return _settled(other, their_routes) if theirs <= mine else _settled(own, mine_routes)
