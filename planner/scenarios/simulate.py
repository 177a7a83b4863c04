"""The rolling simulation: weeks planned and carried out day by day under a policy, with seeded events.

Each week starts with new households and risk changes, then every household due by the week's end (plus the
look-ahead) gets a visit request.  Each working day the policy plans; crisis reports come in at seeded times (before
work: into today's plan; during the day: a mid-day re-plan, for the policies that re-plan; later: the next working
day); visits happen in the planned order except seeded no-answers, which open a mandatory, urgent follow-up for the
next day (as the API does), and seeded overruns (``rates.visit_overrun``): a visit that takes longer makes the
worker's later visits start later (the plan's waiting time absorbs what it can), a visit that cannot start before
the shift's end is not made (its household stays due) and a day that ends past the shift is overtime; an answered
visit updates the household's last contact and closes its requests.  The KPIs are recorded at each day's end.
Deterministic: the planner runs in its deterministic mode (a work budget) and every random draw comes from the seed
(see :mod:`planner.scenarios.world`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..domain import Worker
from ..params import SolveParams
from ..plan import Plan, Route, Stop
from ..travel.haversine import HaversineProvider
from .kpis import Recorder
from .policies import DayRun, make_policy
from .spec import POLICIES, Spec, SpecError, deep_merge, parse_spec
from .world import MIDDAY_UNTIL_S, HouseholdState, World, json_ready

__all__ = ["RESULT_VERSION", "run_task", "simulate"]

#: Bumped when the result's shape or the simulation's rules change (stored results of another version are stale).
RESULT_VERSION = 2
_WORK_STARTS_S = 9 * 3600


@dataclass(slots=True)
class Clock:
    """One worker's day as carried out, against the plan: how late they run, where their day ends."""

    shift_end_s: int
    delay_s: int = 0  # carried-out time minus planned time after the last stop carried out
    planned_end_s: int | None = None  # the planned end of the last stop carried out
    end_s: int | None = None  # when the last visit made ended
    made: int = 0  # stops carried out
    not_reached: int = 0  # visits not made: they could not start before the shift's end
    stopped: bool = False

    def returns_s(self, route: Route) -> int:
        """When the worker is back: the plan's return shifted by the delay, or (the day cut short) the last
        visit's end plus the route's last leg home (an approximation: the leg from the planned last stop)."""
        if not self.stopped or self.end_s is None or not route.stops:
            return route.return_s + self.delay_s
        return self.end_s + (route.return_s - route.stops[-1].end_s)


def simulate(spec: Spec, *, seed: int, policy: str = "salpimi", overrides: Mapping[str, Any] | None = None
             ) -> dict[str, Any]:
    """Run ``spec`` over its horizon under ``policy`` with one seed; the result is plain JSON-able data (see
    ``docs/scenarios.md``).  The same spec, seed and policy give the same result on any machine."""
    if policy not in POLICIES:
        raise SpecError(f"{policy!r} is not one of {', '.join(POLICIES)}", key="policy", source="task")
    world = World(spec, seed)
    travel = HaversineProvider()
    params = SolveParams(time_limit_s=spec.time_limit_s, seed=seed, deterministic=True,
                         solution_limit=spec.solution_limit, solver=spec.solver)
    pol = make_policy(policy, params, travel)
    rec = Recorder(world)
    staff = world.staff()
    for week in range(spec.weeks):
        monday = spec.start + dt.timedelta(days=7 * week)
        world.week_events(week, monday)
        world.request_routine(monday)
        pol.start_week(world, monday)
        for k in range(7):
            day = monday + dt.timedelta(days=k)
            _one_day(world, pol, rec, day)
    out = rec.result()
    return json_ready({
        "version": RESULT_VERSION, "scenario": spec.name, "seed": seed, "policy": policy,
        "overrides": dict(overrides or {}), "from": spec.start, "to": spec.end, "weeks": spec.weeks,
        "warmup_weeks": spec.warmup_weeks, "staff": staff, **out,
    })


def _one_day(world: World, pol: Any, rec: Recorder, day: dt.date) -> None:
    reports = world.reports_on(day)
    workers = world.working(world.horizon_problem(day, day, []), day)
    if not workers:
        for at, st in reports:
            world.register_report(st, day, at)
        rec.day(day, None, ())
        return
    for at, st in reports:
        if at < _WORK_STARTS_S:
            world.register_report(st, day, at)
    run: DayRun | None = pol.plan_day(world, day)
    done: set[tuple[str, str]] = set()
    clocks = {w.id: Clock(shift_end_s=w.shift.end_s) for w in workers}
    for at, st in reports:
        if not _WORK_STARTS_S <= at < MIDDAY_UNTIL_S:
            continue
        if run is not None:
            _carry_out(world, rec, day, run.plan, done, clocks, before_s=at)
        keep = run.plan.assigned_visit_ids() if run is not None else set()
        req = world.register_report(st, day, at, keep=keep)
        if req is not None and run is not None and pol.replans_midday:
            run = pol.midday(world, day, run, req, at)
    if run is not None:
        _carry_out(world, rec, day, run.plan, done, clocks, before_s=None)
    for at, st in reports:
        if at >= MIDDAY_UNTIL_S:
            world.register_report(st, day, at)
    rec.day(day, run.plan if run is not None else None, workers, clocks)


def _carry_out(world: World, rec: Recorder, day: dt.date, plan: Plan, done: set[tuple[str, str]],
               clocks: Mapping[str, Clock], *, before_s: int | None) -> None:
    """Carry out the plan's stops that start (as planned) before ``before_s`` (all with ``None``) and are not
    carried out yet, in planned time order, each worker on their own clock (see :func:`advance`)."""
    stops: list[tuple[int, str, Stop, Route]] = [(s.start_s, r.worker_id, s, r) for r in plan.routes
                                                 for s in r.stops]
    stops.sort(key=lambda x: (x[0], x[1]))
    made: set[str] = {v for _, v in done}
    for start_s, wid, stop, route in stops:
        if before_s is not None and start_s >= before_s:
            break
        if (wid, stop.visit_id) in done:
            continue
        done.add((wid, stop.visit_id))
        st: HouseholdState = world.households[stop.household_id]
        begin = advance(clocks[wid], route, stop, world.overrun(st, day))
        if begin is None:  # not reached before the shift's end: not made, the household stays due
            rec.not_reached(day)
            world.not_made()
            continue
        if stop.visit_id in made:  # a joint visit's other seat
            continue
        made.add(stop.visit_id)
        req = next((r for r in st.requests if r.id == stop.visit_id), None)
        if req is None:  # another visit already reached the household today
            continue
        answered = world.answer(st, day)
        world.visited(req, day, begin, answered)
        rec.visit(day, answered=answered)


def advance(clock: Clock, route: Route, stop: Stop, factor: float) -> int | None:
    """Carry out ``stop`` of ``route`` on ``clock``, the visit taking ``factor`` times its planned duration; its
    carried-out start, or ``None`` when it cannot start before the shift's end (the worker's day is then over).

    The worker runs ``clock.delay_s`` late; waiting the plan had before this stop (its planned start less the
    previous planned end, the travel and a break planned between) absorbs that much of the delay.  A visit never
    starts before its planned start (a time window, an appointment).  With every factor 1 the day is the plan."""
    if clock.stopped:
        clock.not_reached += 1
        return None
    if clock.delay_s > 0:
        prev = clock.planned_end_s if clock.planned_end_s is not None else route.depart_s
        brk = 0
        if route.break_start_s is not None and route.break_end_s is not None \
                and prev <= route.break_start_s < stop.start_s:
            brk = route.break_end_s - route.break_start_s
        slack = stop.start_s - prev - stop.travel_s - brk
        clock.delay_s = max(0, clock.delay_s - max(0, slack))
    begin = stop.start_s + clock.delay_s
    if begin >= clock.shift_end_s:
        clock.stopped = True
        clock.not_reached += 1
        return None
    took = round((stop.end_s - stop.start_s) * factor)
    clock.end_s = begin + took
    clock.delay_s = clock.end_s - stop.end_s
    clock.planned_end_s = stop.end_s
    clock.made += 1
    return begin


def day_ends(plan: Plan | None, workers: Sequence[Worker], clocks: Mapping[str, Clock]) -> dict[str, int]:
    """Each working worker's carried-out return (seconds), from the plan and their clock."""
    if plan is None:
        return {}
    return {r.worker_id: clocks[r.worker_id].returns_s(r) if r.worker_id in clocks else r.return_s
            for r in plan.routes if any(w.id == r.worker_id for w in workers)}


def run_task(task: Mapping[str, Any]) -> dict[str, Any]:
    """One unit of a sweep: ``{"spec": Spec.to_dict(), "seed": int, "policy": str, "overrides": {...}}`` ->
    the simulation's result (plain data).  ``overrides`` are laid over the spec before it is validated."""
    if not isinstance(task, Mapping):
        raise SpecError("a task is a mapping with spec, seed, policy and overrides", source="task")
    raw = task.get("spec")
    if not isinstance(raw, Mapping):
        raise SpecError("missing or not a mapping", key="spec", source="task")
    seed = task.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= 2**31 - 1:
        raise SpecError(f"{seed!r} is not an integer in 0..2147483647", key="seed", source="task")
    policy = task.get("policy", "salpimi")
    overrides = task.get("overrides") or {}
    if not isinstance(overrides, Mapping):
        raise SpecError("expected a mapping of spec keys", key="overrides", source="task")
    data = deep_merge(raw, overrides) if overrides else raw
    spec = parse_spec(data, source=f"scenario {str(raw.get('name', ''))[:40]}")
    return simulate(spec, seed=seed, policy=str(policy), overrides=overrides)
