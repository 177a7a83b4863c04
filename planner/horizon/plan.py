"""Plan a horizon: choose each visit's day, then route the days in order with the day planner, re-placing
what a day could not take on a later day.

Why this method: the day planner (``planner.solve``) already routes a day well and explains every visit
it leaves out, and a day is small enough to route in seconds; what it lacks is the choice of day.  That
choice is a small assignment problem (a few hundred visits times a few days) that a greedy construction
plus local search over day assignments solves in a fraction of a second, with the horizon's rules
(spacing, same-day exclusions, follow-ups, day patterns) kept hard and the objective's terms (risk ageing
by the actual day, continuity, fairness, a travel estimate) cheap to update.  Routing the days in order
lets each day start from what the earlier ones really did: who was seen (their risk stops ageing), by
whom (continuity), and what a day dropped, which the search re-places on a later day before it is routed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import Any

from ..domain import Household, Problem, Visit
from ..evaluate import evaluate
from ..params import SolveParams
from ..plan import Plan
from ..risk import RiskModel
from ..solve import Result, solve
from ..solvers.base import Progress, RoutingSolver
from ..travel.base import TravelTimeProvider
from .assign import Assignment, HorizonParams
from .context import Context, prepare
from .model import HorizonProblem, HorizonReason, occurrence_id
from .result import DayPlan, HorizonResult, HorizonUnassigned
from .summary import summarise

__all__ = ["Router", "plan_horizon"]

_FINAL_RESERVE_S = 0.05  # per day: recomputing each day plan's figures after the last changes


class Router:
    """Routes the days of a horizon in order over one :class:`Assignment`, carrying forward who was seen."""

    def __init__(self, ctx: Context, assignment: Assignment, travel: TravelTimeProvider, params: SolveParams,
                 *, solver: RoutingSolver | None = None, risk_model: RiskModel | None = None,
                 progress: Callable[[Progress], None] | None = None,
                 should_stop: Callable[[], bool] | None = None, t0: float | None = None) -> None:
        self.ctx, self.a, self.travel, self.params = ctx, assignment, travel, params
        self.solver, self.risk_model = solver, risk_model
        self.progress, self.should_stop = progress, should_stop
        self.t0 = time.perf_counter() if t0 is None else t0
        self.contact: dict[str, dt.date | None] = {h.id: h.last_contact for h in ctx.problem.households}
        self.occ_k: dict[int, int] = {}
        self.dropped: dict[int, tuple[int, str, str]] = {}  # occurrence -> (day, reason, detail) of its last drop
        self.results: dict[int, tuple[Problem, Result]] = {}
        self.covered = 0
        self.stopped = False

    # ---- ids -----------------------------------------------------------------------------------

    def occ_id(self, o: int) -> str:
        """The occurrence's id in the day plans: fixed the first time it is routed or reported."""
        t = self.a.occ_task[o]
        info = self.ctx.tasks[t]
        if o not in self.occ_k:
            taken = {self.occ_k[x] for x in self.a.task_occ[t] if x in self.occ_k}
            self.occ_k[o] = next(k for k in range(1, info.count + 1) if k not in taken)
        return occurrence_id(info.visit.id, self.occ_k[o], info.count)

    # ---- one day -------------------------------------------------------------------------------

    def day_problem(self, d: int, occs: Sequence[int], *, hints: dict[int, int] | None = None) -> Problem:
        """Day ``d``'s problem: its workers with that day's shifts, the visits ``occs`` (one per occurrence),
        the households' last contact carried forward, and a worker hint per household."""
        ctx, a = self.ctx, self.a
        day = ctx.dates[d]
        workers = ctx.day_workers[d]
        working = {w.id for w in workers}
        visits: list[Visit] = []
        hint_of: dict[str, str] = {}
        for o in occs:
            t = a.occ_task[o]
            hv = ctx.tasks[t].visit
            visits.append(dataclasses.replace(hv.visit, id=self.occ_id(o)))
            if hints and o in hints and hints[o] >= 0:
                wid = ctx.problem.workers[hints[o]].id
                if wid in working and (hv.visit.mandatory or hv.visit.urgent or hv.visit.household_id not in hint_of):
                    hint_of[hv.visit.household_id] = wid
        used = {v.household_id for v in visits}
        households: list[Household] = []
        for h in ctx.problem.households:
            if h.id not in used:
                continue
            pref = hint_of.get(h.id, h.preferred_worker_id)
            if pref is not None and pref not in working:
                pref = None
            households.append(dataclasses.replace(h, last_contact=self.contact.get(h.id), preferred_worker_id=pref))
        return ctx.problem.template(day, workers=workers, visits=tuple(visits), households=tuple(households))

    def fill_ins(self, d: int, assigned: Sequence[int]) -> list[int]:
        """Visits no day has (the assignment ran out of estimated room) that may also happen on day ``d``:
        the router uses whatever room the day really has for them."""
        ctx, a = self.ctx, self.a
        taken = {a.occ_task[o] for o in assigned}
        room = sum(ctx.max_visits[(w, d)] for w in ctx.day_worker_index[d]) - len(assigned)
        out: list[tuple[float, int]] = []
        seen: set[int] = set()
        for o in a.unassigned():
            t = a.occ_task[o]
            if t in seen or t in taken or a.fixed[o] or not a.day_ok(t, d, without=o):
                continue
            if any(u in taken for u in a.excl[t]):
                continue
            seen.add(t)
            gain = a.task_cost[t] - a._task_cost(t, [*a.planned(t), (d, -1)])
            if gain > 0:
                out.append((-gain, o))
        out.sort()
        chosen: list[int] = []
        chosen_tasks: set[int] = set()
        for _, o in out:
            if len(chosen) >= max(0, room):
                break
            t = a.occ_task[o]
            if any(u in chosen_tasks for u in a.excl[t]):
                continue
            chosen.append(o)
            chosen_tasks.add(t)
        return chosen

    def route_day(self, d: int, budget_s: float, *, assigned: Sequence[int] | None = None, fill: bool = True) -> None:
        """Route day ``d``: the visits the assignment gave it (or ``assigned``) and, with ``fill``, visits no
        day has; what the router takes is fixed on that day, what it drops goes back to the pool."""
        ctx, a = self.ctx, self.a
        if assigned is None:
            assigned = sorted(o for o, day in enumerate(a.day) if day == d)
        extra = self.fill_ins(d, assigned) if fill else []
        occs = [*assigned, *extra]
        if not occs:
            return
        hints = {o: a.worker[o] for o in assigned}
        problem = self.day_problem(d, occs, hints=hints)
        params = dataclasses.replace(self.params, time_limit_s=max(0.05, budget_s))
        done_before = self.covered

        def relay(p: Progress) -> None:
            if self.progress is not None:
                self.progress(Progress(elapsed_s=time.perf_counter() - self.t0, objective=p.objective,
                                       visits_covered=done_before + p.visits_covered,
                                       visits_total=sum(info.count for info in ctx.tasks)))

        result = solve(problem, self.travel, params, solver=self.solver, risk_model=self.risk_model,
                       progress=relay if self.progress is not None else None, should_stop=self.should_stop)
        self.results[d] = (problem, result)
        windex = {w.id: i for i, w in enumerate(ctx.problem.workers)}
        routed = {s.visit_id: r.worker_id for r in result.plan.routes for s in r.stops
                  if s.crew is None or s.crew.seat == 0}  # a joint visit: its first seat's worker
        reasons = {u.visit_id: u for u in result.plan.unassigned}
        dropped_by: dict[int, int] = {}
        for o in assigned:
            vid = self.occ_id(o)
            if vid in routed:
                a.fixed[o] = True
                a._place(o, d, windex[routed[vid]])
                self.dropped.pop(o, None)
            else:
                if a.worker[o] >= 0:
                    dropped_by[a.worker[o]] = dropped_by.get(a.worker[o], 0) + 1
                a._place(o, -1, -1)
                u = reasons.get(vid)
                if u is not None:
                    self.dropped[o] = (d, u.reason.value, u.detail)
        for o in extra:
            vid = self.occ_id(o)
            if vid in routed:
                a.fixed[o] = True
                a._place(o, d, windex[routed[vid]])
                self.dropped.pop(o, None)
            elif o in self.occ_k and o not in self.dropped:
                del self.occ_k[o]  # only a candidate: its id is free again
        for w, n in dropped_by.items():  # the estimate promised more than the router found room for
            a.scale[w] = max(0.6, a.scale.get(w, 1.0) * (0.95 ** n))
        day = ctx.dates[d]
        household_of = {v.id: v.household_id for v in problem.visits}
        for vid in routed:
            self.contact[household_of[vid]] = day
        self.covered += len(routed)
        if result.stopped_early and self.should_stop is not None and self.should_stop():
            self.stopped = True

    # ---- the end -------------------------------------------------------------------------------

    def finish(self, *, stopped_reason: str = "") -> tuple[tuple[DayPlan, ...], tuple[HorizonUnassigned, ...]]:
        """Day plans without the visits that went elsewhere, each with its figures recomputed, and every
        visit left out with its reason."""
        ctx, a = self.ctx, self.a
        final_drop_day = {o: d for o, (d, _, _) in self.dropped.items() if a.day[o] < 0}
        days: list[DayPlan] = []
        for d in sorted(self.results):
            problem, result = self.results[d]
            routed_ids = {s.visit_id for r in result.plan.routes for s in r.stops}
            keep_unassigned = {self.occ_id(o) for o, dd in final_drop_day.items() if dd == d}
            unassigned = tuple(u for u in result.plan.unassigned if u.visit_id in keep_unassigned)
            keep = routed_ids | {u.visit_id for u in unassigned}
            if len(keep) != len(problem.visits):
                problem = dataclasses.replace(problem, visits=tuple(v for v in problem.visits if v.id in keep))
            plan = Plan(date=result.plan.date, routes=result.plan.routes, unassigned=unassigned,
                        meta=dict(result.plan.meta))
            kpis = evaluate(problem, plan, self.travel, risk_model=self.risk_model).kpis
            plan = dataclasses.replace(plan, kpis=kpis)
            days.append(DayPlan(date=ctx.dates[d], problem=problem, result=dataclasses.replace(result, plan=plan)))
        left: list[HorizonUnassigned] = []
        for t, info in enumerate(ctx.tasks):
            for o in a.task_occ[t]:
                if a.day[o] >= 0:
                    continue
                reason, detail = self._why(o, stopped_reason)
                hv = info.visit.visit
                if hv.mandatory:
                    detail = "Mandatory visit could not be honoured. " + detail
                elif hv.urgent:
                    detail = "Urgent visit could not be planned in the horizon. " + detail
                left.append(HorizonUnassigned(
                    visit_id=self.occ_id(o), request_id=info.visit.id, household_id=hv.household_id,
                    reason=reason, detail=detail, mandatory=hv.mandatory, urgent=hv.urgent))
        return tuple(days), tuple(left)

    def _why(self, o: int, stopped_reason: str) -> tuple[str, str]:
        ctx, a = self.ctx, self.a
        t = a.occ_task[o]
        info = ctx.tasks[t]
        if info.blocked is not None:
            return info.blocked[0].value, info.blocked[1]
        if o in self.dropped:
            d, reason, detail = self.dropped[o]
            return reason, f"On {ctx.dates[d]:%a %Y-%m-%d}: {detail}"
        if stopped_reason:
            return HorizonReason.LOWER_PRIORITY.value, stopped_reason
        days = sorted(info.options)
        gap = info.visit.min_spacing_days
        packed: list[int] = []
        for d in days:
            if not packed or d - packed[-1] >= gap:
                packed.append(d)
        if info.count > len(packed):
            return (HorizonReason.SPACING.value,
                    f"{info.count} visits at least {gap} day(s) apart need more days than the "
                    f"{len(days)} working day(s) it may have ({_days(ctx, days)}); {len(packed)} fit.")
        f = a.follows[t]
        if f is not None and not a.task_days(f[0]):
            other = ctx.tasks[f[0]].visit.id
            return (HorizonReason.FOLLOW_UP.value,
                    f"It follows visit {other} by {f[1]} day(s), and {other} is not planned in the horizon.")
        if f is not None:
            pd = a.task_days(f[0])[0]
            if not any(f[1] <= d - pd <= f[2] for d in days):
                other = ctx.tasks[f[0]].visit.id
                return (HorizonReason.FOLLOW_UP.value,
                        f"It must come {f[1]} day(s) after visit {other} ({ctx.dates[pd]}), and that day is not a "
                        "working day it may have.")
        free = [d for d in days if a.day_ok(t, d, without=o) or d <= a.frozen_until]
        blocked_same = [d for d in days if d not in free and any(
            a.day[x] == d for u in a.excl[t] for x in a.task_occ[u])]
        if not free and blocked_same:
            return (HorizonReason.SAME_DAY.value,
                    f"Every day it may have ({_days(ctx, days)}) already has a visit it may not share a day with.")
        return (HorizonReason.OVER_CAPACITY.value,
                f"Every day it may have ({_days(ctx, days)}) is fully booked with higher-priority visits by the "
                "workers who may make it; add a worker-day or move a lower-priority visit.")


def _days(ctx: Context, days: Sequence[int]) -> str:
    shown = [f"{ctx.dates[d]:%a %m-%d}" for d in days[:6]]
    return ", ".join(shown) + (f" and {len(days) - 6} more" if len(days) > 6 else "")


def plan_horizon(
    problem: HorizonProblem,
    travel: TravelTimeProvider,
    params: SolveParams | None = None,
    *,
    horizon: HorizonParams | None = None,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    solver: RoutingSolver | None = None,
    risk_model: RiskModel | None = None,
) -> HorizonResult:
    """Plan every day of the horizon: which household on which day, and each day's routes.

    Parameters
    ----------
    problem
        The horizon problem (dates, per-day availability, holidays, requests with their rules).
    travel
        Travel-time provider, as for :func:`planner.solve`.
    params
        ``time_limit_s`` is the whole call's budget (day choice, every day's routing, the final passes);
        in the deterministic mode each day's routing stops on ``solution_limit`` and the day choice on a
        fixed number of move evaluations, so the same input and seed give the same plans.
    horizon
        Weights of continuity, fairness and travel below risk, and the budget split
        (:class:`HorizonParams`).
    progress, should_stop
        As for :func:`planner.solve`, over the whole horizon.

    Returns
    -------
    HorizonResult
        One day plan per working day with visits (the day plan format), the visits planned on no day with
        a reason, and the summary (per household its days and how overdue it is then, per worker and day
        the load, the horizon's figures).
    """
    params = params or SolveParams()
    hp = horizon or HorizonParams()
    t0 = time.perf_counter()
    budget = params.time_limit_s
    deadline = t0 + budget
    ctx = prepare(problem, travel, risk_model=risk_model, cadence_step=hp.cadence_step,
                  margin_days=hp.margin_days, margin_step=hp.margin_step)
    a = Assignment(ctx, hp, seed=params.seed)
    a.construct()
    if params.deterministic:
        a.search(deadline=t0 + 0.5 * budget, max_evaluations=_DETERMINISTIC_EVALUATIONS, should_stop=should_stop)
    else:
        a.search(deadline=t0 + hp.assign_share * budget, max_evaluations=10**9, should_stop=should_stop)
    router = Router(ctx, a, ctx.travel, params, solver=solver, risk_model=risk_model, progress=progress,
                    should_stop=should_stop, t0=t0)
    work_days = list(ctx.work_days)
    stopped_reason = ""
    for i, d in enumerate(work_days):
        if should_stop is not None and should_stop():
            router.stopped = True
        if router.stopped:
            stopped_reason = "Planning was stopped before this visit's days were routed."
            break
        a.frozen_until = d - 1
        left = work_days[i:]
        weights = [max(4, sum(1 for day in a.day if day == x)) for x in left]
        reserve = _FINAL_RESERVE_S * len(left) + 0.02 * budget
        room = max(0.0, deadline - time.perf_counter() - reserve)
        share = room * weights[0] / sum(weights)
        router.route_day(d, share)
        a.frozen_until = d
        if i + 1 < len(work_days) and a.unassigned():
            repair_s = min(0.5, 0.02 * budget)
            if params.deterministic:
                a.search(deadline=None, max_evaluations=_DETERMINISTIC_EVALUATIONS // 10, should_stop=should_stop)
            else:
                a.search(deadline=time.perf_counter() + repair_s, max_evaluations=10**9, should_stop=should_stop)
    days, left_out = router.finish(stopped_reason=stopped_reason)
    summary = summarise(ctx, [x.plan for x in days], left_out)
    meta: dict[str, Any] = {
        "problem": problem.name, "from": problem.start.isoformat(), "to": problem.end.isoformat(),
        "time_limit_s": budget, "seed": params.seed, "deterministic": params.deterministic,
        "holidays": {k.isoformat(): v for k, v in ctx.holidays.items()},
        "method": "day choice (greedy + local search), then each day routed in order by planner.solve",
    }
    return HorizonResult(start=problem.start, end=problem.end, days=days, unassigned=left_out, summary=summary,
                         elapsed_s=time.perf_counter() - t0, stopped_early=router.stopped, meta=meta)


_DETERMINISTIC_EVALUATIONS = 60_000
