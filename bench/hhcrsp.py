"""Joint visits: solution quality on the home health care instances of Mankowska et al. (2014).

Each instance is mapped onto a Salpimi problem file (``bench/_hhcrsp.py``: caregivers -> workers with
skills, patients -> households with mandatory visits, a simultaneous double service -> one visit with two crew
seats, a double service with a gap -> two visits and a precedence, the due time -> a soft ``due`` with
``late_cost``, distances -> ``travel_matrix`` in seconds, one instance unit = 60 s), planned by
``python -m planner plan`` in a fresh process (one solve at a time), and the plan is re-checked on the
instance's own float data by an independent checker, which also computes the literature's objective
(travel + total tardiness + maximum tardiness) / 3. Gap: to the best value two published solvers reached
(``best_values.csv``, see SOURCES.md there).

    python bench/hhcrsp.py --time-limit 10,60 --raw bench/results/hhcrsp.jsonl --resume   # all 28
    python bench/hhcrsp.py --instances 10,25 --time-limit 10        # the sizes 10 and 25
    python bench/hhcrsp.py --instances 10_2,50_3 --time-limit 60
    python bench/hhcrsp.py --data DIR                                 # instance files from elsewhere
    python bench/hhcrsp.py --relaxed --time-limit 10                  # reference: double services unlinked
    python bench/hhcrsp.py --instances 100_2 --check-published solution-100-2-12.txt   # re-check a published
                                                     # route file (gecco2020-brkga solutions/routes/ format)

Results: ``bench/results/hhcrsp.md`` (per-size summary and per-instance table) and the ``--raw`` JSON lines.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _hhcrsp as H

OUT_MD = H.REPO / "bench" / "results" / "hhcrsp.md"
#: ``python -m planner`` that also reports how long the command itself ran, once the interpreter has started and
#: the planner is imported (reading the problem, the solve, writing the plan): what the time budget governs.
_CHILD = ("import sys, time\nfrom planner.cli import main\nt0 = time.monotonic()\nrc = main(sys.argv[1:])\n"
          "print(f'command_s={time.monotonic() - t0:.3f}', file=sys.stderr)\nsys.exit(rc)")


def select(paths: list[Path], spec: str) -> list[Path]:
    """``all``; sizes (``10,25``); or instances (``10_2``, ``InstanzVNS_HCSRP_100_3``), comma-separated.
    An item matching nothing raises ``ValueError`` naming it."""
    if spec == "all":
        return paths
    out: list[Path] = []
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        hits = [p for p in paths if p.stem == item or p.stem.endswith(f"_{item}")
                or (item.isdigit() and p.stem.split("_")[-2] == item)]
        if not hits:
            raise ValueError(f"--instances: {item!r} matches no instance file")
        out += [p for p in hits if p not in out]
    return out


def _time_limits(text: str) -> list[float]:
    out = []
    for item in text.split(","):
        try:
            value = float(item)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{item!r} is not a number of seconds") from None
        if not 0 < value <= 3600:
            raise argparse.ArgumentTypeError(f"{item!r} must lie in (0, 3600] s")
        out.append(value)
    return out


def _positive_int(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 10**9:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not an integer in 1..1000000000")
    return int(text)


def _commit() -> str:
    """The checked-out commit (the tree may hold others' uncommitted work too: rows say which code ran)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=H.REPO, capture_output=True, text=True,
                             timeout=10, check=False)
    except OSError:
        return ""
    return out.stdout.strip()


def run_one(inst: H.HhcrspInstance, seconds: float, *, seed: int = 0, solver: str = "auto",
            solution_limit: int | None = None, workdir: Path | None = None) -> dict[str, Any]:
    """Plan ``inst`` with ``python -m planner plan`` in a fresh process and check the plan.

    ``solution_limit`` switches to the deterministic mode (a work budget; ``seconds`` is then only a cap).
    Returns one result row (without the instance's best value)."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        problem_path, plan_path = Path(tmp) / "problem.json", Path(tmp) / "plan.json"
        problem_path.write_text(json.dumps(H.to_problem_json(inst)))
        cmd = [sys.executable, "-c", _CHILD, "plan", str(problem_path), "--time-limit", f"{seconds:g}",
               "--seed", str(seed), "--solver", solver, "--quiet", "--out", str(plan_path)]
        if solution_limit is not None:
            cmd += ["--deterministic", "--solution-limit", str(solution_limit)]
        load = os.getloadavg()
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=H.REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                              timeout=3 * seconds + 120, check=False)
        wall = time.perf_counter() - t0
        timed = [x for x in proc.stderr.splitlines() if x.startswith("command_s=")]
        row: dict[str, Any] = {
            "instance": inst.name, "size": inst.size, "time_limit_s": seconds, "seed": seed, "solver": solver,
            "solution_limit": solution_limit, "relaxed": not inst.synchronised, "wall_s": round(wall, 2),
            "command_s": float(timed[-1].removeprefix("command_s=")) if timed else math.nan,
            "loadavg_before": [round(x, 2) for x in load], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "when": time.strftime("%Y-%m-%d %H:%M"), "commit": _commit(),
        }
        if proc.returncode != 0 or not plan_path.exists():
            last = (proc.stderr.strip().splitlines() or [""])[-1]
            return {**row, "feasible": False, "problems": [f"planner exit {proc.returncode}: {last[:300]}"],
                    "cost": math.nan, "cost_as_planned": math.nan, "travel": math.nan, "tardiness": math.nan,
                    "max_tardiness": math.nan, "left_out": -1}
        plan = json.loads(plan_path.read_text())
    return {**row, **assess(inst, plan)}


def assess(inst: H.HhcrspInstance, plan: dict[str, Any]) -> dict[str, Any]:
    """Check a Salpimi plan of ``inst`` on the float data: as planned, and re-timed as early as possible.

    ``cost`` is the literature's objective of the plan's routes with the least start times (what a decoder of
    the same routes gives; never above the plan's own times, which use travel rounded up to whole seconds);
    ``cost_as_planned`` uses the plan's start times. Feasible = every service planned, the plan's own times
    pass the checker, and the re-timed schedule too."""
    routes, left_out = H.from_plan_json(inst, plan)
    planned = H.check(inst, routes)
    problems = list(planned.problems)
    if left_out:
        problems.insert(0, f"{len(left_out)} visit(s) left out: {', '.join(left_out[:5])}")
    retimed = H.least_schedule(inst, [[(t.node, t.service) for t in r] for r in routes])
    best = planned
    if retimed is None:
        problems.append("the plan's routes admit no schedule on the float data")
    else:
        again = H.check(inst, retimed)
        problems += [f"re-timed: {p}" for p in again.problems]
        best = again
    return {"feasible": not problems, "problems": problems[:5], "cost": round(best.cost, 4),
            "cost_as_planned": round(planned.cost, 4), "travel": round(best.travel, 4),
            "tardiness": round(best.tardiness, 4), "max_tardiness": round(best.max_tardiness, 4),
            "left_out": len(left_out), "objective": (plan.get("meta") or {}).get("objective")}


def _gap(cost: float, best: float) -> float:
    return 100 * (cost / best - 1) if math.isfinite(cost) else math.nan


def _fmt(g: float) -> str:
    return "—" if math.isnan(g) else f"{g:+.2f} %"


def render(rows: list[dict[str, Any]], *, note: str) -> str:
    """Markdown: per size and time limit (feasible, mean / max gap, mean wall), then per instance."""
    limits = sorted({r["time_limit_s"] for r in rows})
    sizes = sorted({r["size"] for r in rows})
    names = sorted({r["instance"] for r in rows}, key=lambda n: (int(n.split("_")[-2]), int(n.split("_")[-1])))
    by = {(r["instance"], r["time_limit_s"]): r for r in rows}
    lines = ["# Joint visits: HHCRSP instances (Mankowska et al. 2014)", "", note, "",
             "Cost = (travel + total tardiness + max tardiness) / 3 of the plan's routes, recomputed on the "
             "instance's float distances with the earliest start times; gap = cost over the best value two "
             "published solvers reached (`best_values.csv`). Feasible = every service planned and the plan "
             "passes the independent checker. Wall = the worst over the size's runs of the whole planner "
             "process (interpreter start and imports included), in brackets the worst of the command itself "
             "(from the imported planner: reading, solving, writing; what the time budget governs) where "
             "recorded.", "",
             "## Per size", "",
             "| size | n | " + " | ".join(f"{t:g} s: feasible | {t:g} s: mean gap | {t:g} s: max gap | "
                                          f"{t:g} s: worst wall" for t in limits) + " |",
             "|---|---|" + "---|---|---|---|" * len(limits)]

    def cells(members: list[str]) -> list[str]:
        out = []
        for t in limits:
            rs = [by[(n, t)] for n in members if (n, t) in by]
            ok = [r for r in rs if r["feasible"]]
            gaps = [r["gap"] for r in ok]
            all_ok = len(ok) == len(rs)
            out += [f"{len(ok)}/{len(rs)}",
                    (_fmt(statistics.fmean(gaps)) + ("" if all_ok else " (feasible only)")) if gaps else "—",
                    _fmt(max(gaps)) if gaps else "—",
                    _walls(rs)]
        return out

    size_of = {r["instance"]: r["size"] for r in rows}
    for size in sizes:
        members = [n for n in names if size_of[n] == size]
        lines.append(f"| {size} | {len(members)} | " + " | ".join(cells(members)) + " |")
    lines.append(f"| **all** | {len(names)} | " + " | ".join(cells(names)) + " |")
    lines += ["", "## Per instance", "",
              "| instance | best | " + " | ".join(f"{t:g} s: cost / gap / travel / tard. / max tard. / wall / load"
                                                 for t in limits) + " |",
              "|---|---|" + "---|" * len(limits)]
    for n in names:
        first = next(by[(n, t)] for t in limits if (n, t) in by)
        out = []
        for t in limits:
            r = by.get((n, t))
            if r is None:
                out.append("")
            elif not r["feasible"]:
                out.append(f"infeasible: {'; '.join(r['problems'])[:160]} ({r['wall_s']:.1f} s)")
            else:
                out.append(f"{r['cost']:.2f} / {_fmt(r['gap'])} / {r['travel']:.1f} / {r['tardiness']:.2f} / "
                           f"{r['max_tardiness']:.2f} / {r['wall_s']:.1f} s / {r['loadavg_before'][0]:.1f}")
        lines.append(f"| {n} | {first['best']:g} | " + " | ".join(out) + " |")
    return "\n".join(lines) + "\n"


def _walls(rs: list[dict[str, Any]]) -> str:
    if not rs:
        return "—"
    cmd = [r["command_s"] for r in rs if math.isfinite(r.get("command_s", math.nan))]
    return f"{max(r['wall_s'] for r in rs):.1f} s" + (f" ({max(cmd):.1f} s)" if cmd else "")


def check_published(paths: list[Path], solution: Path) -> int:
    """Print the checker's verdict on a published route file, re-timed as early as possible (exit 1 if broken)."""
    if len(paths) != 1:
        print(f"--check-published: name exactly one instance with --instances (got {len(paths)})", file=sys.stderr)
        return 2
    try:
        inst = H.read_instance(paths[0])
        sequences = H.read_published(inst, solution.read_text())
    except (ValueError, OSError, IndexError) as exc:
        print(f"--check-published: {exc}", file=sys.stderr)
        return 2
    sched = H.least_schedule(inst, sequences)
    if sched is None:
        print(f"{inst.name}: these routes admit no schedule")
        return 1
    v = H.check(inst, sched)
    print(f"{inst.name}: {'feasible' if v.feasible else 'INFEASIBLE'} cost {v.cost:.3f} = (travel {v.travel:.3f} + "
          f"tardiness {v.tardiness:.5f} + max tardiness {v.max_tardiness:.5f}) / 3")
    for problem in v.problems[:10]:
        print(f"  {problem}")
    return 0 if v.feasible else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", type=Path, default=H.DATA, help="folder of Instanz*_HCSRP_*.txt and best_values.csv")
    ap.add_argument("--instances", default="all", help="all | sizes (10,25) | instances (10_2,InstanzVNS_HCSRP_100_3)")
    ap.add_argument("--time-limit", type=_time_limits, default=[10.0, 60.0], help="seconds, comma-separated (10,60)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--solver", default="auto", help="the planner's --solver (auto|race|ortools|pyvrp|vroom)")
    ap.add_argument("--solution-limit", type=_positive_int, default=None,
                    help="deterministic mode: stop on this work budget (the time limit is then only a cap)")
    ap.add_argument("--relaxed", action="store_true",
                    help="reference only: each patient's two services as independent visits (no crew, no gap)")
    ap.add_argument("--check-published", type=Path, default=None, metavar="FILE",
                    help="re-check a published route file of the one instance named by --instances, and stop")
    ap.add_argument("--out", type=Path, default=None,
                    help=f"markdown table (default {OUT_MD.relative_to(H.REPO)}, hhcrsp_relaxed.md with --relaxed)")
    ap.add_argument("--raw", type=Path, default=None, help="append raw rows as JSON lines here")
    ap.add_argument("--resume", action="store_true", help="skip runs already in --raw (same instance, limit, seed, solver)")
    args = ap.parse_args(argv)

    if args.resume and args.raw is None:
        print("--resume needs --raw FILE", file=sys.stderr)
        return 2
    if not args.data.is_dir():
        print(f"benchmark data absent: {args.data} (see ../shared/benchmarks/hhcrsp)", file=sys.stderr)
        return 2
    try:
        paths = select(H.instance_paths(args.data), args.instances)
        best = H.best_values(args.data)
    except (ValueError, OSError, KeyError) as exc:
        print(f"hhcrsp: {exc}", file=sys.stderr)
        return 2
    if not paths:
        print(f"no Instanz*_HCSRP_*.txt files in {args.data}", file=sys.stderr)
        return 2
    if args.check_published is not None:
        return check_published(paths, args.check_published)

    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        return (r["instance"], r["time_limit_s"], r["seed"], r["solver"], r.get("solution_limit"),
                r.get("relaxed", False))

    rows: list[dict[str, Any]] = []
    if args.resume and args.raw.exists():
        rows = [json.loads(x) for x in args.raw.read_text().splitlines() if x.strip()]
        rows = [r for r in rows if r["seed"] == args.seed and r["solver"] == args.solver
                and r.get("solution_limit") == args.solution_limit and r.get("relaxed", False) == args.relaxed]
    out = args.out or (OUT_MD.with_name("hhcrsp_relaxed.md") if args.relaxed else OUT_MD)
    done = {key(r) for r in rows}
    note = (f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; one planner process at a time; `--solver {args.solver}`, seed "
            f"{args.seed}" + (f", deterministic work budget {args.solution_limit}" if args.solution_limit else "")
            + ". Load: the 1-minute load average before each run (the machine is shared)."
            + (" **Relaxed reference**: each patient's two services are independent visits (no crew, no gap), so "
               "these costs are no solutions of the instances; they show what the links cost." if args.relaxed else ""))
    for p in paths:
        try:
            inst = H.read_instance(p)
            if args.relaxed:
                inst = H.relaxed(inst)
        except (ValueError, OSError) as exc:
            print(f"hhcrsp: {exc}", file=sys.stderr)
            return 2
        for t in args.time_limit:
            k = (inst.name, t, args.seed, args.solver, args.solution_limit, args.relaxed)
            if k in done:
                continue
            row = run_one(inst, t, seed=args.seed, solver=args.solver, solution_limit=args.solution_limit)
            row["best"] = best.get(inst.name, math.nan)
            row["gap"] = _gap(row["cost"], row["best"]) if row["feasible"] else math.nan
            rows.append(row)
            print(f"{inst.name:26s} {t:4g} s {'ok ' if row['feasible'] else 'BAD'} cost {row['cost']:9.2f} "
                  f"best {row['best']:8.2f} gap {_fmt(row['gap']):>9s} wall {row['wall_s']:5.1f} s "
                  f"load {row['loadavg_before'][0]:.1f} {'; '.join(row['problems'])[:120]}", flush=True)
            if args.raw:
                args.raw.parent.mkdir(parents=True, exist_ok=True)
                with args.raw.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
        if rows:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(render(rows, note=note))
    if rows:
        print(render(rows, note=note))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
