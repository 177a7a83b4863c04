"""Choosing the day (and a worker to hint) for every visit: greedy construction, then local search.

The cost, in the risk model's units (one day of a household's skip penalty at its cadence = its base):

1. mandatory and urgent visits: 1e12 per visit left out, 1e9 per day later than its earliest feasible day;
2. risk (``Context.risk_parts``): 1000 x the skip penalty of each visit left out (coverage first), then
   each visit the ageing of its skip penalty between the later of its due
   date (last contact + cadence: waiting within the cadence is free) and the earliest day it could have
   had, and the day it gets (an overdue household visited on Friday instead of Monday costs four more days
   of ageing), plus ``cadence_step`` x the household's base penalty once when it could have been on time;
   each visit left out its skip penalty at the end of the horizon on top of the ageing it
   accrued over the horizon; a given priority (not aged) costs that much per visit left out;
   the robustness margin (``Context.margin_cost``): ``margin_step`` x the base penalty per visit booked
   later than ``margin_days`` before its due date when an earlier day was open to it (a failed visit then
   leaves room for the follow-up within the cadence; a cadence kept on the due day still beats one broken);
3. continuity: ``continuity_weight`` per visit hinted to another worker than the household's own;
4. fairness: ``fairness_weight`` x visits² / working hours per worker and day (a convex load, spread in
   proportion to each day's hours);
5. travel: ``travel_weight`` per second of a nearest-neighbour estimate of each worker-day's travel.

Capacity is hard: at most ``max_visits`` per worker-day and an estimated working time (service plus the
travel estimate) within ``fill`` of the day's working time.  Days and spacing, same-day exclusions,
follow-ups and day patterns are hard too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from .context import Context

__all__ = ["COVERAGE", "MISSING_MUST", "PER_DAY_LATE", "Assignment", "HorizonParams"]

MISSING_MUST = 1e12
PER_DAY_LATE = 1e9
#: Weight of the skip penalty of visits left out, over the ageing of visits made: which households are
#: visited comes before when (as in the day planner, where coverage dominates travel).
COVERAGE = 1000.0
_EPS = 1e-9


@dataclass(frozen=True, slots=True, kw_only=True)
class HorizonParams:
    """Weights of the horizon objective below risk (see :mod:`planner.horizon.assign`) and its budget split.

    Parameters
    ----------
    fairness_weight
        Risk units per (visits² / working hour) of a worker-day: moving one visit from a worker's day of
        8 to one of 4 (8 h days) gains 0.75, about what three days of ageing of a regular household cost.
    travel_weight
        Risk units per second of estimated travel (1 per half hour).
    continuity_weight
        Risk units per visit by another worker than the household's preferred one.
    cadence_step
        Base skip penalties a visit costs once for coming after a due date it could have met (the cadence
        broken), on top of its ageing: the search keeps households within their cadence before it shortens
        the lateness of those already overdue.
    margin_days
        Calendar days before a household's due date by which its visit should come when the plan has room
        (a no-answer then leaves a day for the follow-up inside the cadence); at most a third of the
        cadence (an intensive 10-day cadence: 2 days, so a visit due Thursday is booked by Tuesday).
        0: visits may wait until the due date, as before.
    margin_step
        Base skip penalties a visit costs once for coming inside that margin; below ``cadence_step``, so
        under tight capacity a due household keeps its due day before another gets its margin.
    fill
        Share of each worker-day's working time the day assignment fills (the router gets the rest as slack).
    assign_share
        Share of the whole budget spent choosing days before routing (the rest routes the days).
    swaps
        Let the search also pull a visit past its due date (or left out) forward into a full worker-day by
        swapping out the visit that loses least by waiting, and move a visit and its follow-ups together into
        full days (off: single moves and insertions only, as measured before).
    """

    fairness_weight: float = 3.0
    travel_weight: float = 1.0 / 1800.0
    continuity_weight: float = 2.0
    cadence_step: float = 1.0
    margin_days: int = 2
    margin_step: float = 0.5
    fill: float = 0.92
    assign_share: float = 0.1
    swaps: bool = True

    def __post_init__(self) -> None:
        for name in ("fairness_weight", "travel_weight", "continuity_weight", "cadence_step", "margin_step"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and value >= 0):
                raise ValueError(f"{name}: must be a non-negative number, got {value!r}")
        if not (isinstance(self.margin_days, int | float) and self.margin_days >= 0
                and float(self.margin_days).is_integer()):
            raise ValueError(f"margin_days: must be a whole number of days >= 0, got {self.margin_days!r}")
        object.__setattr__(self, "margin_days", int(self.margin_days))
        if not 0.3 <= self.fill <= 1.0:
            raise ValueError(f"fill: must lie in 0.3..1, got {self.fill!r}")
        if not 0.0 < self.assign_share < 0.9:
            raise ValueError(f"assign_share: must lie in (0, 0.9), got {self.assign_share!r}")


class Assignment:
    """Which day and which worker each occurrence of each request has (-1: none), with cached costs."""

    def __init__(self, ctx: Context, params: HorizonParams, *, seed: int = 0) -> None:
        self.ctx, self.params = ctx, params
        self.rng = np.random.default_rng(seed)
        self.occ_task: list[int] = []
        self.task_occ: list[list[int]] = []
        for t, info in enumerate(ctx.tasks):
            self.task_occ.append(list(range(len(self.occ_task), len(self.occ_task) + info.count)))
            self.occ_task.extend([t] * info.count)
        n = len(self.occ_task)
        self.day = [-1] * n
        self.worker = [-1] * n
        self.fixed = [False] * n
        self.members: dict[tuple[int, int], list[int]] = {}
        self.wd_cost: dict[tuple[int, int], float] = {}
        self.wd_time: dict[tuple[int, int], float] = {}
        self.task_cost = [self._task_cost(t, []) for t in range(len(ctx.tasks))]
        self.frozen_until = -1
        self.scale: dict[int, float] = {}  # per worker: how much of the estimated capacity the router honours
        self.evaluations = 0
        self._log: dict[int, tuple[int, int]] | None = None  # during a trial: each moved visit's place before it
        lists: dict[int, list[list[int]]] = {}
        self._rows = [lists.setdefault(id(tb), tb.tolist()) for tb in ctx.tables]  # travel seconds as lists
        self._task_loc: list[int] = ctx.task_loc.tolist()
        self._start: list[int] = ctx.start_loc.tolist()
        self._end: list[int] = ctx.end_loc.tolist()
        excl: list[set[int]] = [set() for _ in ctx.tasks]
        tindex = {info.visit.id: t for t, info in enumerate(ctx.tasks)}
        self.follows: list[tuple[int, int, int] | None] = [None] * len(ctx.tasks)  # (pred, min gap, max gap)
        self.followers: list[list[int]] = [[] for _ in ctx.tasks]
        for t, info in enumerate(ctx.tasks):
            for other in info.visit.not_same_day_as:
                u = tindex[other]
                excl[t].add(u)
                excl[u].add(t)
            a = info.visit.after
            if a is not None:
                p = tindex[a.visit_id]
                self.follows[t] = (p, a.days, a.days + a.slack_days)
                self.followers[p].append(t)
        self.excl = [frozenset(e) for e in excl]
        self.patterns = [
            tuple(frozenset((day - ctx.problem.start).days for day in p) for p in info.visit.day_patterns)
            for info in ctx.tasks
        ]

    # ---- views -------------------------------------------------------------------------------

    def task_days(self, t: int, *, without: int = -1) -> list[int]:
        return sorted(self.day[o] for o in self.task_occ[t] if self.day[o] >= 0 and o != without)

    def planned(self, t: int) -> list[tuple[int, int]]:
        return [(self.day[o], self.worker[o]) for o in self.task_occ[t] if self.day[o] >= 0]

    def unassigned(self) -> list[int]:
        return [o for o, d in enumerate(self.day) if d < 0]

    def total(self) -> float:
        return sum(self.task_cost) + sum(self.wd_cost.values())

    # ---- costs -------------------------------------------------------------------------------

    def _task_cost(self, t: int, planned: list[tuple[int, int]]) -> float:
        ctx, info = self.ctx, self.ctx.tasks[t]
        days = sorted(d for d, _ in planned)
        left, ageing = ctx.risk_parts(t, days)
        cost = COVERAGE * left + ageing + ctx.margin_cost(t, days)
        if info.must:
            cost += MISSING_MUST * (info.count - len(days))
            cost += PER_DAY_LATE * sum(max(0, d - e) for d, e in zip(days, info.earliest_k, strict=False))
        cw = self.params.continuity_weight
        if cw and planned:
            if info.preferred >= 0:
                cost += cw * sum(1 for _, w in planned if w != info.preferred)
            elif info.count > 1:
                cost += cw * (len({w for _, w in planned}) - 1)
        return cost

    def _wd(self, w: int, d: int, members: list[int]) -> tuple[float, float]:
        """(cost, estimated working seconds) of worker ``w``'s day ``d`` with ``members``."""
        if not members:
            return 0.0, 0.0
        ctx = self.ctx
        rows = self._rows[w]
        locs = [self._task_loc[self.occ_task[o]] for o in members]
        start, end = self._start[w], self._end[w]
        k = len(locs)
        # Each place reached from the nearest other place or the start, and the nearest way back (plain
        # lists: a day holds a handful of visits, where numpy's per-call cost dominates).
        travel = 0
        for j, lj in enumerate(locs):
            best = rows[start][lj]
            for i, li in enumerate(locs):
                if i != j and rows[li][lj] < best:
                    best = rows[li][lj]
            travel += best
        travel += min(rows[lj][end] for lj in locs)
        service = sum(ctx.tasks[self.occ_task[o]].service_s[(d, w)] for o in members)
        hours = max(ctx.avail_s[(w, d)], 3600) / 3600.0
        cost = self.params.fairness_weight * k * k / hours + self.params.travel_weight * travel
        return cost, service + travel

    def _fits(self, w: int, d: int, k: int, est: float) -> bool:
        ctx = self.ctx
        cap = ctx.avail_s[(w, d)] * self.params.fill * self.scale.get(w, 1.0)
        return k <= ctx.max_visits[(w, d)] and (est <= cap or k == 1)

    # ---- rules -------------------------------------------------------------------------------

    def day_ok(self, t: int, d: int, *, without: int = -1, extra: Iterable[int] = ()) -> bool:
        """May request ``t`` have a visit on day ``d`` (besides its other visits, less ``without``)?"""
        info = self.ctx.tasks[t]
        if d not in info.options or d <= self.frozen_until:
            return False
        others = self.task_days(t, without=without)
        gap = info.visit.min_spacing_days
        if any(abs(d - x) < gap for x in others):
            return False
        if self.patterns[t]:
            chosen = {*others, d}
            if not any(chosen <= p for p in self.patterns[t]):
                return False
        for u in self.excl[t]:
            if any(self.day[o] == d for o in self.task_occ[u]):
                return False
        if d in extra:
            return False
        f = self.follows[t]
        if f is not None:
            pd = self.task_days(f[0])
            if not pd or not f[1] <= d - pd[0] <= f[2]:
                return False
        for y in self.followers[t]:
            yd = self.task_days(y)
            if yd:
                fy = self.follows[y]
                assert fy is not None
                if not fy[1] <= yd[0] - d <= fy[2]:
                    return False
        return True

    # ---- moves -------------------------------------------------------------------------------

    def _place(self, o: int, d: int, w: int) -> None:
        """Move occurrence ``o`` to (``d``, ``w``) (``d = -1``: take it out), updating every cache."""
        t = self.occ_task[o]
        old = (self.worker[o], self.day[o])
        if self._log is not None and o not in self._log:
            self._log[o] = (self.day[o], self.worker[o])
        if self.day[o] >= 0:
            m = self.members[old]
            m.remove(o)
            self.wd_cost[old], self.wd_time[old] = self._wd(old[0], old[1], m)
        self.day[o], self.worker[o] = (d, w) if d >= 0 else (-1, -1)
        if d >= 0:
            m = self.members.setdefault((w, d), [])
            m.append(o)
            self.wd_cost[(w, d)], self.wd_time[(w, d)] = self._wd(w, d, m)
        self.task_cost[t] = self._task_cost(t, self.planned(t))

    def _delta(self, o: int, d: int, w: int) -> float | None:
        """Cost change of moving ``o`` to (``d``, ``w``) (``d = -1``: out); ``None`` when it does not fit."""
        self.evaluations += 1
        t = self.occ_task[o]
        cur = (self.worker[o], self.day[o])
        delta = 0.0
        if cur[1] >= 0:
            m = [x for x in self.members[cur] if x != o]
            c, _ = self._wd(cur[0], cur[1], m)
            delta += c - self.wd_cost[cur]
        if d >= 0:
            m = [*self.members.get((w, d), []), o]
            c, est = self._wd(w, d, m)
            if not self._fits(w, d, len(m), est):
                return None
            delta += c - self.wd_cost.get((w, d), 0.0)
        planned = [(self.day[x], self.worker[x]) for x in self.task_occ[t] if x != o and self.day[x] >= 0]
        if d >= 0:
            planned.append((d, w))
        delta += self._task_cost(t, planned) - self.task_cost[t]
        return delta

    def options(self, o: int) -> list[tuple[int, int]]:
        t = self.occ_task[o]
        out: list[tuple[int, int]] = []
        for d, workers in self.ctx.tasks[t].options.items():
            if d > self.frozen_until and self.day_ok(t, d, without=o):
                out.extend((d, w) for w in workers)
        return out

    def best_move(self, o: int, *, allow_out: bool = True) -> tuple[float, int, int] | None:
        best: tuple[float, int, int] | None = None
        for d, w in self.options(o):
            if d == self.day[o] and w == self.worker[o]:
                continue
            delta = self._delta(o, d, w)
            if delta is not None and (best is None or delta < best[0]):
                best = (delta, d, w)
        if allow_out and self.day[o] >= 0:
            delta = self._delta(o, -1, -1)
            if delta is not None and (best is None or delta < best[0]):
                best = (delta, -1, -1)
        return best

    def improve(self, o: int) -> bool:
        if self.fixed[o]:
            return False
        best = self.best_move(o)
        if best is not None and best[0] < -_EPS:
            self._place(o, best[1], best[2])
            return True
        return False

    def insert_with_ejection(self, o: int) -> bool:
        """Put unassigned ``o`` in a full worker-day by taking out one cheaper visit (which then goes
        wherever it fits best, possibly nowhere)."""
        if self.day[o] >= 0 or self.fixed[o]:
            return False
        base = self.total()
        t = self.occ_task[o]
        best: tuple[float, int, int, int] | None = None
        for d, w in self.options(o):
            planned = [*self.planned(t), (d, w)]
            gain = self.task_cost[t] - self._task_cost(t, planned)  # what o alone would bring on that day
            for victim in list(self.members.get((w, d), [])):
                if self.fixed[victim]:
                    continue
                tv = self.occ_task[victim]
                kept = [(self.day[x], self.worker[x]) for x in self.task_occ[tv] if x != victim and self.day[x] >= 0]
                if self._task_cost(tv, kept) - self.task_cost[tv] >= gain:
                    continue  # the victim is worth at least as much
                self._place(victim, -1, -1)
                delta = self._delta(o, d, w)
                if delta is not None:
                    change = self.total() + delta - base
                    if best is None or change < best[0]:
                        best = (change, d, w, victim)
                self._place(victim, d, w)
        if best is None or best[0] >= -_EPS:
            return False
        _, d, w, victim = best
        before = self.total()
        self._place(victim, -1, -1)
        self._place(o, d, w)
        move = self.best_move(victim, allow_out=False)
        if move is not None and move[0] < 0:
            self._place(victim, move[1], move[2])
        if self.total() > before - _EPS:  # the estimate was stale: undo
            self._place(o, -1, -1)
            if self.day[victim] >= 0:
                self._place(victim, -1, -1)
            self._place(victim, d, w)
            return False
        return True

    def reinsert(self, tasks: list[int]) -> bool:
        """Take every movable visit of ``tasks`` out and put them back greedily; keep it if it is cheaper."""
        occs = [o for t in tasks for o in self.task_occ[t] if not self.fixed[o]]
        if not occs:
            return False
        before = self.total()
        saved = [(o, self.day[o], self.worker[o]) for o in occs]
        for o in occs:
            if self.day[o] >= 0:
                self._place(o, -1, -1)
        if any(self.patterns[t] for t in tasks):
            self._insert_patterns(tasks)
        elif len(tasks) > 1:
            self._insert_chain(tasks)
        else:
            self._insert_greedy(occs)
        if self.total() < before - _EPS:
            return True
        for o in occs:
            if self.day[o] >= 0:
                self._place(o, -1, -1)
        for o, d, w in saved:
            if d >= 0:
                self._place(o, d, w)
        return False

    def _insert_greedy(self, occs: list[int]) -> None:
        for o in occs:
            if self.day[o] >= 0 or self.fixed[o]:
                continue
            move = self.best_move(o, allow_out=False)
            if move is not None and move[0] < 0:
                self._place(o, move[1], move[2])

    def _insert_chain(self, tasks: list[int]) -> None:
        """A visit and its follow-ups (``tasks``, predecessors first): try each day for the first visit with
        the follow-ups put greedily after it, and keep the cheapest (a greedy choice of the first day may
        leave its follow-up on a day off)."""
        head = [o for o in self.task_occ[tasks[0]] if not self.fixed[o] and self.day[o] < 0]
        rest = [o for t in tasks[1:] for o in self.task_occ[t] if not self.fixed[o] and self.day[o] < 0]
        if not head:
            self._insert_greedy(rest)
            return
        o = head[0]
        start = self.total()
        best: tuple[float, list[tuple[int, int, int]]] | None = None
        for d, w in self.options(o):
            delta = self._delta(o, d, w)
            if delta is None:
                continue
            self._place(o, d, w)
            self._insert_greedy(rest)
            cost = self.total() - start
            placed = [(x, self.day[x], self.worker[x]) for x in [o, *rest] if self.day[x] >= 0]
            if best is None or cost < best[0]:
                best = (cost, placed)
            for x in [o, *rest]:
                if self.day[x] >= 0:
                    self._place(x, -1, -1)
        if best is not None and best[0] < 0:
            for x, d, w in best[1]:
                self._place(x, d, w)
        self._insert_greedy(head[1:])

    def _insert_patterns(self, tasks: list[int]) -> None:
        for t in tasks:
            occs = [o for o in self.task_occ[t] if not self.fixed[o] and self.day[o] < 0]
            best: tuple[float, list[tuple[int, int, int]]] | None = None
            empty: frozenset[int] = frozenset()
            for pattern in self.patterns[t] or (empty,):
                fixed_days = set(self.task_days(t))
                todo = sorted(pattern - fixed_days)
                if len(todo) != len(occs) or not fixed_days <= pattern:
                    continue
                start = self.total()
                placed: list[tuple[int, int, int]] = []
                for o, d in zip(occs, todo, strict=True):
                    choice = None
                    if self.day_ok(t, d, without=o):
                        for w in self.ctx.tasks[t].options.get(d, ()):
                            delta = self._delta(o, d, w)
                            if delta is not None and (choice is None or delta < choice[0]):
                                choice = (delta, w)
                    if choice is None:
                        break
                    self._place(o, d, choice[1])
                    placed.append((o, d, choice[1]))
                cost = self.total() - start if len(placed) == len(occs) else None
                for o, _, _ in placed:
                    self._place(o, -1, -1)
                if cost is not None and (best is None or cost < best[0]):
                    best = (cost, placed)
            if best is not None and best[0] < 0:
                for o, d, w in best[1]:
                    self._place(o, d, w)

    # ---- compound moves (tried, then kept or undone) ---------------------------------------------

    def _set(self, places: Iterable[tuple[int, int, int]]) -> None:
        """Put each visit of ``places`` on its (day, worker) (day -1: out), taking them all out first."""
        places = list(places)
        for o, _, _ in places:
            if self.day[o] >= 0:
                self._place(o, -1, -1)
        for o, d, w in places:
            if d >= 0:
                self._place(o, d, w)

    def _trial(self, move: Callable[[], bool]) -> tuple[float, list[tuple[int, int, int]]] | None:
        """Run ``move`` (which returns whether it could be made), note the cost change and where every visit
        it touched ended up, and undo it."""
        before = self.total()
        self._log = {}
        try:
            made = move()
            change = self.total() - before
            after = [(o, self.day[o], self.worker[o]) for o in self._log]
            undo = [(o, d, w) for o, (d, w) in self._log.items()]
        finally:
            self._log = None
        self._set(undo)
        return (change, after) if made else None

    def _make_best(self, moves: list[Callable[[], bool]]) -> bool:
        """Try every move, make the one that lowers the cost most (if any lowers it) and say whether one did."""
        best: tuple[float, list[tuple[int, int, int]]] | None = None
        for move in moves:
            got = self._trial(move)
            if got is not None and got[0] < -_EPS and (best is None or got[0] < best[0]):
                best = got
        if best is None:
            return False
        self._set(best[1])
        return True

    def _victim_cost(self, v: int) -> float:
        """What taking ``v`` out of its day costs (its task's cost rise, less its worker-day's saving)."""
        delta = self._delta(v, -1, -1)
        return float("inf") if delta is None else delta

    def _put(self, o: int, d: int, w: int) -> bool:
        """Place unplaced ``o`` on (``d``, ``w``); when it is full, take out the visit there that costs least
        to take out, which then goes wherever it fits best (``o``'s old place included), or nowhere."""
        if self._delta(o, d, w) is not None:
            self._place(o, d, w)
            return True
        victims = sorted((self._victim_cost(v), v) for v in self.members.get((w, d), []) if not self.fixed[v])
        for _, v in victims[:3]:
            self._place(v, -1, -1)
            if self._delta(o, d, w) is None:
                self._place(v, d, w)
                continue
            self._place(o, d, w)
            move = self.best_move(v, allow_out=False)
            if move is not None and move[0] < 0:
                self._place(v, move[1], move[2])
            return True
        return False

    def late(self, o: int) -> float:
        """The ageing past its due date that ``o``'s request accrues as planned, with its robustness margin
        (0: every visit a safe margin within cadence, or waiting costs nothing)."""
        t = self.occ_task[o]
        days = self.task_days(t)
        return self.ctx.risk_parts(t, days)[1] + self.ctx.margin_cost(t, days)

    def pull_forward(self, o: int) -> bool:
        """Move ``o`` (a visit past its due date, or left out) to an earlier day that is full, swapping out
        the visit there that loses least by waiting: the move that keeps intensive households within their
        cadence when every worker-day is booked, which single moves cannot make."""
        if self.fixed[o]:
            return False
        t = self.occ_task[o]
        here = self.day[o]
        moves: list[Callable[[], bool]] = []
        for d, w in self.options(o):
            if here >= 0 and d >= here:
                continue
            if len(self.members.get((w, d), [])) < 1:
                continue

            def move(d: int = d, w: int = w) -> bool:
                if self.day[o] >= 0:
                    self._place(o, -1, -1)
                return self.day_ok(t, d) and self._put(o, d, w)

            moves.append(move)
        return self._make_best(moves)

    def reinsert_ejecting(self, tasks: list[int]) -> bool:
        """A visit and its follow-ups (``tasks``, predecessors first) moved together to other days, each
        into a full worker-day if need be by taking out the visit there that loses least: a follow-up that
        must come exactly two days later needs two free places at once."""
        occs = [o for t in tasks for o in self.task_occ[t] if not self.fixed[o]]
        head = [o for o in self.task_occ[tasks[0]] if not self.fixed[o]]
        if not head or len(occs) != sum(self.ctx.tasks[t].count for t in tasks):
            return False
        o = head[0]
        t0 = tasks[0]
        heads: list[tuple[int, int]] = []
        for d, workers in sorted(self.ctx.tasks[t0].options.items()):
            if d > self.frozen_until:
                heads.extend((d, w) for w in workers)
        moves: list[Callable[[], bool]] = []
        for d, w in heads:

            def move(d: int = d, w: int = w) -> bool:
                for x in occs:
                    if self.day[x] >= 0:
                        self._place(x, -1, -1)
                if not (self.day_ok(t0, d) and self._put(o, d, w)):
                    return False
                for x in occs:
                    if x == o:
                        continue
                    choice: tuple[float, int, int] | None = None
                    for d2, w2 in self.options(x):
                        delta = self._delta(x, d2, w2)
                        cost = delta if delta is not None else min(
                            (self._victim_cost(v) for v in self.members.get((w2, d2), []) if not self.fixed[v]),
                            default=float("inf"))
                        if choice is None or cost < choice[0]:
                            choice = (cost, d2, w2)
                    if choice is None or choice[0] == float("inf") or not self._put(x, choice[1], choice[2]):
                        return False
                return True

            moves.append(move)
        return self._make_best(moves)

    # ---- search ------------------------------------------------------------------------------

    def construct(self) -> None:
        """Insert every movable unassigned visit greedily: mandatory and urgent first, then by risk."""
        ctx = self.ctx
        groups = self._groups()

        def value(t: int) -> float:
            info = ctx.tasks[t]
            first = sorted(info.options)[:1]
            return ctx.risk_cost(t, []) - ctx.risk_cost(t, first)

        order = sorted(groups, key=lambda g: (not any(ctx.tasks[t].must for t in g),
                                              -max(value(t) for t in g)))
        for group in order:
            if any(self.patterns[t] for t in group):
                self._insert_patterns(group)
                continue
            if len(group) > 1:
                self._insert_chain(group)
                continue
            for t in group:
                for o in self.task_occ[t]:
                    if self.day[o] >= 0 or self.fixed[o]:
                        continue
                    move = self.best_move(o, allow_out=False)
                    if move is not None and move[0] < 0:
                        self._place(o, move[1], move[2])
                    elif not self.insert_with_ejection(o):
                        continue

    def _groups(self) -> list[list[int]]:
        """Requests tied by follow-ups, predecessors first; every other request alone."""
        seen: set[int] = set()
        out: list[list[int]] = []
        for t in range(len(self.ctx.tasks)):
            if t in seen or self.follows[t] is not None:
                continue
            group, stack = [], [t]
            while stack:
                x = stack.pop(0)
                if x in seen:
                    continue
                seen.add(x)
                group.append(x)
                stack.extend(self.followers[x])
            out.append(group)
        for t in range(len(self.ctx.tasks)):  # follow-up cycles (infeasible anyway) still get a group
            if t not in seen:
                out.append([t])
        return out

    def search(self, *, deadline: float | None, max_evaluations: int,
               should_stop: Callable[[], bool] | None = None) -> None:
        """Local search: relocate single visits, insert left-out ones by ejection, reinsert request groups;
        stops when a pass finds nothing, at ``deadline`` (``perf_counter``) or after ``max_evaluations``."""
        limit = self.evaluations + max_evaluations

        def out_of_budget() -> bool:
            return (self.evaluations >= limit or (deadline is not None and time.perf_counter() >= deadline)
                    or (should_stop is not None and should_stop()))

        groups = [g for g in self._groups() if len(g) > 1 or self.ctx.tasks[g[0]].count > 1
                  or self.patterns[g[0]]]
        while not out_of_budget():
            improved = False
            order = [o for o in self.rng.permutation(len(self.day)).tolist() if not self.fixed[o]]
            for o in order:
                if out_of_budget():
                    return
                if self.day[o] < 0:
                    improved |= self.improve(o) or self.insert_with_ejection(o)
                else:
                    improved |= self.improve(o)
            for g in groups:
                if out_of_budget():
                    return
                improved |= self.reinsert(g)
            if self.params.swaps:
                for o in order:
                    if out_of_budget():
                        return
                    if not self.fixed[o] and (self.day[o] < 0 or self.late(o) > _EPS):
                        improved |= self.pull_forward(o)
                for g in groups:
                    if out_of_budget():
                        return
                    if len(g) > 1 and any(self.late(o) > _EPS or self.day[o] < 0 for t in g
                                          for o in self.task_occ[t]):
                        improved |= self.reinsert_ejecting(g)
            if not improved:
                return
