"""Mid-day re-planning: freeze what has happened, re-solve the rest of the day, merge the two.

Pure functions of planner data (no web or database code):

* :func:`freeze` turns the rest of the day into a :class:`Problem` of its own: every visit that
  happened (or is under way, or that a worker has set off for) leaves it; every worker starts where
  they are, when they are free, with what is left of their visit, load and working-time limits and
  their lunch break if not yet taken; off-sick workers leave.
* :func:`replan` solves that problem with ``previous=`` the current plan (its routes seed the search
  and moving a visit costs extra, so unchanged circumstances keep every assignment that still fits),
* :func:`merge` puts the frozen stops, exactly as they happened, in front of each worker's new route
  and closes routes that end with them; the result is checked against the day as it now stands.

What happened comes from the outcomes reported and, unless ``as_planned=False``, from the plan
itself: a stop the plan had the worker set off for before ``now_s`` (before a sickness or delay was
reported, for that worker) counts as happened as planned.  :func:`changes` counts how much the new
plan differs from the old for the visits still open.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .domain import Location, Precedence, Problem, TimeWindow, Visit, Worker
from .evaluate import Violation, evaluate_instance
from .instance import Instance, compile_instance
from .params import SolveParams
from .plan import Plan, Reason, Route, Stop, Unassigned
from .travel.base import TravelTimeProvider

__all__ = ["Replanned", "changes", "freeze", "merge", "replan"]

#: A worker with less time than this left in the shift (or in the working-time limit) gets no new visits.
MIN_LEFT_S = 15 * 60


@dataclass(frozen=True, slots=True, kw_only=True)
class Replanned:
    """The merged plan of the whole day, what the re-plan changed, and its check.

    ``frozen`` is the rest of the day as solved; ``day`` the whole day as it now stands (a worker
    sent home before lunch, or starting after the lunch window, owes no break): the problem the
    plan is checked against, with ``violations`` the result (none unless what was reported breaks
    a rule by itself, such as a visit reported started earlier than travel allows).
    """

    plan: Plan
    stopped_early: bool
    frozen: Problem
    day: Problem
    changes: dict[str, int] = field(default_factory=dict)
    violations: tuple[Violation, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Past:
    """One worker's day up to the re-plan."""

    stops: tuple[Stop, ...] = ()  # frozen, in route order, timed as they happened
    depart_s: int | None = None  # the working day began then (None: not yet)
    brk: tuple[int, int] | None = None  # the break taken, or being taken
    free_s: int = 0  # free for new work from then, at ``at``
    at: Location | None = None  # None: the worker's start
    home_s: int | None = None  # set off home as planned then (back at the end location by ``free_s``)
    gone_s: int | None = None  # off sick since then
    owes_break: bool = True  # the day as it now stands keeps the worker's break
    rest: Worker | None = None  # the worker in the rest of the day (None: no new visits)


@dataclass(frozen=True, slots=True, kw_only=True)
class _State:
    pasts: dict[str, _Past]
    reported: frozenset[str]  # visits done or under way by outcome
    frozen: frozenset[str]  # visits in some worker's frozen stops
    rest: Problem
    day: Problem
    blocked: tuple[Unassigned, ...]  # open visits only an absent worker may make
    outside: tuple[Unassigned, ...]  # visits reported done or under way that no route holds


def _times(values: Collection[str] | Mapping[str, int | None] | None) -> dict[str, int | None]:
    if values is None:
        return {}
    if isinstance(values, Mapping):
        return dict(values)
    return dict.fromkeys(values)


def _service_s(problem: Problem, worker: Worker, visit_id: str, fallback: int, seat: int | None = None) -> int:
    visit = problem.visits_by_id().get(visit_id)
    if visit is None:
        return fallback
    if visit.crew and seat is not None and seat < len(visit.crew) and visit.crew[seat].duration_s is not None:
        return int(visit.crew[seat].duration_s)  # type: ignore[arg-type]
    return visit.duration_s or problem.service_times.seconds(visit.kind.value, worker.role.value)


def _assess(
    problem: Problem, plan: Plan, *, now_s: int, done: Collection[str],
    in_progress: Collection[str] | Mapping[str, int | None], off_sick: Collection[str] | Mapping[str, int | None],
    delayed_s: Mapping[str, int] | None, delayed_at_s: Mapping[str, int] | None, as_planned: bool,
) -> _State:
    started_at = _times(in_progress)
    sick = _times(off_sick)
    delays = dict(delayed_s or {})
    held = dict(delayed_at_s or {})
    reported = frozenset(done) | frozenset(started_at)
    households = problem.households_by_id()
    pasts: dict[str, _Past] = {}
    for w in problem.workers:
        r = plan.route_of(w.id)
        horizon = now_s  # the plan counts as carried out before this moment
        if w.id in sick:
            since = sick[w.id]
            horizon = min(now_s, since if since is not None else now_s)
        if w.id in held:
            horizon = min(horizon, held[w.id])
        stops: list[Stop] = []
        stopped = w.id in sick or w.id in held  # a worker held up or sent home sets off for nothing more
        for s in r.stops if r is not None else ():
            # Serving, or on the way there; a joint visit only once it has begun (a worker waiting at the door
            # for a partner who falls sick can still be sent elsewhere, and both halves move together).
            begun = s.start_s if stopped or s.crew is not None else s.arrival_s - s.travel_s
            if not (s.visit_id in reported or (as_planned and begun < horizon)):
                continue
            if s.visit_id in started_at:
                at_s = started_at[s.visit_id]
                if at_s is None:  # still under way: at least until now
                    s = replace(s, end_s=max(s.end_s, now_s))
                else:
                    end = at_s + _service_s(problem, w, s.visit_id, s.end_s - s.start_s,
                                            s.crew.seat if s.crew is not None else None)
                    s = replace(s, arrival_s=min(s.arrival_s, at_s), start_s=at_s, end_s=end)
            stops.append(s)
        started = bool(stops) or (as_planned and r is not None and bool(r.stops) and r.depart_s < horizon)
        depart = r.depart_s if started and r is not None else None
        brk: tuple[int, int] | None = None
        planned: tuple[int, int] | None = None
        if r is not None and r.break_start_s is not None and w.break_s:
            b = r.break_start_s
            planned = (b, r.break_end_s if r.break_end_s is not None else b + w.break_s)
        if started and planned is not None:
            b, e = planned
            clash = any(s.start_s < e and b < s.end_s for s in stops)  # a visit reported at lunch time
            if (b < horizon or any(b < s.start_s for s in stops)) and not clash:
                brk = planned
        delay = max(0, int(delays.get(w.id, 0)))
        free = max(now_s + delay, w.shift.start_s, *(s.end_s for s in stops), *(brk[1:] if brk else ()))
        bw = w.break_window
        if started and brk is None and delay and bw is not None and max(bw.start_s, free) + w.break_s > bw.end_s:
            b = max(bw.start_s, now_s, *(s.end_s for s in stops))
            if b + w.break_s <= bw.end_s:  # held up over lunch: lunch is taken meanwhile
                brk = (b, b + w.break_s)
                free = max(free, brk[1])
        at = households[max(stops, key=lambda s: s.end_s).household_id].location if stops else None
        home: int | None = None
        if as_planned and r is not None and stops and len(stops) == len(r.stops):
            last = stops[-1].end_s
            final = planned if planned is not None and planned[0] >= last and brk is None else None
            leave = max(last, final[1] if final else 0, brk[1] if brk and brk[0] >= last else 0)
            if leave < horizon:  # the plan had the worker on the way home already (lunch on the way, if so)
                home, at, free = leave, w.end, max(free, r.return_s)
                brk = brk or final
        gone = horizon if w.id in sick else None
        owes = w.break_s > 0 and (brk is not None or gone is None)
        rest: Worker | None = None
        if gone is None:
            rest, owes = _rest_worker(w, started=started, depart=depart, brk=brk, free=free, at=at,
                                      frozen=stops, problem=problem, owes=owes,
                                      has_open=_ahead(r, stops, free))
        pasts[w.id] = _Past(stops=tuple(stops), depart_s=depart, brk=brk, free_s=free, at=at, home_s=home,
                            gone_s=gone, owes_break=owes, rest=rest)
    frozen = frozenset(s.visit_id for p in pasts.values() for s in p.stops)
    return _problems(problem, plan, pasts, reported, frozen)


def _ahead(route: Route | None, frozen: list[Stop], free: int) -> bool:
    """The plan still has the worker make a visit after ``free``."""
    done = {s.visit_id for s in frozen}
    return route is not None and any(s.visit_id not in done and s.start_s >= free for s in route.stops)


def _rest_worker(
    w: Worker, *, started: bool, depart: int | None, brk: tuple[int, int] | None, free: int, at: Location | None,
    frozen: list[Stop], problem: Problem, owes: bool, has_open: bool,
) -> tuple[Worker | None, bool]:
    """The worker in the rest of the day, or ``None``, and whether the day as it now stands keeps the break."""
    window, break_s = w.break_window, w.break_s
    if brk is not None:
        window, break_s = None, 0
    elif window is not None:
        start = max(window.start_s, free)
        if window.end_s - start >= max(break_s, 1):
            window = TimeWindow(start_s=start, end_s=window.end_s)
        else:  # too late for lunch: owed still by a worker whose day began, not by one who starts after it
            window, break_s = None, 0
            owes = owes and started
    end, max_work = w.shift.end_s, w.max_work_s
    if started and depart is not None and max_work is not None:
        # Already at work: the time left under the limit becomes the latest return, so that waiting
        # before the first new visit counts, as it does for the whole day.
        worked = free - depart - (brk[1] - brk[0] if brk else 0)
        end, max_work = min(end, free + max_work - worked + break_s), None
    if window is not None and window.end_s > end:
        if end - window.start_s >= break_s:
            window = TimeWindow(start_s=window.start_s, end_s=end)
        else:
            window, break_s = None, 0
    left = min(end - free, max_work if max_work is not None else end - free)
    if left <= 0 or (left < MIN_LEFT_S and not has_open):  # the plan's own visits are kept in any case
        return None, owes
    visits = problem.visits_by_id()
    load = sum(visits[s.visit_id].load for s in frozen if s.visit_id in visits)
    return replace(
        w,
        start=at or w.start,
        shift=TimeWindow(start_s=free, end_s=end),
        break_window=window,
        break_s=break_s if window is not None else 0,
        max_visits=None if w.max_visits is None else max(0, w.max_visits - len(frozen)),
        capacity=None if w.capacity is None else max(0, w.capacity - load),
        max_work_s=max_work,
    ), owes


def _seat_gone(v: Visit, workers: list[Worker]) -> str:
    """Why a seat of joint visit ``v`` can no longer be taken by anyone still at work ("" when every seat can)."""
    for k, seat in enumerate(v.crew):
        if seat.worker_id is not None and all(w.id != seat.worker_id for w in workers):
            return f"Seat {k + 1} is worker {seat.worker_id}'s, who is absent or has no time left today."
        if not any((seat.role is None or w.role == seat.role) and seat.skills <= w.skills for w in workers):
            who = seat.role.value.replace("_", " ") if seat.role is not None else "worker"
            extra = f" with skill {', '.join(sorted(seat.skills))}" if seat.skills else ""
            return f"Seat {k + 1} needs a {who}{extra}, and none is at work for the rest of the day."
    return ""


def _precedences(problem: Problem, plan: Plan, open_ids: set[str], gone: dict[str, Unassigned],
                 happened: frozenset[str]) -> tuple[list[Precedence], dict[str, tuple[int, int]]]:
    """The precedences among open visits, and time bounds on open visits whose first has happened."""
    starts = {s.visit_id: s.start_s for r in plan.routes for s in r.stops}
    kept, bounds = [], {}
    for p in problem.precedences:
        if p.then not in open_ids:
            continue
        if p.first in open_ids:
            kept.append(p)
        elif p.first in happened and p.first in starts:
            t = starts[p.first]
            bounds[p.then] = (t + p.min_gap_s, t + p.max_gap_s if p.max_gap_s is not None else 2 * 24 * 3600)
        elif p.first in gone or p.first not in happened:
            gone[p.then] = Unassigned(
                visit_id=p.then, household_id="", reason=Reason.PARTNER_LEFT_OUT,
                detail=f"It must follow visit {p.first}, which is not planned for the rest of the day.")
    return kept, bounds


def _bounded(v: Visit, low: int, high: int) -> Visit | None:
    """``v`` with its windows cut to ``low..high`` (its first happened), or ``None`` when nothing is left."""
    own = v.time_windows or (TimeWindow(start_s=0, end_s=2 * 24 * 3600),)
    cut = tuple(TimeWindow(start_s=max(w.start_s, low), end_s=min(w.end_s, high)) for w in own
                if min(w.end_s, high) > max(w.start_s, low))
    return replace(v, time_windows=cut) if cut else None


def _problems(problem: Problem, plan: Plan, pasts: dict[str, _Past], reported: frozenset[str],
              frozen: frozenset[str]) -> _State:
    kept = {w.id for w in problem.workers if pasts[w.id].rest is not None}
    at_work = [w for w in problem.workers if w.id in kept]
    visits = []
    blocked = []
    gone: dict[str, Unassigned] = {}
    for v in problem.visits:
        if v.id in reported or v.id in frozen:
            continue
        if v.required_worker_id is not None and v.required_worker_id not in kept:
            blocked.append(Unassigned(
                visit_id=v.id, household_id=v.household_id, reason=Reason.NO_QUALIFIED_WORKER,
                detail=f"Only worker {v.required_worker_id} may make this visit, "
                       "and they have no time left today.",
                mandatory=v.mandatory, urgent=v.urgent))
            continue
        why = _seat_gone(v, at_work) if v.crew else ""
        if why:
            gone[v.id] = Unassigned(visit_id=v.id, household_id=v.household_id,
                                    reason=Reason.NO_QUALIFIED_WORKER, detail=why, mandatory=v.mandatory,
                                    urgent=v.urgent)
            continue
        visits.append(replace(v, forbidden_worker_ids=frozenset(v.forbidden_worker_ids & kept)))
    gone.update((u.visit_id, u) for u in blocked)
    precedences: list[Precedence] = []
    if problem.precedences:
        for _ in range(len(problem.precedences) + 1):  # a follower of a follower left out goes too
            before = len(gone)
            precedences, bounds = _precedences(problem, plan, {v.id for v in visits} - set(gone), gone,
                                               reported | frozen)
            if len(gone) == before:
                break
        by_id = problem.visits_by_id()
        for vid, (low, high) in bounds.items():
            cut = _bounded(by_id[vid], low, high)
            if cut is None:
                gone[vid] = Unassigned(visit_id=vid, household_id="", reason=Reason.OUTSIDE_EVERY_SHIFT,
                                       detail="The visit it follows happened too early or too late for its "
                                              "gap to fit the rest of the day.")
            else:
                visits = [cut if v.id == vid else v for v in visits]
        blocked += [replace(u, household_id=by_id[u.visit_id].household_id, mandatory=by_id[u.visit_id].mandatory,
                            urgent=by_id[u.visit_id].urgent) for vid, u in gone.items()
                    if u not in blocked]
    else:
        blocked += [u for u in gone.values() if u not in blocked]
    visits = [v for v in visits if v.id not in gone]
    precedences = [p for p in precedences if p.first not in gone and p.then not in gone]
    needed = {v.household_id for v in visits}
    households = tuple(
        h if h.preferred_worker_id in kept or h.preferred_worker_id is None else replace(h, preferred_worker_id=None)
        for h in problem.households if h.id in needed
    )
    rest_workers = tuple(p.rest for p in (pasts[w.id] for w in problem.workers) if p.rest is not None)
    rest = replace(problem, households=households, workers=rest_workers, visits=tuple(visits),
                   precedences=tuple(precedences))
    day = replace(problem, workers=tuple(
        w if pasts[w.id].owes_break or not w.break_s else replace(w, break_window=None, break_s=0)
        for w in problem.workers))
    on_routes = {s.visit_id for r in plan.routes if r.worker_id in pasts for s in r.stops}  # workers of the day
    by_id = problem.visits_by_id()
    outside = tuple(
        Unassigned(visit_id=vid, household_id=by_id[vid].household_id, reason=Reason.CANCELLED,
                   detail="Reported done or under way outside the plan; nothing left to plan today.",
                   mandatory=by_id[vid].mandatory, urgent=by_id[vid].urgent)
        for vid in sorted(reported - on_routes) if vid in by_id
    )
    return _State(pasts=pasts, reported=reported, frozen=frozen, rest=rest, day=day, blocked=tuple(blocked),
                  outside=outside)


def freeze(
    problem: Problem,
    plan: Plan,
    *,
    now_s: int,
    done: Collection[str] = (),
    in_progress: Collection[str] | Mapping[str, int | None] = (),
    off_sick: Collection[str] | Mapping[str, int | None] = (),
    delayed_s: Mapping[str, int] | None = None,
    delayed_at_s: Mapping[str, int] | None = None,
    as_planned: bool = True,
) -> Problem:
    """The rest of the day as a problem of its own.

    Parameters
    ----------
    problem
        The day's problem; it may hold visits added since ``plan`` was made (urgent reports).
    plan
        The plan being carried out.
    now_s
        The moment of re-planning, in seconds after the day's midnight.
    done
        Visits finished at the door, whatever the outcome (done, no answer, refused).
    in_progress
        Visits being served now; a mapping gives the second each one started (else the plan's
        start is assumed, and the visit lasts at least until ``now_s``).
    off_sick
        Workers who stopped for the day; a mapping gives the second they stopped (else ``now_s``).
    delayed_s
        Per worker, seconds after ``now_s`` before they can start anything new.
    delayed_at_s
        Per delayed worker, when the delay was reported: the plan is not assumed carried out after it.
    as_planned
        Take the plan as carried out where nothing else was reported: a stop the worker had set
        off for (arrival less travel) before ``now_s`` happened as planned, as did a break begun.

    Returns
    -------
    Problem
        The open visits (a visit only an absent worker may make leaves too); each remaining worker
        at the last household visited (or at the end location, once on the way home as planned),
        free from ``max(now + delay, end of the frozen stops, end of a break taken)``, with visit and
        load limits reduced by the frozen stops, the working-time limit turned into a latest return
        for a worker already at work, and the break if not yet taken (from when they are free);
        off-sick workers and workers with less than 15 minutes left are removed, with references
        to them cleared.
    """
    return _assess(problem, plan, now_s=now_s, done=done, in_progress=in_progress, off_sick=off_sick,
                   delayed_s=delayed_s, delayed_at_s=delayed_at_s, as_planned=as_planned).rest


def _trim(plan: Plan, problem: Problem) -> Plan:
    """``plan`` restricted to the visits and workers of ``problem`` (the solver's ``previous``)."""
    visits = problem.visits_by_id()
    workers = problem.workers_by_id()
    routes = tuple(
        replace(r, stops=tuple(s for s in r.stops if s.visit_id in visits))
        for r in plan.routes
        if r.worker_id in workers
    )
    return replace(plan, routes=routes, unassigned=())


def _timed(inst: Instance, w: int, stops: tuple[Stop, ...]) -> tuple[tuple[Stop, ...], tuple[int, int]]:
    """``stops`` with each leg recomputed from the stop before (the start for the first), and the leg home."""
    vidx = {v.id: i for i, v in enumerate(inst.problem.visits)}
    prev = int(inst.start_loc[w])
    out = []
    for s in stops:
        loc = int(inst.visit_loc[vidx[s.visit_id]])
        secs, metres = inst.travel(w, prev, loc)
        out.append(replace(s, travel_s=secs, travel_m=metres))
        prev = loc
    return tuple(out), inst.travel(w, prev, int(inst.end_loc[w]))


def _route(inst: Instance, w: int, past: _Past, before: Route | None, new: Route | None) -> Route | None:
    """One worker's whole day: the frozen stops, then the new route or the way home."""
    worker = inst.worker(w)
    tail = new.stops if new is not None else ()
    if past.depart_s is None and not past.stops:  # the day had not begun: the new route is the whole day
        if new is None or not tail:
            return None
        stops, home = _timed(inst, w, tail)
        return replace(new, stops=stops, travel_s=sum(s.travel_s for s in stops) + home[0],
                       travel_m=sum(s.travel_m for s in stops) + home[1])
    if not past.stops and not tail:
        return None  # at work, but nothing visited and nothing left: no route to show
    stops, home = _timed(inst, w, past.stops + tuple(tail))
    depart = past.depart_s if past.depart_s is not None else worker.shift.start_s
    if past.stops:
        first = stops[0]
        lunch_first = past.brk is not None and past.brk[1] <= first.start_s
        need = first.travel_s + (past.brk[1] - past.brk[0] if lunch_first and past.brk is not None else 0)
        depart = min(depart, first.start_s - need)
    brk = past.brk
    if tail and new is not None:
        ret = new.return_s
        if brk is None and new.break_start_s is not None:
            brk = (new.break_start_s,
                   new.break_end_s if new.break_end_s is not None else new.break_start_s + worker.break_s)
    elif past.home_s is not None and before is not None:
        ret = before.return_s  # on the way home as planned
    else:
        last = max(s.end_s for s in past.stops)
        leave = max(last, past.gone_s) if past.gone_s is not None else past.free_s
        if brk is not None:
            leave = max(leave, brk[1]) if brk[0] >= last else leave
            ret = leave + home[0]
        elif past.owes_break and worker.break_s and worker.break_window is not None:
            b = max(worker.break_window.start_s, leave)  # lunch on the way home (or missed: the check says so)
            if b + worker.break_s <= worker.break_window.end_s:
                brk = (b, b + worker.break_s)
                ret = max(leave + home[0], b) + worker.break_s
            else:
                ret = leave + home[0]
        else:
            ret = leave + home[0]
    return Route(
        worker_id=worker.id, depart_s=depart, return_s=max(ret, depart), stops=stops,
        break_start_s=brk[0] if brk else None, break_end_s=brk[1] if brk else None,
        travel_s=sum(s.travel_s for s in stops) + home[0], travel_m=sum(s.travel_m for s in stops) + home[1],
    )


def _merge(state: _State, inst: Instance, before: Plan, after: Plan, *, now_s: int) -> Plan:
    routes = []
    for w, worker in enumerate(inst.problem.workers):
        route = _route(inst, w, state.pasts[worker.id], before.route_of(worker.id), after.route_of(worker.id))
        if route is not None:
            routes.append(route)
    placed = {s.visit_id for r in routes for s in r.stops}
    unassigned = tuple(u for u in after.unassigned if u.visit_id not in placed) + state.blocked + state.outside
    return Plan(
        date=before.date,
        routes=tuple(routes),
        unassigned=unassigned,
        kpis=after.kpis,
        meta={**dict(after.meta), "replanned_at_s": now_s, "frozen_visits": len(state.frozen)},
    )


def merge(
    problem: Problem,
    before: Plan,
    after: Plan,
    travel: TravelTimeProvider,
    *,
    now_s: int,
    done: Collection[str] = (),
    in_progress: Collection[str] | Mapping[str, int | None] = (),
    off_sick: Collection[str] | Mapping[str, int | None] = (),
    delayed_s: Mapping[str, int] | None = None,
    delayed_at_s: Mapping[str, int] | None = None,
    as_planned: bool = True,
) -> Plan:
    """The whole day: each worker's frozen stops from ``before`` (see :func:`freeze`), then their route in
    ``after`` (a plan of the rest of the day), or the way home.

    A break taken before ``now_s`` stays where it was; otherwise the new route's break is used, or one
    is taken on the way home.  Unassigned visits come from ``after``, plus those only an absent worker
    may make and those reported done or under way that no route holds.
    """
    state = _assess(problem, before, now_s=now_s, done=done, in_progress=in_progress, off_sick=off_sick,
                    delayed_s=delayed_s, delayed_at_s=delayed_at_s, as_planned=as_planned)
    return _merge(state, compile_instance(state.day, travel), before, after, now_s=now_s)


def changes(before: Plan, after: Plan, *, ignore: Collection[str] = ()) -> dict[str, int]:
    """How the open visits moved: kept with the same worker, moved, newly assigned, dropped."""
    skip = set(ignore)
    old = {(s.visit_id, s.crew.seat if s.crew else 0): r.worker_id for r in before.routes for s in r.stops
           if s.visit_id not in skip}
    new = {(s.visit_id, s.crew.seat if s.crew else 0): r.worker_id for r in after.routes for s in r.stops
           if s.visit_id not in skip}
    return {
        "kept": sum(1 for v, w in old.items() if new.get(v) == w),
        "moved": sum(1 for v, w in old.items() if v in new and new[v] != w),
        "dropped": sum(1 for v in old if v not in new),
        "added": sum(1 for v in new if v not in old),
    }


def _nothing_to_solve(problem: Problem, date_plan: Plan) -> Plan:
    reason, detail = Reason.OUTSIDE_EVERY_SHIFT, "No worker has time left today."
    return Plan(
        date=date_plan.date,
        routes=(),
        unassigned=tuple(
            Unassigned(
                visit_id=v.id, reason=reason, detail=detail, household_id=v.household_id,
                mandatory=v.mandatory, urgent=v.urgent,
            )
            for v in problem.visits
        ),
        meta={"status": "nothing_to_solve"},
    )


def replan(
    problem: Problem,
    plan: Plan,
    travel: TravelTimeProvider,
    params: SolveParams | None = None,
    *,
    now_s: int,
    done: Collection[str] = (),
    in_progress: Collection[str] | Mapping[str, int | None] = (),
    off_sick: Collection[str] | Mapping[str, int | None] = (),
    delayed_s: Mapping[str, int] | None = None,
    delayed_at_s: Mapping[str, int] | None = None,
    as_planned: bool = True,
    progress: Callable[[Any], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    solve_fn: Callable[..., Any] | None = None,
) -> Replanned:
    """Re-plan the rest of the day and return the merged plan of the whole day, checked.

    ``solve_fn`` defaults to :func:`planner.solve.solve`; it is called with ``previous=`` the
    current plan (trimmed to the open visits and the workers still at work), so assignments are kept
    where they still fit.  See :func:`freeze` for the other parameters.
    """
    state = _assess(problem, plan, now_s=now_s, done=done, in_progress=in_progress, off_sick=off_sick,
                    delayed_s=delayed_s, delayed_at_s=delayed_at_s, as_planned=as_planned)
    rest = state.rest
    stopped_early = False
    if rest.workers and rest.visits:
        run: Callable[..., Any]
        if solve_fn is None:
            from .solve import solve as run
        else:
            run = solve_fn
        result = run(
            rest, travel, params or SolveParams(), previous=_trim(plan, rest), progress=progress,
            should_stop=should_stop,
        )
        new_plan, stopped_early = result.plan, bool(getattr(result, "stopped_early", False))
    else:
        new_plan = _nothing_to_solve(rest, plan)
    inst = compile_instance(state.day, travel)
    merged = _merge(state, inst, plan, new_plan, now_s=now_s)
    delta = changes(plan, merged, ignore=state.frozen | state.reported)
    whole = evaluate_instance(inst, merged)
    meta: dict[str, Any] = {**merged.meta, "changes": delta, "violations": len(whole.violations)}
    merged = replace(merged, kpis=whole.kpis, meta=meta)
    return Replanned(plan=merged, stopped_early=stopped_early, frozen=rest, day=state.day, changes=delta,
                     violations=whole.violations)
