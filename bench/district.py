"""The mission-shaped problem: Salpimi vs VROOM vs plain OR-Tools on the Gwanak fixture day, and a
scaling curve from 50 to 2,000 candidate visits.

Every plan is judged by Salpimi's evaluator (skills, languages, windows, shifts, breaks, working
time, visit limits): risk-weighted coverage, visits by risk tier, travel time. VROOM gets the same
inputs it can express: qualified workers (as skills), priority (mandatory/urgent 100, otherwise the
risk skip penalty on a log scale), lunch breaks, time windows, per-role service, visit limits.

    python bench/district.py                       # comparison at 10 s + scaling curve
    python bench/district.py --skip-scaling
    python bench/district.py --busy                # busier generated days, 10 s and 30 s, 3 seeds
    python bench/district.py --busy --neighbour    # the same with one CPU-bound process beside each run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import random
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _instances import missing_module

from planner import (
    HaversineProvider,
    Location,
    Problem,
    SolveParams,
    compile_instance,
    load_problem,
    solve,
)
from planner.evaluate import evaluate_instance
from planner.instance import Instance
from planner.plan import Plan, Reason, Unassigned
from planner.schedule import schedule_route
from planner.solve import _route_from

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "fixtures" / "problems" / "gwanak.json"
OUT = REPO / "bench" / "results" / "district.md"
TRAVEL = HaversineProvider()
warnings.filterwarnings("ignore")


def engines() -> dict[str, Any]:
    from planner.solvers.ortools_routing import OrToolsSolver
    from planner.solvers.pyvrp_hybrid import PyVrpHybridSolver
    from planner.solvers.race import RaceSolver
    from planner.solvers.vroom_hybrid import VroomHybridSolver

    # race2: the default with two idle cores taken for granted (the race on every day, whatever else runs).
    # race3: race2 with the peer's VROOM routes handed to the hybrid before its ruin and recreate.
    return {"race": RaceSolver(), "race2": RaceSolver(processes=2),
            "race3": RaceSolver(processes=2, peer_handover=True), "hybrid": PyVrpHybridSolver(),
            "ortools": OrToolsSolver(), "vroom+ortools": VroomHybridSolver()}


# ---- VROOM on the same inputs -----------------------------------------------------------------

def log_priorities(inst: Instance) -> dict[int, int]:
    """VROOM priorities on a log scale of the risk skip penalty (mandatory and urgent 100): the mapping
    that gives VROOM its lowest travel on the Gwanak day."""
    top = max(1.0, float(inst.weight.max()))
    return {v: 100 if (inst.visit(v).mandatory or inst.visit(v).urgent)
            else 1 + round(98 * math.log1p(inst.weight[v]) / math.log1p(top)) for v in range(inst.n_visits)}


def run_vroom(inst: Instance, seconds: float) -> list[list[int]]:
    """VROOM alone, one thread, exploration level 5, on the same inputs the hybrid gives it."""
    from planner.solvers.vroom_hybrid import vroom_routes

    return vroom_routes(inst, seconds=seconds, exploration_level=5, threads=1, priorities=log_priorities(inst))


def plan_of(inst: Instance, routes: list[list[int]]) -> tuple[Plan, int]:
    """A plan from raw routes, re-timed by Salpimi's scheduler (no repair); count rejected routes."""
    out, rejected = [], 0
    for w, order in enumerate(routes):
        if not order:
            continue
        t = schedule_route(inst, w, tuple(order))
        if not t.ok:
            rejected += 1
            continue
        out.append(_route_from(inst, w, tuple(order), t))
    served = {s.visit_id for r in out for s in r.stops}
    un = tuple(Unassigned(visit_id=v.id, household_id=v.household_id, reason=Reason.OVER_CAPACITY, detail="",
                          mandatory=v.mandatory, urgent=v.urgent) for v in inst.problem.visits if v.id not in served)
    return Plan(date=inst.problem.date, routes=tuple(out), unassigned=un), rejected


# ---- one run ----------------------------------------------------------------------------------

def measure(problem: Problem, who: str, seconds: float, seed: int = 0) -> dict:
    # A named solver's modules are imported before the clock starts, as a running service has them (auto imports
    # what it needs inside the call, as planner.solve() does).
    engine = None if who in ("auto", "vroom") else engines()[who]
    t0 = time.perf_counter()
    first: list[float] = []
    rejected = 0
    leg = who
    modes: list[str] = []
    if who == "vroom":
        inst = compile_instance(problem, TRAVEL)
        plan, rejected = plan_of(inst, run_vroom(inst, seconds))
    else:
        def progress(p: object) -> None:
            if not first:
                first.append(time.perf_counter() - t0)

        from planner.solvers.race import RaceSolver

        decide = RaceSolver.mode

        def mode(self: RaceSolver, *a: Any, **kw: Any) -> str:  # which way the race went (race/alone/sequential)
            modes.append(decide(self, *a, **kw))
            return modes[-1]

        RaceSolver.mode = mode  # type: ignore[method-assign]
        res = solve(problem, TRAVEL, SolveParams(time_limit_s=seconds, seed=seed),
                    solver=engine,
                    progress=progress)
        inst, plan = res.instance, res.plan
        leg = str(plan.meta.get("solver", who))
    wall = time.perf_counter() - t0
    ev = evaluate_instance(inst, plan)
    workers = {w.id: i for i, w in enumerate(problem.workers)}
    visit_index = {v.id: i for i, v in enumerate(problem.visits)}
    kept = sum(1 for r in plan.routes for st in r.stops
               if inst.preferred[visit_index[st.visit_id]] == workers[r.worker_id])
    k = ev.kpis
    tiers = {t: f"{c.served}/{c.total}" for t, c in k.visits_by_tier.items() if c.total}
    return dict(solver=who, seconds=seconds, visits=problem and len(problem.visits), workers=len(problem.workers),
                coverage=k.risk_weighted_coverage, risk_covered=k.risk_covered, assigned=k.visits_assigned, tiers=tiers,
                mandatory_left=k.mandatory_unassigned, urgent_left=k.urgent_unassigned, travel_s=k.travel_s,
                violations=len(ev.violations), rejected_routes=rejected, wall_s=round(wall, 1), leg=leg,
                preferred_kept=kept, preferred_total=int((inst.preferred >= 0).sum()),
                mode=modes[-1] if modes else None,
                first_s=round(first[0], 2) if first else None,
                peak_mb=round(max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024))


# ---- synthetic scaling ------------------------------------------------------------------------

def scaled(base: Problem, n: int, seed: int = 7) -> Problem:
    """``n`` candidate visits drawn from the Gwanak day (jittered homes); workers scale alike."""
    rng = random.Random(seed)
    hh = base.households_by_id()
    ratio = len(base.workers) / len(base.visits)
    n_w = max(2, round(n * ratio))
    # Stride 7 (coprime with the 20 Gwanak workers) mixes roles and skills even in small days.
    workers = tuple(dataclasses.replace(base.workers[(7 * k) % len(base.workers)], id=f"w{k}") for k in range(n_w))
    households, visits = [], []
    for i in range(n):
        tpl = base.visits[rng.randrange(len(base.visits))]
        h = hh[tpl.household_id]
        loc = Location(lat=h.location.lat + rng.uniform(-0.002, 0.002), lon=h.location.lon + rng.uniform(-0.002, 0.002))
        households.append(dataclasses.replace(h, id=f"h{i}", location=loc, preferred_worker_id=None))
        visits.append(dataclasses.replace(tpl, id=f"v{i}", household_id=f"h{i}", required_worker_id=None,
                                          forbidden_worker_ids=frozenset()))
    return Problem(date=base.date, households=tuple(households), workers=workers, visits=tuple(visits),
                   name=f"gwanak-x{n}", service_times=base.service_times)


# ---- busier days from the project's own generator ---------------------------------------------

BUSY_OUT = REPO / "bench" / "results" / "district_busy.md"
BUSY_RAW = REPO / "bench" / "results" / "district_busy.jsonl"
NEIGHBOUR_OUT = REPO / "bench" / "results" / "district_busy_neighbour.md"
BUNDLED_OUT = REPO / "bench" / "results" / "district_bundled.md"
BUNDLED_RAW = REPO / "bench" / "results" / "district_bundled.jsonl"
NEIGHBOUR_RAW = REPO / "bench" / "results" / "district_busy_neighbour.jsonl"


def busy_day(households: int, seed: int, max_visits: int = 13) -> Problem:
    """A busier Gwanak day drawn by ``fixtures.generate`` itself: ``households`` at-risk households (the
    bundled day has 400), the same 20 workers with a visit cap of ``max_visits`` (12-14 where time binds),
    ``seed`` choosing the generator's stream (the bundled day's district key with a suffix)."""
    from fixtures.generate import DISTRICTS, _district_problem
    from planner.formats.problem import problem_from_json
    from planner.risk import RiskModel

    gwanak = next(d for d in DISTRICTS if d.key == "gwanak")
    district = dataclasses.replace(gwanak, key=f"gwanak-busy-{households}-{seed}", n_households=households)
    data = _district_problem(district, RiskModel.default())
    for w in data["workers"]:
        w["max_visits"] = max_visits
    data["name"] = f"gwanak busy {households} households, seed {seed}"
    return problem_from_json(data)


def district_day(key: str, seed: int) -> Problem:
    """A bundled-size day of district ``key``: seed 0 the bundled fixture day itself, other seeds days drawn by
    ``fixtures.generate`` with the district's own households and workers (its key with a suffix choosing the stream)."""
    from fixtures.generate import DISTRICTS, _district_problem
    from planner.formats.problem import problem_from_json
    from planner.risk import RiskModel

    if seed == 0:
        return load_problem(REPO / "fixtures" / "problems" / f"{key}.json")
    district = next(d for d in DISTRICTS if d.key == key)
    data = _district_problem(dataclasses.replace(district, key=f"{key}-day-{seed}"), RiskModel.default())
    data["name"] = f"{key} bundled-size day, seed {seed}"
    return problem_from_json(data)


def _problem_of(spec: str) -> Problem:
    """``0`` the fixture day, ``N`` a scaled day of N visits, ``busy:H:S`` a busier generated day, ``district:K:S``
    a bundled-size day of district K (seed 0: the bundled day)."""
    if spec.startswith("busy:"):
        _, h, seed = spec.split(":")
        return busy_day(int(h), int(seed))
    if spec.startswith("district:"):
        _, key, seed = spec.split(":")
        return district_day(key, int(seed))
    base = load_problem(FIXTURE)
    return base if int(spec) == 0 else scaled(base, int(spec))


def _one(spec: str, who: str, seconds: float) -> dict:
    from planner.solvers.race import others_running

    others = others_running()  # the other jobs' runnable tasks as the run starts (what the race's idle cores read)
    row = measure(_problem_of(spec), who, seconds)
    row["others_running"] = round(others, 2)
    tiers = row["tiers"]
    row.update(day=spec, intensive=tiers.get("intensive", "0/0"), load=round(os.getloadavg()[0], 1),
               when=time.strftime("%Y-%m-%d %H:%M"))
    return row


# ---- report -----------------------------------------------------------------------------------

def render_busy(rows: list[dict], *, bundled: bool = False) -> str:
    """The busier (or bundled-size) days' table and, per budget, the days on which ``auto`` reaches the best peer's
    coverage, its travel against VROOM's, and on the days where both cover the same risk (within one unit, the
    default ``coverage_resolution``) how often it travels no more than VROOM."""
    head = (["# District benchmark: bundled-size days", "",
             f"`python bench/district.py --bundled` ({time.strftime('%Y-%m-%d')}; one process at a time, 2 cores; the "
             "1-minute load average is recorded with each row). `district:K:0` = the bundled fixture day of district K, "
             "`district:K:S` = a day drawn by `fixtures.generate` with that district's own households and workers "
             "(seed S)."] if bundled else
            ["# District benchmark: busier generated days", "",
             f"`python bench/district.py --busy` ({time.strftime('%Y-%m-%d')}; one process at a time, 2 cores; the "
             "1-minute load average is recorded with each row). Days from `fixtures.generate` (Gwanak, 20 workers, "
             "visit cap 13) with more at-risk households."])
    lines = [*head[:-1], head[-1] + " `auto` = `planner.solve()` with its default solver (row's `mode`"
             " in the jsonl: whether it raced); `race2` = the default with two idle cores taken for granted (the race on "
             "every day); `vroom` "
             "= VROOM alone (one thread, exploration 5); `ortools` = plain OR-Tools. Coverage: risk covered "
             "(sum of the served visits' risk skip penalties). Preferred: visits planned with their household's "
             "preferred worker (VROOM cannot express the preference). Wall: the whole call.", "",
             "| day | visits | budget | solver | risk covered | intensive | planned | travel (h) | preferred | "
             "violations | wall | load |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    order = {"auto": 0, "race2": 1, "vroom": 2, "ortools": 3}

    def key(r: dict) -> tuple:
        parts = [int(x) if x.isdigit() else x for x in str(r["day"]).split(":")]
        return (parts, r["seconds"], order.get(r["solver"], 3), r["solver"])

    rows = sorted(rows, key=key)
    for r in rows:
        lines.append(f"| {r['day']} | {r['visits']} | {r['seconds']:g} s | {r['solver']} | {r['risk_covered']:.3f} | "
                     f"{r['intensive']} | {r['assigned']} | {r['travel_s'] / 3600:.2f} | {r.get('preferred_kept', '')} | "
                     f"{r['violations']} | {r['wall_s']} s | {r.get('load', '')} |")
    lines += ["", "## Summary", "", "| budget | Salpimi | days | ≥ best peer (coverage) | mean coverage gap to best peer | "
              "travel vs VROOM (mean over all days) | same coverage as VROOM (±1): travel ≤ VROOM's, mean travel | "
              "worst wall over budget | peers' worst |",
              "|---|---|---|---|---|---|---|---|---|"]
    mine = [x for x in ("auto", "race2") if any(r["solver"] == x for r in rows)]
    for secs, who in ((secs, who) for secs in sorted({r["seconds"] for r in rows}) for who in mine):
        by = {(r["day"], r["solver"]): r for r in rows if r["seconds"] == secs}
        days = sorted({d for d, s in by if s == who})
        wins, gaps, travel, level = 0, [], [], []
        for d in days:
            me = by[(d, who)]
            peers = [by[(d, s)] for s in ("vroom", "ortools") if (d, s) in by]
            if not peers:
                continue
            best = max(p["risk_covered"] for p in peers)
            wins += me["risk_covered"] >= best - 1e-9
            gaps.append(me["risk_covered"] - best)
            if (d, "vroom") in by and by[(d, "vroom")]["travel_s"]:
                travel.append(me["travel_s"] / by[(d, "vroom")]["travel_s"] - 1)
                if abs(me["risk_covered"] - by[(d, "vroom")]["risk_covered"]) <= 1.0:
                    level.append(travel[-1])
        over = max((r["wall_s"] - r["seconds"] for (_, s), r in by.items() if s == who), default=0.0)
        peers_over = max((r["wall_s"] - r["seconds"] for (_, s), r in by.items() if s in ("vroom", "ortools")),
                         default=0.0)
        lines.append(f"| {secs:g} s | {who} | {len(days)} | {wins}/{len(days)} | "
                     f"{sum(gaps) / len(gaps) if gaps else 0.0:+.3f} | "
                     f"{100 * sum(travel) / len(travel) if travel else 0.0:+.1f} % | "
                     f"{sum(x <= 0 for x in level)}/{len(level)}, "
                     f"{100 * sum(level) / len(level) if level else 0.0:+.1f} % | {over:+.1f} s | {peers_over:+.1f} s |")
    return "\n".join(lines) + "\n"


def _rows(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


def render_neighbour(rows: list[dict], quiet: list[dict]) -> str:
    """The busier days run beside one CPU-bound process, against the same days, solvers and budgets without it:
    how much each solver's risk coverage and travel move."""
    lines = ["# District benchmark: busier days beside a CPU-bound neighbour", "",
             f"`python bench/district.py --busy --neighbour` ({time.strftime('%Y-%m-%d')}): each run with one "
             "busy-loop process started beside it (killed after the run), on the same days as "
             "`district_busy.md`. The change is this table's row less that table's row (same day, solver, "
             "budget); the machine's other load is in the load column of both.", "",
             "| day | budget | solver | risk covered | change | planned | travel (h) | travel change | wall | load |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    alone = {(r["day"], r["solver"], r["seconds"]): r for r in quiet}
    by_solver: dict[tuple[str, float], list[tuple[float, float]]] = {}
    for r in rows:
        q = alone.get((r["day"], r["solver"], r["seconds"]))
        d_cov = r["risk_covered"] - q["risk_covered"] if q else None
        d_tr = 100 * (r["travel_s"] / q["travel_s"] - 1) if q and q["travel_s"] else None
        if d_cov is not None and d_tr is not None:
            by_solver.setdefault((r["solver"], r["seconds"]), []).append((d_cov, d_tr))
        lines.append(f"| {r['day']} | {r['seconds']:g} s | {r['solver']} | {r['risk_covered']:.3f} | "
                     f"{'' if d_cov is None else f'{d_cov:+.3f}'} | {r['assigned']} | {r['travel_s'] / 3600:.2f} | "
                     f"{'' if d_tr is None else f'{d_tr:+.1f} %'} | {r['wall_s']} s | {r.get('load', '')} |")
    lines += ["", "## Summary", "", "| solver | budget | days | mean coverage change | mean travel change |",
              "|---|---|---|---|---|"]
    for (solver, secs), ds in sorted(by_solver.items()):
        lines.append(f"| {solver} | {secs:g} s | {len(ds)} | {sum(d for d, _ in ds) / len(ds):+.3f} | "
                     f"{sum(t for _, t in ds) / len(ds):+.1f} % |")
    return "\n".join(lines) + "\n"


def busy_main(args: argparse.Namespace) -> int:
    """Run (or resume from ``args.raw``) every busier (``args.bundled``: bundled-size) day x budget x solver, one
    process at a time (with ``args.neighbour``, one busy-loop process beside each run)."""
    raw = args.raw or (NEIGHBOUR_RAW if args.neighbour else BUNDLED_RAW if args.bundled else BUSY_RAW)
    out = NEIGHBOUR_OUT if args.neighbour else BUNDLED_OUT if args.bundled else BUSY_OUT

    def report(rows: list[dict]) -> str:
        return render_neighbour(rows, _rows(BUSY_RAW)) if args.neighbour else render_busy(rows, bundled=args.bundled)

    rows = _rows(raw)
    done = {(r["day"], r["solver"], r["seconds"]) for r in rows}
    seeds = [int(x) for x in args.seeds.split(",")]
    days = ([f"district:{k}:{s}" for k in args.districts.split(",") for s in (0, *seeds)] if args.bundled else
            [f"busy:{h}:{s}" for h in (int(x) for x in args.households.split(",")) for s in seeds])
    for day in days:
        for secs in [float(x) for x in args.budgets.split(",")]:
            for who in args.busy_solvers.split(","):
                if (day, who, secs) in done:
                    continue
                loop = (subprocess.Popen([sys.executable, "-c", "while True: pass"])
                        if args.neighbour else None)
                try:
                    row = _subprocess(day, who, secs)
                except RuntimeError as exc:
                    print(f"{day} {who} {secs}: failed: {exc}", file=sys.stderr)
                    continue
                finally:
                    if loop is not None:
                        loop.kill()
                        loop.wait()
                row["neighbour"] = bool(args.neighbour)
                rows.append(row)
                raw.parent.mkdir(parents=True, exist_ok=True)
                with raw.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
                print(row, flush=True)
                _write(out, report(rows))
    print(report(rows))
    return 0


def render(compare: list[dict], scaling: list[dict], seconds: float) -> str:
    lines = ["# District benchmark: the Gwanak fixture day", "",
             f"`python bench/district.py` on this machine (2 cores), {time.strftime('%Y-%m-%d')}. Travel: great-circle "
             "estimate (`HaversineProvider`). Every plan is checked by Salpimi's evaluator; VROOM's routes are re-timed "
             "by Salpimi's scheduler (a route it cannot time is rejected and counted). `race` = Salpimi's default solver "
             "(`RaceSolver`: in a forked process `VroomHybridSolver` = VROOM on what it can express, with risk "
             "priorities by rank, then OR-Tools polishing the full model from VROOM's routes; plain OR-Tools in this "
             "process; the better full-model objective wins); `vroom+ortools` = `VroomHybridSolver` alone (one core, "
             "what the API's daemonic workers run); `hybrid` = `PyVrpHybridSolver` alone (one core); `ortools` = plain "
             "OR-Tools (PCI + GLS); `vroom` = VROOM alone, priorities on a log scale of the risk penalty (the mapping "
             "that gives VROOM its lowest travel). Risk covered: sum of the served visits' risk skip penalties (the "
             "coverage ratio is dominated by the urgent visits' weights and ties at 4 decimals).", "",
             f"## Same day, same inputs, {seconds:g} s", "",
             "| solver | risk-weighted coverage | risk covered | visits planned | by tier (served/total) | "
             "mandatory/urgent left | travel (h) | violations | rejected routes | wall |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in compare:
        tiers = ", ".join(f"{t} {s}" for t, s in r["tiers"].items())
        lines.append(f"| {r['solver']} | {r['coverage']:.4f} | {r['risk_covered']:.3f} | {r['assigned']}/{r['visits']} | "
                     f"{tiers} | "
                     f"{r['mandatory_left']}/{r['urgent_left']} | {r['travel_s'] / 3600:.1f} | {r['violations']} | "
                     f"{r['rejected_routes']} | {r['wall_s']} s |")
    if scaling:
        lines += ["", "## Scaling (synthetic days drawn from the Gwanak fixture, workers in the same ratio)", "",
                  "Each row is one run in a fresh process. The budget is the whole call's (model building, search, "
                  "repair, explanations); the 1 s rows give the time to a first feasible plan: every plan Salpimi "
                  "returns is complete and passes the evaluator, so their wall time is how soon a dispatcher has a "
                  "valid day. Peak memory: the larger resident set of the solving process and its forked child.", "",
                  "| visits | workers | solver | budget | coverage | risk covered | planned | travel (h) | "
                  "violations | wall | peak memory |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in scaling:
            lines.append(f"| {r['visits']} | {r['workers']} | {r['solver']} | {r['seconds']:g} s | "
                         f"{r['coverage']:.4f} | {r['risk_covered']:.1f} | {r['assigned']} | "
                         f"{r['travel_s'] / 3600:.1f} | {r['violations']} | {r['wall_s']} s | {r['peak_mb']} MB |")
    return "\n".join(lines) + "\n"


def _write(out: Path, text: str) -> None:
    """Write the tables, keeping the hand-written notes section of the previous report."""
    old = out.read_text() if out.exists() else ""
    notes = old[old.index("\n## Notes"):] if "\n## Notes" in old else ""
    out.write_text(text + notes)


def _subprocess(n: int | str, who: str, seconds: float) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", str(n), who, str(seconds)], capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--solvers", default="race,vroom+ortools,hybrid,vroom,ortools")
    ap.add_argument("--sizes", default="50,200,500,1000,2000")
    ap.add_argument("--scaling-solvers", default="race,vroom,ortools")
    ap.add_argument("--scaling-budgets", default="1,10,60")
    ap.add_argument("--skip-scaling", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--busy", action="store_true", help="busier generated days against VROOM and plain OR-Tools")
    ap.add_argument("--bundled", action="store_true",
                    help="bundled-size days of each district (the fixture day and generated ones) against the peers")
    ap.add_argument("--districts", default="gwanak,osan", help="--bundled: district keys")
    ap.add_argument("--households", default="600,800,1000", help="--busy: households per day")
    ap.add_argument("--seeds", default="1,2,3", help="--busy: generator seeds")
    ap.add_argument("--budgets", default="10,30", help="--busy: seconds per run")
    ap.add_argument("--busy-solvers", default="auto,vroom,ortools")
    ap.add_argument("--raw", type=Path, default=None, help="--busy: raw rows (JSON lines), resumed")
    ap.add_argument("--neighbour", action="store_true",
                    help="--busy: one CPU-bound process beside each run (rows in district_busy_neighbour.jsonl)")
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(_one(args.one[0], args.one[1], float(args.one[2]))))
        return 0
    problem = missing_module(("ortools", "pyvrp", "vroom"))
    if problem:
        print(problem, file=sys.stderr)
        return 2
    if args.busy or args.bundled:
        return busy_main(args)
    compare = []
    for who in args.solvers.split(","):
        compare.append(_subprocess(0, who, args.time_limit))
        print(compare[-1], flush=True)
        _write(args.out, render(compare, [], args.time_limit))
    scaling: list[dict] = []
    if not args.skip_scaling:
        for n in [int(x) for x in args.sizes.split(",")]:
            for secs in [float(x) for x in args.scaling_budgets.split(",")]:
                for who in args.scaling_solvers.split(","):
                    try:
                        scaling.append(_subprocess(n, who, secs))
                    except RuntimeError as exc:
                        print(f"{n} {who} {secs}: failed: {exc}", file=sys.stderr)
                        continue
                    print(scaling[-1], flush=True)
                    _write(args.out, render(compare, scaling, args.time_limit))
    print(render(compare, scaling, args.time_limit))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
