"""Mankowska et al. (2014) home health care instances (HHCRSP): reading, an independent checker with the
literature's objective, the least schedule of given routes, and the mapping onto Salpimi's problem JSON.

Instance format (one keyword line, then its values; nodes 0 and N-1 are the depot's two copies, patients
1..N-2; all indices below are 0-based unless said otherwise):

- ``nbNodes`` N, ``nbVehi`` V (caregivers), ``nbServi`` S (service types);
- ``r``: N rows of S 0/1 flags, the services each node requires (the depot rows are all ones: ignored);
- ``DS``: the patients needing two services, as **1-based** node numbers (``11 10 9`` in a 12-node file are
  nodes 10, 9, 8: exactly the rows of ``r`` with two ones);
- ``a``: V rows of S 0/1 flags, the services each caregiver is qualified for;
- ``x``, ``y``: N coordinates; ``d``: the N x N float distance matrix (Euclidean; travel time = distance);
- ``p``: N x V rows of S service times (row ``i * V + v``), the time caregiver v takes for service s at node i;
- ``mind``, ``maxd``: per node, the minimum and maximum gap between the starts of a double-service patient's
  two services (both 0: simultaneous; meaningless for single-service nodes), the lower-numbered service first;
- ``e``, ``l``: per node, the earliest and the due start time (starting after ``l`` is tardiness, not forbidden).

Objective in the literature: (total travel + total tardiness + maximum tardiness) / 3, tardiness counted per
service (a double service late by t counts 2t), every service performed by a qualified caregiver.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "benchmarks" / "hhcrsp"
DAY = dt.date(2026, 11, 24)
#: One instance time unit is one minute: windows stay whole "HH:MM" times in the problem file.
UNIT_S = 60

_SECTIONS = ("nbNodes", "nbVehi", "nbServi", "r", "DS", "a", "x", "y", "d", "p", "mind", "maxd", "e", "l")


@dataclass(frozen=True, slots=True, eq=False)
class HhcrspInstance:
    """Raw instance data (see the module docstring); arrays indexed by node, caregiver, service."""

    name: str
    n_nodes: int
    n_vehicles: int
    n_services: int
    requires: np.ndarray  # (N, S) bool
    qualified: np.ndarray  # (V, S) bool
    xy: np.ndarray  # (N, 2) float
    dist: np.ndarray  # (N, N) float
    proc: np.ndarray  # (N, V, S) float
    min_gap: np.ndarray  # (N,) float
    max_gap: np.ndarray  # (N,) float
    earliest: np.ndarray  # (N,) float
    due: np.ndarray  # (N,) float
    double: tuple[int, ...]  # patients with two services (0-based), as listed in DS
    synchronised: bool = True  # False: a reference relaxation, the two services of a patient independent

    @property
    def patients(self) -> range:
        return range(1, self.n_nodes - 1)

    @property
    def end(self) -> int:
        """The depot's closing copy (routes end here; same place as node 0)."""
        return self.n_nodes - 1

    @property
    def size(self) -> int:
        """The size the literature names the instance by (patients + 2 depot copies - 2, i.e. 10, 25, ...)."""
        return self.n_nodes - 2

    def services(self, i: int) -> tuple[int, ...]:
        """The service types node ``i`` requires, in increasing order (the first one comes first in a gap)."""
        return tuple(int(s) for s in np.flatnonzero(self.requires[i]))

    def kind(self, i: int) -> str:
        """``single``, ``simultaneous`` (both services start together), ``gap`` (a min/max gap between), or
        ``independent`` (two services, in the relaxation that drops their link)."""
        if len(self.services(i)) == 1:
            return "single"
        if not self.synchronised:
            return "independent"
        return "simultaneous" if self.min_gap[i] == 0 and self.max_gap[i] == 0 else "gap"


def read_instance(path: Path) -> HhcrspInstance:
    """Read one instance file; a malformed file raises ``ValueError`` naming the file and the section."""
    tokens: dict[str, list[str]] = {}
    current: str | None = None
    for raw in path.read_text().splitlines():
        words = raw.split()
        if not words:
            continue
        if len(words) == 1 and words[0] in _SECTIONS:
            current = words[0]
            if current in tokens:
                raise ValueError(f"{path.name}: section {current} appears twice")
            tokens[current] = []
        elif current is None:
            raise ValueError(f"{path.name}: values before the first section: {raw[:40]!r}")
        else:
            tokens[current].extend(words)
    missing = [s for s in _SECTIONS if s not in tokens]
    if missing:
        raise ValueError(f"{path.name}: missing section(s) {', '.join(missing)}")

    def numbers(section: str, count: int) -> np.ndarray:
        values = tokens[section]
        if len(values) != count:
            raise ValueError(f"{path.name}: section {section} has {len(values)} values, expected {count}")
        try:
            out = np.array([float(x) for x in values], dtype=float)
        except ValueError:
            raise ValueError(f"{path.name}: section {section} holds a non-number") from None
        if not np.isfinite(out).all() or (out < 0).any():
            raise ValueError(f"{path.name}: section {section} holds a negative or non-finite value")
        return out

    n, v, s = (int(numbers(k, 1)[0]) for k in ("nbNodes", "nbVehi", "nbServi"))
    if n < 3 or v < 1 or s < 1:
        raise ValueError(f"{path.name}: nbNodes {n}, nbVehi {v}, nbServi {s}: need at least 3, 1, 1")
    requires = numbers("r", n * s).reshape(n, s).astype(bool)
    qualified = numbers("a", v * s).reshape(v, s).astype(bool)
    ds = [int(x) - 1 for x in numbers("DS", len(tokens["DS"]))]  # 1-based in the file
    inst = HhcrspInstance(
        name=path.stem, n_nodes=n, n_vehicles=v, n_services=s, requires=requires, qualified=qualified,
        xy=np.stack([numbers("x", n), numbers("y", n)], axis=1), dist=numbers("d", n * n).reshape(n, n),
        proc=numbers("p", n * v * s).reshape(n, v, s), min_gap=numbers("mind", n), max_gap=numbers("maxd", n),
        earliest=numbers("e", n), due=numbers("l", n), double=tuple(ds),
    )
    counts = requires[1:-1].sum(axis=1)
    if counts.min() < 1 or counts.max() > 2:
        bad = 1 + int(np.flatnonzero((counts < 1) | (counts > 2))[0])
        raise ValueError(f"{path.name}: r: patient {bad} requires {int(counts[bad - 1])} services (1 or 2 expected)")
    twos = {int(i) + 1 for i in np.flatnonzero(counts == 2)}
    if twos != set(ds) or len(ds) != len(set(ds)):
        raise ValueError(f"{path.name}: DS lists {sorted(x + 1 for x in ds)} (1-based) but r has two services at "
                         f"nodes {sorted(x + 1 for x in twos)}")
    for i in ds:
        if inst.min_gap[i] > inst.max_gap[i]:
            raise ValueError(f"{path.name}: patient {i}: mind {inst.min_gap[i]:g} > maxd {inst.max_gap[i]:g}")
    for i in inst.patients:
        for svc in inst.services(i):
            if not qualified[:, svc].any():
                raise ValueError(f"{path.name}: patient {i} needs service {svc} and no caregiver is qualified")
    return inst


def instance_paths(folder: Path = DATA) -> list[Path]:
    """Instance files by size, then number (``..._10_2`` before ``..._25_2``)."""
    def key(p: Path) -> tuple[int, int]:
        parts = p.stem.split("_")
        return int(parts[-2]), int(parts[-1])

    return sorted(folder.glob("Instanz*_HCSRP_*_*.txt"), key=key)


def best_values(folder: Path = DATA) -> dict[str, float]:
    """Best published cost per instance name (file stem), from ``best_values.csv``."""
    with (folder / "best_values.csv").open() as fh:
        return {Path(r["instance_file"]).stem: float(r["best_known_cost"]) for r in csv.DictReader(fh)}


# ---- solutions and the checker -----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Task:
    """Caregiver's service ``service`` at node ``node``, starting at ``start`` (instance time units)."""

    node: int
    service: int
    start: float


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the checker found: every broken rule (empty when feasible) and the literature's terms."""

    problems: tuple[str, ...]
    travel: float
    tardiness: float
    max_tardiness: float

    @property
    def feasible(self) -> bool:
        return not self.problems

    @property
    def cost(self) -> float:
        """(total travel + total tardiness + maximum tardiness) / 3."""
        return (self.travel + self.tardiness + self.max_tardiness) / 3


def travel_of(inst: HhcrspInstance, routes: Sequence[Sequence[tuple[int, int]] | Sequence[Task]]) -> float:
    """Total distance of routes depot -> nodes -> depot (empty routes cost nothing)."""
    total = 0.0
    for r in routes:
        nodes = [t.node if isinstance(t, Task) else t[0] for t in r]
        if nodes:
            path = [0, *nodes, inst.end]
            total += float(sum(inst.dist[a, b] for a, b in itertools.pairwise(path)))
    return total


def check(inst: HhcrspInstance, routes: Sequence[Sequence[Task]], *, tol: float = 1e-6) -> Verdict:
    """Check a solution given as one sequence of timed tasks per caregiver (index = caregiver).

    Rules: at most V routes; every required (patient, service) exactly once and nothing else; the caregiver
    qualified; each start no earlier than the node's ``e``, than the depot departure (time 0) plus travel, and
    than the previous task's start plus its service time plus travel; the two services of a simultaneous
    patient start together (by different caregivers); those of a gap patient ``mind``..``maxd`` apart, the
    lower-numbered service first. Tardiness is ``max(0, start - l)`` per service.
    """
    problems: list[str] = []
    if len(routes) > inst.n_vehicles:
        problems.append(f"{len(routes)} routes for {inst.n_vehicles} caregivers")
    done: dict[tuple[int, int], tuple[int, float]] = {}
    tard: list[float] = []
    for v, route in enumerate(routes):
        prev, ready = 0, 0.0
        for t in route:
            i, s = t.node, t.service
            where = f"caregiver {v} at patient {i} service {s}"
            if i not in inst.patients or not 0 <= s < inst.n_services:
                problems.append(f"{where}: no such patient or service")
                continue
            if not inst.requires[i, s]:
                problems.append(f"{where}: the patient does not require this service")
            if v < inst.n_vehicles and not inst.qualified[v, s]:
                problems.append(f"{where}: caregiver not qualified")
            if (i, s) in done:
                problems.append(f"{where}: already performed by caregiver {done[i, s][0]}")
            earliest = max(float(inst.earliest[i]), ready + float(inst.dist[prev, i]))
            if not math.isfinite(t.start) or t.start < earliest - tol:
                problems.append(f"{where}: starts at {t.start:.4f} before {earliest:.4f} (window or travel)")
            done[i, s] = (v, t.start)
            tard.append(max(0.0, t.start - float(inst.due[i])))
            ready = t.start + float(inst.proc[i, min(v, inst.n_vehicles - 1), s])
            prev = i
    for i in inst.patients:
        svc = inst.services(i)
        missing = [s for s in svc if (i, s) not in done]
        if missing:
            problems.append(f"patient {i}: service(s) {missing} not performed")
            continue
        if len(svc) == 2 and inst.synchronised:
            (v1, t1), (v2, t2) = done[i, svc[0]], done[i, svc[1]]
            if inst.kind(i) == "simultaneous":
                if abs(t1 - t2) > tol:
                    problems.append(f"patient {i}: simultaneous services start at {t1:.4f} and {t2:.4f}")
                if v1 == v2:
                    problems.append(f"patient {i}: simultaneous services by the same caregiver {v1}")
            else:
                gap = t2 - t1
                if not inst.min_gap[i] - tol <= gap <= inst.max_gap[i] + tol:
                    problems.append(f"patient {i}: gap {gap:.4f} outside [{inst.min_gap[i]:g}, {inst.max_gap[i]:g}]")
    return Verdict(problems=tuple(problems), travel=travel_of(inst, routes), tardiness=float(sum(tard)),
                   max_tardiness=float(max(tard, default=0.0)))


def least_schedule(inst: HhcrspInstance, sequences: Sequence[Sequence[tuple[int, int]]]) -> list[list[Task]] | None:
    """The earliest start times of routes given as (node, service) sequences, on the float data.

    Every rule is a difference constraint ``t_x >= t_y + w`` (travel and service along a route, ``e``, the
    simultaneous pair both ways, ``t2 >= t1 + mind`` and ``t1 >= t2 - maxd``), so the least solution starts
    every task as early as possible and minimises tardiness for these routes; relaxed to a fixpoint
    (Bellman-Ford). ``None`` when the routes admit no schedule (a positive cycle, e.g. two crews waiting on
    each other crosswise), or a task is not a required (patient, service).
    """
    where: dict[tuple[int, int], tuple[int, int]] = {}
    for v, seq in enumerate(sequences):
        for k, (i, s) in enumerate(seq):
            if i not in inst.patients or not 0 <= s < inst.n_services or (i, s) in where:
                return None
            where[i, s] = (v, k)
    start = [[float(inst.earliest[i]) for i, _ in seq] for seq in sequences]
    pairs = [(i, *inst.services(i)) for i in inst.double
             if inst.synchronised and all((i, s) in where for s in inst.services(i))]
    n_tasks = len(where)
    for _ in range(n_tasks + 2):
        changed = False
        for v, seq in enumerate(sequences):
            prev, ready = 0, 0.0
            for k, (i, s) in enumerate(seq):
                lo = ready + float(inst.dist[prev, i])
                if lo > start[v][k] + 1e-9:
                    start[v][k], changed = lo, True
                ready = start[v][k] + float(inst.proc[i, min(v, inst.n_vehicles - 1), s])
                prev = i
        for i, s1, s2 in pairs:
            (v1, k1), (v2, k2) = where[i, s1], where[i, s2]
            lo_gap, hi_gap = float(inst.min_gap[i]), float(inst.max_gap[i])
            if start[v2][k2] < start[v1][k1] + lo_gap - 1e-9:
                start[v2][k2], changed = start[v1][k1] + lo_gap, True
            if start[v1][k1] < start[v2][k2] - hi_gap - 1e-9:
                start[v1][k1], changed = start[v2][k2] - hi_gap, True
        if not changed:
            return [[Task(i, s, start[v][k]) for k, (i, s) in enumerate(seq)] for v, seq in enumerate(sequences)]
    return None


def relaxed(inst: HhcrspInstance) -> HhcrspInstance:
    """The same instance with each patient's two services independent (no start together, no gap): a reference
    for what the links cost, never a solution of the instance itself."""
    return dataclasses.replace(inst, synchronised=False)


def read_published(inst: HhcrspInstance, text: str) -> list[list[tuple[int, int]]]:
    """Routes of a published solution file (``<from> <to> <vehicle> <service>`` arcs, ``#`` comments; the
    depot is 0 at both ends) as (node, service) sequences per caregiver."""
    routes: list[list[tuple[int, int]]] = [[] for _ in range(inst.n_vehicles)]
    for line in text.splitlines():
        words = line.split()
        if len(words) != 4 or line.startswith("#"):
            continue
        _, to, v, s = (int(w) for w in words)
        if to not in (0, inst.end):
            routes[v].append((to, s))
    return routes


# ---- Salpimi's problem JSON --------------------------------------------------------------------

def _hhmm(units: float) -> str:
    minutes = math.ceil(units * UNIT_S / 60 - 1e-9)  # whole minutes (the instances' times are)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _place(inst: HhcrspInstance, i: int) -> dict[str, float]:
    """A made-up point per coordinate pair (the distances come from the instance's own matrix)."""
    x, y = inst.xy[i]
    return {"lat": round(37.40 + float(y) * 1e-4, 6), "lon": round(126.90 + float(x) * 1e-4, 6)}


def visit_ids(inst: HhcrspInstance, i: int) -> dict[int, str]:
    """Visit id per service of patient ``i``: one visit (``p7``) for a single or a simultaneous double
    service, two visits (``p7a`` first, ``p7b`` second) for a double service with a gap."""
    svc = inst.services(i)
    if inst.kind(i) in ("gap", "independent"):
        return {svc[0]: f"p{i}a", svc[1]: f"p{i}b"}
    return {s: f"p{i}" for s in svc}


def to_problem_json(inst: HhcrspInstance, *, horizon_units: float = 1440) -> dict[str, Any]:
    """The instance as a Salpimi problem file.

    One instance time unit = ``UNIT_S`` = 60 s (a minute), so windows are whole ``HH:MM`` times; travel
    seconds are ``ceil(d * 60)`` (never shorter than the float distance, so every plan is also feasible on the
    float data) and travel metres the same number. Caregivers are workers of one role with skills ``s0``..``s5``
    (their qualifications), starting and ending at the depot, shift 00:00-24:00, no break. Every patient is a
    household; every service a mandatory visit whose hard window opens at ``e`` and stays open to the
    horizon, with a soft ``due`` at ``l`` and ``late_cost`` 1 per second (2 for a simultaneous double service:
    both of its services are late). A simultaneous double service is one visit with two crew seats (one per
    service, each with its own skill and service time); a double service with a gap is two visits and a
    precedence ``mind``..``maxd`` minutes apart. So the solver minimises travel + total tardiness (both in
    seconds, x60 the literature's); the maximum tardiness has no term (reported by the checker).
    """
    end = _hhmm(horizon_units)
    places: dict[tuple[float, float], int] = {}
    rows: list[int] = []  # instance node of each location row
    for i in range(inst.n_nodes - 1):
        key = (float(inst.xy[i, 0]), float(inst.xy[i, 1]))
        if key not in places:
            places[key] = len(rows)
            rows.append(i)
    depot = _place(inst, 0)
    workers = [{"id": f"c{v}", "role": "visiting_nurse", "start": depot, "end": depot, "shift": ["00:00", end],
                "skills": [f"s{s}" for s in range(inst.n_services) if inst.qualified[v, s]]}
               for v in range(inst.n_vehicles)]
    households, visits, precedences = [], [], []
    for i in inst.patients:
        households.append({"id": f"h{i}", "location": _place(inst, i)})
        svc = inst.services(i)
        ids = visit_ids(inst, i)
        window = [[_hhmm(float(inst.earliest[i])), end]]
        due = _hhmm(float(inst.due[i]))
        seconds = {s: max(1, math.ceil(float(inst.proc[i, 0, s]) * UNIT_S)) for s in svc}
        if inst.kind(i) == "simultaneous":
            visits.append({"id": ids[svc[0]], "household_id": f"h{i}", "mandatory": True, "time_windows": window,
                           "due": due, "late_cost": 2.0,
                           "crew": [{"skills": [f"s{s}"], "duration_s": seconds[s]} for s in svc]})
            continue
        for s in svc:
            visits.append({"id": ids[s], "household_id": f"h{i}", "mandatory": True, "time_windows": window,
                           "due": due, "late_cost": 1.0, "required_skills": [f"s{s}"], "duration_s": seconds[s]})
        if inst.kind(i) == "gap":
            precedences.append({"first": ids[svc[0]], "then": ids[svc[1]],
                                "min_gap_s": round(float(inst.min_gap[i]) * UNIT_S),
                                "max_gap_s": round(float(inst.max_gap[i]) * UNIT_S)})
    secs = np.ceil(inst.dist[np.ix_(rows, rows)] * UNIT_S - 1e-9).astype(np.int64)
    problem: dict[str, Any] = {
        "name": f"HHCRSP {inst.name}", "date": DAY.isoformat(),
        "households": households, "workers": workers, "visits": visits,
        "travel_matrix": {"source": f"{inst.name} distances x{UNIT_S}, rounded up",
                          "locations": [_place(inst, i) for i in rows],
                          "walk": {"duration_s": secs.tolist(), "distance_m": secs.tolist()}},
    }
    if precedences:
        problem["precedences"] = precedences
    return problem


def _seconds_of_day(text: str) -> float:
    t = dt.datetime.fromisoformat(text)
    midnight = dt.datetime.combine(DAY, dt.time(0), tzinfo=t.tzinfo)
    return (t - midnight).total_seconds()


def from_plan_json(inst: HhcrspInstance, plan: dict[str, Any]) -> tuple[list[list[Task]], list[str]]:
    """Per caregiver, the timed tasks of a Salpimi plan (stops in route order, start times back in instance
    units), and the ids of visits the plan left out."""
    service_of: dict[str, list[int]] = {}
    for i in inst.patients:
        for s, vid in visit_ids(inst, i).items():
            service_of.setdefault(vid, []).append(s)
    routes: list[list[Task]] = [[] for _ in range(inst.n_vehicles)]
    for r in plan.get("routes", []):
        v = int(str(r["worker_id"]).removeprefix("c"))
        for stop in r.get("stops", []):
            vid = str(stop["visit_id"])
            node = int(vid.removeprefix("p").rstrip("ab"))
            services = service_of[vid]
            if len(services) == 2:  # a crew visit: the seat says which service this worker gave
                seat = int((stop.get("crew") or {}).get("seat", -1))
                s = services[seat] if seat in (0, 1) else -1
            else:
                s = services[0]
            routes[v].append(Task(node, s, _seconds_of_day(str(stop["start"])) / UNIT_S))
    left_out = [str(u["visit_id"]) for u in plan.get("unassigned", [])]
    return routes, left_out
