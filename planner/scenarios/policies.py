"""How a simulated day gets its routes: Salpimi's week planner, "plan each day alone", and "manual practice"."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from ..domain import Household, Problem, Visit, Worker
from ..horizon import plan_day_by_day, plan_horizon
from ..instance import Instance, compile_instance
from ..params import SolveParams
from ..plan import Plan, Route, Stop
from ..replan import replan
from ..schedule import Timing, schedule_route
from ..travel.base import TravelTimeProvider
from .world import Request, World, role_order

__all__ = ["DayByDayPolicy", "DayRun", "ManualPolicy", "Policy", "WeekPolicy", "make_policy"]


@dataclass(frozen=True, slots=True)
class DayRun:
    """One day's problem and the plan carried out on it."""

    problem: Problem
    plan: Plan


class Policy:
    """A planning practice: plans each working day from the world's open requests; may re-plan mid-day."""

    name = ""
    replans_midday = False

    def __init__(self, params: SolveParams, travel: TravelTimeProvider) -> None:
        self.params = params
        self.travel = travel

    def start_week(self, world: World, monday: dt.date) -> None:
        """Called on each Monday, after the week's new requests are open."""

    def plan_day(self, world: World, day: dt.date) -> DayRun | None:
        raise NotImplementedError

    def midday(self, world: World, day: dt.date, run: DayRun, req: Request, now_s: int) -> DayRun:
        """The day re-planned at ``now_s`` with the new urgent request ``req`` (the API's mid-day re-plan)."""
        st = world.households[req.household_id]
        working = {w.id for w in run.problem.workers}
        h = st.household
        if h.preferred_worker_id is not None and h.preferred_worker_id not in working:
            h = dataclasses.replace(h, preferred_worker_id=None)
        households: list[Household] = [x for x in run.problem.households if x.id != h.id]
        households.append(h)
        visit = Visit(id=req.id, household_id=h.id, kind=req.kind, required_skills=req.skills, urgent=True,
                      mandatory=req.mandatory)
        problem = dataclasses.replace(run.problem, households=tuple(households), visits=(*run.problem.visits, visit))
        params = dataclasses.replace(self.params, time_limit_s=min(86400.0, self.params.time_limit_s))
        out = replan(problem, run.plan, self.travel, params, now_s=now_s)
        return DayRun(problem=problem, plan=out.plan)


class WeekPolicy(Policy):
    """Salpimi: the week planner plans the rest of the week whenever a request opened that its plan has not seen
    (Monday's new requests, a no-answer's follow-up, a crisis report), and re-plans the day for a crisis report."""

    name = "salpimi"
    replans_midday = True

    def start_week(self, world: World, monday: dt.date) -> None:
        self.sunday = monday + dt.timedelta(days=6)
        self.result: dict[dt.date, DayRun] = {}
        self.version = -1

    def plan_day(self, world: World, day: dt.date) -> DayRun | None:
        if world.version != self.version:
            self.version = world.version
            self.result = {}
            hp = world.horizon_problem(day, self.sunday)
            if hp.visits:
                days = max(1, (self.sunday - day).days + 1)
                params = dataclasses.replace(self.params, time_limit_s=min(86400.0, self.params.time_limit_s * days))
                res = plan_horizon(hp, self.travel, params)
                self.result = {d.date: DayRun(problem=d.problem, plan=d.plan) for d in res.days}
        return self.result.get(day)


class DayByDayPolicy(Policy):
    """Plan each day alone: every open request that may happen today is offered to the day planner."""

    name = "day_by_day"
    replans_midday = True

    def plan_day(self, world: World, day: dt.date) -> DayRun | None:
        hp = world.horizon_problem(day, day)
        if not hp.visits:
            return None
        res = plan_day_by_day(hp, self.travel, self.params)
        return next((DayRun(problem=d.problem, plan=d.plan) for d in res.days if d.date == day), None)


class ManualPolicy(Policy):
    """Manual practice: each worker (nurses first, then case managers, counsellors and vehicles) takes the most
    overdue households of their own dongs they may visit (urgent and mandatory first), as many as fit the day, and
    visits them nearest first; a crisis report waits for the next working day's list (no mid-day re-plan)."""

    name = "manual"
    replans_midday = False

    def plan_day(self, world: World, day: dt.date) -> DayRun | None:
        hp = world.horizon_problem(day, day)
        workers = world.working(hp, day)
        if not hp.visits or not workers:
            return None
        problem = hp.template(day, workers=workers)
        inst = compile_instance(problem, self.travel)
        households = problem.households_by_id()

        def rank(v: int) -> tuple[int, int, int, str]:
            visit = inst.visit(v)
            st = world.households[visit.household_id]
            _, overdue = world.overdue_days(st, day)
            if households[visit.household_id].last_contact is None:
                overdue = max(overdue, world.cadence(world.own_tier(st.household)))
            score = world.model.score(st.household.risk)
            return (0 if (visit.urgent or visit.mandatory) else 1, -overdue, -score, visit.id)

        order = sorted(range(inst.n_visits), key=rank)
        dong_of = {v: households[inst.visit(v).household_id].dong for v in range(inst.n_visits)}
        covered: dict[str, set[str]] = {}
        for w in workers:
            covered.setdefault(w.role.value, set()).update(world.dongs.get(w.id, ()))
        taken: set[int] = set()
        routes: list[Route] = []
        windex = {w.id: i for i, w in enumerate(problem.workers)}
        for w in sorted(workers, key=lambda x: (role_order(x.role), x.id)):
            wi = windex[w.id]
            own = world.dongs.get(w.id, frozenset())
            role_dongs = covered.get(w.role.value, set())
            chosen: list[int] = []
            tries = 0
            limit = w.max_visits if w.max_visits is not None else 12
            for v in order:
                if len(chosen) >= limit or tries >= 4 * max(1, limit):
                    break
                if v in taken or wi not in inst.allowed[v]:
                    continue
                dong = dong_of[v]
                if own and dong in role_dongs and dong not in own:
                    continue
                tries += 1
                trial = _nearest_first(inst, wi, [*chosen, v])
                if schedule_route(inst, wi, trial).ok:
                    chosen = trial
            if chosen:
                taken.update(chosen)
                routes.append(_route(inst, wi, w, chosen, schedule_route(inst, wi, chosen)))
        plan = Plan(date=day, routes=tuple(routes), meta={"policy": self.name})
        return DayRun(problem=problem, plan=plan)


def _nearest_first(inst: Instance, w: int, visits: Sequence[int]) -> list[int]:
    """``visits`` in nearest-next order from the worker's start."""
    tt = inst.travel_table(w)
    here = int(inst.start_loc[w])
    left = list(visits)
    out: list[int] = []
    while left:
        nxt = min(left, key=lambda v: (int(tt[here, int(inst.visit_loc[v])]), v))
        out.append(nxt)
        left.remove(nxt)
        here = int(inst.visit_loc[nxt])
    return out


def _route(inst: Instance, w: int, worker: Worker, order: Sequence[int], t: Timing) -> Route:
    stops = tuple(
        Stop(visit_id=inst.visit(v).id, household_id=inst.visit(v).household_id, arrival_s=t.arrivals[k],
             start_s=t.starts[k], end_s=t.ends[k], travel_s=t.legs[k][0], travel_m=t.legs[k][1])
        for k, v in enumerate(order)
    )
    brk = t.break_start_s
    return Route(worker_id=worker.id, depart_s=t.depart_s, return_s=t.return_s, stops=stops, break_start_s=brk,
                 break_end_s=None if brk is None else brk + worker.break_s,
                 travel_s=sum(s for s, _ in t.legs), travel_m=sum(m for _, m in t.legs))


def make_policy(name: str, params: SolveParams, travel: TravelTimeProvider) -> Policy:
    """The policy called ``name`` (``salpimi``, ``manual`` or ``day_by_day``)."""
    kinds: dict[str, type[Policy]] = {"salpimi": WeekPolicy, "manual": ManualPolicy, "day_by_day": DayByDayPolicy}
    if name not in kinds:
        raise ValueError(f"policy: {name!r} is not one of {', '.join(kinds)}")
    return kinds[name](params, travel)
