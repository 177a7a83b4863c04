"""The one entry point: ``solve(problem, travel, params) -> Result``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .bound import coverage_bound, full_bound
from .domain import Problem
from .evaluate import compute_kpis
from .insertion import InsertionIndex
from .instance import Instance, compile_instance
from .joint import explain_joint, insert_dropped, links, schedule_routes
from .params import SolveParams
from .plan import Crew, Partner, Plan, Reason, Route, Stop, Unassigned
from .risk import RiskModel
from .schedule import Timing, feasible_part, schedule_route
from .solvers import decompose
from .solvers.base import Progress, RawSolution, RoutingSolver
from .solvers.budget import Deadline, pace
from .solvers.repair import repair
from .solvers.select import solver_for
from .timeline import format_hhmm
from .travel.base import TravelTimeProvider

__all__ = ["Result", "explain_unassigned", "solve"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Result:
    plan: Plan
    instance: Instance
    objective: int
    elapsed_s: float
    stopped_early: bool = False


def _crew_of(inst: Instance, node: int, worker_of: dict[int, int]) -> Crew | None:
    """The seat and partners of a joint visit's stop (``None`` for a one-worker visit)."""
    v, seat = inst.seat_of(node)
    nodes = inst.crew[v]
    if not nodes:
        return None
    return Crew(seat=seat, partners=tuple(
        Partner(worker_id=inst.worker(worker_of[n]).id, role=inst.worker(worker_of[n]).role.value)
        for n in nodes if n != node and n in worker_of
    ))


def _route_from(inst: Instance, w: int, order: tuple[int, ...], timing: Timing,
                worker_of: dict[int, int] | None = None) -> Route:
    stops = tuple(
        Stop(
            visit_id=inst.visit(v).id,
            household_id=inst.visit(v).household_id,
            arrival_s=timing.arrivals[k],
            start_s=timing.starts[k],
            end_s=timing.ends[k],
            travel_s=timing.legs[k][0],
            travel_m=timing.legs[k][1],
            crew=None if worker_of is None else _crew_of(inst, v, worker_of),
        )
        for k, v in enumerate(order)
    )
    worker = inst.worker(w)
    brk = timing.break_start_s if order else None
    return Route(
        worker_id=worker.id,
        depart_s=timing.depart_s,
        return_s=timing.return_s,
        stops=stops,
        break_start_s=brk,
        break_end_s=None if brk is None else brk + worker.break_s,
        travel_s=sum(s for s, _ in timing.legs),
        travel_m=sum(m for _, m in timing.legs),
    )


def _raw_timing(inst: Instance, w: int, raw: RawSolution) -> Timing:
    """Timing straight from the solver's own times (used if re-timing disagrees)."""
    order = raw.routes[w]
    assert raw.starts is not None and raw.departs is not None and raw.returns is not None
    starts = raw.starts[w]
    prev, legs, arrivals, ends = int(inst.start_loc[w]), [], [], []
    t = raw.departs[w]
    for k, v in enumerate(order):
        leg = inst.travel(w, prev, int(inst.visit_loc[v]))
        legs.append(leg)
        arrivals.append(min(starts[k], t + leg[0]))
        t = starts[k] + int(inst.service_s[v, w])
        ends.append(t)
        prev = int(inst.visit_loc[v])
    legs.append(inst.travel(w, prev, int(inst.end_loc[w])))
    return Timing(
        depart_s=raw.departs[w], return_s=raw.returns[w], arrivals=tuple(arrivals), starts=tuple(starts),
        ends=tuple(ends), legs=tuple(legs), break_start_s=None if raw.breaks is None else raw.breaks[w],
    )


_EXPLAIN_TRIES = 12
#: The coverage bound's share of the budget, and its most seconds.
_BOUND_SHARE = 0.05
_BOUND_MAX_S = 2.0
#: CPU seconds the post-passes need (repair, explanations, KPIs), fixed and per optional visit: measured 0.24 s at
#: 2,000 visits and 4.9 s at 10,000 (1,486 left out), at load 1.5-3; once the budget is spent the repair stops and
#: the explanations are brief (1.2 s at 10,000).  On the clock they are scaled by the pace the process has run at.
_POST_PASS_S = 0.05
_POST_PASS_S_PER_VISIT = 0.0005
#: CPU seconds per visit of what runs after the repair whatever the clock (routes, brief explanations, KPIs).
_TAIL_S_PER_VISIT = 0.00015
#: Share of the budget kept after the search on a day with joint visits or precedences (the pair insertion of what
#: the search left out ends with the budget).
_JOINT_POST_SHARE = 0.05
_JOINT_POST_MAX_S = 1.5


class _Explainer:
    """Shared state for explaining many unassigned visits of one plan (insertion index, lone-visit timings)."""

    def __init__(self, inst: Instance, routes: list[tuple[int, ...]], *,
                 brief: Callable[[], bool] | None = None) -> None:
        self.inst = inst
        #: True once the budget is spent: a full day's explanation then skips the insertion tries.
        self.brief = brief or (lambda: False)
        self.index = InsertionIndex(inst, routes)
        self._singles: dict[tuple, Timing] = {}
        # Workers alike in every input to a lone visit's timing but its service time share a class (issue 16: on a
        # 10,000-visit day the per-worker keys of every unassigned visit took 90 s).
        kinds: dict[tuple, int] = {}
        self._cls = np.array([kinds.setdefault(
            (int(inst.start_loc[w]), int(inst.end_loc[w]), id(inst.tables[w]), wk.travel_mode, wk.shift,
             wk.break_window, wk.break_s, wk.max_work_s), len(kinds))
            for w, wk in enumerate(inst.problem.workers)], dtype=np.int64)

    def alike(self, v: int, workers: list[int]) -> list[int]:
        """The first of each group of ``workers`` (sorted) whose timing of ``v`` alone is the same."""
        ws = np.asarray(workers, dtype=np.int64)
        _, first = np.unique(self._cls[ws] * (1 << 32) + self.inst.service_s[v, ws], return_index=True)
        return sorted(ws[first].tolist())

    def single(self, w: int, v: int, *, relax: bool = False) -> Timing:
        """The timing of ``v`` alone in ``w``'s day; workers alike in every input to it share one."""
        key = (v, relax, int(self._cls[w]), int(self.inst.service_s[v, w]))
        t = self._singles.get(key)
        if t is None:
            t = self._singles[key] = schedule_route(self.inst, w, (v,), relax=relax)
        return t


def explain_unassigned(inst: Instance, routes: list[tuple[int, ...]], v: int, *,
                       _shared: _Explainer | None = None) -> tuple[Reason, str]:
    """Why visit ``v`` is not in ``routes``: a reason code and a sentence to act on."""
    if inst.joint:
        joint = explain_joint(inst, routes, v, index=None if _shared is None else _shared.index,
                              brief=_shared is not None and _shared.brief())
        if joint is not None:
            return joint
    ex = _shared or _Explainer(inst, routes)
    weekday = inst.clock.date.strftime("%A")
    if not inst.allowed[v]:
        return Reason.NO_QUALIFIED_WORKER, f"No worker may make this visit: {inst.block[v]}."
    if not inst.windows[v]:
        return (
            Reason.OUTSIDE_EVERY_SHIFT,
            f"The household is not available on {weekday}s within the visit's time windows; "
            "plan it on another day or widen the windows.",
        )
    qualified = sorted(inst.allowed[v])
    singles: dict[int, Timing] = {}
    for w in ex.alike(v, qualified):  # one that fits alone answers both questions below
        singles[w] = ex.single(w, v)
        if singles[w].ok:
            break
    if all(t.failure == "unreachable" for t in singles.values()):
        loc = int(inst.visit_loc[v])
        why = next(
            (m.unreachable_reason[loc] for m in inst.matrices.values() if loc in m.unreachable_reason),
            "no street path connects it with the qualified workers' bases",
        )
        return Reason.UNREACHABLE, f"The household cannot be reached: {why}."
    if not any(t.ok for t in singles.values()):
        wins = ", ".join(f"{format_hhmm(s)}-{format_hhmm(e)}" for s, e in inst.windows[v])
        relaxed = [(ex.single(w, v, relax=True), w) for w in ex.alike(v, qualified)]
        fits = [(t.overtime_s, w) for t, w in relaxed if t.ok]
        latest_end = max(inst.worker(w).shift.end_s for w in qualified)
        earliest = min(inst.worker(w).shift.start_s for w in qualified)
        if fits:
            over, w = min(fits)
            extra = f" It would take {-(-over // 60)} more minutes of {inst.worker(w).id}'s day."
        else:
            extra = ""
        return (
            Reason.OUTSIDE_EVERY_SHIFT,
            f"Its time window ({wins}) cannot be met within any qualified worker's shift "
            f"({format_hhmm(earliest)}-{format_hhmm(latest_end)}) including travel and lunch.{extra}",
        )
    # Feasible alone: the day is full.  Say what it would take to fit.
    best: tuple[int, str] | None = None
    within = ex.index.fits_limits(v)
    at_limit = [inst.worker(w).id for w in qualified if not within[w]]
    tries = () if ex.brief() else ex.index.candidates(v, relax=True, per_worker=3, limit=_EXPLAIN_TRIES)
    for _, w, pos in tries:
        order = routes[w]
        t = schedule_route(inst, w, (*order[:pos], v, *order[pos:]), relax=True)
        if t.ok and (best is None or t.overtime_s < best[0]):
            best = (t.overtime_s, inst.worker(w).id)
    parts = [f"All {len(qualified)} qualified worker(s) are fully booked with higher-priority visits."]
    if best is not None:
        parts.append(f"It would fit if {best[1]} had {max(1, -(-best[0] // 60))} more minutes")
        parts[-1] += " (or by moving one of their visits to another day)."
    if at_limit:
        shown = ", ".join(at_limit[:4]) + (f" and {len(at_limit) - 4} more" if len(at_limit) > 4 else "")
        parts.append(f"At their daily visit or load limit: {shown}; raising one limit would make room.")
    if best is None and not at_limit:
        parts.append("No insertion keeps every time window; widen its window or add a worker.")
    return Reason.OVER_CAPACITY, " ".join(parts)


def _sticky(inst: Instance, kept: list[int], problem: Problem) -> Instance:
    """Re-planning: a visit that still fits where the previous plan had it costs more to drop than every
    optional visit not yet planned together, so unchanged circumstances keep every assignment; mandatory and
    urgent visits (ten times the optional total) still come first."""
    if not kept:
        return inst
    optional = np.array([not (inst.visit(n).mandatory or inst.visit(n).urgent) for n in range(inst.n_nodes)],
                        dtype=bool)
    bonus = int(inst.penalty[optional].sum()) + 1
    penalty = inst.penalty.copy()
    penalty[np.asarray(kept, dtype=np.int64)] += bonus
    return replace(inst, penalty=penalty)


_HYBRID = ("auto", "race", "pyvrp", "vroom")
#: Feasible insertions weighed by travel and lateness per dropped visit on a day with due times.
_DUE_CHOICES = 8


def _engine(name: str, inst: Instance) -> str:
    """The engine for ``name`` on this day: OR-Tools when the day has joint visits, precedences or due times,
    which the hybrids (PyVRP, VROOM) cannot express; the named one otherwise."""
    return "ortools" if (inst.joint or inst.has_due) and name in _HYBRID else name


def _node_of(inst: Instance, vidx: dict[str, int], stop: Stop) -> int | None:
    """The node of a previous plan's stop: the visit, or the seat its crew names."""
    v = vidx.get(stop.visit_id)
    if v is None or not inst.crew[v]:
        return v
    seat = stop.crew.seat if stop.crew is not None else 0
    return inst.crew[v][seat] if seat < len(inst.crew[v]) else None


def _joint_part(inst: Instance, initial: list[list[int]]) -> list[list[int]]:
    """The previous routes without joint visits that lost a seat, and without what breaks synchronisation."""
    routes = [tuple(r) for r in initial]
    for _ in range(inst.n_visits + 1):
        timings = schedule_routes(inst, routes)
        if all(t.ok for t in timings):
            break
        bad = {w for w, t in enumerate(timings) if not t.ok}
        link, broken = links(inst, routes)
        drop = {n for w in bad for n in routes[w]
                if inst.crew[inst.seat_of(n)[0]] or any(n in (a, b) for a, b, _, _ in inst.precedences)}
        drop |= {n for nodes in inst.crew for n in nodes if any(m in drop for m in nodes)}
        if not drop:
            routes = [() if w in bad else r for w, r in enumerate(routes)]
        routes = [tuple(n for n in r if n not in drop) for r in routes]
        del link, broken
    return [list(r) for r in routes]


def _joint_timings(inst: Instance, routes: list[tuple[int, ...]], raw: RawSolution) -> list[Timing]:
    """Timings keeping partners together: re-timed (latest departures), else the solver's own times, else the
    day without the joint visits and followers that cannot be timed (the pair insertion may put them back)."""
    timings = schedule_routes(inst, routes)
    if all(t.ok for t in timings):
        return timings
    if raw.starts is not None:
        own = [_raw_timing(inst, w, raw) if routes[w] else schedule_route(inst, w, ()) for w in range(len(routes))]
        if not links(inst, routes)[1] and _synchronised(inst, routes, own):
            return own
    kept = _joint_part(inst, [list(r) for r in routes])
    routes[:] = [tuple(r) for r in kept]
    return schedule_routes(inst, routes)


def _synchronised(inst: Instance, routes: list[tuple[int, ...]], timings: list[Timing]) -> bool:
    start = {n: timings[w].starts[k] for w, r in enumerate(routes) for k, n in enumerate(r)}
    link, _ = links(inst, routes)
    return all(low <= start[b] - start[a] and (high is None or start[b] - start[a] <= high)
               for a, b, low, high in link)


def solve(
    problem: Problem,
    travel: TravelTimeProvider,
    params: SolveParams | None = None,
    *,
    previous: Plan | None = None,
    progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    solver: RoutingSolver | None = None,
    risk_model: RiskModel | None = None,
    known_pace: float | None = None,
) -> Result:
    """Plan the day: who visits whom, in what order and when.

    Parameters
    ----------
    problem
        The validated day's problem.
    travel
        Travel-time provider (great-circle estimate or a road network).
    params
        Search parameters; the same input, seed and deterministic limit give the same plan.  ``params.solver``
        names the engine (see :func:`planner.solvers.select.solver_for`).
    previous
        A plan to stay close to (mid-day re-planning): its assignments seed the search and
        moving a visit to another worker costs extra.
    progress
        Called with :class:`Progress` during the search (in the solving process).
    should_stop
        Polled during the search; returning ``True`` stops it and keeps the best plan so far.
    solver
        An engine to use instead of the one ``params.solver`` names.
    known_pace
        Wall seconds per CPU second this process has had so far, measured by the caller over longer CPU work
        than compiling a small day (a job's worker: its imports); the larger of it and the pace measured while
        compiling scales the time kept for the post-passes.

    Returns
    -------
    Result
        The plan (routes, every unassigned visit with a reason, KPIs) and search statistics.
    """
    params = params or SolveParams()
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    budget = Deadline.of(params)
    inst = compile_instance(problem, travel, risk_model=risk_model, penalty_unit=params.penalty_unit)
    vidx = {v.id: i for i, v in enumerate(problem.visits)}
    widx = {w.id: i for i, w in enumerate(problem.workers)}
    initial: list[list[int]] | None = None
    keep: list[int] | None = None
    if previous is not None:
        keep = [-1] * inst.n_nodes
        initial = [[] for _ in range(inst.n_workers)]
        for r in previous.routes:
            if r.worker_id in widx:
                for s in r.stops:
                    node = _node_of(inst, vidx, s)
                    if node is not None:
                        keep[node] = widx[r.worker_id]
                        initial[widx[r.worker_id]].append(node)
        # The search starts from the previous routes only if every one of them is feasible: keep, in each,
        # the visits that still fit (all of them when nothing changed), the others stay wanted where they were.
        initial = [feasible_part(inst, w, order) for w, order in enumerate(initial)]
        if inst.joint:
            initial = _joint_part(inst, initial)
        inst = _sticky(inst, [v for order in initial for v in order], problem)
    # The search gets what is left of the budget once the day is compiled and the post-passes are set
    # aside: repair and explanations work on dropped visits, about half a millisecond of CPU per optional visit
    # (mandatory and urgent ones are rarely dropped), at the pace this process has run so far (compiling the day:
    # wall over CPU time; 1 on an idle machine, more when other jobs share the cores), at most 30 % of the budget;
    # the search keeps a tenth of it whatever.  Deterministic: the work budget decides and the whole budget stays
    # the safety cap.
    search = budget
    post = 0.0
    slow = max(pace(time.perf_counter() - t0, time.process_time() - cpu0), known_pace or 1.0)
    if not budget.deterministic:
        must = sum(1 for v in problem.visits if v.mandatory or v.urgent)
        expected = slow * (_POST_PASS_S + _POST_PASS_S_PER_VISIT * ((inst.n_visits - must) + must / 8))
        if inst.joint:  # re-timing linked routes, and putting back a pair the search left out, take longer
            expected = max(expected, min(_JOINT_POST_SHARE * budget.cap_s, _JOINT_POST_MAX_S))
        post = min(0.3 * budget.cap_s, expected)
        search = budget.reserve(post, floor=0.1 * budget.cap_s)
    engine = solver or solver_for(_engine(params.solver, inst))
    if solver is None and params.solver == "auto" and decompose.wanted(inst, initial=initial):
        engine = decompose.DecomposeSolver(pace=slow)  # a big day in parts, one process each (issue 16)
    if (inst.joint or inst.has_due) and getattr(engine, "name", "ortools") != "ortools":
        engine = solver_for("ortools")  # a given hybrid or race cannot tie routes together either
    # The bound on coverage: at most a twentieth of the budget (2 s at most), the cheaper bound when that runs out;
    # in the deterministic mode the day's size chooses the method.  It comes before the search, except on the clock
    # where every visit is mandatory and the engine's search can tell when its best plan serves them all (PyVRP's,
    # the relaxation exact): the bound's share is then kept after the search, which runs into it once its plan
    # serves every visit (the bound is then the total, found without an LP), else stops for the bound.
    bound_s = min(_BOUND_SHARE * budget.cap_s, _BOUND_MAX_S)
    uses_grace = getattr(engine, "uses_grace", None)
    later = (not budget.deterministic and initial is None and uses_grace is not None and uses_grace(inst, keep)
             and all(v.mandatory or v.urgent for v in problem.visits))
    if later:
        search = replace(budget.reserve(post + bound_s, floor=0.1 * budget.cap_s), grace_s=bound_s)
    # A race starts its second process here (``begin``), so a bound computed first overlaps that process's search.
    begin = getattr(engine, "begin", None)
    finish = None if begin is None else begin(
        inst, params, initial=initial, previous_worker=keep, progress=progress, should_stop=should_stop,
        deadline=search)
    bound = None if later else coverage_bound(inst, time_limit_s=bound_s, deterministic=budget.deterministic)
    raw = finish() if finish is not None else engine.solve(
        inst, params, initial=initial, previous_worker=keep, progress=progress, should_stop=should_stop,
        deadline=search,
    )
    # On the clock the post-passes end with the budget: the repair stops inserting and explanations skip their
    # insertion tries (every plan stays valid and every left-out visit keeps its reason), early enough for what
    # must still run (the plan's routes, brief explanations, the KPIs: 1.0 s at 10,000 visits), at this pace.
    tail = slow * _TAIL_S_PER_VISIT * inst.n_visits
    spent = None if budget.deterministic else (lambda: budget.remaining() <= tail)
    routes = [tuple(r) for r in raw.routes] + [() for _ in range(inst.n_workers - len(raw.routes))]
    if inst.joint:
        timings = _joint_timings(inst, routes, raw)
        # On the clock the insertion ends with the budget (it places what the search left out).
        insert_dropped(inst, routes, timings, best_of=_DUE_CHOICES if inst.has_due else 1, stop=spent)
    else:
        timings = []
        for w, order in enumerate(routes):
            t = schedule_route(inst, w, order)
            if not t.ok and raw.starts is not None:
                t = _raw_timing(inst, w, raw)
            timings.append(t)
        if not (raw.settled and all(t.ok for t in timings)):
            repair(inst, routes, timings, stop=spent)
    if bound is None:
        # After the search: a plan serving every visit reaches the total, the tightest bound there is; else the
        # bound gets its share, less what the post-passes still need.
        served_all = sum(len(r) for r in routes) == inst.n_nodes
        bound = full_bound(inst) if served_all else coverage_bound(
            inst, time_limit_s=max(0.0, min(bound_s, budget.remaining() - post)))
    worker_of = {n: w for w, r in enumerate(routes) for n in r} if inst.joint else None
    plan_routes = tuple(_route_from(inst, w, routes[w], timings[w], worker_of)
                        for w in range(inst.n_workers) if routes[w])
    served = {v for r in routes for v in r}
    unassigned = []
    explainer = _Explainer(inst, routes, brief=spent)
    for v in range(inst.n_visits):
        if v in served:
            continue
        reason, detail = explain_unassigned(inst, routes, v, _shared=explainer)
        visit = inst.visit(v)
        if visit.mandatory:
            detail = "Mandatory visit could not be honoured. " + detail
        elif visit.urgent:
            detail = "Urgent visit could not be planned today. " + detail
        unassigned.append(Unassigned(visit_id=visit.id, household_id=visit.household_id, reason=reason,
                                     detail=detail, mandatory=visit.mandatory, urgent=visit.urgent))
    elapsed = time.perf_counter() - t0
    plan = Plan(
        date=problem.date,
        routes=plan_routes,
        unassigned=tuple(unassigned),
        meta={
            "problem": problem.name,
            "solver": raw.solver if not ((inst.joint or inst.has_due) and params.solver in _HYBRID) else
            f"{raw.solver} (joint visits, precedences or due times: the hybrids cannot express them)",
            "status": raw.status,
            "objective": raw.objective,
            "time_limit_s": params.time_limit_s,
            "seed": params.seed,
            "deterministic": params.deterministic,
            "travel": sorted({m.source for m in inst.matrices.values()}),
            "stopped_early": raw.stopped_early,
        },
    )
    plan = Plan(date=plan.date, routes=plan.routes, unassigned=plan.unassigned,
                kpis=compute_kpis(inst, plan, bound=bound), meta=plan.meta)
    return Result(plan=plan, instance=inst, objective=raw.objective, elapsed_s=elapsed,
                  stopped_early=raw.stopped_early)
