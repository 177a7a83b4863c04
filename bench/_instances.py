"""Solomon / Gehring-Homberger VRPTW instances: reading, DIMACS distances, an independent checker,
the mapping onto Salpimi's domain, and the peer adapters (PyVRP, VROOM) used by the benchmarks."""

from __future__ import annotations

import csv
import datetime as dt
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from planner import Household, Location, Problem, Role, TimeWindow, TravelMatrix, Visit, Worker

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SETS = {
    "solomon": (SHARED / "benchmarks" / "solomon" / "vrplib", SHARED / "benchmarks" / "solomon" / "bks.csv"),
    "homberger": (SHARED / "benchmarks" / "homberger" / "200", SHARED / "benchmarks" / "homberger" / "bks.csv"),
    "homberger400": (SHARED / "benchmarks" / "homberger" / "400", SHARED / "benchmarks" / "homberger" / "bks.csv"),
}
DAY = dt.date(2026, 11, 24)


@dataclass(frozen=True, slots=True)
class VrptwInstance:
    """Raw instance data; node 0 is the depot. Times and distances in tenths (DIMACS x10)."""

    name: str
    vehicles: int
    capacity: int
    xy: np.ndarray  # (n+1, 2) int
    demand: np.ndarray
    ready: np.ndarray  # x10
    due: np.ndarray  # x10
    service: np.ndarray  # x10
    dist: np.ndarray  # (n+1, n+1) int tenths: trunc(10 * euclid)

    @property
    def n(self) -> int:
        return len(self.demand) - 1


def missing_module(modules: Sequence[str]) -> str | None:
    """One line naming the first of ``modules`` this Python cannot import (``None`` when all import).

    A benchmark run without its solvers would record every instance as a failure; refuse instead."""
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            return (f"{module} is not installed in this Python ({sys.executable}); run `make venv` and use "
                    ".venv/bin/python")
    return None


def family(name: str) -> str:
    """C1, C2, R1, R2, RC1, RC2 for both Solomon (C101) and Homberger (C1_2_1) names."""
    head = name.split("_")[0]
    letters = head.rstrip("0123456789")
    return letters + head[len(letters)]


def dimacs(xy: np.ndarray) -> np.ndarray:
    """Euclidean distance truncated to one decimal, in integer tenths."""
    d = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1).astype(float))
    return np.trunc(d * 10 + 1e-9).astype(np.int64)


def read_vrplib(path: Path) -> VrptwInstance:
    head: dict[str, str] = {}
    sections: dict[str, list[list[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line == "EOF":
            continue
        if line.endswith("SECTION"):
            current = line
            sections[current] = []
        elif ":" in line and current is None:
            k, v = line.split(":", 1)
            head[k.strip()] = v.strip()
        elif current is not None:
            sections[current].append(line.split())
    xy = np.array([[int(float(r[1])), int(float(r[2]))] for r in sections["NODE_COORD_SECTION"]], dtype=np.int64)
    demand = np.array([int(r[1]) for r in sections["DEMAND_SECTION"]], dtype=np.int64)
    tw = np.array([[int(r[1]), int(r[2])] for r in sections["TIME_WINDOW_SECTION"]], dtype=np.int64)
    if "SERVICE_TIME_SECTION" in sections:
        service = np.array([int(r[1]) for r in sections["SERVICE_TIME_SECTION"]], dtype=np.int64)
    else:
        service = np.full(len(xy), int(float(head["SERVICE_TIME"])), dtype=np.int64)
        service[0] = 0
    return VrptwInstance(
        name=head.get("NAME", path.stem), vehicles=int(head["VEHICLES"]), capacity=int(head["CAPACITY"]),
        xy=xy, demand=demand, ready=tw[:, 0] * 10, due=tw[:, 1] * 10, service=service * 10, dist=dimacs(xy),
    )


def instance_paths(which: str) -> list[Path]:
    folder, _ = SETS[which]

    def key(p: Path) -> tuple[str, int]:
        digits = p.stem.split("_")[-1] if "_" in p.stem else p.stem[-2:]
        return (family(p.stem), int(digits))

    return sorted(folder.glob("*.vrp"), key=key)


def bks(which: str) -> dict[str, tuple[int, float]]:
    """Distance-only DIMACS best-known (vehicles, distance) per instance."""
    _, path = SETS[which]
    out = {}
    with path.open() as fh:
        for row in csv.DictReader(fh):
            if row["objective"] == "distance_dimacs":
                out[row["instance"]] = (int(row["vehicles"]), float(row["distance"]))
    return out


@dataclass(frozen=True, slots=True)
class Check:
    feasible: bool
    vehicles: int
    distance: float
    problem: str = ""


def check(inst: VrptwInstance, routes: Sequence[Sequence[int]]) -> Check:
    """Independent feasibility check on raw data (customers are 1..n) and DIMACS distance."""
    routes = [list(r) for r in routes if len(r)]
    seen = [c for r in routes for c in r]
    total = sum(int(inst.dist[a, b]) for r in routes for a, b in zip([0, *r], [*r, 0], strict=True)) / 10

    def bad(why: str) -> Check:
        return Check(False, len(routes), total, why)

    if len(routes) > inst.vehicles:
        return bad(f"{len(routes)} routes > fleet {inst.vehicles}")
    if sorted(seen) != list(range(1, inst.n + 1)):
        missing = set(range(1, inst.n + 1)) - set(seen)
        return bad(f"{len(missing)} customers missing" if missing else "a customer is served twice")
    for r in routes:
        if int(inst.demand[r].sum()) > inst.capacity:
            return bad("capacity")
        t, prev = int(inst.ready[0]), 0
        for c in r:
            t = max(t + int(inst.dist[prev, c]), int(inst.ready[c]))
            if t > inst.due[c]:
                return bad(f"customer {c} starts at {t / 10} > due {inst.due[c] / 10}")
            t += int(inst.service[c])
            prev = c
        if t + int(inst.dist[prev, 0]) > inst.due[0]:
            return bad("late back at the depot")
    return Check(True, len(routes), total)


# ---- Salpimi's domain -------------------------------------------------------------------------

def _loc(x: int, y: int) -> Location:
    return Location(lat=10 + y * 1e-4, lon=10 + x * 1e-4)


class DimacsProvider:
    """Travel provider returning the DIMACS matrix (tenths) as seconds and metres."""

    def matrix(self, locations: Sequence[Location], *, mode: str) -> TravelMatrix:
        xy = np.array([[round((p.lon - 10) * 1e4), round((p.lat - 10) * 1e4)] for p in locations], dtype=np.int64)
        d = dimacs(xy)
        return TravelMatrix(duration_s=d, distance_m=d.copy(), mode=mode, source="dimacs")


def to_problem(inst: VrptwInstance) -> Problem:
    """Customers become mandatory visits (load = demand), vehicles identical workers without breaks."""
    households = tuple(Household(id=f"c{c}", location=_loc(*inst.xy[c]), last_contact=DAY - dt.timedelta(days=30))
                       for c in range(1, inst.n + 1))
    depot = _loc(*inst.xy[0])
    shift = TimeWindow(start_s=int(inst.ready[0]), end_s=int(inst.due[0]))
    workers = tuple(Worker(id=f"v{k}", role=Role.MOBILE_UNIT, start=depot, end=depot, shift=shift,
                           capacity=inst.capacity) for k in range(inst.vehicles))
    visits = []
    for c in range(1, inst.n + 1):
        lo, hi = int(inst.ready[c]), int(inst.due[c])
        visits.append(Visit(id=f"c{c}", household_id=f"c{c}", duration_s=max(1, int(inst.service[c])),
                            time_windows=(TimeWindow(start_s=lo, end_s=max(hi, lo + 1)),), mandatory=True,
                            load=int(inst.demand[c])))
    return Problem(date=DAY, households=households, workers=workers, visits=tuple(visits), name=inst.name)


def run_salpimi(inst: VrptwInstance, seconds: float, *, solver: str = "default", seed: int = 0) -> list[list[int]]:
    from planner import SolveParams, solve
    from planner.solvers.ortools_routing import OrToolsSolver
    from planner.solvers.pyvrp_hybrid import PyVrpHybridSolver
    from planner.solvers.race import RaceSolver

    # "twin": the default solver with its second search on the second core whatever the load (processes=2 skips
    # the idle-core check), to measure what that search gives where the policy would not start it.
    engine = {"default": None, "hybrid": PyVrpHybridSolver(), "ortools": OrToolsSolver(),
              "twin": RaceSolver(processes=2)}[solver]
    res = solve(to_problem(inst), DimacsProvider(), SolveParams(time_limit_s=seconds, seed=seed), solver=engine)
    return [[int(s.visit_id[1:]) for s in r.stops] for r in res.plan.routes]


# ---- peers ------------------------------------------------------------------------------------

def run_pyvrp(inst: VrptwInstance, seconds: float, *, seed: int = 0) -> list[list[int]]:
    import pyvrp

    n = inst.n
    locs = [pyvrp.Location(x=float(x), y=float(y)) for x, y in inst.xy]
    clients = [pyvrp.Client(location=c, delivery=[int(inst.demand[c])], service_duration=int(inst.service[c]),
                            tw_early=int(inst.ready[c]), tw_late=int(inst.due[c])) for c in range(1, n + 1)]
    depots = [pyvrp.Depot(location=0, tw_early=int(inst.ready[0]), tw_late=int(inst.due[0]))]
    vt = [pyvrp.VehicleType(num_available=inst.vehicles, capacity=[inst.capacity],
                            tw_early=int(inst.ready[0]), tw_late=int(inst.due[0]))]
    data = pyvrp.ProblemData(locs, clients, depots, vt, [inst.dist], [inst.dist])
    res = pyvrp.solve(data, pyvrp.stop.MaxRuntime(seconds), seed=seed, collect_stats=False, display=False)
    return [[a.idx + 1 for a in r if a.is_client()] for r in res.best.routes()]


def run_vroom(inst: VrptwInstance, seconds: float, *, seed: int = 0) -> list[list[int]]:
    import vroom

    del seed  # VROOM is deterministic for a given exploration level
    inp = vroom.Input()
    inp.set_durations_matrix(profile="car", matrix_input=inst.dist)
    tw = vroom.TimeWindow(int(inst.ready[0]), int(inst.due[0]))
    inp.add_vehicle([vroom.Vehicle(k, start=0, end=0, profile="car", capacity=[inst.capacity], time_window=tw)
                     for k in range(inst.vehicles)])
    inp.add_job([vroom.Job(c, location=c, delivery=[int(inst.demand[c])], default_service=int(inst.service[c]),
                           time_windows=[vroom.TimeWindow(int(inst.ready[c]), int(inst.due[c]))])
                 for c in range(1, inst.n + 1)])
    sol = inp.solve(exploration_level=5, nb_threads=1, timeout=dt.timedelta(seconds=seconds))
    df = sol.routes
    out: dict[int, list[int]] = {}
    for vid, typ, jid in zip(df["vehicle_id"], df["type"], df["id"], strict=True):
        if typ == "job":
            out.setdefault(int(vid), []).append(int(jid))
    return list(out.values())


SOLVERS = {
    "salpimi": lambda inst, s, seed: run_salpimi(inst, s, solver="default", seed=seed),
    "ortools": lambda inst, s, seed: run_salpimi(inst, s, solver="ortools", seed=seed),
    "twin": lambda inst, s, seed: run_salpimi(inst, s, solver="twin", seed=seed),
    "pyvrp": lambda inst, s, seed: run_pyvrp(inst, s, seed=seed),
    "vroom": lambda inst, s, seed: run_vroom(inst, s, seed=seed),
}


def run(name: str, inst: VrptwInstance, seconds: float, *, seed: int = 0) -> tuple[Check, float]:
    t0 = time.perf_counter()
    try:
        routes = SOLVERS[name](inst, seconds, seed)
    except Exception as exc:
        return Check(False, 0, math.nan, f"error: {exc}"), time.perf_counter() - t0
    return check(inst, routes), time.perf_counter() - t0
