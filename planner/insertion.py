"""Cheapest-insertion candidates for many visits into many routes, vectorised over every route gap.

Used by the post-search passes (greedy repair of dropped visits, explanations of unassigned ones).
For each gap of each route (start → first stop, …, last stop → end) the index keeps the gap's
locations, the break-free earliest end of the stop before it and the latest start of the stop
after it.  A candidate insertion passes the same necessary check the scheduler would make without
lunch (time windows, shift end), so only a handful of the cheapest ones need a full re-timing
(:func:`planner.schedule.schedule_route`).  One visit is checked against all gaps of all routes in a
few NumPy operations per travel class instead of a Python loop per worker and position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .instance import Instance
from .schedule import first_start

__all__ = ["InsertionIndex", "route_bounds"]

_IMPOSSIBLE = 10**9


def _last_start(windows: tuple[tuple[int, int], ...], latest: int) -> int | None:
    return max((min(e, latest) for s, e in windows if s <= latest), default=None)


@dataclass(slots=True)
class RouteBounds:
    """Break-free earliest ends and latest starts of a route's stops."""

    locs: list[int]
    earliest_end: list[int]
    latest_start: list[float]


def route_bounds(inst: Instance, w: int, order: tuple[int, ...]) -> RouteBounds:
    """Earliest end and latest start of every stop of ``order`` for worker ``w``, ignoring lunch."""
    tt = inst.travel_table(w)
    worker = inst.worker(w)
    locs = [int(inst.visit_loc[v]) for v in order]
    ends: list[int] = []
    t, prev = worker.shift.start_s, int(inst.start_loc[w])
    for v, loc in zip(order, locs, strict=True):
        s = first_start(inst.windows[v], t + int(tt[prev, loc]))
        t = (s if s is not None else _IMPOSSIBLE) + int(inst.service_s[v, w])
        ends.append(t)
        prev = loc
    latest: list[float] = [0.0] * len(order)
    bound, nxt = float(worker.shift.end_s), int(inst.end_loc[w])
    for k in range(len(order) - 1, -1, -1):
        v = order[k]
        ls = _last_start(inst.windows[v], int(bound - int(tt[locs[k], nxt]) - int(inst.service_s[v, w])))
        latest[k] = float("-inf") if ls is None else float(ls)
        bound, nxt = latest[k], locs[k]
    return RouteBounds(locs=locs, earliest_end=ends, latest_start=latest)


@dataclass(slots=True)
class _Gaps:
    """All gaps of the routes of one travel class, as parallel arrays."""

    worker: np.ndarray
    pos: np.ndarray
    prev: np.ndarray
    next: np.ndarray
    prev_end: np.ndarray  # float: earliest end of the stop before (shift start for the first gap)
    limit: np.ndarray  # float: latest start of the stop after (shift end for the last gap)


class InsertionIndex:
    """Insertion candidates of any visit into the current ``routes`` (kept up to date by :meth:`update`)."""

    def __init__(self, inst: Instance, routes: list[tuple[int, ...]]) -> None:
        self.inst = inst
        self.routes = [tuple(r) for r in routes]
        n_v, n_w = inst.n_nodes, inst.n_workers  # a joint visit's seats are nodes of their own
        cls_of: dict[int, int] = {}
        self._tables: list[np.ndarray] = []
        self._worker_cls = np.zeros(n_w, dtype=np.int64)
        for w in range(n_w):
            key = id(inst.tables[w])
            if key not in cls_of:
                cls_of[key] = len(self._tables)
                self._tables.append(inst.tables[w])
            self._worker_cls[w] = cls_of[key]
        self._allowed = np.zeros((n_v, n_w), dtype=bool)
        for v, ws in enumerate(inst.allowed):
            if ws:
                self._allowed[v, sorted(ws)] = True
        big = np.iinfo(np.int64).max // 4
        self._max_visits = np.array([big if (m := inst.worker(w).max_visits) is None else m for w in range(n_w)],
                                    dtype=np.int64)
        self._capacity = np.array([big if (c := inst.worker(w).capacity) is None else c for w in range(n_w)],
                                  dtype=np.int64)
        self._visit_load = np.array([inst.visit(v).load for v in range(n_v)], dtype=np.int64)
        self._count = np.array([len(r) for r in self.routes], dtype=np.int64)
        self._load = np.array([int(self._visit_load[list(r)].sum()) if r else 0 for r in self.routes], dtype=np.int64)
        self._class_workers = [np.flatnonzero(self._worker_cls == c).tolist() for c in range(len(self._tables))]
        self._per_worker: list[tuple[np.ndarray, ...]] = [self._worker_gaps(w) for w in range(n_w)]
        self._gaps: list[_Gaps | None] = [None] * len(self._tables)

    def _worker_gaps(self, w: int) -> tuple[np.ndarray, ...]:
        inst, order = self.inst, self.routes[w]
        b = route_bounds(inst, w, order)
        shift = inst.worker(w).shift
        prev = np.array([int(inst.start_loc[w]), *b.locs], dtype=np.int64)
        nxt = np.array([*b.locs, int(inst.end_loc[w])], dtype=np.int64)
        prev_end = np.array([shift.start_s, *b.earliest_end], dtype=np.float64)
        limit = np.array([*b.latest_start, shift.end_s], dtype=np.float64)
        return np.full(len(prev), w, dtype=np.int64), np.arange(len(prev), dtype=np.int64), prev, nxt, prev_end, limit

    def update(self, w: int, order: tuple[int, ...]) -> None:
        """Worker ``w``'s route is now ``order``."""
        self.routes[w] = tuple(order)
        self._count[w] = len(order)
        self._load[w] = int(self._visit_load[list(order)].sum()) if order else 0
        self._per_worker[w] = self._worker_gaps(w)
        self._gaps[int(self._worker_cls[w])] = None

    def _class_gaps(self, c: int) -> _Gaps:
        g = self._gaps[c]
        if g is None:
            parts = [self._per_worker[w] for w in self._class_workers[c]]
            g = self._gaps[c] = _Gaps(*(np.concatenate([p[i] for p in parts]) for i in range(6)))
        return g

    def fits_limits(self, v: int) -> np.ndarray:
        """Per worker: adding ``v`` keeps the worker within its visit and load limits."""
        return (self._count + 1 <= self._max_visits) & (self._load + self._visit_load[v] <= self._capacity)

    def candidates(self, v: int, *, relax: bool = False, limit: int | None = None,
                   per_worker: int | None = None) -> list[tuple[int, int, int]]:
        """``(detour seconds, worker, position)`` of insertions of ``v``, cheapest first.

        Only qualified workers within their visit and load limits.  Unless ``relax``, only gaps
        that pass the break-free time check (windows, shift end).  ``per_worker`` keeps at most
        that many of each worker's cheapest; ``limit`` cuts the list.
        """
        inst = self.inst
        ok_worker = self._allowed[v] & self.fits_limits(v)
        if not ok_worker.any():
            return []
        vl = int(inst.visit_loc[v])
        wins = inst.windows[v]
        det_parts, w_parts, pos_parts = [], [], []
        for c in range(len(self._tables)):
            g = self._class_gaps(c)
            idx = np.flatnonzero(ok_worker[g.worker])
            if idx.size == 0:
                continue
            tt = self._tables[c]
            p, n = g.prev[idx], g.next[idx]
            to_v, from_v = tt[p, vl], tt[vl, n]
            detour = to_v + from_v - tt[p, n]
            if not relax:
                earliest = g.prev_end[idx] + to_v
                start = np.full(idx.size, np.inf)
                for ws, we in reversed(wins):
                    start = np.where(we >= earliest, np.maximum(ws, earliest), start)
                arrive_next = start + inst.service_s[v, g.worker[idx]] + from_v
                keep = np.isfinite(start) & (arrive_next <= g.limit[idx])
                idx, detour = idx[keep], detour[keep]
            det_parts.append(detour)
            w_parts.append(g.worker[idx])
            pos_parts.append(g.pos[idx])
        if not det_parts:
            return []
        det, wk, pos = np.concatenate(det_parts), np.concatenate(w_parts), np.concatenate(pos_parts)
        order = np.lexsort((pos, wk, det))
        out: list[tuple[int, int, int]] = []
        taken: dict[int, int] = {}
        for i in order.tolist():
            w = int(wk[i])
            if per_worker is not None:
                if taken.get(w, 0) >= per_worker:
                    continue
                taken[w] = taken.get(w, 0) + 1
            out.append((int(det[i]), w, int(pos[i])))
            if limit is not None and len(out) >= limit:
                break
        return out
