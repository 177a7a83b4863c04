"""Earliest feasible timing of one worker's visit sequence, including where lunch fits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


def _pass(inst: Instance, w: int, order: Sequence[int], gap: int | None, relax: bool) -> Timing:
    worker = inst.worker(w)
    shift = worker.shift
    locs = [int(inst.visit_loc[v]) for v in order] + [int(inst.end_loc[w])]
    prev = int(inst.start_loc[w])
    t = shift.start_s
    arrivals: list[int] = []
    starts: list[int] = []
    ends: list[int] = []
    legs: list[tuple[int, int]] = []
    brk: int | None = None
    bw = worker.break_window
    n = len(order)
    ret = t
    for k, loc in enumerate(locs):
        secs, metres = inst.travel(w, prev, loc)
        if secs >= UNREACHABLE:
            return Timing(failure="unreachable")
        legs.append((secs, metres))
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
        v = order[k]
        start = next((max(s, earliest) for s, e in inst.windows[v] if e >= earliest), None)
        if start is None:
            return Timing(failure="window")
        arrivals.append(min(arrival, start))
        starts.append(start)
        t = start + int(inst.service_s[v, w])
        ends.append(t)
        prev = loc
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


def schedule_route(inst: Instance, w: int, order: Sequence[int], *, relax: bool = False) -> Timing:
    """Earliest-start timing of ``order`` for worker ``w``, trying every place for the break.

    With ``relax=True`` the shift end and working-time limit may be exceeded (reported as
    ``overtime_s``); windows, travel and the break window still hold.  Capacity in visits is
    checked by the caller.
    """
    worker = inst.worker(w)
    if not order:
        return Timing(depart_s=worker.shift.start_s, return_s=worker.shift.start_s)
    gaps: list[int | None] = list(range(len(order) + 1)) if worker.break_s > 0 else [None]
    best: Timing | None = None
    failure = ""
    rank = {"unreachable": 4, "window": 3, "break": 2, "max_work": 1, "shift_end": 0, "": 99}
    for gap in gaps:
        timing = _pass(inst, w, order, gap, relax)
        if timing.ok:
            if best is None or (timing.overtime_s, timing.return_s) < (best.overtime_s, best.return_s):
                best = timing
        elif rank.get(timing.failure, 5) < rank.get(failure, 5):
            failure = timing.failure
    return best if best is not None else Timing(failure=failure)
