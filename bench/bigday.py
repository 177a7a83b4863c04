"""Big days: 2,000 and 10,000 candidate visits (a whole city's day), Salpimi against VROOM and plain OR-Tools.

Days are drawn by the project's own generator (``fixtures.generate``): the Gwanak district with more at-risk
households and its teams replicated so that workers keep the bundled day's ratio (20 workers per 166 visits).
Every plan is judged by Salpimi's evaluator on the whole day (skills, languages, windows, shifts, breaks, working
time, visit limits): coverage, visits planned, travel, wall time of the whole call and the peak memory of the
solving processes (``resource.getrusage``).  One run per fresh process, one at a time; the 1-minute load average
is recorded with each row; raw rows are kept in ``bench/results/bigday.jsonl`` (resumed).

    python bench/bigday.py                                  # 2,000 and 10,000 visits at 10 s and 60 s
    python bench/bigday.py --sizes 2000 --budgets 10 --solvers auto,vroom
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _instances import missing_module

from planner import HaversineProvider, Problem, SolveParams, compile_instance, solve

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "results" / "bigday.md"
RAW = REPO / "bench" / "results" / "bigday.jsonl"
TRAVEL = HaversineProvider()
#: Workers per candidate visit on the bundled Gwanak day (20 for 166).
WORKER_RATIO = 20 / 166
#: Candidate visits per at-risk household the generator draws on Gwanak (166 of 400, a few more for margin).
VISIT_RATIO = 0.40
warnings.filterwarnings("ignore")


def big_day(visits: int, seed: int = 0) -> Problem:
    """``visits`` candidate visits of one Gwanak day drawn by ``fixtures.generate``: enough at-risk households, the
    district's teams replicated ``k`` times (nurses per dong team, case managers per dong pair, counsellors, mobile
    units), ``seed`` choosing the generator's stream; visits past ``visits`` and households without a visit are
    left out."""
    from fixtures.generate import GWANAK, _district_problem
    from planner.formats.problem import problem_from_json
    from planner.risk import RiskModel

    k = max(1, round(visits * WORKER_RATIO / 20))
    g = GWANAK
    district = dataclasses.replace(
        g, key=f"gwanak-big-{visits}-{seed}", n_households=math.ceil(visits / VISIT_RATIO),
        nurse_teams=tuple((f"{letter}{j}", dongs, extra) for j in range(1, k + 1)
                          for letter, dongs, extra in g.nurse_teams),
        case_teams=g.case_teams * k, counsellors=g.counsellors * k, mobile_units=g.mobile_units * k,
        case_manager_languages={i + len(g.case_teams) * j: lang for j in range(k)
                                for i, lang in g.case_manager_languages.items()},
        mobile_languages={i + g.mobile_units * j: lang for j in range(k) for i, lang in g.mobile_languages.items()},
    )
    data = _district_problem(district, RiskModel.default())
    data["visits"] = data["visits"][:visits]
    used = {v["household_id"] for v in data["visits"]}
    data["households"] = [h for h in data["households"] if h["id"] in used]
    data["name"] = f"gwanak big day, {visits} visits, seed {seed}"
    data.pop("meta", None)
    return problem_from_json(data)


def measure(visits: int, who: str, seconds: float, seed: int = 0) -> dict:
    """One run: ``auto`` (``planner.solve()``'s default, in parts from 1,500 visits), ``whole`` (the default
    solver on the whole day, no parts), ``vroom`` (VROOM alone, one thread, priorities on a log scale of risk) or
    ``ortools`` (plain OR-Tools), judged by the evaluator on the whole day."""
    from district import plan_of, run_vroom

    from planner.evaluate import evaluate_instance

    problem = big_day(visits, seed)
    t0 = time.perf_counter()
    if who == "vroom":
        inst = compile_instance(problem, TRAVEL)
        plan, _ = plan_of(inst, run_vroom(inst, seconds))
        engine = "vroom"
    else:
        solver = None
        if who == "ortools":
            from planner.solvers.ortools_routing import OrToolsSolver

            solver = OrToolsSolver()
        elif who == "whole":
            from planner.solvers.race import RaceSolver

            solver = RaceSolver()
        res = solve(problem, TRAVEL, SolveParams(time_limit_s=seconds, seed=seed), solver=solver)
        inst, plan = res.instance, res.plan
        engine = str(plan.meta.get("solver", ""))
    wall = time.perf_counter() - t0
    ev = evaluate_instance(inst, plan)
    k = ev.kpis
    return dict(day=f"big:{visits}:{seed}", visits=len(problem.visits), workers=len(problem.workers), solver=who,
                engine=engine, seconds=seconds, risk_covered=k.risk_covered, coverage=k.risk_weighted_coverage,
                assigned=k.visits_assigned, mandatory_left=k.mandatory_unassigned, urgent_left=k.urgent_unassigned,
                travel_s=k.travel_s, violations=len(ev.violations), wall_s=round(wall, 2),
                peak_mb=round(max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                                  resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024),
                load=round(os.getloadavg()[0], 1), when=time.strftime("%Y-%m-%d %H:%M"))


def render(rows: list[dict]) -> str:
    lines = ["# Big days: 2,000 and 10,000 candidate visits", "",
             f"`python bench/bigday.py` ({time.strftime('%Y-%m-%d')}; 2 shared cores; one run per fresh process, one at "
             "a time; the 1-minute load average recorded with each row). Days from `fixtures.generate` (Gwanak, teams "
             "replicated: 240 workers for 2,000 visits, 1,200 for 10,000). `auto` = `planner.solve()`'s default (in "
             "parts from 1,500 visits); `whole` = the default race on the whole day (no parts); `vroom` = VROOM "
             "alone (one thread, exploration 5, priorities on a log scale of risk); `ortools` = plain OR-Tools. Every "
             "plan judged by Salpimi's evaluator on the whole day. Wall: the whole call, compiling the day included. "
             "Peak memory: the larger of the solving process and its biggest child.", "",
             "| visits | workers | budget | solver | risk covered | planned | mandatory/urgent left | travel (h) | "
             "violations | wall | over budget | peak memory | load |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: (r["visits"], r["seconds"], r["solver"])):
        lines.append(f"| {r['visits']:,} | {r['workers']:,} | {r['seconds']:g} s | {r['solver']} | "
                     f"{r['risk_covered']:,.1f} | {r['assigned']:,} | {r['mandatory_left']}/{r['urgent_left']} | "
                     f"{r['travel_s'] / 3600:,.1f} | {r['violations']} | {r['wall_s']} s | "
                     f"{r['wall_s'] - r['seconds']:+.1f} s | {r['peak_mb']:,} MB | {r['load']} |")
    for who in ("auto", "whole"):
        over = max((r["wall_s"] - (1.02 * r["seconds"] + 0.5) for r in rows if r["solver"] == who), default=None)
        if over is not None:
            lines += ["", f"Worst overrun of Salpimi's `{who}` rows past the limit + 2 % + 0.5 s: {over:+.2f} s "
                      "(below zero: every row ended that much before it)."]
    return "\n".join(lines) + "\n"


def _subprocess(visits: int, who: str, seconds: float, seed: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", str(visits), who, str(seconds), str(seed)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2000,10000")
    ap.add_argument("--budgets", default="10,60")
    ap.add_argument("--solvers", default="auto,vroom,ortools",
                    help="auto, whole, vroom, ortools (ortools is skipped above 2,000 visits)")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--raw", type=Path, default=RAW)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(measure(int(args.one[0]), args.one[1], float(args.one[2]), int(args.one[3]))))
        return 0
    problem = missing_module(("ortools", "pyvrp", "vroom"))
    if problem:
        print(problem, file=sys.stderr)
        return 2
    rows = [json.loads(x) for x in args.raw.read_text().splitlines() if x.strip()] if args.raw.exists() else []
    done = {(r["visits"], r["solver"], r["seconds"], r["day"]) for r in rows}
    for n in [int(x) for x in args.sizes.split(",")]:
        for secs in [float(x) for x in args.budgets.split(",")]:
            for seed in [int(x) for x in args.seeds.split(",")]:
                for who in args.solvers.split(","):
                    if (who == "ortools" and n > 2000) or (n, who, secs, f"big:{n}:{seed}") in done:
                        continue
                    try:
                        row = _subprocess(n, who, secs, seed)
                    except RuntimeError as exc:
                        print(f"{n} {who} {secs}: failed: {exc}", file=sys.stderr)
                        continue
                    rows.append(row)
                    args.raw.parent.mkdir(parents=True, exist_ok=True)
                    with args.raw.open("a") as fh:
                        fh.write(json.dumps(row) + "\n")
                    print(row, flush=True)
                    args.out.write_text(render(rows))
    print(render(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
