"""How far from the best possible: the upper bound on risk coverage every plan states, on fixture and busier days.

For each day and budget, one solve (default solver, on the clock) in its own process: the plan's risk covered, the
bound it states (method, seconds it took inside the budget), the gap, the wall time against the budget; and the
tightest bound this module reaches with 30 s of its own and no size limits (``best_bound``: the LP at any size, the
MIP up to 20,000 pairs), to show what the in-budget choice costs.
Rows are appended to ``bench/results/bound.jsonl`` (a row already there is not run again: the runs resume).

    python bench/bound.py                                   # gwanak, osan, busy600, busy800, x2000 at 10 s and 30 s
    python bench/bound.py --days gwanak,busy800 --budgets 10

Days: ``gwanak``/``osan`` (fixtures); ``xN``: N visits drawn from the Gwanak day with workers in its ratio
(``bench/district.py``'s ``scaled``); ``busyN``: the same with half the workers and a visit cap of 14, so the
budget binds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from district import scaled

from planner import HaversineProvider, Problem, SolveParams, compile_instance, load_problem, solve
from planner.bound import coverage_bound

REPO = Path(__file__).resolve().parents[1]
ROWS = REPO / "bench" / "results" / "bound.jsonl"
OUT = REPO / "bench" / "results" / "bound.md"
TRAVEL = HaversineProvider()
warnings.filterwarnings("ignore")


def day(name: str, seed: int) -> Problem:
    fixtures = REPO / "fixtures" / "problems"
    if name in ("gwanak", "osan"):
        return load_problem(fixtures / f"{name}.json")
    base = load_problem(fixtures / "gwanak.json")
    if name.startswith("x"):
        return scaled(base, int(name[1:]), seed=seed)
    if name.startswith("busy"):
        p = scaled(base, int(name[4:]), seed=seed)
        workers = tuple(dataclasses.replace(w, max_visits=14) for w in p.workers[: max(2, len(p.workers) // 2)])
        return dataclasses.replace(p, workers=workers, name=f"{name}-s{seed}")
    raise SystemExit(f"unknown day {name!r}")


def one(name: str, seconds: float, seed: int) -> dict:
    p = day(name, seed)
    t0 = time.perf_counter()
    r = solve(p, TRAVEL, SolveParams(time_limit_s=seconds, seed=seed))
    wall = time.perf_counter() - t0
    k = r.plan.kpis
    assert k is not None
    inst = compile_instance(p, TRAVEL)
    # What the solve's own bound took (the plan's meta carries no wall time: the same input gives the same plan).
    again = coverage_bound(inst, time_limit_s=min(0.05 * seconds, 2.0))
    best = coverage_bound(inst, time_limit_s=30.0, lp_pairs=10**7, mip_pairs=20_000)
    return {"day": name, "seed": seed, "budget_s": seconds, "visits": len(p.visits), "workers": len(p.workers),
            "wall_s": round(wall, 2), "risk_covered": k.risk_covered, "risk_total": k.risk_total,
            "coverage_bound": k.coverage_bound, "coverage_gap": k.coverage_gap, "method": k.coverage_bound_method,
            "bound_s": round(again.elapsed_s, 3), "best_bound": best.value, "best_method": best.method,
            "best_bound_s": round(best.elapsed_s, 2), "solver": r.plan.meta.get("solver"),
            "load": round(os.getloadavg()[0], 1), "commit": _commit()}


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                         check=False)
    return out.stdout.strip()


def render(rows: list[dict]) -> str:
    lines = ["# Coverage bound: how far each plan is from the best possible", "",
             "`python bench/bound.py` (one solve per process, default solver on the clock, great-circle travel). "
             "`bound` is what the plan states (computed inside its budget), `best bound` what 30 s of the bound's own "
             "give without size limits; gap = (bound - covered) / bound. Load = 1-minute load average at the end of the row.", "",
             "| day | seed | visits | workers | budget s | wall s | risk covered | bound (method, s) | gap % | "
             "best bound (method, s) | gap to best % | load |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        best_gap = 100 * max(0.0, r["best_bound"] - r["risk_covered"]) / r["best_bound"] if r["best_bound"] else 0.0
        lines.append(
            f"| {r['day']} | {r['seed']} | {r['visits']} | {r['workers']} | {r['budget_s']:g} | {r['wall_s']} | "
            f"{r['risk_covered']:,.1f} | {r['coverage_bound']:,.1f} ({r['method']}, {r['bound_s']}) | "
            f"{100 * r['coverage_gap']:.3f} | {r['best_bound']:,.1f} ({r['best_method']}, {r['best_bound_s']}) | "
            f"{best_gap:.3f} | {r['load']} |")
    worst = max((r["wall_s"] - r["budget_s"] for r in rows), default=0.0)
    lines += ["", f"Worst wall-time overrun over the budget: {worst:+.2f} s."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", default="gwanak,osan,busy600,busy800,x2000")
    ap.add_argument("--budgets", default="10,30")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--rows", type=Path, default=ROWS)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one[0], float(args.one[1]), int(args.one[2]))))
        return 0
    rows = [json.loads(x) for x in args.rows.read_text().splitlines() if x.strip()] if args.rows.exists() else []
    done = {(r["day"], r["budget_s"], r["seed"]) for r in rows}
    for seed in [int(x) for x in args.seeds.split(",")]:
        for name in args.days.split(","):
            for secs in [float(x) for x in args.budgets.split(",")]:
                if (name, secs, seed) in done:
                    continue
                out = subprocess.run([sys.executable, __file__, "--one", name, str(secs), str(seed)],
                                     capture_output=True, text=True, check=False)
                if out.returncode != 0:
                    print(f"{name} {secs} {seed}: failed: {out.stderr[-1500:]}", file=sys.stderr)
                    continue
                row = json.loads(out.stdout.strip().splitlines()[-1])
                rows.append(row)
                with args.rows.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(row) + "\n")
                print(row, flush=True)
                args.out.write_text(render(rows), encoding="utf-8")
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
