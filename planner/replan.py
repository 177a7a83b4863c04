"""Mid-day re-planning: freeze what has happened, re-solve the rest, merge the frozen stops back.

The three steps are pure functions of planner data (no web or database code):

* :func:`freeze` turns the rest of the day into a new :class:`Problem`: finished and in-progress
  visits leave it, every worker starts where they are (the last household finished or being
  visited) when they are free, a break already taken is dropped, off-sick workers leave.
* :func:`replan` solves that problem with ``previous=`` the current plan, so the solver keeps
  assignments where it can, and
* :func:`merge` puts the frozen stops back in front of each worker's new route.

:func:`changes` counts how much the new plan differs from the old for the visits still open.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .domain import Problem, TimeWindow, Worker
from .params import SolveParams
from .plan import Plan, Reason, Route, Stop, Unassigned
from .travel.base import TravelTimeProvider

__all__ = ["Replanned", "changes", "freeze", "frozen_stops", "merge", "replan"]

#: A worker with less time than this left in the shift gets no new visits.
MIN_LEFT_S = 15 * 60


@dataclass(frozen=True, slots=True, kw_only=True)
class Replanned:
    """The merged plan of the whole day and what the re-plan changed."""

    plan: Plan
    stopped_early: bool
    frozen: Problem
    changes: dict[str, int] = field(default_factory=dict)


def _in_progress_map(in_progress: Collection[str] | Mapping[str, int | None]) -> dict[str, int | None]:
    if isinstance(in_progress, Mapping):
        return dict(in_progress)
    return dict.fromkeys(in_progress)


def frozen_stops(
    plan: Plan, *, done: Collection[str], in_progress: Collection[str] | Mapping[str, int | None]
) -> dict[str, tuple[Stop, ...]]:
    """Each worker's stops that are finished or under way, in route order."""
    busy = set(done) | set(_in_progress_map(in_progress))
    return {
        r.worker_id: tuple(s for s in r.stops if s.visit_id in busy)
        for r in plan.routes
        if any(s.visit_id in busy for s in r.stops)
    }


def _service_s(problem: Problem, worker: Worker, visit_id: str, fallback: int) -> int:
    visit = problem.visits_by_id().get(visit_id)
    if visit is None:
        return fallback
    return visit.duration_s or problem.service_times.seconds(visit.kind.value, worker.role.value)


def freeze(
    problem: Problem,
    plan: Plan,
    *,
    now_s: int,
    done: Collection[str] = (),
    in_progress: Collection[str] | Mapping[str, int | None] = (),
    off_sick: Collection[str] = (),
    delayed_s: Mapping[str, int] | None = None,
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
        start is assumed).
    off_sick
        Workers who stopped for the day.
    delayed_s
        Per worker, seconds before they can start anything new (on top of ``now_s``).

    Returns
    -------
    Problem
        Finished and in-progress visits removed; each remaining worker starts at the last
        household finished or being visited, from ``max(now, end of the visit under way)``
        (plus any delay); a break already taken (or under way) is dropped; visit caps and
        working time are reduced by what was done; off-sick workers and workers with less than
        15 minutes left are removed, with references to them cleared.
    """
    delayed = dict(delayed_s or {})
    done_set = set(done)
    started = _in_progress_map(in_progress)
    frozen = frozen_stops(plan, done=done_set, in_progress=started)
    households = problem.households_by_id()
    sick = set(off_sick)
    workers: list[Worker] = []
    for w in problem.workers:
        if w.id in sick:
            continue
        route = plan.route_of(w.id)
        stops = frozen.get(w.id, ())
        location = w.start
        free_at = max(now_s, w.shift.start_s)
        for stop in stops:
            if stop.household_id in households:
                location = households[stop.household_id].location
            if stop.visit_id in started:
                begun = started[stop.visit_id]
                if begun is None:
                    end = max(stop.end_s, now_s)
                else:
                    end = begun + _service_s(problem, w, stop.visit_id, stop.end_s - stop.start_s)
                free_at = max(free_at, end)
        break_window, break_s = w.break_window, w.break_s
        if route is not None and route.break_start_s is not None and break_window is not None:
            b_end = route.break_end_s if route.break_end_s is not None else route.break_start_s + break_s
            if route.break_start_s <= now_s:
                break_window, break_s = None, 0  # taken, or being taken: it ends before new work
                free_at = max(free_at, b_end) if now_s < b_end else free_at
        free_at += max(0, int(delayed.get(w.id, 0)))
        if free_at > w.shift.end_s - MIN_LEFT_S:
            continue
        if break_window is not None:
            start = max(break_window.start_s, free_at)
            if break_window.end_s - start >= max(break_s, 1):
                break_window = TimeWindow(start_s=start, end_s=break_window.end_s)
            else:
                break_window, break_s = None, 0
        max_visits = None if w.max_visits is None else max(0, w.max_visits - len(stops))
        max_work_s = w.max_work_s
        if max_work_s is not None:
            worked = free_at - w.shift.start_s
            if route is not None and w.break_window is not None and break_window is None:
                worked -= w.break_s  # the break taken is not work
            max_work_s -= max(0, worked)
            if max_work_s < MIN_LEFT_S:
                continue
        workers.append(
            replace(
                w,
                start=location,
                shift=TimeWindow(start_s=free_at, end_s=w.shift.end_s),
                break_window=break_window,
                break_s=break_s if break_window is not None else 0,
                max_visits=max_visits,
                max_work_s=max_work_s,
            )
        )
    kept = {w.id for w in workers}
    visits = []
    for v in problem.visits:
        if v.id in done_set or v.id in started:
            continue
        visits.append(
            replace(
                v,
                required_worker_id=v.required_worker_id if v.required_worker_id in kept else None,
                forbidden_worker_ids=frozenset(v.forbidden_worker_ids & kept),
            )
        )
    needed = {v.household_id for v in visits}
    remaining_households = tuple(
        h if h.preferred_worker_id in kept or h.preferred_worker_id is None
        else replace(h, preferred_worker_id=None)
        for h in problem.households
        if h.id in needed
    )
    return replace(
        problem, households=remaining_households, workers=tuple(workers), visits=tuple(visits)
    )


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


def merge(
    before: Plan,
    after: Plan,
    *,
    done: Collection[str],
    in_progress: Collection[str] | Mapping[str, int | None],
    now_s: int,
    worker_order: Collection[str] = (),
) -> Plan:
    """The whole day: each worker's frozen stops from ``before``, then their route in ``after``.

    A break taken before ``now_s`` is kept from ``before``; otherwise the new route's break is
    used.  Unassigned visits come from ``after``.
    """
    frozen = frozen_stops(before, done=done, in_progress=in_progress)
    order = list(worker_order) or [r.worker_id for r in before.routes]
    for r in after.routes:
        if r.worker_id not in order:
            order.append(r.worker_id)
    routes = []
    for wid in order:
        old, new = before.route_of(wid), after.route_of(wid)
        stops = frozen.get(wid, ())
        if old is None and new is None:
            continue
        if not stops and new is None:
            continue  # nothing done and nothing left (off sick, or no time): no route today
        tail = new.stops if new is not None else ()
        if stops and old is not None:
            depart = old.depart_s
        else:
            depart = new.depart_s if new is not None else (old.depart_s if old else 0)
        if new is not None and new.stops:
            ret = new.return_s
        elif stops:
            ret = stops[-1].end_s
        else:
            ret = new.return_s if new is not None else depart
        b_start, b_end = None, None
        if old is not None and old.break_start_s is not None and old.break_start_s <= now_s:
            b_start, b_end = old.break_start_s, old.break_end_s
        elif new is not None:
            b_start, b_end = new.break_start_s, new.break_end_s
        all_stops = tuple(stops) + tuple(tail)
        routes.append(
            Route(
                worker_id=wid,
                depart_s=depart,
                return_s=max(ret, depart),
                stops=all_stops,
                break_start_s=b_start,
                break_end_s=b_end,
                travel_s=sum(s.travel_s for s in stops) + (new.travel_s if new is not None else 0),
                travel_m=sum(s.travel_m for s in stops) + (new.travel_m if new is not None else 0),
            )
        )
    frozen_ids = {s.visit_id for ss in frozen.values() for s in ss}
    unassigned = tuple(u for u in after.unassigned if u.visit_id not in frozen_ids)
    return Plan(
        date=before.date,
        routes=tuple(routes),
        unassigned=unassigned,
        kpis=after.kpis,
        meta={**dict(after.meta), "replanned_at_s": now_s, "frozen_visits": len(frozen_ids)},
    )


def changes(before: Plan, after: Plan, *, ignore: Collection[str] = ()) -> dict[str, int]:
    """How the open visits moved: kept with the same worker, moved, newly assigned, dropped."""
    skip = set(ignore)
    old = {s.visit_id: r.worker_id for r in before.routes for s in r.stops if s.visit_id not in skip}
    new = {s.visit_id: r.worker_id for r in after.routes for s in r.stops if s.visit_id not in skip}
    return {
        "kept": sum(1 for v, w in old.items() if new.get(v) == w),
        "moved": sum(1 for v, w in old.items() if v in new and new[v] != w),
        "dropped": sum(1 for v in old if v not in new),
        "added": sum(1 for v in new if v not in old),
    }


def _close_routes(problem: Problem, plan: Plan, travel: TravelTimeProvider, tails: set[str]) -> Plan:
    """Routes that end with a frozen stop get the trip home from that household."""
    open_routes = [r for r in plan.routes if r.stops and r.worker_id not in tails]
    if not open_routes:
        return plan
    from .instance import compile_instance

    inst = compile_instance(problem, travel)
    vidx = {v.id: i for i, v in enumerate(problem.visits)}
    widx = {w.id: i for i, w in enumerate(problem.workers)}
    routes = []
    for r in plan.routes:
        last = r.stops[-1] if r.stops else None
        if r in open_routes and last is not None and last.visit_id in vidx and r.worker_id in widx:
            w = widx[r.worker_id]
            secs, metres = inst.travel(w, int(inst.visit_loc[vidx[last.visit_id]]), int(inst.end_loc[w]))
            r = replace(r, return_s=last.end_s + secs, travel_s=r.travel_s + secs, travel_m=r.travel_m + metres)
        routes.append(r)
    return replace(plan, routes=tuple(routes))


def _nothing_to_solve(problem: Problem, date_plan: Plan) -> Plan:
    reason, detail = Reason.OUTSIDE_EVERY_SHIFT, "no worker has time left today"
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
    off_sick: Collection[str] = (),
    delayed_s: Mapping[str, int] | None = None,
    progress: Callable[[Any], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    solve_fn: Callable[..., Any] | None = None,
) -> Replanned:
    """Re-plan the rest of the day and return the merged plan of the whole day.

    ``solve_fn`` defaults to :func:`planner.solve.solve`; it is called with
    ``previous=`` the current plan (trimmed to the open visits) so assignments are kept where
    possible.  See :func:`freeze` for the other parameters.
    """
    rest = freeze(
        problem, plan, now_s=now_s, done=done, in_progress=in_progress, off_sick=off_sick,
        delayed_s=delayed_s,
    )
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
    busy = set(done) | set(_in_progress_map(in_progress))
    merged = merge(
        plan, new_plan, done=done, in_progress=in_progress, now_s=now_s,
        worker_order=[w.id for w in problem.workers],
    )
    with_tail = {r.worker_id for r in new_plan.routes if r.stops}
    merged = _close_routes(problem, merged, travel, with_tail)
    delta = changes(plan, merged, ignore=busy)
    meta: dict[str, Any] = {**merged.meta, "changes": delta}
    kpis = merged.kpis
    try:  # KPIs of the whole day, frozen stops included
        from .evaluate import evaluate

        sick = set(off_sick)
        day = replace(problem, workers=tuple(
            replace(w, break_window=None, break_s=0) if w.id in sick else w for w in problem.workers
        ))  # a worker sent home before lunch owes no break
        whole = evaluate(day, merged, travel)
        kpis = whole.kpis
        meta["violations"] = len(whole.violations)
    except (ValueError, KeyError):
        pass
    merged = replace(merged, kpis=kpis, meta=meta)
    return Replanned(plan=merged, stopped_early=stopped_early, frozen=rest, changes=delta)
