"""Earliest feasible timing of one worker's visit sequence, including where lunch fits."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from .domain import Worker
from .instance import Instance
from .travel.base import UNREACHABLE

__all__ = ["Timing", "schedule_route"]


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


def first_start(windows: Sequence[tuple[int, int]], earliest: int) -> int | None:
    """The earliest service start at or after ``earliest`` within the (sorted) windows, if any."""
    return next((max(s, earliest) for s, e in windows if e >= earliest), None)


@dataclass(frozen=True, slots=True)
class _Route:
    """What every break placement of one route shares: legs, windows and service times."""

    order: Sequence[int]
    legs: list[tuple[int, int]]  # into each stop, then back to the end
    windows: list[tuple[tuple[int, int], ...]]
    service: list[int]


def _pass(inst: Instance, w: int, r: _Route, gap: int | None, relax: bool) -> Timing:
    worker = inst.worker(w)
    shift = worker.shift
    t = shift.start_s
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
            b = max(bw.start_s, t)
            if b > bw.end_s - worker.break_s:
                return Timing(failure="break")
            brk = b
            earliest = max(t + secs + worker.break_s, b + worker.break_s)
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
    legs = r.legs
    depart = shift.start_s
    if n:
        first_leg = legs[0][0]
        if gap == 0 and brk is not None:
            depart = max(shift.start_s, min(brk, starts[0] - first_leg - worker.break_s))
            reach = depart + first_leg
            arrivals[0] = min(starts[0], reach if reach <= brk else reach + worker.break_s)
        else:
            depart = max(shift.start_s, starts[0] - first_leg)
            arrivals[0] = min(starts[0], depart + first_leg)
    work = ret - depart - (worker.break_s if brk is not None else 0)
    overtime = max(0, ret - shift.end_s)
    if worker.max_work_s is not None:
        overtime = max(overtime, work - worker.max_work_s)
    timing = Timing(
        depart_s=depart, return_s=ret, arrivals=tuple(arrivals), starts=tuple(starts),
        ends=tuple(ends), legs=tuple(legs), break_start_s=brk, overtime_s=overtime,
    )
    if overtime and not relax:
        return Timing(failure="shift_end" if ret > shift.end_s else "max_work")
    return timing


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


def schedule_route(inst: Instance, w: int, order: Sequence[int], *, relax: bool = False) -> Timing:
    """Earliest-start timing of ``order`` for worker ``w``, trying every place for the break.

    With ``relax=True`` the shift end and working-time limit may be exceeded (reported as
    ``overtime_s``); windows, travel and the break window still hold.  Capacity in visits is
    checked by the caller.
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
    route = _Route(order=order, legs=legs, windows=[inst.windows[v] for v in order],
                   service=[int(inst.service_s[v, w]) for v in order])
    gaps: list[int | None] = list(range(len(order) + 1)) if worker.break_s > 0 else [None]
    best: Timing | None = None
    failure = ""
    skip = _hopeless_gaps(worker, route) if gaps != [None] else {}
    for gap in gaps:
        if gap in skip:  # what the pass would return, known from the break-free prefix
            if _RANK[skip[gap]] < _RANK.get(failure, 5):
                failure = skip[gap]
            continue
        timing = _pass(inst, w, route, gap, relax)
        if timing.ok:
            if best is None or (timing.overtime_s, timing.return_s) < (best.overtime_s, best.return_s):
                best = timing
        elif _RANK.get(timing.failure, 5) < _RANK.get(failure, 5):
            failure = timing.failure
    return best if best is not None else Timing(failure=failure)
