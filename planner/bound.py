"""An upper bound on the risk coverage any plan of the day could reach: how far a plan may be from the best.

Every feasible plan serves a set of visits, each by qualified workers whose day holds, for each of their visits,
its service time and a leg into it; the legs, the services and the lunch break fit between the shift's start and
end, and the working time (without the break) within the worker's limit.  Relaxing the order and the clock times
of a route but keeping those sums gives an assignment problem whose optimum no plan can beat:

- ``assignment_mip``: each visit (each seat of a joint visit, on different workers) to at most one worker whose
  shift, reach and qualification allow it alone, per-worker minutes (service plus the cheapest leg in, and
  separately the cheapest leg out, plus the cheapest return or departure leg), visit-count and load limits, and
  precedences (a follower counts only with its first visit), solved exactly by SCIP (or its proven dual bound
  when stopped by the node or time limit);
- ``assignment_lp``: the linear relaxation of the same model, by GLOP (what the MIP falls back to);
- ``selection``: a knapsack over all workers' minutes and visit slots together, ignoring who may do what
  (the cheapest fallback, no LP).

Every variant drops only constraints, never adds one, so each stays a bound on ``Kpis.risk_covered``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from .instance import Instance
from .solvers.ortools_linear import maximise_linear
from .travel.base import UNREACHABLE

__all__ = ["BOUND_METHODS", "CoverageBound", "coverage_bound", "full_bound", "selection_bound"]

#: From the tightest to the cheapest.
BOUND_METHODS = ("assignment_mip", "assignment_lp", "selection")
#: Above this many (visit seat, worker) pairs the MIP is not tried (the LP is).
_MIP_PAIRS = 4_000
#: Above this many pairs even the LP is skipped: the selection bound alone.
_LP_PAIRS = 60_000
#: What building and solving the LP took per pair (GLOP at load 7-11: 20-44 us; 2,000 visits and 175,000 pairs:
#: 3.6 s), plus loading the linear solver, to skip it when it cannot finish in time.
_LP_S_PER_PAIR = 3e-5
_LP_START_S = 0.1
#: Branch-and-bound nodes of the MIP in the deterministic mode (its wall-clock cap is then a safety net only).
_MIP_NODES = 500
#: Rows of the travel table scanned at once for the cheapest legs.
_CHUNK = 1024
#: What finding the legs takes, at a load of 3-4 on the shared machine (twice what it took at load 1.2 on a
#: 10,000-visit, 1,200-worker day): per cell of the visit places' travel table (once per distinct table), per
#: (node, worker) pair; and what the fallback (qualification and service alone) takes per pair.
_LEG_CELL_S = 1.5e-8
_PAIR_CELL_S = 1.2e-7
_UNTIMED_CELL_S = 2e-8
#: The legs are looked for only when their estimate fits this share of the bound's time (the rest is for the LP).
_LEGS_SHARE = 0.5
# LP and MIP tolerances: the bound is raised by this share of itself before it is put on the KPIs' grid.
_SLACK_REL = 1e-7


@dataclass(frozen=True, slots=True, kw_only=True)
class CoverageBound:
    """An upper bound on ``risk_covered`` (skip-penalty units, 3 decimals as the KPIs round it) over every
    feasible plan of the day.

    ``method`` names the relaxation that gave it (one of :data:`BOUND_METHODS`), ``elapsed_s`` what it took.
    """

    value: float
    method: str
    elapsed_s: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.value) and self.value >= 0):
            raise ValueError(f"value: must be a finite non-negative number, got {self.value!r}")
        if self.method not in BOUND_METHODS:
            raise ValueError(f"method: must be one of {', '.join(BOUND_METHODS)}, got {self.method!r}")

    def gap(self, covered: float) -> float:
        """The share of the bound a plan covering ``covered`` leaves out (0 when it reaches the bound)."""
        if self.value <= 0:
            return 0.0
        return max(0.0, (self.value - covered) / self.value)


@dataclass(frozen=True, slots=True)
class _Pairs:
    """Which (node, worker) pairs can happen at all, and the least minutes each takes on that worker."""

    ok: np.ndarray  # bool [node, worker]
    cost_in: np.ndarray  # int64 [node, worker]: service + the cheapest leg into the visit
    cost_out: np.ndarray  # int64 [node, worker]: service + the cheapest leg out of the visit
    cap_in: np.ndarray  # int64 [worker]: available seconds less the cheapest return leg
    cap_out: np.ndarray  # int64 [worker]: available seconds less the cheapest departure leg


def _available_s(inst: Instance, w: int) -> int:
    """Seconds of legs and services a working day of ``w`` can hold: the shift less the break, at most the
    working-time limit."""
    worker = inst.worker(w)
    avail = worker.shift.length_s - worker.break_s
    if worker.max_work_s is not None:
        avail = min(avail, worker.max_work_s)
    return avail


def _window_fit(inst: Instance) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The visits' start windows, flattened: (node, start, end) arrays."""
    nodes, lo, hi = [], [], []
    for n in range(inst.n_nodes):
        for s, e in inst.windows[n]:
            nodes.append(n)
            lo.append(s)
            hi.append(e)
    return np.asarray(nodes, dtype=np.int64), np.asarray(lo, dtype=np.int64), np.asarray(hi, dtype=np.int64)


def _cheapest_between(tt: np.ndarray, locs: np.ndarray, visit_of_loc_count: np.ndarray,
                      stop_at: float | None = None) -> tuple[np.ndarray, np.ndarray] | None:
    """For each distinct visit location: the cheapest leg in from another visit's place, and out to one;
    ``None`` when ``stop_at`` passes first.

    A place holding two or more visits can be entered from itself (0 s); otherwise the place itself is left out.
    """
    k = len(locs)
    into = np.full(k, UNREACHABLE, dtype=np.int64)
    out = np.full(k, UNREACHABLE, dtype=np.int64)
    for a in range(0, k, _CHUNK):
        if stop_at is not None and time.monotonic() > stop_at:
            return None
        rows = np.asarray(tt[np.ix_(locs[a:a + _CHUNK], locs)], dtype=np.int64)
        idx = np.arange(rows.shape[0])
        shared = visit_of_loc_count[a:a + _CHUNK] >= 2
        rows[idx, a + idx] = np.where(shared, 0, UNREACHABLE)
        into = np.minimum(into, rows.min(axis=0))
        out[a:a + _CHUNK] = rows.min(axis=1)
    return into, out


def _pairs(inst: Instance, stop_at: float | None) -> _Pairs | None:
    """The feasible pairs and their least costs; ``None`` when ``stop_at`` (``time.monotonic``) passes first."""
    n, m = inst.n_nodes, inst.n_workers
    ok = np.zeros((n, m), dtype=bool)
    cost_in = np.zeros((n, m), dtype=np.int64)
    cost_out = np.zeros((n, m), dtype=np.int64)
    cap_in = np.zeros(m, dtype=np.int64)
    cap_out = np.zeros(m, dtype=np.int64)
    if n == 0 or m == 0:
        return _Pairs(ok, cost_in, cost_out, cap_in, cap_out)
    visit_loc = np.asarray(inst.visit_loc, dtype=np.int64)
    node_visit = inst.node_visit if len(inst.node_visit) == n else np.arange(n)
    locs, loc_of_node = np.unique(visit_loc, return_inverse=True)
    # Distinct visits (not seats) at each place: a second visit there may be reached at no travel.
    per_loc = np.zeros(len(locs), dtype=np.int64)
    np.add.at(per_loc, np.unique(np.stack([loc_of_node, node_visit]), axis=1)[0], 1)
    wn, wlo, whi = _window_fit(inst)
    load = np.array([inst.visit(v).load for v in range(n)], dtype=np.int64)
    allowed = _allowed(inst)
    between: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for w in range(m):
        if stop_at is not None and time.monotonic() > stop_at:
            return None
        worker = inst.worker(w)
        tt = inst.tables[w]
        if id(tt) not in between:
            found = _cheapest_between(tt, locs, per_loc, stop_at)
            if found is None:
                return None
            between[id(tt)] = found
        into_any, out_any = between[id(tt)]
        s0, e0 = int(inst.start_loc[w]), int(inst.end_loc[w])
        leg_from_start = np.asarray(tt[s0, visit_loc], dtype=np.int64)
        leg_to_end = np.asarray(tt[visit_loc, e0], dtype=np.int64)
        service = np.asarray(inst.service_s[:, w], dtype=np.int64)
        avail = _available_s(inst, w)
        # The cheapest legs in and out (from the base or another visit): no triangle inequality is assumed.
        least_in = np.minimum(leg_from_start, into_any[loc_of_node])
        least_out = np.minimum(leg_to_end, out_any[loc_of_node])
        earliest = worker.shift.start_s + least_in
        latest = worker.shift.end_s - service - least_out
        fits = (np.maximum(wlo, earliest[wn]) <= np.minimum(whi, latest[wn])).astype(np.int64)
        in_window = np.bincount(wn, weights=fits, minlength=n) > 0
        good = (allowed[:, w] & in_window & (least_in < UNREACHABLE) & (least_out < UNREACHABLE)
                & (least_in + service + least_out <= avail))
        if worker.max_visits is not None and worker.max_visits < 1:
            good[:] = False
        if worker.capacity is not None:
            good &= load <= worker.capacity
        ok[:, w] = good
        cost_in[:, w] = service + least_in
        cost_out[:, w] = service + least_out
        if good.any():
            cap_in[w] = avail - int(leg_to_end[good].min())
            cap_out[w] = avail - int(leg_from_start[good].min())
    return _Pairs(ok, cost_in, cost_out, cap_in, cap_out)


def _allowed(inst: Instance) -> np.ndarray:
    """bool [node, worker]: the workers qualified for each node."""
    allowed = np.zeros((inst.n_nodes, inst.n_workers), dtype=bool)
    # Nodes of one qualification share one set: one row per distinct set, copied to its nodes.
    groups: dict[frozenset[int], list[int]] = {}
    for v, workers in enumerate(inst.allowed):
        groups.setdefault(workers, []).append(v)
    for workers, nodes in groups.items():
        if workers:
            row = np.zeros(inst.n_workers, dtype=bool)
            row[list(workers)] = True
            allowed[nodes] = row
    return allowed


def _serveable(inst: Instance, pairs: _Pairs) -> np.ndarray:
    """Visits every seat of which some worker may take."""
    node_ok = np.asarray(pairs.ok.any(axis=1), dtype=bool)
    if not (inst.crew and any(inst.crew)):
        return node_ok[:inst.n_visits].copy()
    out = np.zeros(inst.n_visits, dtype=bool)
    for v in range(inst.n_visits):
        nodes = inst.crew[v] if inst.crew[v] else (v,)
        out[v] = all(node_ok[n] for n in nodes)
    return out


def _selection(inst: Instance, pairs: _Pairs) -> float:
    """The knapsack over every worker's minutes and visit slots together (fractional, so a true bound)."""
    weight = np.asarray(inst.weight, dtype=float)
    can = _serveable(inst, pairs)
    if not can.any():
        return 0.0
    cost = np.zeros(inst.n_visits, dtype=float)
    seats = np.ones(inst.n_visits, dtype=np.int64)
    for v in np.flatnonzero(can):
        nodes = inst.crew[v] if inst.crew and inst.crew[v] else (v,)
        seats[v] = len(nodes)
        cost[v] = sum(float(np.minimum(pairs.cost_in[n], pairs.cost_out[n])[pairs.ok[n]].min()) for n in nodes)
    used = [w for w in range(inst.n_workers) if pairs.ok[:, w].any()]
    minutes = float(sum(max(int(pairs.cap_in[w]), int(pairs.cap_out[w]), 0) for w in used))
    limits = [inst.worker(w).max_visits for w in used]
    slots = math.inf if any(x is None for x in limits) else float(sum(x for x in limits if x is not None))
    idx = np.flatnonzero(can)
    # Minutes: fill by skip penalty per second (free visits first), the last one in part.
    ratio = np.where(cost[idx] > 0, weight[idx] / np.maximum(cost[idx], 1e-12), np.inf)
    by_time = 0.0
    left = minutes
    for v in idx[np.argsort(-ratio, kind="stable")]:
        if cost[v] <= left:
            by_time += weight[v]
            left -= cost[v]
        else:
            by_time += weight[v] * left / cost[v]
            break
    # Slots: fill by skip penalty per seat, the last one in part.
    by_slots = 0.0
    left = slots
    for v in idx[np.argsort(-(weight[idx] / seats[idx]), kind="stable")]:
        if seats[v] <= left:
            by_slots += weight[v]
            left -= seats[v]
        else:
            by_slots += weight[v] * left / seats[v]
            break
    return min(by_time, by_slots, float(weight[idx].sum()))


def _assignment(inst: Instance, pairs: _Pairs, *, integral: bool, time_limit_s: float,
                node_limit: int | None) -> float | None:
    """The assignment relaxation (LP, or MIP when ``integral``); ``None`` when nothing is proven in time."""
    can = _serveable(inst, pairs)
    pn, pw = np.nonzero(pairs.ok)
    keep = can[inst.node_visit[pn] if len(inst.node_visit) == inst.n_nodes else pn]
    pn, pw = pn[keep], pw[keep]
    n_x = len(pn)
    vis = np.flatnonzero(can)
    if n_x == 0 or len(vis) == 0:
        return 0.0
    ycol = {int(v): n_x + k for k, v in enumerate(vis)}
    n_var = n_x + len(vis)
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    lo: list[float] = []
    hi: list[float] = []
    r = 0

    def add(rr: np.ndarray, cc: np.ndarray, vv: np.ndarray, low: np.ndarray, high: np.ndarray, count: int) -> None:
        nonlocal r
        rows.append(rr + r)
        cols.append(cc)
        vals.append(vv.astype(float))
        lo.extend(low.tolist())
        hi.extend(high.tolist())
        r += count

    node_visit = inst.node_visit if len(inst.node_visit) == inst.n_nodes else np.arange(inst.n_nodes)
    # Each seat node taken once exactly when its visit is served: sum_w x[n, w] - y[v] = 0.
    nodes = np.unique(pn)
    node_row = {int(nd): k for k, nd in enumerate(nodes)}
    nr = np.array([node_row[int(nd)] for nd in pn], dtype=np.int64)
    ys = np.array([ycol[int(node_visit[nd])] for nd in nodes], dtype=np.int64)
    add(np.concatenate([nr, np.arange(len(nodes))]), np.concatenate([np.arange(n_x), ys]),
        np.concatenate([np.ones(n_x), -np.ones(len(nodes))]), np.zeros(len(nodes)), np.zeros(len(nodes)), len(nodes))
    # A joint visit's seats on different workers: per (visit, worker), at most one of its seats.
    if inst.crew and any(inst.crew):
        multi = np.array([len(inst.crew[int(node_visit[nd])]) > 1 for nd in pn], dtype=bool)
        if multi.any():
            keys = node_visit[pn[multi]] * inst.n_workers + pw[multi]
            uniq, inv = np.unique(keys, return_inverse=True)
            add(inv, np.flatnonzero(multi), np.ones(int(multi.sum())), np.zeros(len(uniq)), np.ones(len(uniq)),
                len(uniq))
    # Per worker: minutes (two ways of counting legs), visit count, load.
    for cost, cap in ((pairs.cost_in, pairs.cap_in), (pairs.cost_out, pairs.cap_out)):
        add(pw, np.arange(n_x), cost[pn, pw], np.full(inst.n_workers, -np.inf),
            cap.astype(float), inst.n_workers)
    limit = np.array([math.inf if inst.worker(w).max_visits is None else inst.worker(w).max_visits
                      for w in range(inst.n_workers)], dtype=float)
    add(pw, np.arange(n_x), np.ones(n_x), np.full(inst.n_workers, -np.inf), limit, inst.n_workers)
    if any(inst.worker(w).capacity is not None for w in range(inst.n_workers)):
        load = np.array([inst.visit(int(nd)).load for nd in pn], dtype=float)
        capacity = np.array([math.inf if inst.worker(w).capacity is None else inst.worker(w).capacity
                             for w in range(inst.n_workers)], dtype=float)
        add(pw, np.arange(n_x), load, np.full(inst.n_workers, -np.inf), capacity, inst.n_workers)
    # Precedences: a follower counts only with its first visit (y[then] <= y[first]).
    for first, then, _, _ in inst.precedences:
        if then in ycol:
            if first in ycol:
                add(np.array([0, 0]), np.array([ycol[then], ycol[first]]), np.array([1.0, -1.0]),
                    np.array([-np.inf]), np.array([0.0]), 1)
            else:
                add(np.array([0]), np.array([ycol[then]]), np.array([1.0]), np.array([-np.inf]), np.array([0.0]), 1)
    weight = np.zeros(n_var)
    weight[n_x:] = np.asarray(inst.weight, dtype=float)[vis]
    return maximise_linear(n_var, np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), np.asarray(lo),
                        np.asarray(hi), weight, integral=integral, time_limit_s=time_limit_s, node_limit=node_limit)


def _rounded_up(value: float, total: float) -> float:
    """``value`` (at most ``total``) raised past the solvers' tolerances, then on the KPIs' grid of thousandths:
    the next one up, unless ``value`` lies less than 0.0004 above one, where any plan's ``risk_covered``
    (rounded to 3 decimals) still rounds to that one at most (so an exact 110 stays 110, not 110.001)."""
    raised = min(value + _SLACK_REL * max(1.0, abs(value)), total)
    return max(0.0, math.ceil(round(raised * 1000 - 0.4, 6)) / 1000)


def selection_bound(inst: Instance) -> CoverageBound:
    """The cheapest bound: a knapsack over all workers' minutes and visit slots, ignoring who may do what."""
    t0 = time.perf_counter()
    pairs = _pairs(inst, None)
    assert pairs is not None
    total = float(np.asarray(inst.weight, dtype=float).sum())
    return CoverageBound(value=_rounded_up(_selection(inst, pairs), total), method="selection",
                         elapsed_s=time.perf_counter() - t0)


def full_bound(inst: Instance) -> CoverageBound:
    """The bound of a day some plan serves in full: the total risk, which the selection bound (between that plan's
    coverage and the total) then equals; no legs, no LP."""
    total = float(np.asarray(inst.weight, dtype=float).sum())
    return CoverageBound(value=_rounded_up(total, total), method="selection")


def coverage_bound(inst: Instance, *, time_limit_s: float = 2.0, deterministic: bool = False,
                   lp_pairs: int = _LP_PAIRS, mip_pairs: int = _MIP_PAIRS) -> CoverageBound:
    """An upper bound on the risk coverage (``Kpis.risk_covered``) any feasible plan of ``inst`` reaches.

    Parameters
    ----------
    inst
        The compiled day.
    time_limit_s
        Wall-clock cap on the whole computation: past it the cheaper bound already at hand is returned.
    deterministic
        Choose the method by the day's size alone and stop the MIP by its node count, so that the same day
        gives the same bound whatever the machine's load (the time limit remains a safety net).
    lp_pairs, mip_pairs
        The most (visit seat, worker) pairs for which the LP, and the MIP, are tried (a benchmark may lift them).

    Returns
    -------
    CoverageBound
        The bound, in skip-penalty units, and the relaxation that gave it (the tightest reached in time).
    """
    t0 = time.perf_counter()
    stop_at = time.monotonic() + time_limit_s
    total = float(np.asarray(inst.weight, dtype=float).sum())

    def done(value: float, method: str) -> CoverageBound:
        return CoverageBound(value=_rounded_up(value, total), method=method, elapsed_s=time.perf_counter() - t0)

    # The legs are looked for only when they can be found in time (in the deterministic mode by the day's size
    # alone), leaving time for the fallback: the selection bound with no travel at all (qualification and
    # service only), still a bound since every leg it leaves out is at least 0.
    n_cells = inst.n_nodes * inst.n_workers
    fallback_s = _UNTIMED_CELL_S * n_cells
    if _legs_estimate_s(inst) > _LEGS_SHARE * time_limit_s:
        return done(_selection(inst, _untimed(inst)), "selection")
    pairs = _pairs(inst, stop_at - fallback_s)
    if pairs is None:
        # Out of time before the legs were known (a safety net in the deterministic mode).
        return done(_selection(inst, _untimed(inst)), "selection")
    best, method = _selection(inst, pairs), "selection"
    n_pairs = int(pairs.ok.sum())
    if n_pairs > lp_pairs or best <= 0:
        return done(best, method)
    left = stop_at - time.monotonic()
    if not deterministic and left < _LP_START_S + _LP_S_PER_PAIR * n_pairs:
        return done(best, method)
    lp = _assignment(inst, pairs, integral=False, time_limit_s=max(left, 0.01), node_limit=None)
    if lp is not None and lp < best:
        best, method = lp, "assignment_lp"
    left = stop_at - time.monotonic()
    if n_pairs <= mip_pairs and (deterministic or left > 0.1 * time_limit_s):
        mip = _assignment(inst, pairs, integral=True, time_limit_s=max(left, 0.01),
                          node_limit=_MIP_NODES if deterministic else None)
        if mip is not None and mip <= best:
            best, method = mip, "assignment_mip"
    return done(best, method)


def _legs_estimate_s(inst: Instance) -> float:
    """What finding every pair's cheapest legs (:func:`_pairs`) takes on a loaded machine, from the day's size alone:
    the travel table among the visits' places once per distinct table, and every (node, worker) pair."""
    places = len(set(np.asarray(inst.visit_loc).tolist()))
    tables = len({id(t) for t in inst.tables})
    return _LEG_CELL_S * tables * places * places + _PAIR_CELL_S * inst.n_nodes * inst.n_workers


def _untimed(inst: Instance) -> _Pairs:
    """Every qualified pair with service time only (no windows, no legs): what the selection bound falls back to."""
    m = inst.n_workers
    ok = _allowed(inst)
    cost = np.asarray(inst.service_s, dtype=np.int64).copy()
    cap = np.array([_available_s(inst, w) for w in range(m)], dtype=np.int64)
    return _Pairs(ok, cost, cost, cap, cap)
