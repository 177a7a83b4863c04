"""Timing of one worker's visit sequence: earliest return, least working time, and where lunch fits.

Working time (the one definition every solver model, this scheduler and the evaluator share) runs
from the departure to the return to the end location, minus the lunch break; waiting between visits
counts.  A worker may leave later than the shift start, never earlier, and is back by the shift end.
Every working day with visits holds the break, inside its window and inside the day.  Among the
timings of a sequence this module picks the earliest return and, for that return, the latest
departure, which is the least working time (with several windows per visit it also tries the later
windows when the worker has a working-time limit).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .domain import Worker
from .instance import Instance
from .travel.base import UNREACHABLE

__all__ = ["Timing", "feasible_part", "first_start", "last_start", "schedule_route", "working_time"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """Times of a route (seconds after midnight); ``failure`` is set when it is infeasible.

    ``overtime_s`` is how far the route overruns the shift end or the working-time limit
    (only non-zero when those limits were relaxed).
    """

    depart_s: int = 0
    return_s: int = 0
    arrivals: tuple[int, ...] = ()
    starts: tuple[int, ...] = ()
    ends: tuple[int, ...] = ()
    legs: tuple[tuple[int, int], ...] = ()  # (s, m) into each stop, then back to the end
    break_start_s: int | None = None
    overtime_s: int = 0
    failure: str = ""

    @property
    def ok(self) -> bool:
        return not self.failure


def working_time(worker: Worker, depart_s: int, return_s: int, break_s: int | None) -> int:
    """Seconds of work from ``depart_s`` to ``return_s``, less the break when one is taken (``break_s``
    is the break's length, ``None`` without a break)."""
    return return_s - depart_s - (break_s or 0)


def first_start(windows: Sequence[tuple[int, int]], earliest: int) -> int | None:
    """The earliest service start at or after ``earliest`` within the (sorted) windows, if any."""
    return next((max(s, earliest) for s, e in windows if e >= earliest), None)


def last_start(windows: Sequence[tuple[int, int]], latest: int) -> int | None:
    """The latest service start at or before ``latest`` within the (sorted) windows, if any."""
    return max((min(e, latest) for s, e in windows if s <= latest), default=None)


@dataclass(frozen=True, slots=True)
class _Route:
    """What every break placement of one route shares: legs, windows and service times."""

    order: Sequence[int]
    legs: list[tuple[int, int]]  # into each stop, then back to the end
    windows: list[tuple[tuple[int, int], ...]]
    service: list[int]


def _forward(worker: Worker, r: _Route, gap: int | None, depart: int) -> Timing:
    """Earliest timing from ``depart``, the break in ``gap`` (before stop ``gap``; ``len(order)`` = before
    the return).  Limits are not checked here."""
    t = depart
    arrivals: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    brk: int | None = None
    bw = worker.break_window
    n = len(r.order)
    ret = t
    for k in range(n + 1):
        secs = r.legs[k][0]
        if gap == k and bw is not None:
            b = max(bw.start_s, t)  # taken on the way, or at the door while waiting
            if b > bw.end_s - worker.break_s:
                return Timing(failure="break")
            brk = b
            earliest = max(t + secs, b) + worker.break_s
            arrival = t + secs if b >= t + secs else earliest
        else:
            earliest = t + secs
            arrival = earliest
        if k == n:
            ret = earliest
            break
        start = first_start(r.windows[k], earliest)
        if start is None:
            return Timing(failure="window")
        arrivals.append(min(arrival, start))
        starts.append(start)
        t = start + r.service[k]
        ends.append(t)
    return Timing(depart_s=depart, return_s=ret, arrivals=tuple(arrivals), starts=tuple(starts), ends=tuple(ends),
                  legs=tuple(r.legs), break_start_s=brk)


def _latest_depart(worker: Worker, r: _Route, gap: int | None, ret: int) -> int | None:
    """The latest departure that still returns by ``ret`` with the break in ``gap`` (``None`` if none)."""
    bw = worker.break_window
    bound = ret  # the latest moment to be at the next point (a service start, or the return)
    for k in range(len(r.order), -1, -1):
        secs = r.legs[k][0]
        if gap == k and bw is not None:  # leave, take the break, then travel: the latest way through the gap
            leave = min(bw.end_s - worker.break_s, bound - secs - worker.break_s)
        else:
            leave = bound - secs
        if k == 0:
            return leave
        latest = last_start(r.windows[k - 1], leave - r.service[k - 1])
        if latest is None:
            return None
        bound = latest
    return None  # pragma: no cover - the loop always returns at k == 0


def _least_work(worker: Worker, r: _Route, gap: int | None, first: Timing) -> Timing:
    """``first`` (the earliest timing) re-timed from the latest departure that keeps its return."""
    latest = _latest_depart(worker, r, gap, first.return_s)
    if latest is None or latest <= first.depart_s:
        return first
    late = _forward(worker, r, gap, min(latest, worker.shift.end_s))
    return late if late.ok and late.return_s == first.return_s else first


def _work(worker: Worker, t: Timing) -> int:
    return working_time(worker, t.depart_s, t.return_s, worker.break_s if t.break_start_s is not None else None)


def _later_windows(worker: Worker, r: _Route, gap: int | None, best: Timing, rounds: int) -> Timing:
    """With several windows per visit a later departure can skip a window and wait less: try each later
    piece (departures that move some visit to a later window) and keep the least working time."""
    current = best
    for _ in range(rounds):
        nxt = _forward(worker, r, gap, current.depart_s + 1)
        if not nxt.ok or nxt.return_s > worker.shift.end_s:
            break
        if nxt.return_s - nxt.depart_s == current.return_s - current.depart_s:
            break  # no window skipped: the route is tight from here on, no less work to find
        current = _least_work(worker, r, gap, nxt)
        if _work(worker, current) < _work(worker, best):
            best = current
    return best


def _limits(worker: Worker, t: Timing, relax: bool) -> Timing:
    work = _work(worker, t)
    overtime = max(0, t.return_s - worker.shift.end_s)
    if worker.max_work_s is not None:
        overtime = max(overtime, work - worker.max_work_s)
    if overtime and not relax:
        return Timing(failure="shift_end" if t.return_s > worker.shift.end_s else "max_work")
    return Timing(depart_s=t.depart_s, return_s=t.return_s, arrivals=t.arrivals, starts=t.starts, ends=t.ends,
                  legs=t.legs, break_start_s=t.break_start_s, overtime_s=overtime)


_RANK = {"unreachable": 4, "window": 3, "break": 2, "max_work": 1, "shift_end": 0, "": 99}


def _hopeless_gaps(worker: Worker, r: _Route) -> dict[int | None, str]:
    """Break gaps whose pass fails for sure: after a stop whose window the break-free prefix already
    misses ("window"), or where the break-free prefix ends after the break's latest start ("break")."""
    bw = worker.break_window
    if bw is None:
        return {}
    latest_break = bw.end_s - worker.break_s
    out: dict[int | None, str] = {}
    t = worker.shift.start_s
    for k in range(len(r.order) + 1):
        if t > latest_break:
            out[k] = "break"
        if k == len(r.order):
            break
        earliest = t + r.legs[k][0]
        start = first_start(r.windows[k], earliest)
        if start is None:
            out.update({j: "window" for j in range(k + 1, len(r.order) + 1)})
            break
        t = start + r.service[k]
    return out


def _clipped(windows: tuple[tuple[int, int], ...], low: int, high: int) -> tuple[tuple[int, int], ...]:
    return tuple((max(s, low), min(e, high)) for s, e in windows if max(s, low) <= min(e, high))


def schedule_route(inst: Instance, w: int, order: Sequence[int], *, relax: bool = False,
                   clip: Mapping[int, tuple[int, int]] | None = None, earliest: bool = False) -> Timing:
    """Timing of ``order`` for worker ``w``: the earliest return, then the least working time for it,
    trying every place for the break.

    Service starts as early as the departure allows; the departure is the latest that keeps the
    return (no waiting before the first visit).  With ``relax=True`` the shift end and working-time
    limit may be exceeded (reported as ``overtime_s``); windows, travel and the break window still
    hold.  Capacity in visits is checked by the caller.

    ``clip`` narrows some stops' start windows (``node -> (low, high)``): how joint visits and precedences
    bound a route by its partners' times (:mod:`planner.joint`).  ``earliest`` keeps every service start as
    early as it can be (no later departure re-times the route), unless a working-time limit needs one.
    """
    worker = inst.worker(w)
    if not order:
        return Timing(depart_s=worker.shift.start_s, return_s=worker.shift.start_s)
    tt = inst.travel_table(w)
    dist = inst.matrices[worker.travel_mode.value].distance_m
    locs = [int(inst.start_loc[w]), *(int(inst.visit_loc[v]) for v in order), int(inst.end_loc[w])]
    legs: list[tuple[int, int]] = []
    for a, b in itertools.pairwise(locs):
        secs = int(tt[a, b])
        if secs >= UNREACHABLE:
            return Timing(failure="unreachable")
        legs.append((secs, int(dist[a, b])))
    wins = [inst.windows[v] for v in order]
    if clip:
        wins = [_clipped(ws, *clip[v]) if v in clip else ws for v, ws in zip(order, wins, strict=True)]
    route = _Route(order=order, legs=legs, windows=wins,
                   service=[int(inst.service_s[v, w]) for v in order])
    gaps: list[int | None] = list(range(len(order) + 1)) if worker.break_s > 0 else [None]
    skip = _hopeless_gaps(worker, route) if gaps != [None] else {}
    limited = worker.max_work_s is not None
    rounds = sum(len(ws) - 1 for ws in route.windows) if limited else 0
    found: list[tuple[tuple[int, int, int], int | None, Timing]] = []
    failure = ""
    for gap in gaps:
        if gap in skip:  # what the pass would return, known from the break-free prefix
            if _RANK[skip[gap]] < _RANK.get(failure, 5):
                failure = skip[gap]
            continue
        first = _forward(worker, route, gap, worker.shift.start_s)
        if not first.ok:
            if _RANK.get(first.failure, 5) < _RANK.get(failure, 5):
                failure = first.failure
            continue
        # Without a limit the departure only sets the working time: settled below, for the earliest returns.
        timing = _least_work(worker, route, gap, first) if limited else first
        if rounds:
            timing = _later_windows(worker, route, gap, timing, rounds)
        checked = _limits(worker, timing, relax)
        if not checked.ok:
            if _RANK.get(checked.failure, 5) < _RANK.get(failure, 5):
                failure = checked.failure
            continue
        found.append(((checked.overtime_s, _work(worker, checked) if limited else 0, checked.return_s), gap, checked))
    if not found:
        return Timing(failure=failure)
    due = _due_of(inst, order)
    if limited:
        best = min(found, key=lambda f: f[0])[2]
        return best if not due or earliest else _no_later(inst, due, best, found)
    top = min(key for key, _, _ in found)
    if earliest:
        return next(t for key, _, t in found if key == top)
    tied = [_limits(worker, _least_work(worker, route, gap, t), relax=True) for key, gap, t in found if key == top]
    best = min(tied, key=lambda t: _work(worker, t))
    return best if not due else _no_later(inst, due, best, found)


def _due_of(inst: Instance, order: Sequence[int]) -> list[tuple[int, int, float]]:
    """``(position, due_s, late_cost)`` of the stops of ``order`` with a soft due time."""
    if not inst.has_due:
        return []
    out = []
    for k, n in enumerate(order):
        v = n if n < inst.n_visits else int(inst.node_visit[n])
        if inst.due_s[v] >= 0:
            out.append((k, int(inst.due_s[v]), float(inst.late_cost[v])))
    return out


def _lateness(due: list[tuple[int, int, float]], t: Timing) -> float:
    return sum(cost * max(0, t.starts[k] - d) for k, d, cost in due)


def _no_later(inst: Instance, due: list[tuple[int, int, float]], best: Timing,
              found: list[tuple[tuple[int, int, int], int | None, Timing]]) -> Timing:
    """``best``, unless leaving later made a visit later past its due time: then the earliest timing with the
    same break place (the departure must not cost lateness the solver did not count)."""
    late = _lateness(due, best)
    if not late:
        return best
    early = min((t for _, _, t in found), key=lambda t: (_lateness(due, t), t.overtime_s))
    return early if _lateness(due, early) < late else best


def feasible_part(inst: Instance, w: int, order: Sequence[int]) -> list[int]:
    """The visits of ``order`` worker ``w`` can make, in order: each kept if the route so far still times
    out within every rule (qualification, visit and load limits included)."""
    worker = inst.worker(w)
    kept: list[int] = []
    load = 0
    for v in order:
        if w not in inst.allowed[v]:
            continue
        if worker.max_visits is not None and len(kept) >= worker.max_visits:
            continue
        if worker.capacity is not None and load + inst.visit(v).load > worker.capacity:
            continue
        if schedule_route(inst, w, (*kept, v)).ok:
            kept.append(v)
            load += inst.visit(v).load
    return kept
