"""Solution quality side by side on Solomon (or Gehring-Homberger 200 and 400) VRPTW instances.

Runs Salpimi's engine (PyVRP + OR-Tools hybrid), plain OR-Tools (the engine's previous default),
PyVRP and VROOM, one process at a time, at the same wall-clock budget; re-checks every solution
with an independent checker on the raw data (capacity, windows, return to the depot, every
customer once) and recomputes distances under the DIMACS convention (Euclidean truncated to one
decimal, travel time = distance). Gaps are to the distance-only DIMACS best-known solutions.

    python bench/solomon.py --time-limit 5                   # all 56 Solomon instances
    python bench/solomon.py --time-limit 30 --instances C101,R101,RC101
    python bench/solomon.py --set homberger --time-limit 30 --instances first
    python bench/solomon.py --set homberger400 --time-limit 60 --instances first --solvers salpimi,pyvrp \
        --raw bench/results/homberger400_60s.jsonl --resume
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import _instances as I

from planner.solvers.race import idle_cores, others_load, others_running

ALL = ("salpimi", "pyvrp", "vroom", "ortools", "twin")


def _select(paths: list[Path], spec: str) -> list[Path]:
    if spec == "all":
        return paths
    if spec.startswith("first"):  # the first instance (first:N the first N) of each family
        per = int(spec.split(":")[1]) if ":" in spec else 1
        count: dict[str, int] = {}
        out = []
        for p in paths:
            fam = I.family(p.stem)
            count[fam] = count.get(fam, 0) + 1
            if count[fam] <= per:
                out.append(p)
        return out
    wanted = [s.strip() for s in spec.split(",") if s.strip()]
    return [p for p in paths if p.stem in wanted or I.family(p.stem) in wanted]


def _fmt_gap(g: float) -> str:
    return "—" if math.isnan(g) else f"{g:+.2f} %"


def render(rows: list[dict], *, which: str, seconds: float, solvers: list[str], note: str) -> str:
    names = sorted({r["instance"] for r in rows}, key=lambda n: [r["instance"] for r in rows].index(n))
    by = {(r["instance"], r["solver"]): r for r in rows}
    lines = [f"# {which.capitalize()} VRPTW at {seconds:g} s per instance", "",
             note, "",
             "Gap: distance over the distance-only DIMACS best-known solution (`bks.csv`). Feasibility re-checked "
             "independently on the raw data. Time: wall clock of the whole call (model building included).", "",
             "## Summary", "",
             "| solver | feasible | mean gap | median gap | max gap | mean vehicles | mean time |",
             "|---|---|---|---|---|---|---|"]
    for s in solvers:
        rs = [by[(n, s)] for n in names if (n, s) in by]
        ok = [r for r in rs if r["feasible"]]
        gaps = [r["gap"] for r in ok]
        if not rs:
            continue
        all_ok = len(ok) == len(rs)
        mean = statistics.fmean(gaps) if gaps else math.nan
        lines.append(
            f"| {s} | {len(ok)}/{len(rs)} | {_fmt_gap(mean)}{'' if all_ok else ' (feasible only)'} | "
            f"{_fmt_gap(statistics.median(gaps) if gaps else math.nan)} | {_fmt_gap(max(gaps) if gaps else math.nan)} | "
            f"{statistics.fmean(r['vehicles'] for r in ok) if ok else math.nan:.1f} | "
            f"{statistics.fmean(r['time_s'] for r in rs):.1f} s |")
    fams = sorted({I.family(n) for n in names})
    lines += ["", "## Mean gap by family", "", "| family | n | " + " | ".join(solvers) + " |",
              "|---|---|" + "---|" * len(solvers)]
    for f in fams:
        cells = []
        members = [n for n in names if I.family(n) == f]
        for s in solvers:
            rs = [by[(n, s)] for n in members if (n, s) in by]
            ok = [r["gap"] for r in rs if r["feasible"]]
            cells.append(f"{_fmt_gap(statistics.fmean(ok)) if ok else '—'} ({len(ok)}/{len(rs)})")
        lines.append(f"| {f} | {len(members)} | " + " | ".join(cells) + " |")
    lines += ["", "## Per instance", "", "| instance | BKS veh / dist | " +
              " | ".join(f"{s} veh / dist / gap / time" for s in solvers) + " |",
              "|---|---|" + "---|" * len(solvers)]
    for n in names:
        first = next(by[(n, s)] for s in solvers if (n, s) in by)
        cells = []
        for s in solvers:
            r = by.get((n, s))
            if r is None:
                cells.append("")
            elif not r["feasible"]:
                cells.append(f"infeasible: {r['problem']} ({r['time_s']:.1f} s)")
            else:
                cells.append(f"{r['vehicles']} / {r['distance']:.1f} / {_fmt_gap(r['gap'])} / {r['time_s']:.1f} s")
        lines.append(f"| {n} | {first['bks_vehicles']} / {first['bks']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=sorted(I.SETS), default="solomon")
    ap.add_argument("--time-limit", type=float, default=5.0)
    ap.add_argument("--instances", default="all", help="all | first (one per family) | names or families, comma-separated")
    ap.add_argument("--solvers", default=",".join(ALL))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="markdown table (default bench/results/<set>_<T>s.md)")
    ap.add_argument("--raw", type=Path, default=None, help="also append raw rows as JSON lines here")
    ap.add_argument("--resume", action="store_true", help="reuse rows already in --raw")
    args = ap.parse_args(argv)

    solvers = [s for s in args.solvers.split(",") if s]
    unknown = [s for s in solvers if s not in ALL]
    if unknown:
        print(f"unknown solver(s) {', '.join(unknown)}; choose from {', '.join(ALL)}", file=sys.stderr)
        return 2
    # Bad arguments are reported first, also where ../shared is absent.
    folder, _ = I.SETS[args.set]
    if not folder.is_dir():
        print(f"benchmark data absent: {folder} (see ../shared)", file=sys.stderr)
        return 2
    needs = {"salpimi": ("ortools", "pyvrp", "vroom"), "ortools": ("ortools",), "pyvrp": ("pyvrp",),
             "vroom": ("vroom",), "twin": ("ortools", "pyvrp")}
    problem = I.missing_module(sorted({m for s in solvers for m in needs[s]}))
    if problem:
        print(problem, file=sys.stderr)
        return 2
    paths = _select(I.instance_paths(args.set), args.instances)
    best = I.bks(args.set)
    out = args.out or (I.REPO / "bench" / "results" / f"{args.set}_{args.time_limit:g}s.md")
    rows: list[dict] = []
    if args.resume and args.raw and args.raw.exists():
        rows = [json.loads(x) for x in args.raw.read_text().splitlines() if x.strip()]
        rows = [r for r in rows if r["time_limit_s"] == args.time_limit]
    done = {(r["instance"], r["solver"]) for r in rows}
    note = (f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; one solver at a time; peers single-threaded (VROOM nb_threads=1, "
            f"exploration level 5: it stops by itself when its search is exhausted); Salpimi's default solver runs a "
            f"second PyVRP search (another seed, the incumbent handed over at the midpoint) on the second core "
            f"when the other jobs leave it idle (`idle_cores` >= 1.5 in the raw rows), else PyVRP alone. "
            f"Seed {args.seed}. "
            f"Instances: {args.instances if args.instances != 'all' else f'all {len(paths)}'}. "
            "`salpimi` = `planner.solve()` with its default solver (`RaceSolver`: here two PyVRP searches, or one, "
            "since PyVRP's relaxation is exact without breaks) on the instance mapped onto the domain "
            "(customers → mandatory visits, vehicles → workers); `ortools` = `planner.solve()` with the plain "
            "`OrToolsSolver` (parallel cheapest insertion + guided local search); `twin` = the default solver with "
            "its second PyVRP search whatever the load (`RaceSolver(processes=2)`).")
    for p in paths:
        inst = I.read_vrplib(p)
        bv, bd = best[inst.name]
        for s in solvers:
            if (inst.name, s) in done:
                continue
            # What the default solver's policy sees before the run: the other jobs' load and the idle cores
            # (a second search on an idle core needs 1.5 of them).
            others = others_running()
            res, secs = I.run(s, inst, args.time_limit, seed=args.seed)
            row = dict(instance=inst.name, solver=s, time_limit_s=args.time_limit, feasible=res.feasible,
                       vehicles=res.vehicles, distance=res.distance, problem=res.problem,
                       gap=100 * (res.distance / bd - 1) if res.feasible else math.nan,
                       bks=bd, bks_vehicles=bv, time_s=round(secs, 2), when=time.strftime("%Y-%m-%d %H:%M"),
                       load=round(os.getloadavg()[0], 1), others_load=round(others_load(), 2),
                       others_running=round(others, 2), idle_cores=round(idle_cores(load=lambda o=others: o), 2))
            rows.append(row)
            print(f"{inst.name:8s} {s:8s} {'ok ' if res.feasible else 'BAD'} veh {res.vehicles:3d} "
                  f"dist {res.distance:9.1f} gap {_fmt_gap(row['gap']):>9s} {secs:5.1f} s {res.problem}", flush=True)
            if args.raw:
                with args.raw.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(rows, which=args.set, seconds=args.time_limit, solvers=solvers, note=note))
    print(render(rows, which=args.set, seconds=args.time_limit, solvers=solvers, note=note))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
