"""Routes that depend on each other's times: joint visits (seats start together) and precedences (a gap).

:func:`schedule_routes` times every route of a day so that each joint visit's seats start at the same
moment and each precedence keeps its gap; :func:`insert_dropped` puts dropped visits (a joint visit's
seats together, in two routes) where they still fit; :func:`explain_joint` says what blocked a joint or
following visit.  Without joint visits or precedences each route is timed on its own
(:func:`planner.schedule.schedule_route`) and nothing here changes it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

from .insertion import InsertionIndex
from .instance import Instance
from .plan import Reason
from .schedule import Timing, schedule_route
from .timeline import format_hhmm

__all__ = ["cost_of", "explain_joint", "insert_dropped", "links", "schedule_routes"]

_HORIZON = 2 * 24 * 3600
#: Rounds of the start-time fixpoint before a day is declared unsynchronisable (each round only raises starts).
_ROUNDS = 200
#: Cheapest insertions per seat, and seat combinations re-timed, per dropped joint visit.
_SEAT_TRIES = 10
_PAIR_TRIES = 40
_SINGLE_TRIES = 40

Link = tuple[int, int, int, int | None]  # start(b) - start(a) in [low, high] over nodes


def links(inst: Instance, routes: Sequence[Sequence[int]]) -> tuple[list[Link], dict[int, str]]:
    """The start-time links among the planned nodes, and the workers whose routes break a joint rule.

    A joint visit with some seats planned and others not (``crew_incomplete``), two seats in one route
    (``crew_same_worker``) or a following visit planned without its first (``precedence_missing_first``)
    fails the route that holds it.
    """
    where = {n: w for w, r in enumerate(routes) for n in r}
    out: list[Link] = []
    broken: dict[int, str] = {}
    for nodes in inst.crew:
        present = [n for n in nodes if n in where]
        if not present:
            continue
        if len(present) < len(nodes):
            broken.update((where[n], "crew_incomplete") for n in present)
        elif len({where[n] for n in nodes}) < len(nodes):
            broken.update((where[n], "crew_same_worker") for n in nodes)
        else:
            out.extend((nodes[0], n, 0, 0) for n in nodes[1:])
    for a, b, low, high in inst.precedences:
        if b in where and a not in where:
            broken[where[b]] = "precedence_missing_first"
        elif a in where and b in where:
            out.append((a, b, low, None if high < 0 else high))
    return out, broken


def schedule_routes(inst: Instance, routes: Sequence[Sequence[int]], *, relax: bool = False,
                    known: Sequence[Timing] | None = None, changed: set[int] | None = None,
                    final: bool = True, lenient: bool = False) -> list[Timing]:
    """Timings of all ``routes`` (one per worker) that keep every joint visit's seats together and every
    precedence's gap.

    Routes linked to others are timed on lower bounds of their linked starts, raised round by round until
    every link holds (the earliest such starts), then re-timed with those starts fixed so each worker leaves
    as late as the fixed starts allow.  A route that cannot keep its links fails (``failure`` ``"sync"``,
    or what :func:`links` names).  ``known`` timings (all feasible, with their links kept) of routes not in
    ``changed`` are reused: their linked starts are where the rounds begin (adding stops only delays starts),
    and only routes whose starts move are re-timed.  ``final=False`` skips the last re-timing (linked routes keep
    their earliest starts and departures): feasible and synchronised, for trial insertions.  ``lenient``
    (a hand edit) times a following visit planned without its first like any visit instead of failing its
    route, so the day's other links still hold (the evaluator names the missing first).
    """
    n_w = len(routes)
    if not inst.joint:
        return [known[w] if known is not None and changed is not None and w not in changed
                else schedule_route(inst, w, routes[w], relax=relax) for w in range(n_w)]
    link, broken = links(inst, routes)
    if lenient:
        broken = {w: why for w, why in broken.items() if why != "precedence_missing_first"}
    linked = {n for a, b, _, _ in link for n in (a, b)}
    where = {n: (w, k) for w, r in enumerate(routes) for k, n in enumerate(r)}
    tied = {where[n][0] for n in linked}
    out: list[Timing] = []
    for w in range(n_w):
        if w in broken:
            out.append(Timing(failure=broken[w]))
        elif w in tied:
            out.append(Timing(failure="sync"))  # set below
        elif known is not None and changed is not None and w not in changed:
            out.append(known[w])
        else:
            out.append(schedule_route(inst, w, routes[w], relax=relax))
    if broken or not tied:
        return out
    low: dict[int, int] = {}
    todo = set(tied)
    first: dict[int, Timing] = {}
    if known is not None and changed is not None:
        for w in tied - changed:
            first[w] = known[w]
            out[w] = known[w]
            for k, n in enumerate(routes[w]):
                if n in linked:
                    low[n] = known[w].starts[k]
        todo = tied & changed
    moved = set(todo)
    for _ in range(_ROUNDS):
        for w in todo:
            clip = {n: (low[n], _HORIZON) for n in routes[w] if n in low}
            t = schedule_route(inst, w, routes[w], relax=relax, clip=clip, earliest=True)
            if not t.ok:
                out[w] = t
                return out
            first[w] = t
        start = {n: first[where[n][0]].starts[where[n][1]] for n in linked}
        todo = set()
        for a, b, gap_lo, gap_hi in link:
            if start[b] < start[a] + gap_lo:
                low[b] = start[a] + gap_lo
                todo.add(where[b][0])
            if gap_hi is not None and start[b] > start[a] + gap_hi:
                low[a] = start[b] - gap_hi
                todo.add(where[a][0])
        moved |= todo
        if not todo:
            break
    else:
        for w in tied:
            out[w] = Timing(failure="sync")
        return out
    if not final:
        for w in moved:
            out[w] = first[w]
        return out
    for w in moved:
        pins = {n: (start[n], start[n]) for n in routes[w] if n in linked}
        t = schedule_route(inst, w, routes[w], relax=relax, clip=pins)
        out[w] = t if t.ok else first[w]
    return out


def _fits_limits(inst: Instance, w: int, order: Sequence[int]) -> bool:
    worker = inst.worker(w)
    if worker.max_visits is not None and len(order) > worker.max_visits:
        return False
    return worker.capacity is None or sum(inst.visit(v).load for v in order) <= worker.capacity


def _trial(inst: Instance, routes: list[tuple[int, ...]], timings: list[Timing],
           moves: Sequence[tuple[int, int, int]]) -> tuple[list[tuple[int, ...]], list[Timing]] | None:
    """Routes and timings with ``(node, worker, position)`` moves made together, if every route still times out."""
    cand = list(routes)
    changed = set()
    for node, w, pos in sorted(moves, key=lambda m: -m[2]):
        cand[w] = (*cand[w][:pos], node, *cand[w][pos:])
        changed.add(w)
    if not all(_fits_limits(inst, w, cand[w]) for w in changed):
        return None
    ts = schedule_routes(inst, cand, known=timings, changed=changed, final=False)
    if not all(t.ok for t in ts):
        return None
    return cand, ts


def cost_of(inst: Instance, routes: Sequence[Sequence[int]], timings: Sequence[Timing]) -> float:
    """Travel seconds plus ``late_cost`` times the seconds each visit starts after its due time (what the routing
    model minimises besides skip penalties and continuity)."""
    total = float(sum(s for t in timings for s, _ in t.legs))
    if inst.has_due:
        for w, order in enumerate(routes):
            for k, n in enumerate(order):
                v = n if n < inst.n_visits else -1
                if v >= 0 and inst.due_s[v] >= 0:
                    total += float(inst.late_cost[v]) * max(0, timings[w].starts[k] - int(inst.due_s[v]))
    return total


def _try(inst: Instance, routes: list[tuple[int, ...]], timings: list[Timing],
         options: Sequence[Sequence[tuple[int, int, int]]], *, best_of: int = 1) -> bool:
    """Make the first of ``options`` (each a set of moves made together) that times out, or, with ``best_of`` > 1,
    the cheapest (:func:`cost_of`) among the first ``best_of`` that do; commit on success."""
    best: tuple[float, list[tuple[int, ...]], list[Timing]] | None = None
    found = 0
    for moves in options:
        trial = _trial(inst, routes, timings, moves)
        if trial is None:
            continue
        found += 1
        if best_of <= 1:
            best = (0.0, *trial)
            break
        cost = cost_of(inst, *trial)
        if best is None or cost < best[0]:
            best = (cost, *trial)
        if found >= best_of:
            break
    if best is None:
        return False
    routes[:] = best[1]
    timings[:] = best[2]
    return True


def insert_dropped(inst: Instance, routes: list[tuple[int, ...]], timings: list[Timing], *,
                   best_of: int = 1, stop: Callable[[], bool] | None = None) -> None:
    """Insert dropped visits where they still fit (riskiest first, then the earliest due or window), a joint
    visit's seats in different routes at once, re-timing the linked routes together; ``routes`` and
    ``timings`` change in place.  ``best_of`` > 1 weighs that many feasible insertions by travel and lateness
    (:func:`cost_of`) instead of taking the least detour; ``stop`` returning true ends the insertions.

    Also the second method compared for joint visits: plan the one-worker visits, then insert the pairs.
    """
    served = {n for r in routes for n in r}
    dropped = [v for v in range(inst.n_visits) if v not in served and inst.windows[v]
               and all(inst.allowed[n] for n in (inst.crew[v] or (v,)))]
    if not dropped:
        return
    penalty = {v: sum(int(inst.penalty[n]) for n in (inst.crew[v] or (v,))) for v in dropped}

    def by_time(v: int) -> int:
        due = int(inst.due_s[v]) if inst.has_due and inst.due_s[v] >= 0 else None
        return due if due is not None else inst.windows[v][-1][1]

    dropped.sort(key=lambda v: (-penalty[v], by_time(v)))
    before = sum(len(r) for r in routes)
    _insert(inst, routes, timings, dropped, best_of=best_of, stop=stop)
    if inst.joint and sum(len(r) for r in routes) > before:
        timings[:] = schedule_routes(inst, routes)  # trials kept the earliest times: leave as late as they allow


def _insert(inst: Instance, routes: list[tuple[int, ...]], timings: list[Timing], dropped: list[int], *,
            best_of: int, stop: Callable[[], bool] | None) -> None:
    """The insertions of :func:`insert_dropped`, ``dropped`` in order."""
    for _ in range(2):  # a second pass places visits whose first (by precedence) the first pass placed
        index = InsertionIndex(inst, routes)
        left = []
        for v in dropped:
            if stop is not None and stop():
                return
            nodes = inst.crew[v] or (v,)
            if len(nodes) == 1:
                options = [[(v, w, pos)] for _, w, pos in index.candidates(v, limit=_SINGLE_TRIES)]
            else:
                seats = [index.candidates(n, per_worker=3, limit=_SEAT_TRIES) for n in nodes]
                combos = sorted(
                    (sum(c[0] for c in combo), combo) for combo in itertools.product(*seats)
                    if len({c[1] for c in combo}) == len(combo)
                )
                options = [[(n, c[1], c[2]) for n, c in zip(nodes, combo, strict=True)]
                           for _, combo in combos[:_PAIR_TRIES]]
            placed = _try(inst, routes, timings, options, best_of=best_of)
            if placed:
                for w in {w for w, r in enumerate(routes) if any(n in r for n in nodes)}:
                    index.update(w, routes[w])
            else:
                left.append(v)
        if len(left) == len(dropped):
            return
        dropped = left


def _seat_label(inst: Instance, v: int, k: int) -> str:
    seat = inst.visit(v).crew[k]
    if seat.worker_id is not None:
        return f"worker {seat.worker_id}"
    if seat.role is not None:
        return "a " + seat.role.value.replace("_", " ")
    return "a second worker" if k else "a worker"


def explain_joint(inst: Instance, routes: Sequence[Sequence[int]], v: int, *, index: InsertionIndex | None = None,
                  brief: bool = False) -> tuple[Reason, str] | None:
    """Why joint visit ``v`` (or a visit following another) is not planned, or ``None`` to explain it as a
    one-worker visit.  ``index`` (of ``routes``) is shared by the explanations of one plan; ``brief`` (the budget
    is spent) skips the tries of each seat in today's routes: the reason is then the pair's without them."""
    problem = inst.problem
    planned = {n for r in routes for n in r}
    for a, b, _, _ in inst.precedences:
        if b == v and a not in planned:
            return (Reason.PARTNER_LEFT_OUT,
                    f"It must follow visit {problem.visits[a].id}, which is not planned today.")
    nodes = inst.crew[v]
    if not nodes:
        return None
    wins = ", ".join(f"{format_hhmm(s)}-{format_hhmm(e)}" for s, e in inst.windows[v]) or "none today"
    for k, n in enumerate(nodes):
        if not inst.allowed[n]:
            return Reason.NO_QUALIFIED_WORKER, f"No worker may take seat {k + 1} ({_seat_label(inst, v, k)}): " \
                f"{inst.block[n]}."
    pairs = [combo for combo in itertools.product(*(sorted(inst.allowed[n]) for n in nodes))
             if len(set(combo)) == len(combo)]
    if not pairs:
        only = sorted({problem.workers[w].id for n in nodes for w in inst.allowed[n]})
        return (Reason.NO_QUALIFIED_WORKER,
                f"It needs {len(nodes)} different workers, but only {', '.join(only)} qualifies for its seats.")
    if not inst.windows[v]:
        return (Reason.OUTSIDE_EVERY_SHIFT,
                "The household is not available within the visit's time windows today; plan it on another day.")
    empty: list[tuple[int, ...]] = [() for _ in range(inst.n_workers)]

    def alone(combo: tuple[int, ...]) -> bool:
        trial = list(empty)
        for n, w in zip(nodes, combo, strict=True):
            trial[w] = (n,)
        return all(t.ok for t in schedule_routes(inst, trial))

    if not any(alone(c) for c in pairs[:_PAIR_TRIES]):
        return (Reason.OUTSIDE_EVERY_SHIFT,
                f"The pair cannot meet its window ({wins}) together: no two qualified workers can both be there "
                "and start at one time within their shifts, travel and lunch included.")
    if brief:
        return (Reason.OVER_CAPACITY,
                f"The qualified workers are fully booked with higher-priority visits: no two of them are free at one "
                f"time in its window ({wins}).")
    # Each seat alone in today's routes: who is free for it?
    if index is None:
        index = InsertionIndex(inst, [tuple(r) for r in routes])
    free: list[list[str]] = []
    for n in nodes:
        ws = sorted({w for _, w, _ in index.candidates(n, per_worker=1)})
        ok = [problem.workers[w].id for w in ws
              if any(schedule_route(inst, w, (*routes[w][:p], n, *routes[w][p:])).ok
                     for _, x, p in index.candidates(n, per_worker=3) if x == w)]
        free.append(ok)
    for k, ok in enumerate(free):
        if not ok:
            booked = ", ".join(sorted(problem.workers[w].id for w in inst.allowed[nodes[k]])[:4])
            return (Reason.OVER_CAPACITY,
                    f"No {'second ' if k else ''}qualified worker is free in its window ({wins}) for seat {k + 1} "
                    f"({_seat_label(inst, v, k)}): {booked} fully booked with higher-priority visits.")
    if all(len(ok) == 1 for ok in free) and len({ok[0] for ok in free}) == 1:
        return (Reason.OVER_CAPACITY,
                f"Only {free[0][0]} is free for its seats, and it needs {len(nodes)} different workers.")
    return (Reason.OVER_CAPACITY,
            f"The qualified workers ({'; '.join(', '.join(ok[:3]) for ok in free)}) are free at different times: "
            f"no common start in its window ({wins}) fits both days.")
