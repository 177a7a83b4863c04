"""The OR-Tools routing model of a planning day (the only module that imports ortools)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from ..instance import Instance
from ..joint import cost_of, schedule_routes
from ..joint_lns import plan_joint
from ..params import SolveParams
from ..travel.base import UNREACHABLE
from .base import Progress, RawSolution
from .budget import Deadline

__all__ = ["JOINT_METHODS", "OrToolsSolver", "build_seconds"]

#: How joint visits are searched: ``"model"`` (a node per seat, equal start cumuls and active flags, seats on
#: different workers: the whole search sees them) or ``"insert"`` (the search plans the one-worker visits, the
#: joint ones are left to the pipeline's pair insertion over those routes).  README: "Joint visits" has the
#: figures that made ``"model"`` the default.
JOINT_METHODS = ("model", "insert")

_FIRST = {
    "parallel_cheapest_insertion": routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION,
    "path_cheapest_arc": routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC,
    "savings": routing_enums_pb2.FirstSolutionStrategy.SAVINGS,
    "christofides": routing_enums_pb2.FirstSolutionStrategy.CHRISTOFIDES,
}
_META = {
    "guided_local_search": routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH,
    "simulated_annealing": routing_enums_pb2.LocalSearchMetaheuristic.SIMULATED_ANNEALING,
    "tabu_search": routing_enums_pb2.LocalSearchMetaheuristic.TABU_SEARCH,
    "greedy_descent": routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT,
}
_HORIZON = 2 * 24 * 3600
#: Entries of per-worker continuity matrices above which the transit is a (slower) callback instead.
_MATRIX_ENTRIES = 4_000_000
#: Search branches per unit of the deterministic work budget.  A search that finds no more solutions (a day of
#: one visit leaves guided local search nothing to accept) would otherwise run to the safety cap; searches that
#: find solutions take 5-300 branches per solution (measured from 6 to 166 visits), so the solution limit
#: stops them first.
_BRANCHES_PER_WORK = 5_000
#: Seconds per transit matrix entry handed to OR-Tools (NumPy to a Python list, then copied in C++) and per routing
#: node (variables, windows, disjunctions), measured on 2,000-visit days at load 6-9: about 7 s of model building.
_BUILD_S_PER_ENTRY = 1.5e-7
_BUILD_S_PER_NODE = 5e-4


def build_seconds(inst: Instance) -> float:
    """About how long building this day's routing model takes (a cost matrix per travel class, a time matrix per
    travel class and role): a stage that cannot finish building within its time had better not start."""
    travel = {(inst.worker(w).travel_mode.value, float(inst.worker(w).speed_factor)) for w in range(inst.n_workers)}
    timed = {(*t, inst.worker(w).role.value) for w in range(inst.n_workers)
             for t in [(inst.worker(w).travel_mode.value, float(inst.worker(w).speed_factor))]}
    nodes = inst.n_nodes + 2 * inst.n_workers
    return _BUILD_S_PER_ENTRY * (len(travel) + len(timed)) * nodes * nodes + _BUILD_S_PER_NODE * nodes
#: Share of the budget left after building the model that the crew-aware search (planner.joint_lns) gets on a
#: day with joint visits; the routing search starts from its best plan with the rest.  0.95 against 0.7 at 60 s:
#: Mankowska 300_3 6.4 % vs 7.2 %, 200_3 3.8 % vs 10.1 % (one run each, load 7-9); at 10 s no clear winner.
_LNS_SHARE = 0.9


class OrToolsSolver:
    """Vehicle per worker, time dimension with per-worker travel and service, lunch breaks,
    visit limits, allowed workers, optional visits with risk penalties, soft continuity."""

    name = "ortools"

    def __init__(self, *, gls_lambda: float | None = None, metaheuristic: str | None = None,
                 joint: str = "model", lns_share: float = _LNS_SHARE) -> None:
        self.lns_share = lns_share
        self.gls_lambda = gls_lambda
        self.metaheuristic = metaheuristic
        if joint not in JOINT_METHODS:
            raise ValueError(f"joint: {joint!r} is not one of {', '.join(JOINT_METHODS)}")
        self.joint = joint

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
        budget = deadline or Deadline.of(params)
        n_v, n_w = inst.n_nodes, inst.n_workers
        if n_w == 0 or n_v == 0:
            return RawSolution(routes=tuple(() for _ in range(n_w)), solver=self.name)
        # Nodes: visits 0..n_v-1, then a start and an end node per worker.
        node_loc = np.concatenate(
            [inst.visit_loc, np.ravel(np.column_stack([inst.start_loc, inst.end_loc]))]
        ).astype(np.int64)
        starts = [n_v + 2 * w for w in range(n_w)]
        ends = [n_v + 2 * w + 1 for w in range(n_w)]
        manager = pywrapcp.RoutingIndexManager(len(node_loc), n_w, starts, ends)
        routing = pywrapcp.RoutingModel(manager)
        size = routing.Size() + n_w  # every index incl. the ends
        index_node = np.array([manager.IndexToNode(i) for i in range(size)], dtype=np.int64)

        # Travel per (mode, speed factor); time transit per (travel class, role) adds service.
        travel_cls: dict[tuple[str, float], np.ndarray] = {}
        time_cls: dict[tuple[str, float, str], int] = {}
        cost_cb: list[int] = []
        time_cb: list[int] = []
        svc_by_role: dict[str, np.ndarray] = {}
        registered_cost: dict[tuple[str, float], int] = {}
        for w in range(n_w):
            worker = inst.worker(w)
            tkey = (worker.travel_mode.value, float(worker.speed_factor))
            if tkey not in travel_cls:
                table = inst.travel_table(w)
                node_t = table[np.ix_(node_loc, node_loc)].copy()
                node_t[node_t >= UNREACHABLE] = _HORIZON * 4
                travel_cls[tkey] = node_t
                registered_cost[tkey] = routing.RegisterTransitMatrix(node_t.tolist())
            role = worker.role.value
            if role not in svc_by_role:
                svc = np.zeros(len(node_loc), dtype=np.int64)
                svc[:n_v] = inst.service_s[:, w]
                svc_by_role[role] = svc
            key = (*tkey, role)
            if key not in time_cls:
                transit = travel_cls[tkey] + svc_by_role[role][:, None]
                time_cls[key] = routing.RegisterTransitMatrix(transit.tolist())
            cost_cb.append(registered_cost[tkey])
            time_cb.append(time_cls[key])
            routing.SetArcCostEvaluatorOfVehicle(registered_cost[tkey], w)

        routing.AddDimensionWithVehicleTransits(time_cb, _HORIZON, _HORIZON, False, "time")
        time_dim = routing.GetDimensionOrDie("time")
        solver = routing.solver()

        for v in range(n_v):
            idx = manager.NodeToIndex(v)
            wins = inst.windows[v]
            cumul = time_dim.CumulVar(idx)
            if not wins:
                cumul.SetRange(0, 0)
                routing.VehicleVar(idx).SetValues([-1])
            else:
                cumul.SetRange(wins[0][0], wins[-1][1])
                for (_, e1), (s2, _) in itertools.pairwise(wins):
                    if s2 - 1 >= e1 + 1:
                        cumul.RemoveInterval(e1 + 1, s2 - 1)
                routing.VehicleVar(idx).SetValues([-1, *sorted(inst.allowed[v])])
            routing.AddDisjunction([idx], int(inst.penalty[v]))

        if inst.joint or inst.has_due:
            _synchronise(inst, routing, manager, time_dim, insert=self.joint == "insert")

        break_transit: dict[str, list[int]] = {}
        for w in range(n_w):
            worker = inst.worker(w)
            s_idx, e_idx = routing.Start(w), routing.End(w)
            time_dim.CumulVar(s_idx).SetRange(worker.shift.start_s, worker.shift.end_s)
            time_dim.CumulVar(e_idx).SetRange(worker.shift.start_s, worker.shift.end_s)
            if worker.max_work_s is not None:
                time_dim.SetSpanUpperBoundForVehicle(worker.max_work_s + worker.break_s, w)
            if worker.break_s > 0 and worker.break_window is not None:
                bw = worker.break_window
                brk = solver.FixedDurationIntervalVar(
                    bw.start_s, bw.end_s - worker.break_s, worker.break_s, False, f"break {worker.id}"
                )
                role = worker.role.value
                if role not in break_transit:  # one list per role (a Python loop per worker took seconds)
                    break_transit[role] = svc_by_role[role][index_node].tolist()
                time_dim.SetBreakIntervalsOfVehicle([brk], w, break_transit[role])
                # Lunch belongs inside the working day.
                solver.Add(brk.StartExpr() >= time_dim.CumulVar(s_idx))
                solver.Add(brk.EndExpr() <= time_dim.CumulVar(e_idx))
            routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(e_idx))
            routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(s_idx))

        caps = [n_v if (c := inst.worker(w).max_visits) is None else c for w in range(n_w)]
        if any(c < n_v for c in caps):
            one = np.zeros(len(node_loc), dtype=np.int64)
            one[:n_v] = 1
            count_cb = routing.RegisterUnaryTransitVector(one.tolist())
            routing.AddDimensionWithVehicleCapacity(count_cb, 0, [int(c) for c in caps], True, "visits")

        loads = np.array([inst.visit(v).load for v in range(n_v)], dtype=np.int64)
        if loads.any() and any(inst.worker(w).capacity is not None for w in range(n_w)):
            vec = np.zeros(len(node_loc), dtype=np.int64)
            vec[:n_v] = loads
            load_cb = routing.RegisterUnaryTransitVector(vec.tolist())
            total = int(loads.sum())
            load_caps = [total if (c := inst.worker(w).capacity) is None else c for w in range(n_w)]
            routing.AddDimensionWithVehicleCapacity(load_cb, 0, load_caps, True, "load")

        # Soft continuity of care and stability against a previous plan: a cost per visit served by another
        # worker than its preferred (or previous) one, as a span cost.  Per-worker *binary* transits: OR-Tools
        # 9.15 finds no solution at all (not even all visits dropped) with per-vehicle unary transit vectors
        # and optional visits (seen on re-plans; google/or-tools#5283).
        keep = np.full(n_v, -1, dtype=np.int64)
        if previous_worker is not None:
            keep[: len(previous_worker)] = np.asarray(previous_worker, dtype=np.int64)[:n_v]
        if (inst.preferred >= 0).any() or (keep >= 0).any():
            by_vector: dict[bytes, int] = {}
            vec_cb = []
            small = len(node_loc) ** 2 * n_w <= _MATRIX_ENTRIES
            for w in range(n_w):
                vec = np.zeros(len(node_loc), dtype=np.int64)
                pref = inst.preferred
                vec[:n_v] += np.where((pref >= 0) & (pref != w), params.continuity_cost_s, 0)
                vec[:n_v] += np.where((keep >= 0) & (keep != w), 3 * params.continuity_cost_s, 0)
                vkey = vec.tobytes()
                if vkey not in by_vector:
                    if small:
                        by_vector[vkey] = routing.RegisterTransitMatrix(
                            np.repeat(vec[:, None], len(node_loc), axis=1).tolist())
                    else:
                        by_index = vec[index_node].tolist()
                        by_vector[vkey] = routing.RegisterTransitCallback(lambda i, _j, t=by_index: t[i])
                vec_cb.append(by_vector[vkey])
            routing.AddDimensionWithVehicleTransits(vec_cb, 0, 1 << 40, True, "continuity")
            cont = routing.GetDimensionOrDie("continuity")
            cont.SetSpanCostCoefficientForAllVehicles(1)

        search = pywrapcp.DefaultRoutingSearchParameters()
        search.first_solution_strategy = _FIRST[params.first_solution]
        search.local_search_metaheuristic = _META[self.metaheuristic or params.metaheuristic]
        if self.gls_lambda is not None:
            search.guided_local_search_lambda_coefficient = self.gls_lambda
        # Building the model counts against the budget (it takes seconds on days of thousands of visits); the
        # search keeps a tenth of it whatever the building took.  Deterministic: the work budget stops it.
        left = budget.split(1.0, floor=0.1 * budget.cap_s)
        search.time_limit.FromMilliseconds(max(1, int(left.cap_s * 1000)))
        if budget.work is not None:
            search.solution_limit = budget.work
            routing.AddSearchMonitor(solver.BranchesLimit(budget.work * _BRANCHES_PER_WORK))
        search.log_search = params.log_search

        t0 = time.perf_counter()
        state: dict[str, Any] = {"last": 0.0, "stopped": False}

        def on_solution() -> None:
            now = time.perf_counter()
            if should_stop is not None and should_stop():
                state["stopped"] = True
                solver.FinishCurrentSearch()
                return
            if progress is not None and now - state["last"] >= 0.5:
                state["last"] = now
                covered = sum(  # visits (a joint visit's first seat stands for it), not routing nodes
                    1 for v in range(inst.n_visits)
                    if routing.NextVar(manager.NodeToIndex(v)).Value() != manager.NodeToIndex(v)
                )
                progress(Progress(elapsed_s=now - t0, objective=int(routing.CostVar().Value()),
                                  visits_covered=covered, visits_total=inst.n_visits))

        if progress is not None or should_stop is not None:
            routing.AddAtSolutionCallback(on_solution)

        solution = None
        ours: list[list[int]] | None = None
        routing.CloseModelWithParameters(search)
        if initial is None and inst.joint and self.joint == "model":
            # Insertion heuristics and most moves add or remove one node at a time, which the equal active flags
            # refuse, and guided local search never moves a crew: the search starts from our own construction
            # and crew-aware ruin and recreate (planner.joint_lns) on a share of what is left.
            initial = ours = _pairs_first(inst, params, budget.split(self.lns_share, floor=0.0))
            # What the construction used is gone: the routing search gets only what is left (a twentieth at
            # least), less a fiftieth kept to compare its plan with ours.
            search.time_limit.FromMilliseconds(
                max(1, int(max(0.05 * budget.cap_s, budget.remaining() - 0.02 * budget.cap_s) * 1000)))
        if initial is not None:
            hint = routing.ReadAssignmentFromRoutes([list(r) for r in initial], True)
            if hint is not None:
                solution = routing.SolveFromAssignmentWithParameters(hint, search)
        if solution is None:
            solution = routing.SolveWithParameters(search)
        if solution is None and not state["stopped"]:
            # The first-solution heuristic gave up: search on from every visit dropped (a valid start
            # whenever each worker can get home within the day), for the rest of the budget.
            empty = routing.ReadAssignmentFromRoutes([[] for _ in range(n_w)], True)
            if empty is not None:
                search.time_limit.FromMilliseconds(max(1, int(left.remaining(floor=0.05) * 1000)))
                solution = routing.SolveFromAssignmentWithParameters(empty, search)
        if solution is None:
            if ours is not None:
                return RawSolution(routes=tuple(tuple(r) for r in ours), stopped_early=bool(state["stopped"]),
                                   solver=self.name)
            return RawSolution(routes=tuple(() for _ in range(n_w)), status="no_solution", solver=self.name)

        routes, starts_out, departs, returns, breaks = [], [], [], [], []
        intervals = solution.IntervalVarContainer()
        break_at: dict[str, int] = {}
        for i in range(intervals.Size()):
            el = intervals.Element(i)
            if el.PerformedValue():
                break_at[el.Var().Name()] = int(el.StartValue())
        for w in range(n_w):
            idx = routing.Start(w)
            departs.append(int(solution.Value(time_dim.CumulVar(idx))))
            seq, st = [], []
            idx = solution.Value(routing.NextVar(idx))
            while not routing.IsEnd(idx):
                seq.append(int(manager.IndexToNode(idx)))
                st.append(int(solution.Value(time_dim.CumulVar(idx))))
                idx = solution.Value(routing.NextVar(idx))
            returns.append(int(solution.Value(time_dim.CumulVar(idx))))
            routes.append(tuple(seq))
            starts_out.append(tuple(st))
            breaks.append(break_at.get(f"break {inst.worker(w).id}"))
        if ours is not None and not _keeps(inst, ours, routes):
            return RawSolution(routes=tuple(tuple(r) for r in ours), stopped_early=bool(state["stopped"]),
                               solver=self.name)
        return RawSolution(
            routes=tuple(routes),
            starts=tuple(starts_out),
            departs=tuple(departs),
            returns=tuple(returns),
            breaks=tuple(breaks),
            objective=int(solution.ObjectiveValue()),
            stopped_early=bool(state["stopped"]),
            solver=self.name,
        )


def _synchronise(inst: Instance, routing: Any, manager: Any, time_dim: Any, *, insert: bool) -> None:
    """Joint visits, precedences and soft due times on the time dimension.

    A joint visit's seat nodes start together (equal cumuls), are all served or all dropped (equal active
    flags) and by different workers.  A precedence bounds ``cumul(then) - cumul(first)`` when ``then`` is
    served, and serves ``then`` only with ``first``.  A due time is a soft upper bound on the start, charged
    ``late_cost`` (rounded, at least 1) per second: one seat of a joint visit carries it, so it counts once.
    """
    solver = routing.solver()
    for nodes in inst.crew:
        if not nodes:
            continue
        idx = [manager.NodeToIndex(n) for n in nodes]
        if insert:  # left to the pair insertion after the search
            for i in idx:
                routing.VehicleVar(i).SetValues([-1])
            continue
        first = idx[0]
        for other in idx[1:]:
            solver.Add(time_dim.CumulVar(first) == time_dim.CumulVar(other))
            solver.Add(routing.ActiveVar(first) == routing.ActiveVar(other))
        solver.Add(solver.AllDifferentExcept([routing.VehicleVar(i) for i in idx], -1))
    for a, b, low, high in inst.precedences:
        ia, ib = manager.NodeToIndex(a), manager.NodeToIndex(b)
        gap = time_dim.CumulVar(ib) - time_dim.CumulVar(ia)
        active = routing.ActiveVar(ib)
        solver.Add(active <= routing.ActiveVar(ia))
        solver.Add(solver.ConditionalExpression(active, gap, low) >= low)
        if high >= 0:
            solver.Add(solver.ConditionalExpression(active, gap, high) <= high)
    for v in np.flatnonzero(inst.due_s >= 0).tolist():
        cost = float(inst.late_cost[v])
        if cost > 0:
            time_dim.SetCumulVarSoftUpperBound(manager.NodeToIndex(v), int(inst.due_s[v]), max(1, round(cost)))


def _pairs_first(inst: Instance, params: SolveParams, share: Deadline) -> list[list[int]]:
    """A start for the search: every visit inserted into empty routes, a joint visit's seats together, then
    crew-aware ruin and recreate (:mod:`planner.joint_lns`) until ``share`` runs out (deterministic: on its
    work budget, the clock only a cap)."""
    spent = share.elapsed
    return plan_joint(inst, seed=params.seed, stop=share.expired,
                      progress=lambda: spent() / share.cap_s if share.cap_s > 0 else 1.0, work=share.work)


def _keeps(inst: Instance, ours: Sequence[Sequence[int]], found: Sequence[Sequence[int]]) -> bool:
    """Whether the routing search's ``found`` routes are at least as good as the start it was given (``ours``,
    re-timed and synchronised by construction): they must time out with every link kept, leave out no more (by
    skip penalty) and cost no more in travel and lateness; else the start is returned."""
    def score(routes: Sequence[Sequence[int]]) -> tuple[float, float] | None:
        timings = schedule_routes(inst, [tuple(r) for r in routes])
        if not all(t.ok for t in timings):
            return None
        served = {n for r in routes for n in r}
        left = float(sum(int(inst.penalty[n]) for n in range(inst.n_nodes) if n not in served))
        return left, cost_of(inst, routes, timings)

    theirs = score(found)
    if theirs is None:
        return False
    mine = score(ours)
    return mine is None or theirs <= mine
