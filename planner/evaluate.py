"""Check any plan against every rule without the solver, and compute its KPIs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from .bound import CoverageBound, coverage_bound
from .domain import Household, Problem, Seat, Visit, Worker
from .instance import Instance, compile_instance
from .plan import Kpis, LeftBehind, Plan, Route, Stop, TierCount
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


def seat_seconds(problem: Problem, visit: Visit, seat: Seat, worker: Worker) -> int:
    """A seat's service time: its own, else the visit's, else the service time of the visit's kind for the
    worker's role."""
    if seat.duration_s is not None:
        return seat.duration_s
    if visit.duration_s:
        return visit.duration_s
    return problem.service_times.seconds(visit.kind.value, worker.role.value)


def seat_block(worker: Worker, visit: Visit, seat: Seat, household: Household) -> str:
    """Why ``worker`` may not take ``seat`` of joint ``visit`` ("" when it may): the visit's rules and the seat's."""
    if seat.worker_id is not None and worker.id != seat.worker_id:
        return f"the seat is {seat.worker_id}'s"
    if worker.id in visit.forbidden_worker_ids:
        return "excluded for this household"
    roles = visit.allowed_roles | ({seat.role} if seat.role is not None else set())
    if (visit.allowed_roles and worker.role not in visit.allowed_roles) or (
            seat.role is not None and worker.role != seat.role):
        return "needs a " + " and ".join(sorted(r.value for r in roles))
    missing = (visit.required_skills | seat.skills) - worker.skills
    if missing:
        return "needs skill " + ", ".join(sorted(missing))
    if not set(worker.languages) & set(household.languages):
        return "the household speaks " + "/".join(household.languages)
    return ""


def _seats(problem: Problem, plan: Plan, households: dict[str, Household]) -> dict[int, int]:
    """The seat of each joint visit's stop (keyed by ``id(stop)``): the one its crew names, else the first
    free seat its worker qualifies for (a plan edited by hand), else the first free one."""
    visits = problem.visits_by_id()
    workers = problem.workers_by_id()
    out: dict[int, int] = {}
    taken: dict[str, set[int]] = {}
    unnamed = []
    for route in plan.routes:
        for stop in route.stops:
            visit = visits.get(stop.visit_id)
            if visit is None or not visit.crew:
                continue
            if stop.crew is not None and 0 <= stop.crew.seat < len(visit.crew):
                out[id(stop)] = stop.crew.seat
                taken.setdefault(visit.id, set()).add(stop.crew.seat)
            else:
                unnamed.append((route.worker_id, stop, visit))
    for worker_id, stop, visit in unnamed:
        free = [k for k in range(len(visit.crew)) if k not in taken.setdefault(visit.id, set())]
        worker = workers.get(worker_id)
        fits = [k for k in free if worker is not None
                and not seat_block(worker, visit, visit.crew[k], households[visit.household_id])]
        if fits or free:
            out[id(stop)] = (fits or free)[0]
            taken[visit.id].add(out[id(stop)])
    return out


def _check_joint(problem: Problem, plan: Plan, seats: dict[int, int], households: dict[str, Household],
                 out: list[Violation]) -> None:
    """Joint visits: every seat taken once, by a qualified worker, all starting together; precedences: the
    first planned and the gap kept."""
    visits = problem.visits_by_id()
    workers = problem.workers_by_id()
    stops: dict[str, list[tuple[str, Stop]]] = {}
    for route in plan.routes:
        for stop in route.stops:
            stops.setdefault(stop.visit_id, []).append((route.worker_id, stop))
    for vid, held in stops.items():
        visit = visits.get(vid)
        if visit is None or not visit.crew:
            continue
        taken = [seats.get(id(s)) for _, s in held]
        if len(held) != len(visit.crew) or len(set(taken)) != len(taken) or len({w for w, _ in held}) != len(held):
            out.append(Violation(code="crew_incomplete", visit_id=vid,
                                 message=f"joint visit {vid} needs {len(visit.crew)} different workers, one per "
                                         f"seat; the plan has {len(held)} stop(s) by {len({w for w, _ in held})} "
                                         "worker(s)"))
        if len({s.start_s for _, s in held}) > 1:
            times = ", ".join(f"{w} {_hhmm(s.start_s)}" for w, s in held)
            out.append(Violation(code="crew_not_synchronised", visit_id=vid,
                                 message=f"joint visit {vid} starts at different times ({times})"))
        for worker_id, stop in held:
            worker, seat = workers.get(worker_id), seats.get(id(stop))
            if worker is None or seat is None:
                continue
            why = seat_block(worker, visit, visit.crew[seat], households[visit.household_id])
            if why:
                out.append(Violation(code="crew_unqualified", visit_id=vid, worker_id=worker_id,
                                     message=f"{worker_id} may not take seat {seat + 1} of joint visit {vid} ({why})"))
    for p in problem.precedences:
        first, then = stops.get(p.first), stops.get(p.then)
        if then and not first:
            out.append(Violation(code="precedence_missing_first", visit_id=p.then,
                                 message=f"visit {p.then} is planned but {p.first}, which it must follow, is not"))
        elif then and first:
            gap = min(s.start_s for _, s in then) - min(s.start_s for _, s in first)
            if gap < p.min_gap_s or (p.max_gap_s is not None and gap > p.max_gap_s):
                most = "" if p.max_gap_s is None else f"..{p.max_gap_s // 60}"
                out.append(Violation(code="precedence_gap", visit_id=p.then,
                                     message=f"visit {p.then} starts {gap // 60} min after {p.first}, outside "
                                             f"{p.min_gap_s // 60}{most} min"))


def _check_route(
    inst: Instance, w: int, route: Route, vidx: dict[str, int], out: list[Violation],
    households: dict[str, Household] | None = None, seats: dict[int, int] | None = None,
) -> None:
    worker = inst.worker(w)
    wid = worker.id

    def bad(code: str, message: str, visit_id: str = "") -> None:
        out.append(Violation(code=code, message=message, worker_id=wid, visit_id=visit_id))

    stops = [s for s in route.stops if s.visit_id in vidx]
    households = households if households is not None else inst.problem.households_by_id()
    seats = seats if seats is not None else _seats(inst.problem, Plan(date=inst.problem.date, routes=(route,)),
                                                   households)
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
            visit = inst.visit(v)
            if visit.crew:
                seat = seats.get(id(stops[k]))
                service = 0 if seat is None else seat_seconds(inst.problem, visit, visit.crew[seat], worker)
            else:
                service = int(inst.service_s[v, w])
                if w not in inst.allowed[v]:
                    bad("qualification",
                        f"{wid} may not make visit {visit_id} ({inst.block[v] or 'rules of the visit'})", visit_id)
            starts = allowed_starts(households[visit.household_id], visit, inst.clock.weekday)
            if not any(s <= start <= e for s, e in starts):
                wins = ", ".join(f"{_hhmm(s)}-{_hhmm(e)}" for s, e in sorted(starts)) or "none today"
                bad("time_window", f"visit {visit_id} starts at {_hhmm(start)}, outside its windows ({wins})", visit_id)
            if end - start < service:
                bad("service_time", f"visit {visit_id} lasts {(end - start) // 60} min, less than {service // 60} min",
                    visit_id)
        prev_loc, prev_end, prev_label = int(loc), end, where
    if worker.max_work_s is not None and stops:
        work = route.return_s - route.depart_s - (
            (brk_end - brk) if brk is not None and brk_end is not None else 0
        )
        if work > worker.max_work_s:
            bad("max_work", f"{wid} works {work // 60} min, more than the maximum of {worker.max_work_s // 60} min")


def compute_kpis(inst: Instance, plan: Plan, *, bound: CoverageBound | None = None) -> Kpis:
    """Risk-weighted coverage, visits by tier, travel, utilisation and the worst left-behind; with ``bound``
    (:func:`planner.bound.coverage_bound` of the same day) also the upper bound on coverage and the gap to it."""
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
            node = v
            if inst.crew and inst.crew[v] and s.crew is not None and s.crew.seat < len(inst.crew[v]):
                node = inst.crew[v][s.crew.seat]
            busy += int(inst.service_s[node, w])
            service_s += int(inst.service_s[node, w])
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
        coverage_bound=None if bound is None else bound.value,
        coverage_gap=None if bound is None else round(bound.gap(float(sum(inst.weight[v] for v in served))), 6),
        coverage_bound_method=None if bound is None else bound.method,
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
    seats = _seats(problem, plan, households)
    crews = {v.id: len(v.crew) for v in problem.visits if v.crew}
    stops_of: dict[str, int] = {}
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
            elif stop.visit_id in seen and stops_of.get(stop.visit_id, 0) >= crews.get(stop.visit_id, 1):
                out.append(Violation(code="duplicate_visit", message=f"visit {stop.visit_id} is planned twice",
                                     worker_id=route.worker_id, visit_id=stop.visit_id))
            seen[stop.visit_id] = route.worker_id
            stops_of[stop.visit_id] = stops_of.get(stop.visit_id, 0) + 1
        _check_route(inst, widx[route.worker_id], route, vidx, out, households, seats)
    _check_joint(problem, plan, seats, households, out)
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
    bound_s: float | None = None,
) -> Evaluation:
    """Recompute every arrival of ``plan`` from ``travel`` and list each rule it breaks.

    Works for any plan, including one edited by hand: unknown or duplicated ids, skills,
    languages and required/forbidden workers, time windows, shifts, breaks, travel times,
    service times, visit and working-time limits, and visits that are neither planned nor
    listed as unassigned.  With ``bound_s`` the KPIs also state the day's upper bound on coverage
    (:func:`planner.bound.coverage_bound`, deterministic, with that many seconds as its safety cap).
    """
    inst = compile_instance(problem, travel, risk_model=risk_model)
    ev = evaluate_instance(inst, plan)
    if bound_s is None:
        return ev
    b = coverage_bound(inst, time_limit_s=bound_s, deterministic=True)
    return replace(ev, kpis=compute_kpis(inst, plan, bound=b))


def violations_summary(violations: Sequence[Violation]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in violations:
        counts[v.code] = counts.get(v.code, 0) + 1
    return counts
