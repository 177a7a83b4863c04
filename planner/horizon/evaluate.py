"""Check a horizon plan without the planner: every day against the day rules, and the rules across days."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Mapping
from dataclasses import dataclass

from ..domain import Problem, Visit, Worker
from ..evaluate import Evaluation, Violation, evaluate
from ..plan import Plan
from ..risk import RiskModel
from ..travel.base import TravelTimeProvider
from .model import HorizonProblem, HorizonVisit, day_worker, split_occurrence_id
from .result import HorizonPlan

__all__ = ["HorizonEvaluation", "evaluate_horizon"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HorizonEvaluation:
    """The rules a horizon plan breaks: across days (``violations``) and within each day (``days``)."""

    violations: tuple[Violation, ...]
    days: Mapping[dt.date, Evaluation]

    @property
    def ok(self) -> bool:
        return not self.violations and all(e.ok for e in self.days.values())

    def all_violations(self) -> tuple[Violation, ...]:
        return self.violations + tuple(v for e in self.days.values() for v in e.violations)


def _request(visits: Mapping[str, HorizonVisit], visit_id: str) -> tuple[HorizonVisit | None, int]:
    if visit_id in visits:
        return visits[visit_id], 1
    head, k = split_occurrence_id(visit_id)
    hv = visits.get(head)
    if hv is None or hv.count == 1 or visit_id != f"{head}#{k}":
        return None, 0
    return hv, k


def evaluate_horizon(problem: HorizonProblem, plan: HorizonPlan, travel: TravelTimeProvider, *,
                     risk_model: RiskModel | None = None) -> HorizonEvaluation:
    """Recompute every day of ``plan`` with :func:`planner.evaluate` (that day's shifts: a worker's own
    calendar, leave and holidays) and check the rules across days: per request the number of visits, their
    spacing, dates and day patterns, same-day exclusions, follow-ups, and that each visit of each request is
    planned once or listed as left out."""
    out: list[Violation] = []
    visits = {hv.id: hv for hv in problem.visits}
    holidays = problem.holiday_names()
    if (plan.start, plan.end) != (problem.start, problem.end):
        out.append(Violation(code="dates", message=f"plan covers {plan.start}..{plan.end}, problem "
                                                   f"{problem.start}..{problem.end}"))
    days: dict[dt.date, Evaluation] = {}
    planned: dict[str, list[tuple[dt.date, int]]] = {}  # request -> (day, occurrence number)
    where: dict[str, dt.date] = {}
    for p in plan.plans:
        if not problem.start <= p.date <= problem.end:
            out.append(Violation(code="date", message=f"a plan for {p.date} lies outside the horizon"))
            continue
        if p.date in days:
            out.append(Violation(code="date", message=f"two plans for {p.date}"))
            continue
        days[p.date] = evaluate(_day_problem(problem, p, visits, holidays, out), p, travel, risk_model=risk_model)
        for r in p.routes:
            for s in r.stops:
                hv, k = _request(visits, s.visit_id)
                if hv is None:
                    continue
                if s.crew is not None and s.crew.seat > 0:
                    continue  # a joint visit's other seats: the day's check covers them
                if s.visit_id in where:
                    out.append(Violation(code="duplicate_visit", visit_id=s.visit_id, worker_id=r.worker_id,
                                         message=f"visit {s.visit_id} is planned on {where[s.visit_id]} and on "
                                                 f"{p.date}"))
                    continue
                where[s.visit_id] = p.date
                planned.setdefault(hv.id, []).append((p.date, k))
    left = {u.visit_id for u in plan.unassigned}
    for vid in sorted(left & set(where)):
        out.append(Violation(code="duplicate_visit", visit_id=vid,
                             message=f"visit {vid} is both planned ({where[vid]}) and left out"))
    for hv in problem.visits:
        _check_request(hv, sorted(planned.get(hv.id, [])), planned, visits, left, out)
    return HorizonEvaluation(violations=tuple(out), days=days)


def _day_problem(problem: HorizonProblem, plan: Plan, visits: Mapping[str, HorizonVisit],
                 holidays: Mapping[dt.date, str], out: list[Violation]) -> Problem:
    """The day as the plan uses it: every worker (with that day's shift when working), and a visit for each
    known id the plan mentions."""
    workers: list[Worker] = []
    for w in problem.workers:
        shift, why = problem.shift_on(w, plan.date, holidays=holidays)
        if shift is None:
            if plan.route_of(w.id) is not None:
                out.append(Violation(code="worker_off", worker_id=w.id,
                                     message=f"{w.id} has a route on {plan.date}, a day off ({why})"))
            workers.append(w)
        else:
            workers.append(day_worker(w, shift))
    ids = [s.visit_id for r in plan.routes for s in r.stops] + [u.visit_id for u in plan.unassigned]
    day_visits: list[Visit] = []
    seen: set[str] = set()
    for vid in ids:
        hv, _ = _request(visits, vid)
        if hv is not None and vid not in seen:
            seen.add(vid)
            day_visits.append(dataclasses.replace(hv.visit, id=vid))
    return problem.template(plan.date, workers=tuple(workers), visits=tuple(day_visits))


def _check_request(hv: HorizonVisit, mine: list[tuple[dt.date, int]], planned: Mapping[str, list[tuple[dt.date, int]]],
                   visits: Mapping[str, HorizonVisit], left: set[str], out: list[Violation]) -> None:
    def bad(code: str, message: str) -> None:
        out.append(Violation(code=code, visit_id=hv.id, message=message))

    days = [d for d, _ in mine]
    if len(mine) > hv.count:
        bad("count", f"visit {hv.id} is planned {len(mine)} times, more than its count of {hv.count}")
    for a, b in itertools.pairwise(days):
        if (b - a).days < hv.min_spacing_days:
            bad("spacing", f"visit {hv.id} on {a} and {b}: {(b - a).days} day(s) apart, less than "
                           f"{hv.min_spacing_days}")
    for d in days:
        if (hv.earliest is not None and d < hv.earliest) or (hv.latest is not None and d > hv.latest):
            bad("dates", f"visit {hv.id} on {d} lies outside {hv.earliest or '…'}..{hv.latest or '…'}")
    if hv.day_patterns and days and not any(set(days) <= set(p) for p in hv.day_patterns):
        bad("pattern", f"visit {hv.id} on {', '.join(map(str, days))} follows none of its day patterns")
    for other in sorted(hv.not_same_day_as):
        shared = sorted(set(days) & {d for d, _ in planned.get(other, [])})
        if shared and hv.id < other:  # report each pair once
            bad("same_day", f"visits {hv.id} and {other} share {', '.join(map(str, shared))}")
    if hv.after is not None and days:
        before = [d for d, _ in planned.get(hv.after.visit_id, [])]
        lo, hi = hv.after.days, hv.after.days + hv.after.slack_days
        if not before:
            bad("follow_up", f"visit {hv.id} follows {hv.after.visit_id}, which is not planned")
        elif not any(lo <= (d - before[0]).days <= hi for d in days):
            bad("follow_up", f"visit {hv.id} on {days[0]} must come {lo}" + (f"-{hi}" if hi != lo else "")
                + f" day(s) after {hv.after.visit_id} ({before[0]})")
    numbers = {k for _, k in mine}
    for k in range(1, hv.count + 1):
        vid = hv.id if hv.count == 1 else f"{hv.id}#{k}"
        if k not in numbers and vid not in left:
            bad("missing_visit", f"visit {vid} is neither planned on a day nor listed as left out")
