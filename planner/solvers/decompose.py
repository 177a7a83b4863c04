"""Big days in parts: the day split into geographic parts with their own workers, each part solved in its own
process within the one Deadline, the routes stitched back (the solve pipeline's repair then inserts what is left
across the parts' borders).

A day of thousands of visits is more than one search can improve within seconds (at 2,000 visits OR-Tools found no
first solution within 60 s and the VROOM hybrid lost to the greedy plan).  Each part here is a day of a few hundred
visits, the size at which the hybrids do their best work.  How the day is split:

1. the candidate visits (those someone may make today) are grouped by place: k-means on their coordinates, seeded,
   about ``part_visits`` per part;
2. workers go to parts by capacity and qualification: specialists first, each to the part where the most
   service minutes it may make are still uncovered, less the minutes of its round trip from its base;
3. a visit no worker of its part may make moves to the nearest part with a worker who may (a visit for a named
   worker goes where that worker is).

Every part is a view of the day's compiled :class:`~planner.instance.Instance` (its rows and columns, the same
penalties and travel), so its routes are routes of the whole day.  One solve per process (several OR-Tools
models in one process have crashed): parts run in forked children, as many at a time as the machine has cores,
the biggest first, each part's time in proportion to its visits.  Where no child may be forked (one core, a
daemonic API worker) they run one after the other in this process.
"""

from __future__ import annotations

import dataclasses
import math
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..domain import Problem
from ..instance import Instance
from ..params import SolveParams
from ..schedule import schedule_route
from ..travel.base import UNREACHABLE, TravelMatrix
from .base import Progress, RawSolution
from .budget import Deadline
from .objective import relaxation_is_exact
from .repair import repair

__all__ = ["DECOMPOSE_FROM", "DecomposeSolver", "Part", "split_day", "sub_instance", "wanted"]

#: Candidate visits from which the default solver plans a day in parts.
DECOMPOSE_FROM = 1_500
#: Visits per part the split aims at.
PART_VISITS = 300
#: Lloyd iterations of the k-means that groups visits by place.
_KMEANS_ROUNDS = 20
#: Seconds a child gets past its part's deadline to send its routes before it is stopped, and more per visit (a
#: first solution on a tiny share of the budget: VROOM's construction, the checks, sending the routes back).
_GRACE_S = 1.0
_GRACE_S_PER_VISIT = 0.004
#: A part's least cost in CPU seconds per visit before any part has been timed (forking, the part's view, VROOM's
#: first solution, its checks, sending the routes back).
_PART_S_PER_VISIT = 0.002
#: Seconds past the search's end after which a part still running is stopped on the clock (its visits go to the
#: repair across the borders).
_LATE_S = 0.25


@dataclass(frozen=True, slots=True)
class Part:
    """The visits (indices of the whole day) and workers of one part."""

    visits: np.ndarray
    workers: np.ndarray


def wanted(inst: Instance, *, initial: Sequence[Sequence[int]] | None = None) -> bool:
    """Whether the default solver plans this day in parts: at least :data:`DECOMPOSE_FROM` candidate visits, no
    joint visits, precedences or due times (routes that depend on each other's times), no previous plan to start
    from, and workers enough for two parts."""
    if initial is not None or inst.joint or inst.has_due or inst.n_workers < 2:
        return False
    return _candidates(inst).size >= DECOMPOSE_FROM


def _candidates(inst: Instance) -> np.ndarray:
    """Visits somebody may make today (a qualified worker, a window)."""
    return np.array([v for v in range(inst.n_visits) if inst.allowed[v] and inst.windows[v]], dtype=np.int64)


def _xy(inst: Instance, locs: np.ndarray) -> np.ndarray:
    """Metres east and north of the day's first place (an equirectangular projection: districts are small)."""
    lat = np.array([inst.locations[i].lat for i in locs], dtype=float)
    lon = np.array([inst.locations[i].lon for i in locs], dtype=float)
    lat0 = float(inst.locations[0].lat) if inst.locations else 0.0
    return np.column_stack([(lon - lon[:1].mean() if lon.size else lon) * 111_320.0 * math.cos(math.radians(lat0)),
                            (lat - lat[:1].mean() if lat.size else lat) * 110_574.0])


def _kmeans(xy: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Labels of a seeded k-means++ / Lloyd clustering of the points ``xy`` into ``k`` groups."""
    rng = np.random.default_rng(seed)
    n = len(xy)
    centres = [xy[int(rng.integers(n))]]
    d2 = ((xy - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = float(d2.sum())
        pick = int(rng.choice(n, p=d2 / total)) if total > 0 else int(rng.integers(n))
        centres.append(xy[pick])
        d2 = np.minimum(d2, ((xy - xy[pick]) ** 2).sum(axis=1))
    c = np.array(centres)
    labels = np.zeros(n, dtype=np.int64)
    for _ in range(_KMEANS_ROUNDS):
        dist = ((xy[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
        new = dist.argmin(axis=1)
        if _ and np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            members = xy[labels == j]
            if len(members):
                c[j] = members.mean(axis=0)
    return labels


def _capacity_s(inst: Instance, w: int) -> int:
    """Seconds of a worker's day available for visits and travel: shift less lunch, within its working-time
    limit."""
    worker = inst.worker(w)
    span = worker.shift.end_s - worker.shift.start_s - worker.break_s
    if worker.max_work_s is not None:
        span = min(span, worker.max_work_s)
    return max(0, span)


def split_day(inst: Instance, *, part_visits: int = PART_VISITS, seed: int = 0) -> list[Part]:
    """The day's candidate visits and its workers in parts of about ``part_visits`` visits (see the module's
    description).  Every candidate visit is in exactly one part and has a worker of that part who may make it;
    every worker is in exactly one part; parts without visits are left out (their workers join the nearest part
    that has some)."""
    cand = _candidates(inst)
    n_w = inst.n_workers
    if cand.size == 0 or n_w == 0:
        return [Part(visits=cand, workers=np.arange(n_w, dtype=np.int64))]
    k = int(max(1, min(n_w, round(cand.size / max(1, part_visits)))))
    xy = _xy(inst, inst.visit_loc[cand])
    labels = _kmeans(xy, k, seed) if k > 1 else np.zeros(cand.size, dtype=np.int64)
    centre = np.array([xy[labels == j].mean(axis=0) if (labels == j).any() else xy.mean(axis=0) for j in range(k)])
    # The visit nearest each part's centre stands for the part in travel times.
    medoid_loc = np.array([int(inst.visit_loc[cand[int(((xy - centre[j]) ** 2).sum(axis=1).argmin())]])
                           for j in range(k)], dtype=np.int64)
    # Demand in service minutes per part and qualification group (the set of workers who may make the visit).
    groups: dict[frozenset[int], int] = {}
    group_of = np.array([groups.setdefault(inst.allowed[v], len(groups)) for v in cand], dtype=np.int64)
    n_g = len(groups)
    member = np.zeros((n_w, n_g), dtype=bool)
    for g_set, g in groups.items():
        member[list(g_set), g] = True
    # A visit's service time: the shortest among the workers who may make it.
    service = np.where(member[:, group_of].T, inst.service_s[cand][:, :n_w], np.iinfo(np.int64).max).min(axis=1)
    service = service.astype(float)
    typical = float(np.median(service))
    remaining = np.zeros((k, n_g))
    np.add.at(remaining, (labels, group_of), service)
    # Scarce groups first: the fewer workers may make a group's visits, the sooner a worker serves it.
    scarcity = np.argsort(member.sum(axis=0), kind="stable")
    breadth = member.sum(axis=1)
    worker_part = np.full(n_w, -1, dtype=np.int64)
    for w in sorted(range(n_w), key=lambda w: (int(breadth[w]), w)):
        table = inst.tables[w]
        base, end = int(inst.start_loc[w]), int(inst.end_loc[w])
        trip = table[base, medoid_loc].astype(float) + table[medoid_loc, end].astype(float)
        trip[trip >= UNREACHABLE] = np.inf
        cap = _capacity_s(inst, w) - trip
        most = inst.worker(w).max_visits
        if most is not None:
            cap = np.minimum(cap, most * typical)
        # Its capacity goes to the groups it serves, scarcest first: in part j it covers min(cap, uncovered).
        gains = np.minimum(np.maximum(cap, 0.0), remaining[:, member[w]].sum(axis=1))
        if gains.max() > 0:
            j = int(np.argmax(gains - 1e-6 * np.nan_to_num(trip, posinf=1e12)))
        else:
            j = int(np.argmin(trip))
        worker_part[w] = j
        left = cap[j]
        for g in scarcity:
            if left <= 0:
                break
            if member[w, g] and remaining[j, g] > 0:
                take = min(left, remaining[j, g])
                remaining[j, g] -= take
                left -= take
    # A visit nobody of its part may make goes to the nearest part with a worker who may.
    served = np.array([member[worker_part == j].any(axis=0) for j in range(k)])  # [part, group]
    for i in np.flatnonzero(~served[labels, group_of]).tolist():
        options = np.flatnonzero(served[:, group_of[i]])
        labels[i] = int(options[((centre[options] - xy[i]) ** 2).sum(axis=1).argmin()])
    # Parts left without visits hand their workers to the nearest part that has some.
    has = np.bincount(labels, minlength=k) > 0
    for empty in np.flatnonzero(~has).tolist():
        near = min(np.flatnonzero(has).tolist(), key=lambda x: float(((centre[x] - centre[empty]) ** 2).sum()))
        worker_part[worker_part == empty] = near
    return [Part(visits=cand[labels == j], workers=np.flatnonzero(worker_part == j).astype(np.int64))
            for j in range(k) if has[j]]


def _view(problem: Problem, visits: tuple[Any, ...], workers: tuple[Any, ...]) -> Problem:
    """A Problem holding the given visits and workers without re-validating (a part's view of a validated day:
    its households may prefer workers of other parts)."""
    view = object.__new__(Problem)
    for f in dataclasses.fields(Problem):
        object.__setattr__(view, f.name, getattr(problem, f.name))
    object.__setattr__(view, "visits", visits)
    object.__setattr__(view, "workers", workers)
    object.__setattr__(view, "precedences", ())
    return view


def sub_instance(inst: Instance, part: Part) -> Instance:
    """The part as an Instance of its own: its visits and workers renumbered from 0, only the places they use, the
    same windows, service times, penalties and travel as the whole day."""
    vis, wk = part.visits, part.workers
    locs = np.unique(np.concatenate([inst.visit_loc[vis], inst.start_loc[wk], inst.end_loc[wk]]))
    new_loc = np.full(len(inst.locations), -1, dtype=np.int64)
    new_loc[locs] = np.arange(len(locs))
    grid = np.ix_(locs, locs)
    matrices = {
        mode: TravelMatrix(duration_s=m.duration_s[grid], distance_m=m.distance_m[grid], mode=m.mode,
                           source=m.source,
                           unreachable_reason={int(new_loc[i]): why for i, why in m.unreachable_reason.items()
                                               if new_loc[i] >= 0})
        for mode, m in inst.matrices.items()
    }
    sliced: dict[int, np.ndarray] = {}
    for w in wk:  # workers alike in travel share one table, as in the whole day
        if id(inst.tables[w]) not in sliced:
            sliced[id(inst.tables[w])] = inst.tables[w][grid]
    new_worker = {int(w): i for i, w in enumerate(wk)}
    problem = _view(inst.problem, tuple(inst.problem.visits[v] for v in vis),
                    tuple(inst.problem.workers[w] for w in wk))
    n = len(vis)
    return dataclasses.replace(
        inst,
        problem=problem,
        locations=tuple(inst.locations[i] for i in locs),
        visit_loc=new_loc[inst.visit_loc[vis]],
        start_loc=new_loc[inst.start_loc[wk]],
        end_loc=new_loc[inst.end_loc[wk]],
        windows=tuple(inst.windows[v] for v in vis),
        service_s=inst.service_s[np.ix_(vis, wk)],
        allowed=tuple(frozenset(new_worker[w] for w in inst.allowed[v] if w in new_worker) for v in vis),
        block=tuple(inst.block[v] for v in vis),
        risk=tuple(inst.risk[v] for v in vis),
        weight=inst.weight[vis],
        penalty=inst.penalty[vis],
        preferred=np.array([new_worker.get(int(inst.preferred[v]), -1) for v in vis], dtype=np.int64),
        matrices=matrices,
        tables=tuple(sliced[id(inst.tables[w])] for w in wk),
        node_visit=np.arange(n, dtype=np.int64),
        node_seat=np.zeros(n, dtype=np.int64),
        crew=((),) * n,
        precedences=(),
        due_s=inst.due_s[vis] if inst.due_s.size else inst.due_s,
        late_cost=inst.late_cost[vis] if inst.late_cost.size else inst.late_cost,
    )


def _engine_for(name: str) -> Any:
    """The engine of every part: ``"pyvrp"`` or ``"vroom"`` (each hybrid ending with OR-Tools on the part's full
    model) or ``"ortools"``."""
    if name == "pyvrp":
        from .pyvrp_hybrid import PyVrpHybridSolver

        return PyVrpHybridSolver()
    if name == "vroom":
        from .vroom_hybrid import VroomHybridSolver

        return VroomHybridSolver()
    from .ortools_routing import OrToolsSolver

    return OrToolsSolver()


def _solve_part(inst: Instance, part: Part, params: SolveParams, deadline: Deadline, engine: str,
                should_stop: Callable[[], bool] | None) -> list[tuple[int, tuple[int, ...]]]:
    """The part's routes as (worker, visits) of the whole day."""
    sub = sub_instance(inst, part)
    raw = _engine_for(engine).solve(sub, params, should_stop=should_stop, deadline=deadline)
    return [(int(part.workers[w]), tuple(int(part.visits[v]) for v in order))
            for w, order in enumerate(raw.routes) if order]


def _child(inst: Instance, part: Part, params: SolveParams, deadline: Deadline, engine: str, stop: Any,
           conn: Any) -> None:
    try:
        conn.send(_solve_part(inst, part, params, deadline, engine, stop.is_set))
    except BaseException as exc:  # the parent keeps the other parts; this one's visits go to the repair
        conn.send(repr(exc))
    finally:
        conn.close()


def _across_borders(inst: Instance, routes: list[tuple[int, ...]], budget: Deadline) -> bool:
    """What the parts left out, inserted where it still fits in any part (the pipeline's greedy repair): mandatory
    and urgent visits whatever the clock (a handful, and a part cut short may have left them out), the others while
    the budget lasts (all of them in the deterministic mode).  True when every dropped visit was tried."""
    timings = [schedule_route(inst, w, r) for w, r in enumerate(routes)]
    if not all(t.ok for t in timings):
        return False
    served = {v for r in routes for v in r}
    must = sum(1 for v in range(inst.n_visits) if v not in served and inst.allowed[v] and inst.windows[v]
               and (inst.visit(v).mandatory or inst.visit(v).urgent))
    tried = [0]
    cut = [False]

    def stop() -> bool:  # polled before each dropped visit, riskiest (mandatory and urgent) first
        tried[0] += 1
        cut[0] = tried[0] > must and not budget.deterministic and budget.expired()
        return cut[0]

    repair(inst, routes, timings, stop=stop)
    return not cut[0]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class DecomposeSolver:
    """Plan a big day in parts (:func:`split_day`), one process per part, and stitch the routes.

    Parameters
    ----------
    part_visits
        Visits per part the split aims at.
    engine
        The engine of each part (``"auto"``: the day's hybrid alone).
    processes
        Parts solved at a time (default: the cores this process may use); 1 solves them one after the other in this
        process.
    pace
        Seconds of the wall clock per second of this process's CPU so far (:func:`~planner.solvers.budget.pace`;
        1 on an idle machine): a part's least cost is estimated at this pace until parts have been timed.
    """

    name = "decompose"

    def __init__(self, *, part_visits: int = PART_VISITS, engine: str = "auto", processes: int | None = None,
                 pace: float = 1.0) -> None:
        if part_visits < 1:
            raise ValueError(f"part_visits: must be positive, got {part_visits!r}")
        if engine not in ("auto", "ortools", "pyvrp", "vroom"):
            raise ValueError(f"engine: must be 'auto', 'ortools', 'pyvrp' or 'vroom', got {engine!r}")
        if not (isinstance(pace, int | float) and pace >= 1.0):
            raise ValueError(f"pace: must be a number of at least 1, got {pace!r}")
        self.part_visits = part_visits
        self.engine = engine
        self.processes = processes
        self.pace = float(pace)
        #: What became of each part in the last solve: (visits, seconds given, seconds taken, "ok" / "failed" /
        #: "skipped"), in the order the parts ended.
        self.log: list[tuple[int, float, float, str]] = []

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
        budget = deadline or Deadline.of(params)
        # One engine for every part, the whole day's hybrid for "auto" (PyVRP's when its relaxation is exact).
        engine = self.engine if self.engine != "auto" else ("pyvrp" if relaxation_is_exact(inst) else "vroom")
        parts = split_day(inst, part_visits=self.part_visits, seed=params.seed)
        routes: list[tuple[int, ...]] = [() for _ in range(inst.n_workers)]
        n = self.processes if self.processes is not None else _cores()
        fork = n >= 2 and len(parts) >= 2 and not mp.current_process().daemon and "fork" in mp.get_all_start_methods()
        self.log = []
        total = sum(len(p.visits) for p in parts)
        covered = 0
        t0 = time.perf_counter()

        def report(found: list[tuple[int, tuple[int, ...]]]) -> None:
            nonlocal covered
            for w, order in found:
                routes[w] = order
                covered += len(order)
            if progress is not None:
                progress(Progress(elapsed_s=time.perf_counter() - t0, objective=0, visits_covered=covered,
                                  visits_total=total))

        clock = _Clock(parts, budget, n if fork else 1, self.pace)
        if not fork:
            for i in clock.order:
                if should_stop is not None and should_stop():
                    break
                dl = clock.share(i, {})
                if dl is None:
                    self.log.append((len(parts[i].visits), 0.0, 0.0, "skipped"))
                    continue
                began = time.monotonic()
                report(_solve_part(inst, parts[i], params, dl, engine, should_stop))
                clock.taken(i, dl, time.monotonic() - began)
                self.log.append((len(parts[i].visits), dl.cap_s, time.monotonic() - began, "ok"))
        else:
            self._forked(inst, parts, clock, params, budget, engine, report, should_stop)
        failed = sum(1 for *_, what in self.log if what == "failed")
        skipped = sum(1 for *_, what in self.log if what == "skipped")
        stopped = should_stop is not None and should_stop()
        settled = False if stopped else _across_borders(inst, routes, budget)
        status = "ok" if not (failed or skipped) else ", ".join(
            x for x in (f"{failed} part(s) failed" if failed else "",
                        f"{skipped} part(s) left to the repair (no time)" if skipped else "") if x)
        return RawSolution(routes=tuple(routes), objective=0, stopped_early=stopped, settled=settled,
                           status=status, solver=f"{self.name} ({len(parts)} parts)")

    def _forked(self, inst: Instance, parts: list[Part], clock: _Clock, params: SolveParams, budget: Deadline,
                engine: str, report: Callable[[list[tuple[int, tuple[int, ...]]]], None],
                should_stop: Callable[[], bool] | None) -> None:
        """The parts in forked children, as many at a time as ``clock`` has lanes, the biggest first, the next one
        started as soon as a child ends (a part that ends early leaves its time to the parts still to come)."""
        ctx = mp.get_context("fork")
        stop = ctx.Event()
        # The part engine's modules (and OR-Tools', which the hybrids end with) are imported here, once, not in
        # every child.
        _engine_for(engine)
        _engine_for("ortools")
        running: dict[int, tuple[Any, Any, Deadline, float]] = {}  # part -> (process, pipe, deadline, started)
        queue = list(clock.order)

        def launch() -> None:
            while queue and len(running) < clock.lanes and not stop.is_set():
                i = queue.pop(0)
                dl = clock.share(i, {j: d for j, (_, _, d, _) in running.items()})
                if dl is None:
                    self.log.append((len(parts[i].visits), 0.0, 0.0, "skipped"))
                    continue
                recv, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(inst, parts[i], params, dl, engine, stop, send),
                                   name="salpimi-part")
                proc.start()
                send.close()
                running[i] = (proc, recv, dl, time.monotonic())

        launch()
        while running:
            if should_stop is not None and should_stop():
                stop.set()
            for i, (proc, recv, dl, began) in list(running.items()):
                got: Any = None
                if recv.poll(0.02 if len(running) > 1 else 0.05):
                    try:
                        got = recv.recv()
                    except EOFError:
                        got = "no answer"
                elif proc.is_alive() and not clock.late(i, dl):
                    continue
                else:
                    got = "no answer"
                proc.join(timeout=min(_GRACE_S, max(0.05, budget.remaining())))
                if proc.is_alive():
                    proc.terminate()
                    proc.join()
                recv.close()
                del running[i]
                took = time.monotonic() - began
                if isinstance(got, list):
                    report(got)
                    clock.taken(i, dl, took)
                self.log.append((len(parts[i].visits), dl.cap_s, took, "ok" if isinstance(got, list) else "failed"))
                launch()


class _Clock:
    """When each part starts and how long it may run.

    On the clock a part gets the time left in proportion to its visits among the visits still to plan, over the
    lanes (processes) free for them, at least its least cost; a part whose least cost no longer fits before the
    search's end is not started (its visits go to the repair across the borders), and one still running past the
    search's end (a little after, :data:`_LATE_S`) is stopped.  A part's least cost (forking, its view, the
    engine's first solution, sending the routes) is estimated per visit: :data:`_PART_S_PER_VISIT` at the pace
    the process has run so far, plus the most (per visit) any part has taken past the time it was given (the
    engine's first solution outlasting a short budget, its closing steps).  Deterministic: the
    work budget decides, every part runs, the clock is only the safety cap."""

    def __init__(self, parts: list[Part], budget: Deadline, lanes: int, pace: float) -> None:
        self.parts = parts
        self.budget = budget
        self.lanes = max(1, lanes)
        self.order = sorted(range(len(parts)), key=lambda i: (-len(parts[i].visits), i))
        self.todo = {i: len(parts[i].visits) for i in self.order}
        self.per_visit = _PART_S_PER_VISIT * pace
        self.over = 0.0

    def need(self, i: int) -> float:
        return (self.per_visit + self.over) * len(self.parts[i].visits)

    def share(self, i: int, running: dict[int, Deadline]) -> Deadline | None:
        """The next part's budget, ``None`` when it does not fit; ``running``: the parts being solved."""
        size = self.todo.pop(i)
        left = sum(self.todo.values()) + size
        now = time.monotonic()
        if self.budget.deterministic:
            frac = self.lanes * size / max(1, left + sum(len(self.parts[j].visits) for j in running))
            return self.budget.split(max(1e-6, min(1.0, frac)), floor=0.05)
        remaining = self.budget.ends_at - now
        if remaining < self.need(i):
            return None
        free = self.lanes * remaining - sum(max(0.0, d.ends_at - now) for d in running.values())
        seconds = min(remaining, max(self.need(i), free * size / max(1, left)))
        return Deadline(cap_s=seconds, started=now, work=None)

    def taken(self, i: int, given: Deadline, seconds: float) -> None:
        """Part ``i`` took ``seconds`` of the ``given`` budget: what it took past it adds to every part's least
        cost (per visit)."""
        if not self.budget.deterministic and seconds > given.cap_s:
            self.over = max(self.over, (seconds - given.cap_s) / max(1, len(self.parts[i].visits)))

    def late(self, i: int, given: Deadline) -> bool:
        """Whether part ``i``'s child is past all waiting: its budget and a grace to send its routes, on the clock
        never past the search's end and :data:`_LATE_S`."""
        limit = given.ends_at + _GRACE_S + _GRACE_S_PER_VISIT * len(self.parts[i].visits)
        if self.budget.deterministic:
            limit += given.cap_s
        else:
            limit = min(limit, self.budget.ends_at + _LATE_S)
        return time.monotonic() > limit
