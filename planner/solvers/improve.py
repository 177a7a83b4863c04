"""Local search on the full model's objective from feasible routes: riskier visits in place of safer ones, shorter
routes (or-opt and 2-opt within a route), dropped visits put back where they still fit."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence

from ..instance import Instance
from ..params import SolveParams
from ..schedule import Timing, schedule_route
from .repair import repair

__all__ = ["improve", "recreate", "tighten"]

#: Exact timings tried per move search, the best estimates first (a timing costs about half a millisecond; the
#: estimates, travel from the tables, are exact in travel but blind to windows, lunch and working time).
_CHECKS = 12
#: Rounds of (shorter routes, put back, swap in) at most; each round stops early once nothing improves.
_ROUNDS = 4
#: Longest segment an or-opt move carries within a route.
_SEGMENT = 3
#: Planned visits a ruin takes out (the nearest to a random one), at least and at most.
_RUIN = (3, 12)


class _Day:
    """The routes being improved, their timings and the per-visit costs the moves weigh."""

    def __init__(self, inst: Instance, routes: Sequence[Sequence[int]], params: SolveParams,
                 previous_worker: Sequence[int] | None) -> None:
        self.inst = inst
        self.routes = [tuple(r) for r in routes] + [() for _ in range(inst.n_workers - len(routes))]
        self.timings: list[Timing] = [schedule_route(inst, w, r) for w, r in enumerate(self.routes)]
        self.continuity = params.continuity_cost_s
        self.previous = previous_worker
        self.loads = [inst.visit(v).load for v in range(inst.n_visits)]

    def ok(self) -> bool:
        return all(t.ok for t in self.timings)

    def extra(self, v: int, w: int) -> int:
        """Continuity cost of visit ``v`` on worker ``w`` (as in the full objective)."""
        inst, cost = self.inst, 0
        if inst.preferred[v] >= 0 and inst.preferred[v] != w:
            cost += self.continuity
        if self.previous is not None and self.previous[v] >= 0 and self.previous[v] != w:
            cost += 3 * self.continuity
        return cost

    def travel(self, w: int, order: Sequence[int]) -> int:
        inst = self.inst
        tt = inst.tables[w]
        locs = [int(inst.start_loc[w]), *(int(inst.visit_loc[v]) for v in order), int(inst.end_loc[w])]
        return sum(int(tt[a, b]) for a, b in itertools.pairwise(locs))

    def within_limits(self, w: int, order: Sequence[int]) -> bool:
        worker = self.inst.worker(w)
        if worker.max_visits is not None and len(order) > worker.max_visits:
            return False
        return worker.capacity is None or sum(self.loads[v] for v in order) <= worker.capacity

    def first_feasible(self, options: list[tuple[int, int, tuple[int, ...]]]) -> tuple[int, tuple[int, ...],
                                                                                          Timing] | None:
        """The best-estimated option (``(gain, worker, order)``) that keeps every rule, among the first few."""
        options.sort(key=lambda o: -o[0])
        for _, w, order in options[:_CHECKS]:
            if not self.within_limits(w, order):
                continue
            t = schedule_route(self.inst, w, order)
            if t.ok:
                return w, order, t
        return None

    def set(self, w: int, order: tuple[int, ...], timing: Timing) -> None:
        self.routes[w], self.timings[w] = order, timing

    def cost(self) -> int:
        """The full objective of the routes (travel, skip penalties, continuity), from their timings."""
        inst, total, served = self.inst, 0, set[int]()
        for w, (order, t) in enumerate(zip(self.routes, self.timings, strict=True)):
            total += sum(s for s, _ in t.legs)
            total += sum(self.extra(v, w) for v in order)
            served.update(order)
        return total + sum(int(inst.penalty[v]) for v in range(inst.n_visits) if v not in served)


def _shorter(day: _Day, w: int, stop: Callable[[], bool]) -> bool:
    """Or-opt (a segment of up to three visits moved) and 2-opt (a segment reversed) within ``w``'s route, while
    one shortens its travel and keeps its timing feasible."""
    changed = False
    while not stop():
        order = day.routes[w]
        n = len(order)
        if n < 2:
            return changed
        now = day.travel(w, order)
        options: list[tuple[int, int, tuple[int, ...]]] = []
        for i in range(n):
            for j in range(i + 2, n + 1):
                cand = (*order[:i], *reversed(order[i:j]), *order[j:])
                gain = now - day.travel(w, cand)
                if gain > 0:
                    options.append((gain, w, cand))
            for length in range(1, _SEGMENT + 1):
                if i + length > n:
                    break
                seg, rest = order[i:i + length], (*order[:i], *order[i + length:])
                for pos in range(len(rest) + 1):
                    if pos == i:
                        continue
                    cand = (*rest[:pos], *seg, *rest[pos:])
                    gain = now - day.travel(w, cand)
                    if gain > 0:
                        options.append((gain, w, cand))
        found = day.first_feasible(options)
        if found is None:
            return changed
        day.set(*found)
        changed = True
    return changed


def _swap_in(day: _Day, v: int) -> int | None:
    """Put unserved ``v`` in a route, alone or in place of a visit whose skip costs less (the best gain in the full
    objective that keeps every rule); the visit taken out, ``-1`` when none was, ``None`` when no move gains."""
    inst = day.inst
    pv = int(inst.penalty[v])
    lv = int(inst.visit_loc[v])
    options: list[tuple[int, int, tuple[int, ...]]] = []
    taken: dict[tuple[int, tuple[int, ...]], int] = {}
    for w in sorted(inst.allowed[v]):
        order = day.routes[w]
        tt = inst.tables[w]
        locs = [int(inst.start_loc[w]), *(int(inst.visit_loc[u]) for u in order), int(inst.end_loc[w])]
        gain_v = pv - day.extra(v, w)
        # v alone, between two stops.
        for pos in range(len(order) + 1):
            a, b = locs[pos], locs[pos + 1]
            gain = gain_v - (int(tt[a, lv]) + int(tt[lv, b]) - int(tt[a, b]))
            if gain > 0:
                cand = (*order[:pos], v, *order[pos:])
                options.append((gain, w, cand))
                taken[(w, cand)] = -1
        # v in place of u: u out (its neighbours joined), v between two stops of what is left.
        for i, u in enumerate(order):
            base = gain_v - int(inst.penalty[u]) + day.extra(u, w)
            if base <= 0:
                continue
            p, q = locs[i], locs[i + 2]
            saved = int(tt[p, int(inst.visit_loc[u])]) + int(tt[int(inst.visit_loc[u]), q]) - int(tt[p, q])
            rest_locs = [*locs[:i + 1], *locs[i + 2:]]
            rest = (*order[:i], *order[i + 1:])
            for pos in range(len(rest) + 1):
                a, b = rest_locs[pos], rest_locs[pos + 1]
                gain = base + saved - (int(tt[a, lv]) + int(tt[lv, b]) - int(tt[a, b]))
                if gain > 0:
                    cand = (*rest[:pos], v, *rest[pos:])
                    options.append((gain, w, cand))
                    taken[(w, cand)] = u
    found = day.first_feasible(options)
    if found is None:
        return None
    day.set(*found)
    return taken[(found[0], found[1])]


def improve(inst: Instance, routes: Sequence[Sequence[int]], params: SolveParams,
            previous_worker: Sequence[int] | None = None, *,
            stop: Callable[[], bool] | None = None) -> tuple[tuple[int, ...], ...]:
    """``routes`` improved on the full objective (:func:`~planner.solvers.objective.full_objective`): every move
    lowers it and keeps every rule.  Unserved visits, riskiest first, go into a route alone or in place of a visit
    whose skip costs less; routes are shortened by or-opt and 2-opt moves (the time saved may make room); the
    greedy :func:`~planner.solvers.repair.repair` puts back what fits.  ``stop`` (polled between moves) ends the
    search, every route then still feasible.  Routes with joint visits, precedences or due times, and routes that
    cannot be timed, are returned unchanged.
    """
    halt = stop or (lambda: False)
    day = _Day(inst, routes, params, previous_worker)
    if inst.joint or inst.has_due or not day.ok():
        return tuple(day.routes)
    dirty = set(range(inst.n_workers))
    for _ in range(_ROUNDS):
        changed = False
        for w in sorted(dirty):
            if halt():
                return tuple(day.routes)
            changed |= _shorter(day, w, halt)
        dirty = set()
        repair(inst, day.routes, day.timings, stop=halt)
        served = {v for r in day.routes for v in r}
        unserved = sorted((v for v in range(inst.n_visits) if v not in served and inst.allowed[v] and inst.windows[v]),
                          key=lambda v: -int(inst.penalty[v]))
        before = [tuple(r) for r in day.routes]
        for v in unserved:
            if halt():
                return tuple(day.routes)
            if v in served:
                continue
            out = _swap_in(day, v)
            if out is not None:
                served.add(v)
                served.discard(out)
                changed = True
        dirty = {w for w in range(inst.n_workers) if day.routes[w] != before[w]}
        if not changed:
            break
    repair(inst, day.routes, day.timings, stop=halt)
    return tuple(day.routes)


def _ruin(day: _Day, rng: random.Random) -> set[int]:
    """Take out the planned visits nearest to a random planned one (``_RUIN`` of them, by travel both ways on its
    worker's table) from every route they are on; the workers whose routes changed (empty when nothing was
    planned, or when a shortened route no longer times out, which then stays as it was)."""
    inst = day.inst
    planned = [(v, w) for w, r in enumerate(day.routes) for v in r]
    if not planned:
        return set()
    seed, w0 = planned[rng.randrange(len(planned))]
    tt, ls = inst.tables[w0], int(inst.visit_loc[seed])
    k = rng.randint(*_RUIN)
    locs = [int(inst.visit_loc[v]) for v, _ in planned]
    dist = [int(tt[ls, x]) + int(tt[x, ls]) for x in locs]
    near = [planned[i] for i in sorted(range(len(planned)), key=dist.__getitem__)]
    out = {v for v, _ in near[:k]}
    touched = {w for v, w in near[:k]}
    for w in touched:
        order = tuple(v for v in day.routes[w] if v not in out)
        t = schedule_route(inst, w, order)
        if t.ok:
            day.set(w, order, t)
    return touched


def recreate(inst: Instance, routes: Sequence[Sequence[int]], params: SolveParams,
             previous_worker: Sequence[int] | None = None, *, stop: Callable[[], bool],
             seed: int = 0, rounds: int | None = None) -> tuple[tuple[int, ...], ...]:
    """Ruin and recreate on the full objective from feasible ``routes``: the planned visits nearest to a random one
    are taken out, every unserved visit goes back where it fits, riskiest first and at its cheapest (the greedy
    :func:`~planner.solvers.repair.repair`), the routes touched are shortened (or-opt, 2-opt); the result is kept
    when its objective is no worse (equal ones too, to move along plateaus), else the routes go back.  Room freed
    near a cluster of safer visits takes a riskier one that fitted nowhere, and a cluster re-inserted at its
    cheapest shortens travel at equal coverage.  Runs until ``stop()`` (polled between rounds) or ``rounds``
    rounds; never returns routes worse than ``routes``, every route feasible.  Routes with joint visits,
    precedences or due times, and routes that cannot be timed, are returned unchanged."""
    day = _Day(inst, routes, params, previous_worker)
    if inst.joint or inst.has_due or not day.ok():
        return tuple(day.routes)
    rng = random.Random(seed)
    best = day.cost()
    done = 0
    while (rounds is None or done < rounds) and not stop():
        done += 1
        saved_routes, saved_timings = list(day.routes), list(day.timings)
        touched = _ruin(day, rng)
        if not touched:
            break
        before = list(day.routes)
        repair(inst, day.routes, day.timings, stop=stop)
        touched |= {w for w in range(inst.n_workers) if day.routes[w] != before[w]}
        for w in sorted(touched):
            _shorter(day, w, stop)
        cost = day.cost()
        if cost <= best:
            best = cost
        else:
            day.routes, day.timings = saved_routes, saved_timings
    return tuple(day.routes)


def _relocate(day: _Day, w: int, stop: Callable[[], bool]) -> bool:
    """Move one visit of ``w``'s route to another route where the two routes' travel and continuity cost less (the
    served visits unchanged); the best-estimated moves first, each timed before it is made."""
    inst = day.inst
    order = day.routes[w]
    if not order or stop():
        return False
    tt_w = inst.tables[w]
    locs = [int(inst.start_loc[w]), *(int(inst.visit_loc[v]) for v in order), int(inst.end_loc[w])]
    options: list[tuple[int, int, tuple[int, ...], tuple[int, ...]]] = []
    for i, v in enumerate(order):
        lv = int(inst.visit_loc[v])
        p, q = locs[i], locs[i + 2]
        saved = int(tt_w[p, lv]) + int(tt_w[lv, q]) - int(tt_w[p, q]) + day.extra(v, w)
        rest = (*order[:i], *order[i + 1:])
        for b in sorted(inst.allowed[v]):
            if b == w:
                continue
            other = day.routes[b]
            tt = inst.tables[b]
            blocs = [int(inst.start_loc[b]), *(int(inst.visit_loc[u]) for u in other), int(inst.end_loc[b])]
            extra = day.extra(v, b)
            for pos in range(len(other) + 1):
                x, y = blocs[pos], blocs[pos + 1]
                gain = saved - (int(tt[x, lv]) + int(tt[lv, y]) - int(tt[x, y])) - extra
                if gain > 0:
                    options.append((gain, b, (*other[:pos], v, *other[pos:]), rest))
    options.sort(key=lambda o: -o[0])
    for _, b, cand, rest in options[:_CHECKS]:
        if not day.within_limits(b, cand):
            continue
        tb = schedule_route(inst, b, cand)
        if not tb.ok:
            continue
        tw = schedule_route(inst, w, rest)
        if not tw.ok:
            continue
        day.set(b, cand, tb)
        day.set(w, rest, tw)
        return True
    return False


def _exchange(day: _Day, v: int) -> bool:
    """Put unserved ``v`` in place of a planned visit whose skip costs no less, where the route's travel and
    continuity do not grow, and one of the two strictly improves (the risk covered never falls)."""
    inst = day.inst
    pv, lv = int(inst.penalty[v]), int(inst.visit_loc[v])
    options: list[tuple[int, int, tuple[int, ...]]] = []
    for w in sorted(inst.allowed[v]):
        order = day.routes[w]
        tt = inst.tables[w]
        locs = [int(inst.start_loc[w]), *(int(inst.visit_loc[u]) for u in order), int(inst.end_loc[w])]
        for i, u in enumerate(order):
            risk_gain = pv - int(inst.penalty[u])
            if risk_gain < 0:
                continue
            lu = int(inst.visit_loc[u])
            p, q = locs[i], locs[i + 2]
            saved = int(tt[p, lu]) + int(tt[lu, q]) - int(tt[p, q]) + day.extra(u, w) - day.extra(v, w)
            rest_locs = [*locs[:i + 1], *locs[i + 2:]]
            rest = (*order[:i], *order[i + 1:])
            for pos in range(len(rest) + 1):
                a, b = rest_locs[pos], rest_locs[pos + 1]
                travel_gain = saved - (int(tt[a, lv]) + int(tt[lv, b]) - int(tt[a, b]))
                if travel_gain >= 0 and (travel_gain > 0 or risk_gain > 0):
                    options.append((travel_gain + risk_gain, w, (*rest[:pos], v, *rest[pos:])))
    found = day.first_feasible(options)
    if found is None:
        return False
    day.set(*found)
    return True


def tighten(inst: Instance, routes: Sequence[Sequence[int]], params: SolveParams,
            previous_worker: Sequence[int] | None = None, *,
            stop: Callable[[], bool] | None = None) -> tuple[tuple[int, ...], ...]:
    """``routes`` with less travel and never less risk covered: every move lowers travel plus continuity without
    giving up any skip penalty, or covers more risk without adding travel (or-opt and 2-opt within a route, a
    visit moved to another route, an unserved visit in place of a planned one whose skip costs no more), and keeps
    every rule.  The result is never dominated by ``routes``: what a plan found by another objective (VROOM's
    priorities) becomes without trading its travel for risk.  ``stop`` as in :func:`improve`; routes with joint
    visits, precedences or due times, and routes that cannot be timed, are returned unchanged."""
    halt = stop or (lambda: False)
    day = _Day(inst, routes, params, previous_worker)
    if inst.joint or inst.has_due or not day.ok():
        return tuple(day.routes)
    for _ in range(_ROUNDS):
        changed = False
        for w in range(inst.n_workers):
            if halt():
                return tuple(day.routes)
            changed |= _shorter(day, w, halt)
        for w in range(inst.n_workers):
            while not halt() and _relocate(day, w, halt):
                changed = True
        served = {v for r in day.routes for v in r}
        for v in sorted((v for v in range(inst.n_visits) if v not in served and inst.allowed[v] and inst.windows[v]),
                        key=lambda v: -int(inst.penalty[v])):
            if halt():
                return tuple(day.routes)
            changed |= _exchange(day, v)
        if not changed:
            break
    return tuple(day.routes)
