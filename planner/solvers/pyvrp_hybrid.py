"""PyVRP on the relaxation it can express, then OR-Tools on the full model from PyVRP's routes."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..instance import Instance
from ..params import SolveParams
from ..schedule import feasible_part, schedule_route
from ..travel.base import UNREACHABLE
from .base import Progress, RawSolution
from .budget import Deadline
from .objective import relaxation_is_exact

__all__ = ["Handover", "PyVrpHybridSolver", "RelaxedModel", "build_relaxation"]

#: Travel (s) standing for "impossible" inside PyVRP: far beyond any shift, still safe to add up.
_BLOCKED = 10**9
#: Bytes of PyVRP matrices we accept before leaving the instance to OR-Tools alone.
_MAX_MATRIX_BYTES = 600 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class RelaxedModel:
    """A PyVRP ``ProblemData`` for an :class:`Instance` and the maps back to its indices.

    ``exact`` is true when the relaxation drops no rule of the full model (no breaks, no soft
    continuity): then PyVRP's feasible routes are the final answer once re-checked.
    """

    data: Any  # pyvrp.ProblemData
    client_visit: tuple[int, ...]  # pyvrp client index -> visit index
    type_workers: tuple[tuple[int, ...], ...]  # pyvrp vehicle type -> worker indices
    exact: bool


def _singly_feasible(inst: Instance, v: int) -> bool:
    return any(schedule_route(inst, w, (v,)).ok and _fits_alone(inst, w, v) for w in inst.allowed[v])


def _fits_alone(inst: Instance, w: int, v: int) -> bool:
    worker = inst.worker(w)
    if worker.max_visits is not None and worker.max_visits < 1:
        return False
    return worker.capacity is None or inst.visit(v).load <= worker.capacity


def build_relaxation(inst: Instance, *, previous_worker: Sequence[int] | None = None) -> RelaxedModel | None:
    """Translate ``inst`` into PyVRP's model, or ``None`` when it would not pay off.

    Kept exactly: time windows (several per visit become a mutually exclusive client group),
    per-worker shifts, working-time limit, depots, travel class and speed, role-dependent
    service (folded into each profile's duration matrix), qualified workers (blocked arcs in
    the profile), visit limit and load (capacity dimensions), mandatory/urgent visits
    (required) and the risk penalty of optional ones (prize).  Relaxed: the lunch break only
    shortens the working time, and continuity of care is left to the OR-Tools polish.
    """
    import pyvrp

    n_v, n_w = inst.n_visits, inst.n_workers
    servable = [v for v in range(n_v) if inst.allowed[v] and inst.windows[v]]
    if not servable or n_w == 0:
        return None

    # PyVRP locations: one per depot place, then one per servable visit (service folds into its row).
    depot_phys = sorted({int(x) for x in inst.start_loc} | {int(x) for x in inst.end_loc})
    depot_of = {p: i for i, p in enumerate(depot_phys)}
    n_d = len(depot_phys)
    vloc = {v: n_d + k for k, v in enumerate(servable)}
    phys = np.array(depot_phys + [int(inst.visit_loc[v]) for v in servable], dtype=np.int64)
    n_loc = len(phys)

    # Profiles: travel table x role service x who may not come.
    prof_key: dict[tuple[int, bytes, tuple[int, ...]], int] = {}
    worker_prof: list[int] = []
    prof_src: list[tuple[int, np.ndarray, tuple[int, ...]]] = []
    for w in range(n_w):
        svc = inst.service_s[servable, w].astype(np.int64)
        blocked = tuple(v for v in servable if w not in inst.allowed[v])
        key = (id(inst.tables[w]), svc.tobytes(), blocked)
        if key not in prof_key:
            prof_key[key] = len(prof_src)
            prof_src.append((w, svc, blocked))
        worker_prof.append(prof_key[key])
    if 2 * len(prof_src) * n_loc * n_loc * 8 > _MAX_MATRIX_BYTES:
        return None
    dist_mats, dur_mats = [], []
    for w, svc, blocked in prof_src:
        travel = inst.travel_table(w)[np.ix_(phys, phys)].astype(np.int64)
        unreachable = travel >= UNREACHABLE
        dist = travel.copy()
        dur = travel.copy()
        dur[n_d:, :] += svc[:, None]
        if blocked:
            cols = [vloc[v] for v in blocked]
            dist[:, cols] = _BLOCKED
            dur[:, cols] = _BLOCKED
        dist[unreachable] = _BLOCKED
        dur[unreachable] = _BLOCKED
        np.fill_diagonal(dist, 0)
        np.fill_diagonal(dur, 0)
        dist_mats.append(dist)
        dur_mats.append(dur)

    loads = np.array([inst.visit(v).load for v in range(n_v)], dtype=np.int64)
    use_load = bool(loads.any()) and any(inst.worker(w).capacity is not None for w in range(n_w))
    use_count = any(inst.worker(w).max_visits is not None for w in range(n_w))

    def amounts(v: int) -> list[int]:
        return ([int(loads[v])] if use_load else []) + ([1] if use_count else [])

    clients: list[Any] = []
    groups: list[Any] = []
    client_visit: list[int] = []
    for v in servable:
        visit = inst.visit(v)
        must = (visit.mandatory or visit.urgent) and _singly_feasible(inst, v)
        prize = 0 if must else int(inst.penalty[v])
        wins = inst.windows[v]
        group = None
        if len(wins) > 1:
            group = len(groups)
            groups.append(pyvrp.ClientGroup(clients=list(range(len(clients), len(clients) + len(wins))),
                                            required=must))
        for s, e in wins:
            clients.append(pyvrp.Client(
                location=vloc[v], delivery=amounts(v), service_duration=0, tw_early=int(s), tw_late=int(e),
                prize=prize,
                required=must and group is None, group=group, name=inst.visit(v).id,
            ))
            client_visit.append(v)

    # Vehicle types: identical workers share one (PyVRP handles symmetric fleets better).
    type_key: dict[tuple[Any, ...], int] = {}
    type_workers: list[list[int]] = []
    vtypes_args: list[dict[str, Any]] = []
    for w in range(n_w):
        worker = inst.worker(w)
        span = worker.shift.length_s - worker.break_s
        if worker.max_work_s is not None:
            span = min(span, worker.max_work_s)
        cap = ([worker.capacity if worker.capacity is not None else int(loads.sum())] if use_load else [])
        cap += [worker.max_visits if worker.max_visits is not None else n_v] if use_count else []
        args = dict(
            capacity=cap,
            start_depot=depot_of[int(inst.start_loc[w])],
            end_depot=depot_of[int(inst.end_loc[w])],
            tw_early=worker.shift.start_s,
            tw_late=worker.shift.end_s,
            shift_duration=max(0, span),
            profile=worker_prof[w],
        )
        tkey = tuple((k, tuple(a) if isinstance(a, list) else a) for k, a in sorted(args.items()))
        if tkey not in type_key:
            type_key[tkey] = len(vtypes_args)
            vtypes_args.append(args)
            type_workers.append([])
        type_workers[type_key[tkey]].append(w)
    vtypes = [pyvrp.VehicleType(num_available=len(ws), name=inst.worker(ws[0]).id, **args)
              for ws, args in zip(type_workers, vtypes_args, strict=True)]
    depots = [pyvrp.Depot(location=i) for i in range(n_d)]
    locations = [pyvrp.Location(x=float(inst.locations[p].lon), y=float(inst.locations[p].lat)) for p in phys]
    data = pyvrp.ProblemData(locations, clients, depots, vtypes, dist_mats, dur_mats,  # type: ignore[arg-type]
                             groups=groups)
    return RelaxedModel(data=data, client_visit=tuple(client_visit),
                        type_workers=tuple(tuple(ws) for ws in type_workers),
                        exact=relaxation_is_exact(inst, previous_worker))


class _Stop:
    """PyVRP stopping criterion: clock or iteration budget, cancellation and progress."""

    def __init__(self, *, deadline: Deadline, iterations: int | None, should_stop: Callable[[], bool] | None,
                 progress: Callable[[Progress], None] | None, n_visits: int, t0: float) -> None:
        self.deadline = deadline
        self.iterations = iterations
        self.count = 0
        self.should_stop = should_stop
        self.progress = progress
        self.n_visits = n_visits
        self.t0 = t0
        self.last = 0.0
        self.stopped = False
        #: A pause before the end (an iteration in the deterministic mode, a ``time.monotonic()`` otherwise).
        self.until: float | None = None
        #: On the clock, the ``time.monotonic()`` until which the search goes on past the deadline while its best
        #: solution serves ``need`` visits (every visit of the day), and whether it does.
        self.grace_end: float | None = None
        self.need = -1
        self.served_all = False

    def seen(self, best: Any) -> None:
        """Note whether ``best``, the search's best solution, serves every visit."""
        self.served_all = self.need >= 0 and best.is_feasible() and best.num_clients() == self.need

    def out_of_time(self) -> bool:
        """The deadline has passed, and its grace too unless the best solution serves every visit."""
        if not self.deadline.expired():
            return False
        return not (self.served_all and self.grace_end is not None and time.monotonic() < self.grace_end)

    def done(self) -> bool:
        """The whole budget is spent (iterations, or the clock)."""
        return (self.iterations is not None and self.count >= self.iterations) or self.out_of_time()

    def __call__(self, best_cost: float) -> bool:
        if self.until is not None and (self.count >= self.until if self.iterations is not None
                                       else time.monotonic() >= self.until):
            return True
        self.count += 1
        if self.iterations is not None and self.count > self.iterations:
            return True
        now = time.perf_counter()
        if self.count % 64 == 0 and self.should_stop is not None and self.should_stop():
            self.stopped = True
            return True
        if self.progress is not None and now - self.last >= 0.5 and best_cost < float("inf"):
            self.last = now
            self.progress(Progress(elapsed_s=now - self.t0, objective=int(min(best_cost, 2**62)),
                                   visits_covered=-1, visits_total=self.n_visits))
        return self.out_of_time()


@dataclass(frozen=True, slots=True, kw_only=True)
class Handover:
    """One hand-over of the incumbent between two PyVRP searches of the same relaxation, at a common point: the
    giver sends its best solution then and searches on undisturbed (its search stays the one a single search with
    its seed makes); the taker stops there, and searches the rest of its budget from the better of its own best and
    the giver's.

    ``conn`` is the giver's sending, or the taker's receiving, end of a pipe.  The point is ``share`` of the
    budget both searches are given (the same :class:`~planner.solvers.budget.Deadline`): of its time on the clock,
    where the taker waits at most ``wait_s`` for the giver's solution (the giver reaches that moment at the same
    time), of the iterations in the deterministic mode, where it waits as long as the budget's cap.
    """

    conn: Any
    give: bool
    share: float = 0.5
    wait_s: float = 0.1

    def point(self, budget: Deadline, iterations: int | None) -> tuple[float, int | None]:
        """The hand-over's ``time.monotonic()`` and, in the deterministic mode, iteration."""
        at_s = budget.started + self.share * budget.cap_s
        return at_s, None if iterations is None else max(1, int(self.share * iterations))


class _Callbacks:
    """PyVRP callbacks: whether the best solution serves every visit (:class:`_Stop` may then use its grace), and
    with a giving :class:`Handover` the best solution sent once at the hand-over point."""

    def __init__(self, stop: _Stop, handover: Handover | None = None, at_s: float = 0.0,
                 at_iteration: int | None = None) -> None:
        self.stop = stop
        self.handover = handover if handover is not None and handover.give else None
        self.at_s = at_s
        self.at_iteration = at_iteration
        self.count = 0
        self.sent = False

    def on_start(self, ils: Any) -> None:
        self.stop.seen(ils.initial_solution)

    def on_end(self, result: Any) -> None:
        pass

    def on_restart(self, best: Any) -> None:
        pass

    def on_best(self, best: Any) -> None:
        self.stop.seen(best)

    def on_iteration(self, current: Any, candidate: Any, best: Any, cost_evaluator: Any) -> None:
        if self.handover is None:
            return
        self.count += 1
        if self.sent or (self.count < self.at_iteration if self.at_iteration is not None
                         else time.monotonic() < self.at_s):
            return
        self.sent = True
        with contextlib.suppress(OSError, ValueError):  # the taker has gone: nothing to hand over
            self.handover.conn.send(best)


def _cost(solution: Any) -> float:
    """PyVRP's objective of a feasible solution, infinite for an infeasible one (as ``Result.cost``)."""
    import pyvrp

    if not solution.is_feasible():
        return math.inf
    return float(pyvrp.CostEvaluator([0] * len(solution.excess_load()), 0, 0).cost(solution))


def _taken(handover: Handover, own: Any, wait_s: float) -> Any:
    """The better of ``own`` and the giver's solution, if it arrives within ``wait_s``."""
    try:
        theirs = handover.conn.recv() if handover.conn.poll(wait_s) else None
    except (EOFError, OSError):
        theirs = None
    return theirs if theirs is not None and _cost(theirs) < _cost(own) else own


def _routes_from(model: RelaxedModel, solution: Any, n_w: int) -> list[list[int]]:
    routes: list[list[int]] = [[] for _ in range(n_w)]
    free = [list(ws) for ws in model.type_workers]
    for route in solution.routes():
        visits = [model.client_visit[a.idx] for a in route if a.is_client()]
        if visits:
            routes[free[route.vehicle_type()].pop(0)] = visits
    return routes


class PyVrpHybridSolver:
    """PyVRP's iterated local search on the relaxation, OR-Tools on the full model from its routes.

    Parameters
    ----------
    pyvrp_share
        Share of the time budget given to PyVRP when the relaxation drops a rule (breaks,
        continuity); the rest polishes the full model in OR-Tools, started from PyVRP's routes.
        When the relaxation is exact, PyVRP gets the whole budget and its routes are re-checked.
    iterations_per_solution
        PyVRP iterations per unit of ``params.solution_limit`` in the deterministic mode.
    """

    name = "pyvrp+ortools"

    def __init__(self, *, pyvrp_share: float = 0.6, iterations_per_solution: int = 10,
                 handover: Handover | None = None) -> None:
        if not 0.0 < pyvrp_share <= 1.0:
            raise ValueError(f"pyvrp_share: must lie in (0, 1], got {pyvrp_share!r}")
        self.pyvrp_share = pyvrp_share
        self.iterations_per_solution = iterations_per_solution
        self.handover = handover

    def uses_grace(self, inst: Instance, previous_worker: Sequence[int] | None) -> bool:
        """Whether the search goes on into a :class:`Deadline`'s grace once its best plan serves every visit: where
        the relaxation is exact (PyVRP's search is then the whole search)."""
        return relaxation_is_exact(inst, previous_worker)

    def solve(
        self,
        inst: Instance,
        params: SolveParams,
        *,
        initial: Sequence[Sequence[int]] | None = None,
        previous_worker: Sequence[int] | None = None,
        progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        deadline: Deadline | None = None,
    ) -> RawSolution:
        from .ortools_routing import OrToolsSolver

        t0 = time.perf_counter()
        budget = deadline or Deadline.of(params)
        ortools = OrToolsSolver()
        # Mid-day re-planning keeps the previous plan as the hint: stability beats a fresh search.
        model = None if initial is not None else build_relaxation(inst, previous_worker=previous_worker)
        if model is None:
            raw = ortools.solve(inst, params, initial=initial, previous_worker=previous_worker,
                                progress=progress, should_stop=should_stop, deadline=budget)
            return dataclasses.replace(raw, solver=self.name if initial is None else raw.solver)

        share = 1.0 if model.exact else self.pyvrp_share
        iters = None if budget.work is None else budget.work * self.iterations_per_solution
        stop = _Stop(deadline=budget.split(share, floor=0.05), iterations=iters, should_stop=should_stop,
                     progress=progress, n_visits=inst.n_visits, t0=t0)
        if model.exact and iters is None and budget.grace_s > 0:
            # A best solution serving every visit may use the grace (the caller's bound is then at hand).
            stop.grace_end = budget.ends_at + budget.grace_s
            stop.need = inst.n_visits if len(set(model.client_visit)) == inst.n_visits else -1
        with warnings.catch_warnings():  # PyVRP warns when a penalty saturates; the checks below decide
            warnings.simplefilter("ignore")
            best = self._search(model, stop, params.seed, budget)
        routes = _routes_from(model, best, inst.n_workers)
        checked = [feasible_part(inst, w, r) for w, r in enumerate(routes)]
        if stop.stopped or (model.exact and best.is_feasible() and checked == routes):
            return RawSolution(routes=tuple(tuple(r) for r in checked), objective=int(best.distance_cost()),
                               stopped_early=stop.stopped, solver=self.name)
        # Polish on the full model (breaks, continuity) from PyVRP's routes, for the rest of the budget.
        hint = checked
        raw = ortools.solve(inst, params, initial=hint, previous_worker=previous_worker,
                            progress=progress, should_stop=should_stop, deadline=budget.split(1.0, floor=0.2))
        if raw.status != "ok":
            return RawSolution(routes=tuple(tuple(r) for r in hint), solver=self.name, status="pyvrp_only")
        return dataclasses.replace(raw, solver=self.name)

    def _search(self, model: RelaxedModel, stop: _Stop, seed: int, budget: Deadline) -> Any:
        """PyVRP's best solution; with a :class:`Handover`, given at its point or taken there (the search then
        goes on from the better solution for the rest of the budget)."""
        import pyvrp
        from pyvrp.IteratedLocalSearch import IteratedLocalSearchParams

        h = self.handover
        at_s, at_iteration = (0.0, None) if h is None else h.point(budget, stop.iterations)
        ils = IteratedLocalSearchParams(callbacks=_Callbacks(stop, h, at_s, at_iteration))  # type: ignore[arg-type]
        params = pyvrp.SolveParams(ils=ils)
        if h is None or h.give:
            return pyvrp.solve(model.data, stop, seed=seed, collect_stats=False, display=False, params=params).best
        stop.until = at_iteration if at_iteration is not None else at_s
        first = pyvrp.solve(model.data, stop, seed=seed, collect_stats=False, display=False, params=params).best
        stop.until = None
        if stop.stopped or stop.done():
            return first
        start = _taken(h, first, budget.remaining() if at_iteration is not None else h.wait_s)
        return pyvrp.solve(model.data, stop, seed=seed, collect_stats=False, display=False, params=params,
                           initial_solution=start).best
