"""The README's scenario charts, from real simulations: a scenario under the week planner and the manual-practice
baseline (overdue days per tier, weekly coverage), and the same scenario at each head count of one role
(coverage within cadence versus staff).  Runs on ``planner.sweep`` (local pool by default).

    python bench/scenario_charts.py                       # Osan baseline, 3 seeds, case managers 1..5
    python bench/scenario_charts.py --role visiting_nurse --counts 1,2,3 --seeds 2 --engine dask

Writes PNG and SVG into ``docs/img/scenarios/`` and the aggregates into ``docs/img/scenarios/charts.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from planner.scenarios.charts import write_charts  # noqa: E402
from planner.scenarios.kpis import aggregate  # noqa: E402
from planner.scenarios.minstaff import parse_target  # noqa: E402
from planner.scenarios.simulate import run_task  # noqa: E402
from planner.scenarios.spec import load_spec  # noqa: E402
from planner.sweep import run_tasks  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", type=Path, default=REPO / "fixtures" / "scenarios" / "osan_baseline.toml")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--role", default="case_manager")
    ap.add_argument("--counts", default="1,2,3,4,5")
    ap.add_argument("--target", default="within_cadence.intensive >= 0.99")
    ap.add_argument("--engine", choices=("local", "dask"), default="local")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "scenarios")
    ap.add_argument("--redraw", action="store_true", help="draw again from OUT/charts.json, simulate nothing")
    args = ap.parse_args(argv)
    saved = args.out / "charts.json"
    if args.redraw:
        data = json.loads(saved.read_text(encoding="utf-8"))
        for p in write_charts(data["by_policy"], args.out, min_staff=data["staff_curve"]):
            print(p)
        return 0
    spec = load_spec(args.spec).to_dict()
    counts = [int(c) for c in args.counts.split(",")]
    goal = parse_target(args.target)
    policies = ("salpimi", "manual")
    tasks = [{"spec": spec, "seed": s, "policy": p, "overrides": {}} for p in policies for s in range(args.seeds)]
    tasks += [{"spec": spec, "seed": s, "policy": "salpimi", "overrides": {"staff": {args.role: c}}}
              for c in counts for s in range(args.seeds)]

    def show(p: Any) -> None:
        eta = f", about {p.eta_s:.0f} s left" if p.eta_s is not None else ""
        print(f"\r  {p.done}/{p.total} runs done, {p.running} running{eta}   ", end="", file=sys.stderr, flush=True)

    swept = run_tasks(tasks, engine=args.engine, fn=run_task, progress=show)
    print(file=sys.stderr)
    if not swept.ok:
        raise SystemExit(f"{len(swept.failed)} runs failed: {swept.failed[0].error if swept.failed else 'stopped'}")
    results: list[dict[str, Any]] = swept.results
    n = args.seeds
    by_policy = [aggregate(results[i * n:(i + 1) * n]) for i in range(len(policies))]
    evaluated = []
    for k, count in enumerate(counts):
        agg = aggregate(results[(len(policies) + k) * n:(len(policies) + k + 1) * n])
        value = agg["kpis"].get(goal.metric, {}).get("mean")
        met = goal.met(value)
        evaluated.append({"count": count, "value": value, "met": met, "aggregate": agg})
    answer = next((e["count"] for e in evaluated if e["met"]), None)
    curve = {"role": args.role, "target": args.target, "answer": answer, "evaluated": evaluated}
    written = write_charts(by_policy, args.out, min_staff=curve)
    saved.write_text(json.dumps(
        {"spec": str(args.spec.relative_to(REPO)) if args.spec.is_relative_to(REPO) else str(args.spec),
         "seeds": n, "by_policy": by_policy, "staff_curve": curve}) + "\n", encoding="utf-8")
    print("\n".join(str(p.relative_to(REPO)) if p.is_relative_to(REPO) else str(p) for p in written))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
