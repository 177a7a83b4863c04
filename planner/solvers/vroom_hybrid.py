"""VROOM on what it can express, then OR-Tools on the full model from VROOM's routes (the only vroom importer)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import vroom

from ..instance import Instance
from ..params import SolveParams
from ..schedule import feasible_part
from ..travel.base import UNREACHABLE
from .base import Progress, RawSolution
from .budget import Deadline
from .improve import improve, recreate, tighten
from .objective import full_objective, no_worse, objective_parts, resolution

__all__ = ["VroomHybridSolver", "VroomModel", "VroomPeerSolver", "build_vroom_input", "deepest", "fits",
           "priorities_of", "vroom_routes"]

#: Travel (s) standing for "impossible" inside VROOM (its matrices are 32-bit).
_BLOCKED = 10**7
#: VROOM's priorities are integers in 0..100; mandatory and urgent visits take the top one.
_TOP_PRIORITY = 100
#: VROOM's run time at each exploration level relative to level 0, one thread (busy Gwanak days of 250 candidate
#: visits at load 13-16: level 0 1.5-2.4 s, 1 about 2.5x, 2 about 6x, 3 about 12x, 5 about 40x).  On the clock the
#: portfolio runs a level only when this estimate, from its own level-0 run, fits what is left of VROOM's share: a
#: deep level cut by its timeout returned worse routes than a complete level 0 on some days (level 5 cut at 5 s:
#: 70-190 less risk covered), left intensive visits out on 1,000-household days, and overran its timeout (VROOM
#: checks it between phases: 1-4 s late at 10 s, the whole call then 0.5-2.5 s past its budget).
_LEVEL_COST = (1.0, 2.5, 6.0, 12.0, 25.0, 40.0)
#: Safety factor on those estimates (the machine's load moves between runs).
_LEVEL_SLACK = 1.25
#: Share of the budget a deeper VROOM run must leave for OR-Tools' polish (level-0 runs need not): from the best
#: level-0 routes, 15 s of OR-Tools added 10-64 risk covered on busy 800- and 1,000-household days, more than the
#: deeper runs of a 30 s budget had.
_POLISH_SHARE = 0.4
#: Priority mappings the portfolio tries on the clock, in order, at each exploration level: a linear scale of the risk
#: penalty, risk rank on 98 and on 30 levels, a log scale.  VROOM maximises the sum of integer priorities first, a
#: proxy for the risk covered, and no mapping led on every day: at level 0 on busy days (248-412 candidate visits)
#: linear led on three of five (by 60-530 risk covered over rank98), rank98 on one (by 60), rank30 on one (level
#: with linear); log left intensive visits out on a 1,000-household day.  At 10 s two or three runs fit.
_CLOCK_MAPPINGS = ("linear", "rank98", "rank30", "log")
#: Share of the time left after the full objective's local search given to its ruin and recreate
#: (:func:`~planner.solvers.improve.recreate`); OR-Tools polishes in the rest.
_RECREATE_SHARE = 0.5
#: The priority mapping of :class:`VroomPeerSolver`'s one VROOM run: the risk penalty on a log scale up to the
#: largest penalty (the single-threaded peer's input in ``bench/district.py``).
_PEER_MAPPING = "logall"
#: Share of the search's time :class:`VroomPeerSolver` gives VROOM's one run as its timeout on the clock: VROOM checks
#: it between its phases only (1-4 s late at 10 s), and its routes are worth something only before the deadline.
_PEER_VROOM_SHARE = 0.8
#: Candidate visits beyond which VROOM runs at exploration level 0.
_LARGE_DAY = 600
#: VROOM's exploration level in the deterministic mode.  pyvroom 1.15 is reproducible at level 0 only: from level 1
#: up, the same input gave two or three different routings in 20-30 runs (hand-made 9-25 visit days; at level 0,
#: one answer for each of 13 days over 20-30 runs each).
_REPRODUCIBLE_LEVEL = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class VroomModel:
    """A ``vroom.Input`` for an :class:`Instance`; job id ``v + 1`` is visit ``v``, vehicle ``w + 1`` worker ``w``."""

    input: Any  # vroom.Input
    jobs: int


def _priorities(inst: Instance, levels: int = 98) -> dict[int, int]:
    """Rank-wise priorities of the optional visits by risk skip penalty (ties share a rank), spread over
    ``1..levels + 1``; 100 for mandatory and urgent visits.  Fewer levels let VROOM trade a little
    risk order for travel; the hybrid tries several and keeps the best by the full objective."""
    optional = sorted({float(inst.weight[v]) for v in range(inst.n_visits)
                       if not (inst.visit(v).mandatory or inst.visit(v).urgent)})
    rank = {x: k for k, x in enumerate(optional)}
    top = max(1, len(optional) - 1)
    out = {}
    for v in range(inst.n_visits):
        visit = inst.visit(v)
        if visit.mandatory or visit.urgent:
            out[v] = _TOP_PRIORITY
        else:
            out[v] = 1 + round(levels * rank[float(inst.weight[v])] / top)
    return out


def _scaled_priorities(inst: Instance, scale: str) -> dict[int, int]:
    """Priorities of the optional visits on a ``"log"`` or ``"linear"`` scale of the risk skip penalty (1..99, the
    riskiest 99); 100 for mandatory and urgent visits.  ``"logall"``: the log scale up to the largest penalty of
    any visit, mandatory and urgent ones too (the optional visits then take about 1..50: what a peer given the risk
    penalty on a log scale sees)."""
    optional = [float(inst.weight[v]) for v in range(inst.n_visits)
                if not (inst.visit(v).mandatory or inst.visit(v).urgent)]
    top = max([1e-9, *optional])
    if scale == "logall":
        top = max([1.0, *(float(x) for x in inst.weight)])
    out = {}
    for v in range(inst.n_visits):
        visit = inst.visit(v)
        x = max(0.0, float(inst.weight[v]))
        if visit.mandatory or visit.urgent:
            out[v] = _TOP_PRIORITY
        elif scale in ("log", "logall"):
            out[v] = 1 + round(98 * math.log1p(x) / math.log1p(top))
        else:
            out[v] = 1 + round(98 * x / top)
    return out


def priorities_of(inst: Instance, mapping: str) -> dict[int, int]:
    """VROOM priorities by name: ``"rankN"`` (risk rank on N levels, 1 <= N <= 98), ``"log"``, ``"logall"`` or
    ``"linear"`` (scales of the risk skip penalty)."""
    if mapping in ("log", "logall", "linear"):
        return _scaled_priorities(inst, mapping)
    if mapping.startswith("rank") and mapping[4:].isdigit() and 1 <= int(mapping[4:]) <= 98:
        return _priorities(inst, int(mapping[4:]))
    raise ValueError(f"mapping: must be 'rankN' (N in 1..98), 'log', 'logall' or 'linear', got {mapping!r}")


def build_vroom_input(inst: Instance, *, priority_levels: int = 98,
                      priorities: Mapping[int, int] | None = None) -> VroomModel:
    """Translate ``inst`` into VROOM's model.

    Kept: per-worker travel tables (one profile per travel class), qualified workers (one skill per
    distinct set of qualified workers), every time window of a visit, role-dependent service
    (vehicle type = role), shifts, lunch breaks (start window ``[start, end - break]``), visit
    limits (``max_tasks``), load and capacity, priorities by risk rank.  Dropped: the working-time
    limit, exact risk penalties and soft continuity; OR-Tools restores them when polishing.
    ``priorities`` (visit index → 0..100) replaces the risk-rank priorities.
    """
    inp = vroom.Input()
    prof_of: dict[int, str] = {}
    for w in range(inst.n_workers):
        key = id(inst.tables[w])
        if key not in prof_of:
            prof_of[key] = f"p{len(prof_of)}"
            table = inst.tables[w]
            m = np.minimum(table, _BLOCKED).astype(np.uint32)
            m[table >= UNREACHABLE] = _BLOCKED
            inp.set_durations_matrix(profile=prof_of[key], matrix_input=m)
    skill_of: dict[frozenset[int], int] = {}
    for v in range(inst.n_visits):
        if inst.allowed[v]:
            skill_of.setdefault(inst.allowed[v], len(skill_of) + 1)
    use_load = any(inst.visit(v).load for v in range(inst.n_visits)) and any(
        inst.worker(w).capacity is not None for w in range(inst.n_workers))
    vehicles = []
    for w in range(inst.n_workers):
        wk = inst.worker(w)
        kw: dict[str, Any] = dict(
            start=int(inst.start_loc[w]), end=int(inst.end_loc[w]), profile=prof_of[id(inst.tables[w])],
            time_window=vroom.TimeWindow(wk.shift.start_s, wk.shift.end_s),
            skills={k for s, k in skill_of.items() if w in s}, type=wk.role.value)
        if wk.break_s and wk.break_window is not None:
            bw = wk.break_window
            kw["breaks"] = [vroom.Break(w + 1, time_windows=[vroom.TimeWindow(bw.start_s, bw.end_s - wk.break_s)],
                                        service=wk.break_s)]
        if wk.max_visits is not None:
            kw["max_tasks"] = wk.max_visits
        if use_load:
            kw["capacity"] = [wk.capacity if wk.capacity is not None else 10**9]
        vehicles.append(vroom.Vehicle(w + 1, **kw))
    inp.add_vehicle(vehicles)
    prio = dict(priorities) if priorities is not None else _priorities(inst, priority_levels)
    role_worker = {inst.worker(w).role.value: w for w in range(inst.n_workers)}
    jobs = []
    for v in range(inst.n_visits):
        if not inst.allowed[v] or not inst.windows[v]:
            continue
        jkw: dict[str, Any] = dict(
            location=int(inst.visit_loc[v]), skills={skill_of[inst.allowed[v]]}, priority=prio[v],
            time_windows=[vroom.TimeWindow(s, e) for s, e in inst.windows[v]],
            default_service=int(inst.service_s[v, min(inst.allowed[v])]),
            service_per_type={r: int(inst.service_s[v, w]) for r, w in role_worker.items()})
        if use_load:
            jkw["delivery"] = [inst.visit(v).load]
        jobs.append(vroom.Job(v + 1, **jkw))
    if jobs:
        inp.add_job(jobs)
    return VroomModel(input=inp, jobs=len(jobs))


def vroom_routes(inst: Instance, *, seconds: float | None, exploration_level: int = 5, threads: int = 1,
                 priority_levels: int = 98, priorities: Mapping[int, int] | None = None) -> list[list[int]]:
    """VROOM's routes (visit indices per worker); ``seconds=None`` runs to completion (deterministic)."""
    model = build_vroom_input(inst, priority_levels=priority_levels, priorities=priorities)
    routes: list[list[int]] = [[] for _ in range(inst.n_workers)]
    if model.jobs == 0 or inst.n_workers == 0:
        return routes
    timeout = None if seconds is None else dt.timedelta(seconds=max(0.05, seconds))
    sol = model.input.solve(exploration_level=exploration_level, nb_threads=threads, timeout=timeout)
    df = sol.routes
    if "id" not in df.columns:  # no route at all (every job unassigned): pyvroom's frame then has no job ids
        return routes
    for vid, typ, jid in zip(df["vehicle_id"], df["type"], df["id"], strict=True):
        if typ == "job":
            routes[int(vid) - 1].append(int(jid) - 1)
    return routes


def fits(level: int, first_s: float, left_s: float) -> bool:
    """Whether a VROOM run at ``level`` is expected to finish in ``left_s`` seconds, given that the portfolio's
    first run (level 0) took ``first_s``."""
    return _LEVEL_SLACK * _LEVEL_COST[level] * max(first_s, 0.01) <= left_s


def deepest(top: int, first_s: float, left_s: float) -> int:
    """The deepest exploration level up to ``top`` expected to finish in ``left_s`` seconds (:func:`fits`); -1 if
    none is."""
    return max((level for level in range(top + 1) if fits(level, first_s, left_s)), default=-1)


class VroomHybridSolver:
    """VROOM's construction and local search on what it can express, OR-Tools polishing the full model.

    Parameters
    ----------
    vroom_share
        Upper bound on the share of the time budget given to VROOM's runs on the clock (the portfolio starts a run
        only when it is expected to finish inside it); the rest goes to the full objective's local search
        (:func:`~planner.solvers.improve.improve`), then OR-Tools, started from the best routes (re-checked first).
        In the deterministic mode VROOM runs to completion (the whole budget is only a safety cap) and OR-Tools
        stops on ``params.solution_limit``.
    exploration_level
        VROOM's search depth (0-5) on days up to 600 candidate visits (0 beyond, and in the deterministic mode,
        where only level 0 gives VROOM's same answer every time).
    threads
        VROOM's threads.
    priority_levels
        Granularities of the risk-rank priorities in the deterministic mode, one VROOM run each.
    mappings
        Priority mappings (:func:`priorities_of`) the portfolio tries on the clock, at each level from 0 up to
        ``exploration_level``, as long as VROOM's share lasts.
    """

    name = "vroom+ortools"

    def __init__(self, *, vroom_share: float = 0.9, exploration_level: int = 5, threads: int = 1,
                 priority_levels: Sequence[int] = (98, 30, 10),
                 mappings: Sequence[str] = _CLOCK_MAPPINGS) -> None:
        if not 0.0 < vroom_share <= 1.0:
            raise ValueError(f"vroom_share: must lie in (0, 1], got {vroom_share!r}")
        if not priority_levels or not all(1 <= x <= 98 for x in priority_levels):
            raise ValueError(f"priority_levels: must be one or more integers in 1..98, got {priority_levels!r}")
        if not 0 <= exploration_level < len(_LEVEL_COST):
            raise ValueError(f"exploration_level: must lie in 0..{len(_LEVEL_COST) - 1}, got {exploration_level!r}")
        if not mappings:
            raise ValueError("mappings: must name at least one priority mapping")
        for m in mappings:
            if not (m in ("log", "logall", "linear")
                    or (m.startswith("rank") and m[4:].isdigit() and 1 <= int(m[4:]) <= 98)):
                raise ValueError(f"mappings: {m!r} is not 'rankN' (N in 1..98), 'log', 'logall' or 'linear'")
        self.priority_levels = tuple(priority_levels)
        self.mappings = tuple(mappings)
        #: On the clock, another search's routes (or ``None``), asked for once before ruin and recreate; taken when
        #: their full objective is lower (the race's hand-over from :class:`VroomPeerSolver`).
        self.take: Callable[[], Sequence[Sequence[int]] | None] | None = None
        self.vroom_share = vroom_share
        self.exploration_level = exploration_level
        self.threads = threads
        #: The lean plan of the solve under way (:meth:`_keep_lean`), for its final choice.
        self._lean: list[list[int]] | None = None

    def _keep_lean(self, inst: Instance, routes: Sequence[Sequence[int]], params: SolveParams,
                   previous_worker: Sequence[int] | None, budget: Deadline,
                   should_stop: Callable[[], bool] | None) -> None:
        """Keep ``routes`` (VROOM's with the peer's priorities) tightened, with less travel and never less risk
        (:func:`~planner.solvers.improve.tighten`), as the solve's lean plan."""
        if params.coverage_resolution <= 0:
            return
        halt = budget.expired if should_stop is None else (lambda: budget.expired() or should_stop())
        self._lean = [list(r) for r in tighten(inst, routes, params, previous_worker, stop=halt)]

    def _portfolio(self, inst: Instance, params: SolveParams, previous_worker: Sequence[int] | None,
                   budget: Deadline, should_stop: Callable[[], bool] | None) -> tuple[list[list[int]], int]:
        """VROOM runs, each re-checked, the best by the full objective kept.  Deterministic: one run per priority
        granularity at the reproducible level, all of them (VROOM runs to completion; the whole budget is only a
        safety cap).  On the clock, within VROOM's share of the budget: every mapping at level 0, then, best
        mapping first, each at the deepest level whose estimated time (:func:`fits`, from the first run's) fits
        what is left."""
        share = budget.split(1.0 if budget.deterministic else self.vroom_share)
        # VROOM's deeper levels overrun the budget on large days (2,000 visits: level 5 cut by its
        # timeout left urgent visits out; level 0 none).
        top = self.exploration_level if inst.n_visits <= _LARGE_DAY else 0
        tried: list[tuple[int, str, list[list[int]]]] = []

        ran: dict[tuple[int, tuple[int, ...]], list[list[int]]] = {}

        def run(level: int, mapping: str) -> float:
            """One VROOM run (none when the same priorities already ran at this level: two mappings can agree)."""
            priorities = priorities_of(inst, mapping)
            key = (level, tuple(priorities[v] for v in range(inst.n_visits)))
            if key in ran:
                return 0.0
            t1 = time.perf_counter()
            found = vroom_routes(inst, seconds=share.remaining(floor=0.05), exploration_level=level,
                                 threads=self.threads, priorities=priorities)
            hint = ran[key] = [feasible_part(inst, w, r) for w, r in enumerate(found)]
            tried.append((full_objective(inst, hint, params, previous_worker), mapping, hint))
            return time.perf_counter() - t1

        def halted() -> bool:
            return should_stop is not None and should_stop()

        if budget.deterministic:
            for k, x in enumerate(self.priority_levels):
                if k and halted():
                    break
                run(min(top, _REPRODUCIBLE_LEVEL), f"rank{x}")
        else:
            first_s = run(0, self.mappings[0])
            for mapping in self.mappings[1:]:
                if halted() or not fits(0, first_s, share.remaining()):
                    break
                run(0, mapping)
            # What VROOM alone does (the peer's mapping at the top level) first where it fits beside the polish's
            # share: its routes tightened are the solve's lean plan (:meth:`solve`).
            level0 = len(tried)
            if (params.coverage_resolution > 0 and top == self.exploration_level and not halted()
                    and fits(top, first_s, share.remaining() - _POLISH_SHARE * budget.cap_s)):
                run(top, _PEER_MAPPING)
                lean = ran[(top, tuple(priorities_of(inst, _PEER_MAPPING)[v] for v in range(inst.n_visits)))]
                self._keep_lean(inst, lean, params, previous_worker, budget, should_stop)
            # Deeper levels only on what leaves OR-Tools its share of the budget for polishing the best routes.
            for _, mapping, _ in sorted(tried[:level0], key=lambda x: x[0]):
                level = deepest(top, first_s, share.remaining() - _POLISH_SHARE * budget.cap_s)
                if halted() or level < 1:
                    break
                run(level, mapping)
        cost, _, hint = min(tried, key=lambda x: x[0])
        return hint, cost

    def solve(
        self,
        inst: Instance,
        params: SolveParams,
        *,
        initial: Sequence[Sequence[int]] | None = None,
        previous_worker: Sequence[int] | None = None,
        progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        deadline: Deadline | None = None,
    ) -> RawSolution:
        """The hybrid's plan, or the lean plan (VROOM's routes with the peer's priorities, only tightened: never less
        risk, less travel) where the search bought less than ``params.coverage_resolution`` of risk with travel
        (:func:`~planner.solvers.objective.no_worse`)."""
        self._lean = None
        raw = self._solve(inst, params, initial=initial, previous_worker=previous_worker, progress=progress,
                          should_stop=should_stop, deadline=deadline)
        lean, self._lean = self._lean, None
        if lean is None or raw.stopped_early:
            return raw
        searched = objective_parts(inst, raw.routes, params, previous_worker)
        tight = objective_parts(inst, lean, params, previous_worker)
        if no_worse(searched, tight, resolution(params)):
            return raw
        return RawSolution(routes=tuple(tuple(r) for r in lean), objective=sum(tight), solver=self.name,
                           status=raw.status)

    def _solve(
        self,
        inst: Instance,
        params: SolveParams,
        *,
        initial: Sequence[Sequence[int]] | None = None,
        previous_worker: Sequence[int] | None = None,
        progress: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        deadline: Deadline | None = None,
    ) -> RawSolution:
        from .ortools_routing import OrToolsSolver, build_seconds

        budget = deadline or Deadline.of(params)
        ortools = OrToolsSolver()
        if initial is not None or inst.n_visits == 0 or inst.n_workers == 0:
            raw = ortools.solve(inst, params, initial=initial, previous_worker=previous_worker,
                                progress=progress, should_stop=should_stop, deadline=budget)
            return dataclasses.replace(raw, solver=raw.solver if initial is not None else self.name)
        try:
            hint, mine = self._portfolio(inst, params, previous_worker, budget, should_stop)
        except Exception:  # an input VROOM rejects: the full model alone
            raw = ortools.solve(inst, params, previous_worker=previous_worker, progress=progress,
                                should_stop=should_stop, deadline=budget)
            return dataclasses.replace(raw, solver=self.name)
        if should_stop is not None and should_stop():
            return RawSolution(routes=tuple(tuple(r) for r in hint), objective=mine, stopped_early=True,
                               solver=self.name)
        if not budget.deterministic:
            # The full objective's own local search (swaps of riskier visits in, shorter routes), to its local
            # optimum or the budget's end; OR-Tools then polishes from there if time is left.
            halt = budget.expired if should_stop is None else (lambda: budget.expired() or should_stop())
            better = improve(inst, hint, params, previous_worker, stop=halt)
            cost = full_objective(inst, better, params, previous_worker)
            if cost < mine:
                hint, mine = [list(r) for r in better], cost
            # Then ruin and recreate on that objective with a share of what is left (the local search above ends
            # in its local optimum in well under a second on busy days); OR-Tools gets the rest.
            offered = self.take() if self.take is not None and not halt() else None
            if offered is not None:
                theirs = [feasible_part(inst, w, r) for w, r in enumerate(offered)]
                cost = full_objective(inst, theirs, params, previous_worker)
                if cost < mine:
                    hint, mine = theirs, cost
            if not halt():
                share = budget.split(_RECREATE_SHARE)
                better = recreate(inst, hint, params, previous_worker, seed=params.seed,
                                  stop=share.expired if should_stop is None else (
                                      lambda: share.expired() or should_stop()))
                cost = full_objective(inst, better, params, previous_worker)
                if cost < mine:
                    hint, mine = [list(r) for r in better], cost
        # On the clock, OR-Tools polishes only if building its model leaves it time to search (2,000 visits: about
        # 7 s of building; started anyway, it overran a 10 s budget by 7 s).
        if not budget.deterministic and budget.remaining() < 1.5 * build_seconds(inst) + 0.5:
            return RawSolution(routes=tuple(tuple(r) for r in hint), objective=mine, solver=self.name,
                               status="vroom_only")
        # Deterministic: OR-Tools stops on its work budget; what is left of the cap is only a safety net.
        polish = budget if budget.deterministic else budget.split(1.0, floor=0.2)
        raw = ortools.solve(inst, params, initial=hint, previous_worker=previous_worker,
                            progress=progress, should_stop=should_stop, deadline=polish)
        if raw.status != "ok" or full_objective(inst, raw.routes, params, previous_worker) > mine:
            return RawSolution(routes=tuple(tuple(r) for r in hint), objective=mine, solver=self.name,
                               status="ok" if raw.status == "ok" else "vroom_only")
        return dataclasses.replace(raw, solver=self.name)


class VroomPeerSolver(VroomHybridSolver):
    """What VROOM alone does (one run at exploration level 5, one thread, the risk penalty on a log scale up to the
    largest penalty), then the hybrid's search on the full objective from its routes: the local search, ruin and
    recreate, OR-Tools' polish (:meth:`VroomHybridSolver.solve`).  The race's second leg on VROOM days when a core is
    idle (:class:`~planner.solvers.race.RaceSolver`): beside the hybrid's portfolio (level-0 runs of four mappings,
    deeper levels where they fit) it makes the race never worse than VROOM alone wherever that run ends in time.

    On the clock VROOM's run gets ``peer_share`` of the search's time as its timeout (level 0 on days of more than
    600 candidate visits); in the deterministic mode this is the hybrid's portfolio (only level 0 is reproducible)."""

    name = "vroom5+ortools"

    def __init__(self, *, peer_share: float = _PEER_VROOM_SHARE, threads: int = 1) -> None:
        super().__init__(exploration_level=5, threads=threads, mappings=(_PEER_MAPPING,))
        if not 0.0 < peer_share <= 1.0:
            raise ValueError(f"peer_share: must lie in (0, 1], got {peer_share!r}")
        self.peer_share = peer_share
        #: Called with VROOM's routes once its run ends (the race's hand-over to the hybrid in the other process).
        self.give: Callable[[list[list[int]]], None] | None = None

    def _portfolio(self, inst: Instance, params: SolveParams, previous_worker: Sequence[int] | None,
                   budget: Deadline, should_stop: Callable[[], bool] | None) -> tuple[list[list[int]], int]:
        if budget.deterministic:
            return super()._portfolio(inst, params, previous_worker, budget, should_stop)
        level = self.exploration_level if inst.n_visits <= _LARGE_DAY else 0
        found = vroom_routes(inst, seconds=budget.split(self.peer_share).remaining(floor=0.05),
                             exploration_level=level, threads=self.threads,
                             priorities=priorities_of(inst, self.mappings[0]))
        hint = [feasible_part(inst, w, r) for w, r in enumerate(found)]
        if self.give is not None:
            self.give(hint)
        self._keep_lean(inst, hint, params, previous_worker, budget, should_stop)
        return hint, full_objective(inst, hint, params, previous_worker)
