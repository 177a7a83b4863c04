"""The rolling simulation: weeks planned and carried out day by day under a policy, with seeded events.

Each week starts with new households and risk changes, then every household due by the week's end (plus the
look-ahead) gets a visit request.  Each working day the policy plans; crisis reports come in at seeded times (before
work: into today's plan; during the day: a mid-day re-plan, for the policies that re-plan; later: the next working
day); visits happen as planned except seeded no-answers, which open a mandatory, urgent follow-up for the next day
(as the API does); an answered visit updates the household's last contact and closes its requests.  The KPIs are
recorded at each day's end.  Deterministic: the planner runs in its deterministic mode (a work budget) and every
random draw comes from the seed (see :mod:`planner.scenarios.world`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ..params import SolveParams
from ..plan import Plan, Stop
from ..travel.haversine import HaversineProvider
from .kpis import Recorder
from .policies import DayRun, make_policy
from .spec import POLICIES, Spec, SpecError, deep_merge, parse_spec
from .world import MIDDAY_UNTIL_S, HouseholdState, World, json_ready

__all__ = ["RESULT_VERSION", "run_task", "simulate"]

#: Bumped when the result's shape or the simulation's rules change (stored results of another version are stale).
RESULT_VERSION = 1
_WORK_STARTS_S = 9 * 3600


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
    done: set[str] = set()
    for at, st in reports:
        if not _WORK_STARTS_S <= at < MIDDAY_UNTIL_S:
            continue
        if run is not None:
            _carry_out(world, rec, day, run.plan, done, before_s=at)
        keep = run.plan.assigned_visit_ids() if run is not None else set()
        req = world.register_report(st, day, at, keep=keep)
        if req is not None and run is not None and pol.replans_midday:
            run = pol.midday(world, day, run, req, at)
    if run is not None:
        _carry_out(world, rec, day, run.plan, done, before_s=None)
    for at, st in reports:
        if at >= MIDDAY_UNTIL_S:
            world.register_report(st, day, at)
    rec.day(day, run.plan if run is not None else None, workers)


def _carry_out(world: World, rec: Recorder, day: dt.date, plan: Plan, done: set[str], *, before_s: int | None
               ) -> None:
    """Make the plan's visits that start before ``before_s`` (all with ``None``) and are not made yet."""
    stops: list[tuple[int, str, Stop]] = [(s.start_s, r.worker_id, s) for r in plan.routes for s in r.stops]
    stops.sort(key=lambda x: (x[0], x[1]))
    for start_s, _, stop in stops:
        if before_s is not None and start_s >= before_s:
            break
        if stop.visit_id in done:
            continue
        done.add(stop.visit_id)
        st: HouseholdState = world.households[stop.household_id]
        req = next((r for r in st.requests if r.id == stop.visit_id), None)
        if req is None:  # another visit already reached the household today
            continue
        answered = world.answer(st, day)
        world.visited(req, day, start_s, answered)
        rec.visit(day, answered=answered)


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
