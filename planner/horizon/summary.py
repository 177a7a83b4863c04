"""The horizon summary: per household its planned days and how overdue it is then, per worker and day the load."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence

from ..plan import Plan
from .context import Context
from .model import split_occurrence_id
from .result import HorizonKpis, HorizonSummary, HorizonUnassigned, HouseholdVisits, PlannedVisit, WorkerDay

__all__ = ["summarise"]


def summarise(ctx: Context, plans: Sequence[Plan], unassigned: Sequence[HorizonUnassigned]) -> HorizonSummary:
    """Judge ``plans`` (any plans of the horizon's days: the planner's or the day-by-day baseline's)."""
    problem = ctx.problem
    tindex = {info.visit.id: t for t, info in enumerate(ctx.tasks)}
    # (day index, worker id, occurrence id) per request
    planned: dict[int, list[tuple[int, str, str]]] = {t: [] for t in range(len(ctx.tasks))}
    loads: list[WorkerDay] = []
    by_date = {p.date: p for p in plans}
    travel_total = 0
    for d, day in enumerate(ctx.dates):
        plan = by_date.get(day)
        routes = {r.worker_id: r for r in plan.routes} if plan is not None else {}
        for w in problem.workers:
            shift, why = problem.shift_on(w, day, holidays=ctx.holidays)
            r = routes.get(w.id)
            if r is None:
                loads.append(WorkerDay(worker_id=w.id, date=day, status="working" if shift else why))
                continue
            brk = (r.break_end_s - r.break_start_s) if r.break_start_s is not None and r.break_end_s is not None \
                else 0
            loads.append(WorkerDay(
                worker_id=w.id, date=day, status="working" if shift else why, visits=len(r.stops),
                work_s=r.return_s - r.depart_s - brk, service_s=sum(s.end_s - s.start_s for s in r.stops),
                travel_s=r.travel_s))
            travel_total += r.travel_s
            for s in r.stops:
                if s.crew is not None and s.crew.seat > 0:
                    continue  # a joint visit counts once (its first seat)
                request, _ = split_occurrence_id(s.visit_id)
                t = tindex.get(s.visit_id, tindex.get(request))
                if t is not None:
                    planned[t].append((d, w.id, s.visit_id))
    risk_covered = risk_total = ageing = 0.0
    for t in range(len(ctx.tasks)):
        days = sorted(x[0] for x in planned[t])
        empty, _ = ctx.risk_parts(t, [])
        left, aged = ctx.risk_parts(t, days)
        risk_total += empty
        risk_covered += empty - left
        ageing += aged
    households = _households(ctx, planned)
    spreads, sds = [], []
    for w in problem.workers:
        counts = [x.visits for x in loads if x.worker_id == w.id and x.status == "working"]
        if len(counts) >= 2:
            spreads.append(max(counts) - min(counts))
            sds.append(statistics.pstdev(counts))
    intensive = [h for h in households if h.tier == "intensive" and h.within_cadence is not None]
    overdue = [(h, first) for h in households if h.overdue_at_start
               for first in [_first_option(ctx, h.household_id)]]
    must_left = [u for u in unassigned if u.mandatory]
    kpis = HorizonKpis(
        visits_total=sum(info.count for info in ctx.tasks),
        visits_planned=sum(len(v) for v in planned.values()),
        mandatory_left_out=len(must_left),
        urgent_left_out=sum(1 for u in unassigned if u.urgent),
        risk_covered=round(risk_covered, 3),
        risk_total=round(risk_total, 3),
        ageing=round(ageing, 3),
        intensive_due=len(intensive),
        intensive_within_cadence=sum(1 for h in intensive if h.within_cadence),
        overdue_at_start=len(overdue),
        overdue_visited_first_day=sum(1 for h, first in overdue if h.visits and first is not None
                                      and h.visits[0].date <= first),
        daily_visit_spread=round(statistics.fmean(spreads), 3) if spreads else 0.0,
        daily_visit_sd=round(statistics.fmean(sds), 3) if sds else 0.0,
        travel_s=travel_total,
        working_days=len(ctx.work_days),
    )
    return HorizonSummary(households=households, loads=tuple(loads), kpis=kpis)


def _households(ctx: Context, planned: dict[int, list[tuple[int, str, str]]]) -> tuple[HouseholdVisits, ...]:
    problem = ctx.problem
    never_x = float(ctx.model.config["penalty"]["never_contacted_x"])
    by_household: dict[int, list[int]] = {}
    for t, info in enumerate(ctx.tasks):
        by_household.setdefault(info.household_index, []).append(t)
    out = []
    for hi in sorted(by_household):
        tasks = by_household[hi]
        info = ctx.tasks[tasks[0]]
        h = problem.households[hi]
        visits = sorted((d, wid, vid) for t in tasks for d, wid, vid in planned[t])
        left = sum(ctx.tasks[t].count - len(planned[t]) for t in tasks)
        overdue = info.last_day is None or info.last_day + info.cadence < 0
        due_day: int | None = None
        if info.last_day is not None and not overdue and info.last_day + info.cadence < len(ctx.dates):
            # On time: by the last day it could have on or before its due date, else the first one after.
            cal_due = info.last_day + info.cadence
            options = sorted({d for t in tasks for d in ctx.tasks[t].days})
            before = [d for d in options if d <= cal_due]
            due_day = before[-1] if before else next((d for d in options if d >= cal_due), None)
        elif overdue:
            due_day = next(iter(ctx.work_days), None)
        due = ctx.dates[due_day] if due_day is not None else None
        rows = []
        contact = info.last_day
        for d, wid, vid in visits:
            days_late = round((never_x - 1) * info.cadence) if contact is None else max(0, d - contact - info.cadence)
            rows.append(PlannedVisit(date=ctx.dates[d], visit_id=vid, worker_id=wid, days_overdue=days_late))
            contact = d
        out.append(HouseholdVisits(household_id=h.id, tier=info.tier, due=due, visits=tuple(rows), left_out=left,
                                   overdue_at_start=overdue))
    return tuple(out)


def _first_option(ctx: Context, household_id: str) -> dt.date | None:
    """The first day any request of the household may have (``None`` when none may happen)."""
    days = [d for info in ctx.tasks if ctx.problem.households[info.household_index].id == household_id
            for d in info.days]
    return ctx.dates[min(days)] if days else None
