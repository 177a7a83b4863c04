"""Joint visits: the two OR-Tools methods side by side on the Mankowska et al. (2014) instances.

``model``: a routing node per seat, equal start cumuls and active flags, seats on different workers, the search
started from the crew-aware construction and ruin and recreate of ``planner/joint_lns.py`` (70 % of the budget).  ``insert``: the search plans the one-worker visits only, then the
pipeline inserts each joint visit's seats into two routes at once (cheapest feasible pair of insertions).
Both go through the same pipeline (re-timing, pair insertion of what is still dropped) and the same checker
(``bench/hhcrsp.py``'s ``assess``: every service planned, the literature's objective on the float data).

    python bench/joint_methods.py --instances 10,25 --time-limit 10
    python bench/joint_methods.py --instances all --time-limit 10,60 --raw bench/results/joint_methods.jsonl

One solve per fresh process (OR-Tools: one routing model per process at a time); the load average is kept with
each run.  Results: ``bench/results/joint_methods.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _hhcrsp as H
import hhcrsp

OUT_MD = H.REPO / "bench" / "results" / "joint_methods.md"
METHODS = ("model", "insert")


def _child(path: str, method: str, seconds: float) -> None:
    """Plan one instance with one method; print the plan JSON (runs in a fresh process)."""
    from planner import SolveParams, problem_from_json, solve
    from planner.solvers.ortools_routing import OrToolsSolver
    from planner.travel.matrix import MatrixProvider

    inst = H.read_instance(Path(path))
    problem = problem_from_json(H.to_problem_json(inst))
    assert problem.travel_matrix is not None
    result = solve(problem, MatrixProvider(problem.travel_matrix), SolveParams(time_limit_s=seconds, solver="ortools"),
                   solver=OrToolsSolver(joint=method))
    print(json.dumps(result.plan.to_json()))


def run(path: Path, method: str, seconds: float) -> dict[str, Any]:
    load = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--child", str(path), method, str(seconds)], cwd=H.REPO,
                          capture_output=True, text=True, timeout=3 * seconds + 120, check=False)
    wall = time.perf_counter() - t0
    inst = H.read_instance(path)
    row: dict[str, Any] = {"instance": inst.name, "size": inst.size, "method": method, "time_limit_s": seconds,
                           "wall_s": round(wall, 2), "loadavg_before": [round(x, 2) for x in load],
                           "when": time.strftime("%Y-%m-%d %H:%M")}
    if proc.returncode != 0:
        return {**row, "feasible": False, "cost": math.nan, "problems": [proc.stderr.strip()[-300:]]}
    return {**row, **hhcrsp.assess(inst, json.loads(proc.stdout))}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--child"]:
        _child(args[1], args[2], float(args[3]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", default="10,25")
    ap.add_argument("--time-limit", default="10")
    ap.add_argument("--data", type=Path, default=H.DATA)
    ap.add_argument("--raw", type=Path, default=None)
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated: model, insert")
    ns = ap.parse_args(args)
    if not ns.data.is_dir():
        print(f"joint_methods: no instances at {ns.data} (../shared/benchmarks/hhcrsp)", file=sys.stderr)
        return 2
    best = H.best_values(ns.data)
    rows = []
    for seconds in (float(x) for x in ns.time_limit.split(",")):
        for path in hhcrsp.select(H.instance_paths(ns.data), ns.instances):
            for method in ns.methods.split(","):
                row = run(path, method, seconds)
                ref = best.get(row["instance"])
                row["gap_pct"] = round(100 * (row["cost"] / ref - 1), 2) if ref and math.isfinite(row["cost"]) \
                    else math.nan
                rows.append(row)
                print(f"{row['instance']:>32} {method:>6} {seconds:>4g}s feasible={row['feasible']} "
                      f"cost={row['cost']} gap={row['gap_pct']}% wall={row['wall_s']}s "
                      f"load={row['loadavg_before'][0]} {row.get('problems', [])[:2]}", flush=True)
                if ns.raw is not None:
                    with ns.raw.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps(row) + "\n")
    lines = ["# Joint visits: OR-Tools model vs pair insertion (Mankowska et al. 2014)", "",
             "| size | limit s | method | runs | feasible | mean gap % | mean wall s | mean load |",
             "|---:|---:|---|---:|---:|---:|---:|---:|"]
    keys = sorted({(r["size"], r["time_limit_s"], r["method"]) for r in rows})
    for size, limit, method in keys:
        sel = [r for r in rows if (r["size"], r["time_limit_s"], r["method"]) == (size, limit, method)]
        gaps = [r["gap_pct"] for r in sel if r["feasible"] and math.isfinite(r["gap_pct"])]
        lines.append(f"| {size} | {limit:g} | {method} | {len(sel)} | {sum(r['feasible'] for r in sel)} | "
                     f"{statistics.mean(gaps) if gaps else math.nan:.2f} | "
                     f"{statistics.mean(r['wall_s'] for r in sel):.1f} | "
                     f"{statistics.mean(r['loadavg_before'][0] for r in sel):.1f} |")
    OUT_MD.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
