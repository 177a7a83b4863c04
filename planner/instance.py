"""Compile a Problem and travel matrices into the plain integer arrays every solver reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .domain import Household, Location, Problem, Seat, Visit, Worker
from .risk import RiskAssessment, RiskModel, skip_penalty
from .timeline import DAY_S, DayClock
from .travel.base import UNREACHABLE, TravelMatrix, TravelTimeProvider

__all__ = ["Instance", "compile_instance"]

Window = tuple[int, int]


def _no_nodes() -> np.ndarray:
    return np.zeros(0, dtype=np.int64)


@dataclass(frozen=True, slots=True, kw_only=True)
class Instance:
    """The day's problem as integers, indexed by position (only solvers see the indices).

    Visits are ``0..n_visits-1`` in problem order, workers ``0..n_workers-1``.  A joint visit (a crew of
    several workers) is one *node* per seat: its first seat is the visit's own index, the others are nodes
    ``n_visits..n_nodes-1`` (``node_visit``/``node_seat`` map a node back); the per-visit arrays below
    (``visit_loc``, ``windows``, ``service_s``, ``allowed``, ``block``, ``penalty``, ``preferred``) are per
    node, ``risk`` and ``weight`` per visit.  ``crew[v]`` lists visit ``v``'s seat nodes (empty for a
    one-worker visit): they start together.  ``precedences`` are ``(first, then, min_gap_s, max_gap_s or
    -1)`` over visit indices.  Without joint visits nodes and visits are the same.  Locations are
    deduplicated: ``visit_loc[v]``, ``start_loc[w]`` and ``end_loc[w]`` index ``locations``.
    ``windows[v]`` are the allowed service-start intervals (inclusive, sorted, disjoint) after
    intersecting the visit's windows with the household's availability that weekday; an empty
    tuple means the visit cannot happen today.
    """

    problem: Problem
    clock: DayClock
    locations: tuple[Location, ...]
    visit_loc: np.ndarray
    start_loc: np.ndarray
    end_loc: np.ndarray
    windows: tuple[tuple[Window, ...], ...]
    service_s: np.ndarray  # [visit, worker]
    allowed: tuple[frozenset[int], ...]
    block: tuple[str, ...]  # why nobody qualifies, per visit ("" when someone does)
    risk: tuple[RiskAssessment, ...]  # per visit (its household's)
    weight: np.ndarray  # float skip penalty per visit: its given priority, else the risk model's
    penalty: np.ndarray  # int64 solver penalty per visit
    preferred: np.ndarray  # worker index or -1
    matrices: dict[str, TravelMatrix]
    tables: tuple[np.ndarray, ...]  # per worker: travel seconds with its speed factor (shared per class)
    node_visit: np.ndarray = field(default_factory=_no_nodes)  # per node: its visit
    node_seat: np.ndarray = field(default_factory=_no_nodes)  # per node: its seat in the visit's crew (0: first)
    crew: tuple[tuple[int, ...], ...] = ()  # per visit: its seat nodes, empty for a one-worker visit
    precedences: tuple[tuple[int, int, int, int], ...] = ()
    due_s: np.ndarray = field(default_factory=_no_nodes)  # per visit: soft due time, -1 for none
    late_cost: np.ndarray = field(default_factory=_no_nodes)  # per visit: cost per second late (in travel s)

    @property
    def n_visits(self) -> int:
        return len(self.problem.visits)

    @property
    def n_nodes(self) -> int:
        """Visits plus the extra seats of joint visits: what a routing model routes."""
        return len(self.visit_loc)

    @property
    def joint(self) -> bool:
        """The day has joint visits or precedences: routes depend on each other's times."""
        return bool(self.precedences) or any(self.crew)

    @property
    def has_due(self) -> bool:
        return bool(self.due_s.size) and bool((self.due_s >= 0).any())

    def seat_of(self, node: int) -> tuple[int, int]:
        """(visit, seat) of a node."""
        if node < self.n_visits:
            return node, 0
        return int(self.node_visit[node]), int(self.node_seat[node])

    @property
    def n_workers(self) -> int:
        return len(self.problem.workers)

    def worker(self, w: int) -> Worker:
        return self.problem.workers[w]

    def visit(self, v: int) -> Visit:
        """The visit of node ``v`` (a visit index or one of a joint visit's extra seats)."""
        return self.problem.visits[v if v < len(self.problem.visits) else int(self.node_visit[v])]

    def travel(self, w: int, a: int, b: int) -> tuple[int, int]:
        """(seconds, metres) for worker ``w`` between location indices ``a`` and ``b``."""
        secs = int(self.tables[w][a, b])
        if secs >= UNREACHABLE:
            return UNREACHABLE, UNREACHABLE
        return secs, int(self.matrices[self.problem.workers[w].travel_mode.value].distance_m[a, b])

    def travel_table(self, w: int) -> np.ndarray:
        """Worker ``w``'s travel seconds between all locations (speed factor applied)."""
        return self.tables[w]


def _merge(windows: list[Window]) -> tuple[Window, ...]:
    out: list[Window] = []
    for s, e in sorted(windows):
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e))
        else:
            out.append((s, e))
    return tuple(out)


def _effective_windows(household: Household, visit: Visit, weekday: str) -> tuple[Window, ...]:
    own = [(w.start_s, w.end_s) for w in visit.time_windows] or [(0, DAY_S)]
    avail = household.windows_on(weekday)
    if avail is None:
        return _merge(own)
    out = []
    for s, e in own:
        for a in avail:
            lo, hi = max(s, a.start_s), min(e, a.end_s)
            if hi >= lo:
                out.append((lo, hi))
    return _merge(out)


def _qualification(problem: Problem, visit: Visit, household: Household) -> tuple[frozenset[int], str]:
    ok: list[int] = []
    reasons: dict[str, int] = {}
    for w, worker in enumerate(problem.workers):
        missing = visit.required_skills - worker.skills
        if visit.required_worker_id is not None and worker.id != visit.required_worker_id:
            why = f"only worker {visit.required_worker_id} may make it"
        elif worker.id in visit.forbidden_worker_ids:
            why = "the remaining workers are excluded for this household"
        elif visit.allowed_roles and worker.role not in visit.allowed_roles:
            why = "it needs a " + " or ".join(sorted(r.value for r in visit.allowed_roles))
        elif missing:
            why = "it needs skill " + ", ".join(sorted(missing))
        elif not set(worker.languages).intersection(household.languages):
            why = "the household speaks " + "/".join(household.languages)
        else:
            ok.append(w)
            continue
        reasons[why] = reasons.get(why, 0) + 1
    if ok or not problem.workers:
        return frozenset(ok), "" if ok else "there are no workers"
    # Most common blocking rule first: what a dispatcher must change.
    ranked = sorted(reasons.items(), key=lambda kv: -kv[1])
    return frozenset(), "; ".join(why for why, _ in ranked[:2])


def _seat_qualification(problem: Problem, visit: Visit, seat: Seat, base: frozenset[int],
                        base_block: str) -> tuple[frozenset[int], str]:
    """The workers who may take ``seat`` of ``visit`` (among those the visit allows), and why nobody may."""
    if not base:
        return base, base_block
    ok, reasons = [], []
    for w in sorted(base):
        worker = problem.workers[w]
        if seat.worker_id is not None and worker.id != seat.worker_id:
            reasons.append(f"only worker {seat.worker_id} may take it")
        elif seat.role is not None and worker.role != seat.role:
            reasons.append(f"it needs a {seat.role.value}")
        elif seat.skills - worker.skills:
            reasons.append("it needs skill " + ", ".join(sorted(seat.skills - worker.skills)))
        else:
            ok.append(w)
    if ok:
        return frozenset(ok), ""
    if seat.worker_id is not None and seat.worker_id not in {problem.workers[w].id for w in base}:
        return frozenset(), f"worker {seat.worker_id}, named for it, may not make this visit"
    return frozenset(), max(set(reasons), key=reasons.count)


def _seat_service(problem: Problem, visit: Visit, seat: Seat) -> np.ndarray:
    if seat.duration_s is not None:
        return np.full(len(problem.workers), seat.duration_s, dtype=np.int64)
    if visit.duration_s:
        return np.full(len(problem.workers), visit.duration_s, dtype=np.int64)
    return np.array([problem.service_times.seconds(visit.kind.value, w.role.value) for w in problem.workers],
                    dtype=np.int64)


def _with_crews(problem: Problem, visit_loc: np.ndarray, windows: list[tuple[Window, ...]], service: np.ndarray,
                allowed: list[frozenset[int]], block: list[str], penalty: np.ndarray,
                preferred: np.ndarray) -> dict[str, object]:
    """Per-node arrays: one node per seat of each joint visit (the first seat keeps the visit's index)."""
    n_v = len(problem.visits)
    node_visit, node_seat = list(range(n_v)), [0] * n_v
    crew: list[tuple[int, ...]] = []
    services, pens, prefs = [service], penalty.copy(), list(preferred)
    for v, visit in enumerate(problem.visits):
        if not visit.crew:
            crew.append(())
            continue
        nodes = [v] + [len(node_visit) + k for k in range(len(visit.crew) - 1)]
        crew.append(tuple(nodes))
        base, base_block = allowed[v], block[v]
        share = int(penalty[v]) // len(nodes)
        pens[v] = int(penalty[v]) - share * (len(nodes) - 1)
        for k, seat in enumerate(visit.crew):
            ok, why = _seat_qualification(problem, visit, seat, base, base_block)
            row = _seat_service(problem, visit, seat)
            if k == 0:
                allowed[v], block[v] = ok, why
                service[v, :] = row
                continue
            node_visit.append(v)
            node_seat.append(k)
            windows.append(windows[v])
            allowed.append(ok)
            block.append(why)
            services.append(row[None, :])
            pens = np.append(pens, share)
            prefs.append(-1)
    n_extra = len(node_visit) - n_v
    index = {v.id: i for i, v in enumerate(problem.visits)}
    return {
        "visit_loc": np.concatenate([visit_loc, visit_loc[np.asarray(node_visit[n_v:], dtype=np.int64)]])
        if n_extra else visit_loc,
        "service_s": np.concatenate(services) if n_extra else service,
        "penalty": np.asarray(pens, dtype=np.int64),
        "preferred": np.asarray(prefs, dtype=np.int64),
        "node_visit": np.asarray(node_visit, dtype=np.int64),
        "node_seat": np.asarray(node_seat, dtype=np.int64),
        "crew": tuple(crew),
        "precedences": tuple(
            (index[p.first], index[p.then], p.min_gap_s, -1 if p.max_gap_s is None else p.max_gap_s)
            for p in problem.precedences
        ),
        "due_s": np.array([-1 if v.due_s is None else v.due_s for v in problem.visits], dtype=np.int64),
        "late_cost": np.array([v.late_cost for v in problem.visits], dtype=float),
    }


def compile_instance(
    problem: Problem,
    travel: TravelTimeProvider,
    *,
    risk_model: RiskModel | None = None,
    penalty_unit: int = 100_000,
) -> Instance:
    """Compile ``problem`` for the solvers, computing one travel matrix per mode in use."""
    model = (risk_model or RiskModel.default()).with_settings(problem.risk_model)
    clock = DayClock(problem.date)
    index: dict[tuple[float, float], int] = {}
    locations: list[Location] = []

    def loc(p: Location) -> int:
        key = (p.lat, p.lon)
        if key not in index:
            index[key] = len(locations)
            locations.append(p)
        return index[key]

    start_loc = np.array([loc(w.start) for w in problem.workers], dtype=np.int64)
    end_loc = np.array([loc(w.end) for w in problem.workers], dtype=np.int64)
    households = problem.households_by_id()
    visit_loc = np.array([loc(households[v.household_id].location) for v in problem.visits], dtype=np.int64)

    modes = sorted({w.travel_mode.value for w in problem.workers}) or ["walk"]
    several = getattr(travel, "matrices", None)  # a provider that computes all modes at once (shared distances)
    matrices = (several(locations, modes=modes) if callable(several)
                else {mode: travel.matrix(locations, mode=mode) for mode in modes})
    for mode, m in matrices.items():
        if m.size != len(locations):
            raise ValueError(f"travel provider returned a {m.size}x{m.size} {mode} matrix for {len(locations)} places")

    n_v, n_w = len(problem.visits), len(problem.workers)
    service = np.zeros((n_v, n_w), dtype=np.int64)
    roles = sorted({w.role.value for w in problem.workers})
    role_cols = {r: np.array([w.role.value == r for w in problem.workers]) for r in roles}
    for v, visit in enumerate(problem.visits):
        if visit.duration_s:
            service[v, :] = visit.duration_s
        else:
            for r, cols in role_cols.items():
                service[v, cols] = problem.service_times.seconds(visit.kind.value, r)

    # Visits that name no worker share their qualification with every visit asking the same.
    qual_cache: dict[tuple, tuple[frozenset[int], str]] = {}
    quals = []
    for visit in problem.visits:
        hh = households[visit.household_id]
        if visit.required_worker_id is None and not visit.forbidden_worker_ids:
            qkey = (visit.required_skills, visit.allowed_roles, tuple(hh.languages))
            if qkey not in qual_cache:
                qual_cache[qkey] = _qualification(problem, visit, hh)
            quals.append(qual_cache[qkey])
        else:
            quals.append(_qualification(problem, visit, hh))
    risks = tuple(model.assess(households[v.household_id], problem.date) for v in problem.visits)
    weight = np.array(
        [skip_penalty(v, households[v.household_id], r) for v, r in zip(problem.visits, risks, strict=True)],
        dtype=float,
    )
    optional_total = int(sum(max(1, round(penalty_unit * x)) for x in weight))
    big = 10 * (optional_total + 1)
    penalty = np.array(
        [
            (big if (visit.mandatory or visit.urgent) else 0) + max(1, round(penalty_unit * weight[v]))
            for v, visit in enumerate(problem.visits)
        ],
        dtype=np.int64,
    )
    worker_index = {w.id: i for i, w in enumerate(problem.workers)}
    preferred = np.array(
        [
            worker_index.get(households[v.household_id].preferred_worker_id or "", -1)
            for v in problem.visits
        ],
        dtype=np.int64,
    )
    tables: dict[tuple[str, float], np.ndarray] = {}
    for worker in problem.workers:
        key = (worker.travel_mode.value, float(worker.speed_factor))
        if key not in tables:
            d = matrices[key[0]].duration_s
            if key[1] == 1.0:
                tables[key] = d
            else:
                scaled = np.rint(d / key[1]).astype(np.int64)
                scaled[d >= UNREACHABLE] = UNREACHABLE
                tables[key] = scaled
    windows = [_effective_windows(households[v.household_id], v, clock.weekday) for v in problem.visits]
    allowed = [q[0] for q in quals]
    block = [q[1] for q in quals]
    nodes = _with_crews(problem, visit_loc, windows, service, allowed, block, penalty, preferred)
    return Instance(
        problem=problem,
        clock=clock,
        locations=tuple(locations),
        start_loc=start_loc,
        end_loc=end_loc,
        windows=tuple(windows),
        allowed=tuple(allowed),
        block=tuple(block),
        risk=risks,
        weight=weight,
        matrices=matrices,
        tables=tuple(tables[(w.travel_mode.value, float(w.speed_factor))] for w in problem.workers),
        **nodes,  # type: ignore[arg-type]
    )
