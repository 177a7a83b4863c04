"""A route as a timeline for people: consecutive travel, visit, break and idle segments from departure to return."""

from __future__ import annotations

from dataclasses import dataclass

from .plan import Route

__all__ = ["Segment", "route_segments"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """One stretch of a worker's day (seconds after midnight); ``visit_id`` is set on visits and on the
    travel towards a visit; ``order`` is the visit's place in the route (1, 2, ...)."""

    kind: str  # "travel" | "visit" | "break" | "idle"
    start_s: int
    end_s: int
    visit_id: str = ""
    household_id: str = ""
    order: int = 0


def _travel_before(end: int, dur: int, floor: int, brk: tuple[int, int] | None) -> list[tuple[int, int]]:
    """Travel of ``dur`` seconds arriving at ``end``, laid back in time around the break, never before ``floor``."""
    pieces: list[tuple[int, int]] = []
    left, t = dur, end
    if brk is not None and brk[0] < t and brk[1] > t - left:
        if brk[1] < t:
            pieces.append((brk[1], t))
            left -= t - brk[1]
        t = min(t, brk[0])
    if left > 0:
        pieces.append((max(floor, t - left), t))
    return [(a, b) for a, b in reversed(pieces) if b > a]


def route_segments(route: Route) -> list[Segment]:
    """The worker's day from departure to return as non-overlapping segments in time order.

    Visits and the break are where the plan has them; each leg's travel ends at the arrival it leads
    to (the return leg at the return), laid around the break; every other minute is idle (waiting for
    a time window, or slack).  An empty route has no segments.
    """
    if not route.stops:
        return []
    brk: tuple[int, int] | None = None
    if route.break_start_s is not None:
        end = route.break_end_s if route.break_end_s is not None else route.break_start_s
        if end > route.break_start_s:
            brk = (route.break_start_s, end)
    busy: list[Segment] = []
    floor = route.depart_s
    for order, s in enumerate(route.stops, start=1):
        for a, b in _travel_before(s.arrival_s, s.travel_s, floor, brk):
            busy.append(Segment(kind="travel", start_s=a, end_s=b, visit_id=s.visit_id,
                                household_id=s.household_id, order=order))
        busy.append(Segment(kind="visit", start_s=s.start_s, end_s=s.end_s, visit_id=s.visit_id,
                            household_id=s.household_id, order=order))
        floor = s.end_s
    back_s = max(0, route.travel_s - sum(s.travel_s for s in route.stops))
    for a, b in _travel_before(route.return_s, back_s, floor, brk):
        busy.append(Segment(kind="travel", start_s=a, end_s=b))
    if brk is not None:
        busy.append(Segment(kind="break", start_s=brk[0], end_s=brk[1]))
    busy.sort(key=lambda g: (g.start_s, g.end_s))
    out: list[Segment] = []
    t = route.depart_s
    for g in busy:
        if g.start_s > t:
            out.append(Segment(kind="idle", start_s=t, end_s=g.start_s))
        if g.end_s > g.start_s or g.kind == "visit":
            out.append(g)
        t = max(t, g.end_s)
    if route.return_s > t:
        out.append(Segment(kind="idle", start_s=t, end_s=route.return_s))
    return out
