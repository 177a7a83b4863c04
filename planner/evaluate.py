"""Check any plan against every rule without the solver, and compute its KPIs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .domain import Household, Problem, Visit
from .instance import Instance, compile_instance
from .plan import Kpis, LeftBehind, Plan, Route, TierCount
from .risk import TIERS, RiskModel
from .travel.base import UNREACHABLE, TravelTimeProvider

__all__ = ["Evaluation", "Violation", "allowed_starts", "compute_kpis", "evaluate", "evaluate_instance"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    """One broken rule, named by ``code``, with a sentence for people."""

    code: str
    message: str
    worker_id: str = ""
    visit_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Evaluation:
    violations: tuple[Violation, ...]
    kpis: Kpis

    @property
    def ok(self) -> bool:
        return not self.violations


def _hhmm(s: int) -> str:
    return f"{s // 3600:02d}:{(s % 3600) // 60:02d}"


def allowed_starts(household: Household, visit: Visit, weekday: str) -> list[tuple[int, int]]:
    """When ``visit`` may start on ``weekday``: each of its windows (the whole day without any) cut by
    each of the household's availability windows that day (no cut without availability), end inclusive.

    Written here, apart from the solvers' compile step, so the checker does not share its faults.
    """
    own = [(w.start_s, w.end_s) for w in visit.time_windows] or [(0, 24 * 3600)]
    if not household.availability:
        return own
    home = [(a.window.start_s, a.window.end_s) for a in household.availability if a.weekday == weekday]
    return [(max(s, a), min(e, b)) for s, e in own for a, b in home if max(s, a) <= min(e, b)]


def _check_route(
    inst: Instance, w: int, route: Route, vidx: dict[str, int], out: list[Violation],
    households: dict[str, Household] | None = None,
) -> None:
    worker = inst.worker(w)
    wid = worker.id

    def bad(code: str, message: str, visit_id: str = "") -> None:
        out.append(Violation(code=code, message=message, worker_id=wid, visit_id=visit_id))

    stops = [s for s in route.stops if s.visit_id in vidx]
    households = households if households is not None else inst.problem.households_by_id()
    shift = worker.shift
    if route.depart_s < shift.start_s:
        bad("shift", f"{wid} departs at {_hhmm(route.depart_s)}, before the shift starts at {_hhmm(shift.start_s)}")
    if route.return_s > shift.end_s:
        bad("shift", f"{wid} returns at {_hhmm(route.return_s)}, after the shift ends at {_hhmm(shift.end_s)}")
    if worker.max_visits is not None and len(stops) > worker.max_visits:
        bad("max_visits", f"{wid} has {len(stops)} visits, more than the maximum of {worker.max_visits}")
    load = sum(inst.visit(vidx[s.visit_id]).load for s in stops)
    if worker.capacity is not None and load > worker.capacity:
        bad("capacity", f"{wid} carries {load} units, more than its capacity of {worker.capacity}")

    brk = route.break_start_s
    brk_end = route.break_end_s
    if brk_end is None and brk is not None:
        brk_end = brk + worker.break_s
    if worker.break_s and stops:
        if brk is None or brk_end is None:
            bad("break", f"{wid} has no lunch break in the plan")
        else:
            bw = worker.break_window
            assert bw is not None
            if brk_end - brk < worker.break_s:
                bad("break", f"{wid}'s break lasts {(brk_end - brk) // 60} min, less than {worker.break_s // 60} min")
            if brk < bw.start_s or brk_end > bw.end_s:
                bad("break", f"{wid}'s break {_hhmm(brk)}-{_hhmm(brk_end)} is outside its window "
                             f"{_hhmm(bw.start_s)}-{_hhmm(bw.end_s)}")
            if brk < route.depart_s or brk_end > route.return_s:
                bad("break", f"{wid}'s break {_hhmm(brk)}-{_hhmm(brk_end)} is outside the working day "
                             f"{_hhmm(route.depart_s)}-{_hhmm(route.return_s)}")

    prev_loc, prev_end, prev_label = int(inst.start_loc[w]), route.depart_s, "the start"
    events = [(s.start_s, s.end_s, inst.visit_loc[vidx[s.visit_id]], s.visit_id) for s in stops]
    events.append((route.return_s, route.return_s, inst.end_loc[w], ""))
    travel_total = 0
    for k, (start, end, loc, visit_id) in enumerate(events):
        secs, _ = inst.travel(w, prev_loc, int(loc))
        where = f"visit {visit_id}" if visit_id else "the end of the route"
        if secs >= UNREACHABLE:
            bad("unreachable", f"{wid} cannot travel from {prev_label} to {where}", visit_id)
            secs = 0
        travel_total += secs
        need = secs
        if brk is not None and brk_end is not None and prev_end <= brk and brk_end <= start:
            need += brk_end - brk
        elif brk is not None and brk_end is not None and brk < start and brk_end > prev_end:
            bad("break", f"{wid}'s break {_hhmm(brk)}-{_hhmm(brk_end)} overlaps {where}", visit_id)
        if start - prev_end < need:
            bad("travel", f"{wid} reaches {where} at {_hhmm(prev_end + need)} at the earliest, "
                          f"but the plan says {_hhmm(start)}", visit_id)
        if visit_id:
            v = vidx[visit_id]
            if w not in inst.allowed[v]:
                bad("qualification", f"{wid} may not make visit {visit_id} ({inst.block[v] or 'rules of the visit'})",
                    visit_id)
            visit = inst.visit(v)
            starts = allowed_starts(households[visit.household_id], visit, inst.clock.weekday)
            if not any(s <= start <= e for s, e in starts):
                wins = ", ".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in sorted(starts)) or "none today"
                bad("time_window", f"visit {visit_id} starts at {_hhmm(start)}, outside its windows ({wins})", visit_id)
            service = int(inst.service_s[v, w])
            if end - start < service:
                bad("service_time", f"visit {visit_id} lasts {(end - start) // 60} min, less than {service // 60} min",
                    visit_id)
        prev_loc, prev_end, prev_label = int(loc), end, where
        del k
    if worker.max_work_s is not None and stops:
        work = route.return_s - route.depart_s - (
            (brk_end - brk) if brk is not None and brk_end is not None else 0
        )
        if work > worker.max_work_s:
            bad("max_work", f"{wid} works {work // 60} min, more than the maximum of {worker.max_work_s // 60} min")


def compute_kpis(inst: Instance, plan: Plan) -> Kpis:
    """Risk-weighted coverage, visits by tier, travel, utilisation and the worst left-behind."""
    vidx = {v.id: i for i, v in enumerate(inst.problem.visits)}
    served = {vidx[s.visit_id] for r in plan.routes for s in r.stops if s.visit_id in vidx}
    total_w = float(inst.weight.sum())
    by_tier = {t: {"total": 0, "served": 0} for t in TIERS}
    for v, risk in enumerate(inst.risk):
        by_tier[risk.tier]["total"] += 1
        by_tier[risk.tier]["served"] += int(v in served)
    widx = {w.id: i for i, w in enumerate(inst.problem.workers)}
    utilisation: dict[str, float] = {}
    travel_s = travel_m = service_s = 0
    for r in plan.routes:
        w = widx.get(r.worker_id)
        if w is None:
            continue
        worker = inst.worker(w)
        prev = int(inst.start_loc[w])
        busy = 0
        for s in r.stops:
            if s.visit_id not in vidx:
                continue
            v = vidx[s.visit_id]
            secs, metres = inst.travel(w, prev, int(inst.visit_loc[v]))
            if secs < UNREACHABLE:
                travel_s, travel_m, busy = travel_s + secs, travel_m + metres, busy + secs
            busy += int(inst.service_s[v, w])
            service_s += int(inst.service_s[v, w])
            prev = int(inst.visit_loc[v])
        if r.stops:
            secs, metres = inst.travel(w, prev, int(inst.end_loc[w]))
            if secs < UNREACHABLE:
                travel_s, travel_m, busy = travel_s + secs, travel_m + metres, busy + secs
        available = worker.shift.length_s - worker.break_s
        if worker.max_work_s is not None:
            available = min(available, worker.max_work_s)
        utilisation[worker.id] = round(busy / available, 3) if available > 0 else 0.0
    left = [v for v in range(inst.n_visits) if v not in served and inst.risk[v].tier in ("urgent", "intensive")]
    worst = None
    if left:
        v = max(left, key=lambda i: (inst.risk[i].days_overdue, inst.weight[i]))
        worst = LeftBehind(
            visit_id=inst.visit(v).id,
            household_id=inst.visit(v).household_id,
            tier=inst.risk[v].tier,
            days_overdue=inst.risk[v].days_overdue,
        )
    return Kpis(
        visits_total=inst.n_visits,
        visits_assigned=len(served),
        visits_unassigned=inst.n_visits - len(served),
        risk_weighted_coverage=round(float(sum(inst.weight[v] for v in served)) / total_w, 4) if total_w else 1.0,
        risk_covered=round(float(sum(inst.weight[v] for v in served)), 3),
        risk_total=round(total_w, 3),
        visits_by_tier={t: TierCount(**c) for t, c in by_tier.items()},
        mandatory_unassigned=sum(
            1 for v, x in enumerate(inst.problem.visits) if x.mandatory and v not in served
        ),
        urgent_unassigned=sum(1 for v, x in enumerate(inst.problem.visits) if x.urgent and v not in served),
        travel_s=travel_s,
        travel_m=travel_m,
        service_s=service_s,
        utilisation=utilisation,
        worst_overdue_left_out=worst,
    )


def evaluate_instance(inst: Instance, plan: Plan) -> Evaluation:
    """Evaluate ``plan`` against a compiled instance."""
    out: list[Violation] = []
    problem = inst.problem
    if plan.date != problem.date:
        out.append(Violation(code="date", message=f"plan is for {plan.date}, problem for {problem.date}"))
    vidx = {v.id: i for i, v in enumerate(problem.visits)}
    widx = {w.id: i for i, w in enumerate(problem.workers)}
    households = problem.households_by_id()
    seen: dict[str, str] = {}
    routed_workers: set[str] = set()
    for route in plan.routes:
        if route.worker_id not in widx:
            out.append(Violation(code="unknown_worker", message=f"unknown worker {route.worker_id!r}",
                                 worker_id=route.worker_id))
            continue
        if route.worker_id in routed_workers:
            out.append(Violation(code="duplicate_route", message=f"worker {route.worker_id} has two routes",
                                 worker_id=route.worker_id))
        routed_workers.add(route.worker_id)
        for stop in route.stops:
            if stop.visit_id not in vidx:
                out.append(Violation(code="unknown_visit", message=f"unknown visit {stop.visit_id!r}",
                                     worker_id=route.worker_id, visit_id=stop.visit_id))
            elif stop.visit_id in seen:
                out.append(Violation(code="duplicate_visit", message=f"visit {stop.visit_id} is planned twice",
                                     worker_id=route.worker_id, visit_id=stop.visit_id))
            seen[stop.visit_id] = route.worker_id
        _check_route(inst, widx[route.worker_id], route, vidx, out, households)
    for u in plan.unassigned:
        if u.visit_id not in vidx:
            out.append(Violation(code="unknown_visit", message=f"unknown unassigned visit {u.visit_id!r}",
                                 visit_id=u.visit_id))
        elif u.visit_id in seen:
            out.append(Violation(code="duplicate_visit",
                                 message=f"visit {u.visit_id} is both planned and unassigned", visit_id=u.visit_id))
        seen.setdefault(u.visit_id, "")
    for visit in problem.visits:
        if visit.id not in seen:
            out.append(Violation(code="missing_visit",
                                 message=f"visit {visit.id} is neither planned nor listed as unassigned",
                                 visit_id=visit.id))
    return Evaluation(violations=tuple(out), kpis=compute_kpis(inst, plan))


def evaluate(
    problem: Problem,
    plan: Plan,
    travel: TravelTimeProvider,
    *,
    risk_model: RiskModel | None = None,
) -> Evaluation:
    """Recompute every arrival of ``plan`` from ``travel`` and list each rule it breaks.

    Works for any plan, including one edited by hand: unknown or duplicated ids, skills,
    languages and required/forbidden workers, time windows, shifts, breaks, travel times,
    service times, visit and working-time limits, and visits that are neither planned nor
    listed as unassigned.
    """
    return evaluate_instance(compile_instance(problem, travel, risk_model=risk_model), plan)


def violations_summary(violations: Sequence[Violation]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in violations:
        counts[v.code] = counts.get(v.code, 0) + 1
    return counts
