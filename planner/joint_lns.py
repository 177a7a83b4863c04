"""A crew-aware large neighbourhood search for days with joint visits, precedences or due times.

OR-Tools' moves add, remove or move one routing node at a time, which a joint visit's equal start cumuls and
active flags refuse: guided local search never moves a crew.  This search does, on a compact copy of the day
(Python lists, one start time per routing node):

- *construction*: every visit inserted where it costs least (travel plus lateness, and what the insertion
  pushes later in the route), a joint visit's seats into two routes at once with one common start;
- *ruin and recreate*: remove a few whole visits (both seats of a crew, and every visit linked to them by a
  precedence) — at random, related by place and time to a seed visit, the costliest, or a whole route — and
  insert them again (greedily, in one of several orders), accepting the result by simulated annealing
  (the temperature falls over the budget); the best plan found is kept.

An insertion's cost is estimated in O(route length) from the current start times (the push ripples down the
route until waiting absorbs it); each insertion made is then timed for real: only the routes it touches and
those linked to them are re-timed, from the current starts as lower bounds (adding a stop only delays), to the
earliest starts that keep every seat pair together and every precedence gap (the same fixpoint as
:func:`planner.joint.schedule_routes`).  Days without lunch breaks or working-time limits are timed by a
compact copy of that fixpoint (exact for them); other days by :func:`planner.joint.schedule_routes` itself
(exact, slower).  The caller re-times the result with :func:`planner.joint.schedule_routes` in any case.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import numpy as np

from .instance import Instance
from .joint import schedule_routes
from .schedule import Timing
from .travel.base import UNREACHABLE

__all__ = ["JointSearch", "plan_joint"]

_INF = float("inf")
#: Insertion places kept per seat before the seats of a joint visit are combined.
_SEAT_PLACES = 8
#: Insertions timed for real per visit before it is left out of this round.
_COMMIT_TRIES = 4
#: Nearest nodes next to which an insertion is tried (granular neighbourhood; every place on smaller days), and
#: the fewest places they must give (else every place is tried).
_NEAR = 40
_NEAR_MIN = 8
#: Insertions timed when the cheapest few all fail (two crews waiting on each other crosswise, a route past its end).
_WIDE_TRIES = 24
#: Cost per second a linked stop (a seat or a precedence end) is pushed later by an insertion: its partner's
#: route moves too, which the estimate does not follow.
_LINK_PUSH = 1.0
#: Simulated annealing: starting temperature as a share of the start's cost per visit, and how far it falls.
_T0_SHARE = 0.3
_T_FALL = 200.0
#: Most visits removed per round.
_Q_MAX = 15
#: Rounds of the start-time fixpoint before an insertion is taken for a cycle (two crews waiting on each other
#: crosswise push their starts up forever); a chain of links this long is taken for one too (a refused insertion).
_ROUNDS = 60
#: The constructions tried: visit order (1: by due time, 0: at random) and the weight of lateness against travel
#: in the insertion estimates.  On Mankowska 50_2 .. 300_3 each of these was the best on some instance, by up to
#: 3x (a late stop delays every visit inserted after it, which the estimate does not see).
_BUILDS = ((1, 20.0), (1, 200.0), (2, 20.0), (0, 20.0), (1, 5.0), (0, 5.0))
#: LNS iterations per unit of the deterministic work budget.
_ITER_PER_WORK = 4


class JointSearch:
    """One day's routes, start times and cost, with the moves of the search (see the module docstring)."""

    def __init__(self, inst: Instance, *, seed: int = 0) -> None:
        self.inst = inst
        self.rng = random.Random(seed)
        n, n_w = inst.n_nodes, inst.n_workers
        self.n, self.n_w = n, n_w
        used = sorted({*inst.visit_loc.tolist(), *inst.start_loc.tolist(), *inst.end_loc.tolist()})
        col = {loc: i for i, loc in enumerate(used)}
        self.loc = [col[int(x)] for x in inst.visit_loc]
        self.sloc = [col[int(x)] for x in inst.start_loc]
        self.eloc = [col[int(x)] for x in inst.end_loc]
        by_table: dict[int, list[list[int]]] = {}
        self.tt: list[list[list[int]]] = []
        idx = np.asarray(used, dtype=np.int64)
        for w in range(n_w):
            key = id(inst.tables[w])
            if key not in by_table:
                sub = inst.tables[w][np.ix_(idx, idx)].astype(np.int64)
                sub[sub >= UNREACHABLE] = 1 << 40
                by_table[key] = sub.tolist()
            self.tt.append(by_table[key])
        self.svc: list[list[int]] = inst.service_s.astype(np.int64).tolist()
        self.win = [tuple((int(s), int(e)) for s, e in inst.windows[k]) for k in range(n)]
        self.win_end = [ws[-1][1] if ws else -1 for ws in self.win]
        self.allowed = [sorted(inst.allowed[k]) for k in range(n)]
        self.shift = [(inst.worker(w).shift.start_s, inst.worker(w).shift.end_s) for w in range(n_w)]
        self.max_visits = [inst.worker(w).max_visits for w in range(n_w)]
        self.capacity = [inst.worker(w).capacity for w in range(n_w)]
        self.load = [inst.visit(k).load for k in range(n)]
        n_v = inst.n_visits
        self.due = [0] * n
        self.late = [0.0] * n
        if inst.has_due:
            for v in range(n_v):
                if inst.due_s[v] >= 0 and inst.late_cost[v] > 0:
                    self.due[v], self.late[v] = int(inst.due_s[v]), float(inst.late_cost[v])
        self.nodes = [inst.crew[v] or (v,) for v in range(n_v)]
        self.penalty = [float(sum(int(inst.penalty[k]) for k in self.nodes[v])) for v in range(n_v)]
        self.tier = [0 if inst.visit(v).mandatory else 1 if inst.visit(v).urgent else 2 for v in range(n_v)]
        # Links: start[other] - start[node] within [lo, hi] (None: unbounded), seen from both ends.
        self.links: list[list[tuple[int, int | None, int | None]]] = [[] for _ in range(n)]
        for nodes in inst.crew:
            for a in nodes:
                self.links[a].extend((b, 0, 0) for b in nodes if b != a)
        self.firsts: list[list[int]] = [[] for _ in range(n_v)]
        group = list(range(n_v))

        def root(v: int) -> int:
            while group[v] != v:
                group[v] = group[group[v]]
                v = group[v]
            return v

        for a, b, lo, hi in inst.precedences:
            high = None if hi < 0 else hi
            self.links[a].append((b, lo, high))
            self.links[b].append((a, None if high is None else -high, -lo))
            self.firsts[b].append(a)
            group[root(a)] = root(b)
        members: dict[int, list[int]] = {}
        for v in range(n_v):
            members.setdefault(root(v), []).append(v)
        #: Visits removed and inserted together (a precedence's two ends), firsts before their followers.
        self.group = [members[root(v)] for v in range(n_v)]
        self.plannable = [v for v in range(n_v) if self.win[v] and all(self.allowed[k] for k in self.nodes[v])]
        self.exact_fast = all(inst.worker(w).break_s == 0 and inst.worker(w).max_work_s is None
                              for w in range(n_w))
        self.routes: list[list[int]] = [[] for _ in range(n_w)]
        self.route_of = [-1] * n
        self.pos = [0] * n  # index in its route
        self.allowed_set = [frozenset(a) for a in self.allowed]
        # Granular insertion: each node's nearest nodes (travel both ways plus a fifth of the difference of their
        # windows' opening times); an insertion is tried next to them only, when they give enough places.
        self.near: list[list[int]] = [[] for _ in range(n)]
        if n > _NEAR:
            first = by_table[id(inst.tables[0])] if n_w else []
            locs = np.asarray(self.loc, dtype=np.int64)
            tab = np.asarray(first, dtype=np.float64)[np.ix_(locs, locs)]
            opens = np.array([ws[0][0] if ws else 0 for ws in self.win], dtype=np.float64)
            score = tab + tab.T + 0.2 * np.abs(opens[:, None] - opens[None, :])
            np.fill_diagonal(score, np.inf)
            self.near = np.argsort(score, axis=1)[:, :_NEAR].tolist()
        self.start = [0] * n
        self._timings: list[Timing] | None = None
        #: Weight of lateness in the insertion estimates (the construction weighs it more: a late stop delays
        #: every visit inserted after it).
        self.late_w = 1.0
        self.iterations = 0
        #: Insertions estimated in full (and timed, cheapest first) per visit.
        self.tries = _COMMIT_TRIES

    # ---- timing ------------------------------------------------------------------------------------------

    def _time(self, todo: set[int]) -> bool:
        """Re-time routes ``todo`` and those their linked stops push, from the current starts as lower bounds;
        False if some route cannot keep its windows, shift or links."""
        if not self.exact_fast:
            return self._time_exact(todo)
        routes, start, loc, win, svc, links = self.routes, self.start, self.loc, self.win, self.svc, self.links
        route_of = self.route_of
        limit = _ROUNDS
        rounds = 0
        while todo:
            rounds += 1
            if rounds > limit:
                return False
            moved: list[int] = []
            for w in todo:
                tt = self.tt[w]
                t, end = self.shift[w]
                prev = self.sloc[w]
                for k in routes[w]:
                    lk = loc[k]
                    s = t + tt[prev][lk]
                    if s < start[k]:
                        s = start[k]
                    ws = win[k]
                    if s < ws[0][0]:
                        s = ws[0][0]
                    elif s > ws[0][1]:
                        for a, b in ws:
                            if b >= s:
                                if a > s:
                                    s = a
                                break
                        else:
                            return False
                    if s != start[k]:
                        start[k] = s
                        if links[k]:
                            moved.append(k)
                    t = s + svc[k][w]
                    prev = lk
                if t + tt[prev][self.eloc[w]] > end:
                    return False
            todo = set()
            for k in moved:
                sk = start[k]
                for m, lo, hi in links[k]:
                    if route_of[m] < 0:
                        continue
                    if lo is not None and start[m] < sk + lo:
                        start[m] = sk + lo
                        todo.add(route_of[m])
                    if hi is not None and sk < start[m] - hi:
                        start[k] = sk = start[m] - hi
                        todo.add(route_of[k])
        return True

    def _time_exact(self, todo: set[int]) -> bool:
        routes = [tuple(r) for r in self.routes]
        ts = schedule_routes(self.inst, routes, known=self._timings, changed=todo if self._timings else None,
                             final=False)
        if not all(t.ok for t in ts):
            return False
        self._timings = ts
        for r, t in zip(routes, ts, strict=True):
            for k, s in zip(r, t.starts, strict=True):
                self.start[k] = s
        return True

    def _retime_all(self) -> bool:
        for k in range(self.n):
            self.start[k] = 0
        self._timings = None
        return self._time(set(range(self.n_w)))

    # ---- cost --------------------------------------------------------------------------------------------

    def travel(self) -> int:
        total = 0
        for w, r in enumerate(self.routes):
            if r:
                tt, loc = self.tt[w], self.loc
                prev = self.sloc[w]
                for k in r:
                    total += tt[prev][loc[k]]
                    prev = loc[k]
                total += tt[prev][self.eloc[w]]
        return total

    def cost(self) -> float:
        late, due, start = self.late, self.due, self.start
        total = float(self.travel())
        for r in self.routes:
            for k in r:
                if late[k] and start[k] > due[k]:
                    total += late[k] * (start[k] - due[k])
        for v in range(len(self.nodes)):
            if self.route_of[v] < 0:
                total += self.penalty[v]
        return total

    # ---- insertion ---------------------------------------------------------------------------------------

    def _fits(self, w: int, nodes: Sequence[int]) -> bool:
        cap = self.max_visits[w]
        if cap is not None and len(self.routes[w]) + len(nodes) > cap:
            return False
        lim = self.capacity[w]
        return lim is None or sum(self.load[k] for k in self.routes[w]) + sum(self.load[k] for k in nodes) <= lim

    def _push(self, w: int, p: int, t: int, prev: int) -> float:
        """Estimated extra cost downstream of position ``p`` of route ``w`` when the stop before it is left at
        ``t`` from location ``prev`` (``inf`` if a window or the shift end breaks)."""
        r, tt, loc, start, win, late, due = self.routes[w], self.tt[w], self.loc, self.start, self.win, self.late, \
            self.due
        cost = 0.0
        links, svc = self.links, self.svc
        for i in range(p, len(r)):
            m = r[i]
            lm = loc[m]
            s = t + tt[prev][lm]
            old = start[m]
            if s <= old:
                return cost
            for a, b in win[m]:
                if b >= s:
                    if a > s:
                        s = a
                    break
            else:
                return _INF
            if late[m]:
                d = due[m]
                if s > d:
                    cost += late[m] * (s - d if old <= d else s - old)
            if links[m]:
                cost += _LINK_PUSH * (s - old)
            t = s + svc[m][w]
            prev = lm
        if t + tt[prev][self.eloc[w]] > self.shift[w][1]:
            return _INF
        return cost

    def _bounds(self, k: int) -> tuple[int, int | None]:
        """Bounds on node ``k``'s start from the planned ends of its precedences."""
        low, high = 0, None
        for m, lo, hi in self.links[k]:
            if self.route_of[m] < 0 or (lo == 0 and hi == 0):
                continue
            sm = self.start[m]
            # start[m] - start[k] within [lo, hi]  =>  start[k] within [sm - hi, sm - lo]
            if hi is not None:
                low = max(low, sm - hi)
            if lo is not None:
                high = sm - lo if high is None else min(high, sm - lo)
        return low, high

    def _places(self, k: int, low: int, high: int | None) -> list[tuple[float, int, int, int, int]]:
        """(estimated cost alone, worker, position, arrival, detour) for the feasible places of node ``k``: next
        to one of its nearest planned nodes or in an empty route (every place when those are few)."""
        near = self.near[k]
        if near:
            spots = set()
            ok, route_of, pos = self.allowed_set[k], self.route_of, self.pos
            for m in near:
                w = route_of[m]
                if w >= 0 and w in ok:
                    spots.add((w, pos[m]))
                    spots.add((w, pos[m] + 1))
            if len(spots) >= _NEAR_MIN:
                empty = 0
                for w in self.allowed[k]:
                    if not self.routes[w]:
                        spots.add((w, 0))
                        empty += 1
                        if empty >= 3:
                            break
                return self._spots(k, low, high, sorted(spots))
        return self._scan(k, low, high)

    def _spots(self, k: int, low: int, high: int | None,
               spots: list[tuple[int, int]]) -> list[tuple[float, int, int, int, int]]:
        out = []
        loc, start, svc, lk, wk, last = self.loc, self.start, self.svc, self.loc[k], self.win[k], self.win_end[k]
        late, due = self.late[k] * self.late_w, self.due[k]
        open_ = wk[0][0]
        fits: dict[int, bool] = {}
        for w, p in spots:
            if w not in fits:
                fits[w] = self._fits(w, (k,))
            if not fits[w]:
                continue
            r, tt = self.routes[w], self.tt[w]
            if p:
                m = r[p - 1]
                t = start[m] + svc[m][w]
                prev = loc[m]
            else:
                t = self.shift[w][0]
                prev = self.sloc[w]
            arr = t + tt[prev][lk]
            if arr > last or (high is not None and max(arr, low) > high):
                continue
            nxt = loc[r[p]] if p < len(r) else self.eloc[w]
            detour = tt[prev][lk] + tt[lk][nxt] - tt[prev][nxt]
            s = arr if arr > low else low
            if s < open_:
                s = open_
            out.append((detour + late * (s - due) if late and s > due else detour, w, p, arr, detour))
        return out

    def _scan(self, k: int, low: int, high: int | None) -> list[tuple[float, int, int, int, int]]:
        out = []
        loc, start, svc, lk, wk, last = self.loc, self.start, self.svc, self.loc[k], self.win[k], self.win_end[k]
        late, due = self.late[k] * self.late_w, self.due[k]
        open_ = wk[0][0]
        for w in self.allowed[k]:
            if not self._fits(w, (k,)):
                continue
            r, tt = self.routes[w], self.tt[w]
            t = self.shift[w][0]
            prev = self.sloc[w]
            for p in range(len(r) + 1):
                arr = t + tt[prev][lk]
                if arr > last or (high is not None and max(arr, low) > high):
                    break
                nxt = loc[r[p]] if p < len(r) else self.eloc[w]
                detour = tt[prev][lk] + tt[lk][nxt] - tt[prev][nxt]
                s = arr if arr > low else low
                if s < open_:
                    s = open_
                out.append((detour + late * (s - due) if late and s > due else detour, w, p, arr, detour))
                if p < len(r):
                    m = r[p]
                    t = start[m] + svc[m][w]
                    prev = loc[m]
        return out

    def _start_at(self, k: int, s: int) -> int | None:
        for a, b in self.win[k]:
            if b >= s:
                return max(a, s)
        return None

    def _options(self, v: int) -> list[tuple[float, tuple[tuple[int, int, int], ...]]]:
        """Insertions of visit ``v`` (each seat's ``(node, worker, position)``), cheapest estimate first."""
        nodes = self.nodes[v]
        out: list[tuple[float, tuple[tuple[int, int, int], ...]]] = []
        if len(nodes) == 1:
            k = nodes[0]
            low, high = self._bounds(k)
            # Cheapest first by the cost at the stop itself (a lower bound): the push down the route is only
            # estimated while that bound can still beat the best few found.
            for bound, w, p, arr, _ in sorted(self._places(k, low, high)):
                if len(out) >= self.tries and bound >= out[-1][0]:
                    break
                s = self._start_at(k, max(arr, low))
                if s is None or (high is not None and s > high):
                    continue
                c = bound + self.late_w * self._push(w, p, s + self.svc[k][w], self.loc[k])
                if c < _INF:
                    out.append((c, ((k, w, p),)))
                    out.sort(key=lambda o: o[0])
                    del out[self.tries:]
            return out
        seats = []
        for k in nodes:
            places = sorted(self._places(k, 0, None))
            seen: dict[int, int] = {}
            kept = []
            for pl in places:
                if seen.get(pl[1], 0) < 3:
                    seen[pl[1]] = seen.get(pl[1], 0) + 1
                    kept.append(pl)
                    if len(kept) >= _SEAT_PLACES:
                        break
            seats.append(kept)
        out = []
        k0 = nodes[0]
        if len(nodes) != 2:
            return out
        k1 = nodes[1]
        combos = []
        late, due = self.late[k0] * self.late_w, self.due[k0]
        for _, w0, p0, a0, d0 in seats[0]:
            for _, w1, p1, a1, d1 in seats[1]:
                if w0 == w1:
                    continue
                s = self._start_at(k0, max(a0, a1))
                if s is None:
                    continue
                combos.append((d0 + d1 + (late * (s - due) if late and s > due else 0.0), s, w0, p0, w1, p1))
        combos.sort()
        for bound, s, w0, p0, w1, p1 in combos:
            if len(out) >= self.tries and bound >= out[-1][0]:
                break
            c = self._push(w0, p0, s + self.svc[k0][w0], self.loc[k0])
            if c < _INF:
                c += self._push(w1, p1, s + self.svc[k1][w1], self.loc[k1])
            if c < _INF:
                out.append((bound + self.late_w * c, ((k0, w0, p0), (k1, w1, p1))))
                out.sort(key=lambda o: o[0])
                del out[self.tries:]
        return out

    def insert(self, v: int) -> bool:
        """Insert visit ``v`` at the cheapest place that times out (a few tries); False if none does."""
        if any(self.route_of[a] < 0 for a in self.firsts[v]):
            return False
        if self._commit(self._options(v)):
            return True
        wide, self.tries = self.tries, _WIDE_TRIES  # crosswise crews refuse the cheapest few: look wider
        try:
            return self._commit(self._options(v)[_COMMIT_TRIES:])
        finally:
            self.tries = wide

    def _commit(self, options: list[tuple[float, tuple[tuple[int, int, int], ...]]]) -> bool:
        for _, moves in options:
            saved = self.start[:]
            saved_t = self._timings
            for k, w, p in sorted(moves, key=lambda m: -m[2]):
                self.routes[w].insert(p, k)
                self.route_of[k] = w
                self.start[k] = 0
            touched = {w for _, w, _ in moves}
            if self._time(touched):
                self._reindex(touched)
                return True
            for k, w, _ in moves:
                self.routes[w].remove(k)
                self.route_of[k] = -1
            self.start[:] = saved
            self._timings = saved_t
        return False

    def remove(self, visits: Sequence[int]) -> None:
        """Take ``visits`` (every seat) out of their routes; the caller re-times (:meth:`_retime_all`)."""
        drop = {k for v in visits for k in self.nodes[v]}
        touched = {self.route_of[k] for k in drop if self.route_of[k] >= 0}
        for w in touched:
            self.routes[w] = [k for k in self.routes[w] if k not in drop]
        for k in drop:
            self.route_of[k] = -1
        self._reindex(touched)

    def _reindex(self, routes: set[int] | range) -> None:
        pos = self.pos
        for w in routes:
            for i, k in enumerate(self.routes[w]):
                pos[k] = i

    # ---- the search --------------------------------------------------------------------------------------

    def planned(self) -> list[int]:
        return [v for v in range(len(self.nodes)) if self.route_of[v] >= 0]

    def _order(self, visits: list[int], how: int) -> list[int]:
        rng = self.rng
        if how == 0:
            rng.shuffle(visits)
        elif how == 1:
            visits.sort(key=lambda v: (self.due[v] if self.late[v] else self.win_end[v], rng.random()))
        elif how == 2:
            visits.sort(key=lambda v: (-len(self.nodes[v]), rng.random()))
        else:
            visits.sort(key=lambda v: (self.win[v][0][0], rng.random()))
        visits.sort(key=lambda v: self.tier[v])  # stable: mandatory and urgent first, the order within
        out, seen = [], set()
        pending = list(visits)
        for _ in range(len(pending) + 1):  # firsts before their followers
            later = []
            for v in pending:
                if any(a in pending and a not in seen for a in self.firsts[v]):
                    later.append(v)
                else:
                    out.append(v)
                    seen.add(v)
            if not later or len(later) == len(pending):
                out += later
                break
            pending = later
        return out

    def recreate(self, visits: list[int], how: int, stop: Callable[[], bool] | None = None) -> None:
        for v in self._order(visits, how):
            if stop is not None and stop():
                return
            self.insert(v)

    def _ruin(self, q: int) -> list[int]:
        planned = self.planned()
        if not planned:
            return []
        rng = self.rng
        kind = rng.random()
        if kind < 0.35:  # related by place and time to a seed visit
            seed = rng.choice(planned)
            ls, ss = self.loc[seed], self.start[seed]
            tt = self.tt[self.route_of[seed]]
            ranked = sorted(planned, key=lambda v: tt[ls][self.loc[v]] + 0.5 * abs(self.start[v] - ss))
            chosen = [ranked[min(len(ranked) - 1, int(len(ranked) * rng.random() ** 6))] for _ in range(q)]
            chosen = list(dict.fromkeys([seed, *chosen]))
        elif kind < 0.55:  # the costliest: detour and lateness
            cost = {}
            for v in planned:
                c = 0.0
                for k in self.nodes[v]:
                    w = self.route_of[k]
                    r, tt = self.routes[w], self.tt[w]
                    i = r.index(k)
                    prev = self.loc[r[i - 1]] if i else self.sloc[w]
                    nxt = self.loc[r[i + 1]] if i + 1 < len(r) else self.eloc[w]
                    c += tt[prev][self.loc[k]] + tt[self.loc[k]][nxt] - tt[prev][nxt]
                    if self.late[k] and self.start[k] > self.due[k]:
                        c += self.late[k] * (self.start[k] - self.due[k])
                cost[v] = c
            ranked = sorted(planned, key=lambda v: -cost[v])
            chosen = list(dict.fromkeys(ranked[min(len(ranked) - 1, int(len(ranked) * rng.random() ** 4))]
                                        for _ in range(q)))
        elif kind < 0.7:  # a whole route, or two near each other
            used = [w for w in range(self.n_w) if self.routes[w]]
            w = rng.choice(used)
            chosen = [self.inst.seat_of(k)[0] for k in self.routes[w]]
            if len(chosen) < q and len(used) > 1:
                other = rng.choice([x for x in used if x != w])
                chosen += [self.inst.seat_of(k)[0] for k in self.routes[other]]
            chosen = list(dict.fromkeys(chosen))
        else:  # at random
            chosen = rng.sample(planned, min(q, len(planned)))
        out = list(dict.fromkeys(u for v in chosen for u in self.group[v]))
        return out

    def construct(self, stop: Callable[[], bool] | None = None) -> None:
        """Build from empty routes a few ways (visit orders by due time and at random, lateness weighed more or
        less) and keep the cheapest: a greedy construction's quality swings with both."""
        best: tuple[float, list[list[int]], list[int], list[Timing] | None] | None = None
        for how, weight in _BUILDS:
            if best is not None and stop is not None and stop():
                break
            self.routes = [[] for _ in range(self.n_w)]
            self.route_of = [-1] * self.n
            self._retime_all()
            self.late_w = weight
            self.recreate(list(self.plannable), how, stop)
            self.late_w = 1.0
            cost = self.cost()
            if best is None or cost < best[0]:
                best = (cost, self.snapshot(), self.start[:], self._timings)
        assert best is not None
        self.restore(*best[1:])

    def snapshot(self) -> list[list[int]]:
        return [list(r) for r in self.routes]

    def restore(self, routes: list[list[int]], start: list[int], timings: list[Timing] | None) -> None:
        self.routes = [list(r) for r in routes]
        self.route_of = [-1] * self.n
        for w, r in enumerate(self.routes):
            for k in r:
                self.route_of[k] = w
        self.start = list(start)
        self._timings = timings
        self._reindex(range(self.n_w))

    def search(self, *, progress: Callable[[], float], stop: Callable[[], bool],
               iterations: int | None = None) -> tuple[list[list[int]], float]:
        """Ruin and recreate from the current routes until ``stop`` (or ``iterations``); ``progress`` says how
        much of the budget is spent (0..1, for the temperature).  Returns the best routes and their cost."""
        cur = self.cost()
        best, best_cost = self.snapshot(), cur
        n_units = max(1, len(self.planned()))
        t0 = _T0_SHARE * cur / max(1, len(self.plannable))
        q_max = max(2, min(_Q_MAX, n_units // 3))
        it = 0
        while not stop() and (iterations is None or it < iterations):
            it += 1
            frac = min(1.0, progress() if iterations is None else it / iterations)
            temp = t0 * _T_FALL ** (-frac)
            state = (self.snapshot(), self.start[:], self._timings)
            removed = self._ruin(self.rng.randint(min(2, q_max), q_max))
            self.remove(removed)
            if not self._retime_all():
                self.restore(*state)
                continue
            removed += [v for v in self.plannable if self.route_of[v] < 0 and v not in removed]
            self.recreate(removed, self.rng.randrange(4))
            new = self.cost()
            if new < cur or self.rng.random() < math.exp(-(new - cur) / max(temp, 1e-9)):
                cur = new
                if new < best_cost - 1e-9:
                    best, best_cost = self.snapshot(), new
            else:
                self.restore(*state)
        self.iterations = it
        return best, best_cost


def plan_joint(inst: Instance, *, seed: int, stop: Callable[[], bool], progress: Callable[[], float],
               work: int | None = None) -> list[list[int]]:
    """Routes for a day with joint visits: the construction, then ruin and recreate until ``stop`` (or, with a
    deterministic ``work`` budget, for that many rounds per unit); every joint visit whole and synchronised."""
    s = JointSearch(inst, seed=seed)
    s.construct(stop)
    best, _ = s.search(progress=progress, stop=stop,
                       iterations=None if work is None else _ITER_PER_WORK * work)
    return best
