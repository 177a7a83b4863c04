"""Sweep throughput: a sweep of independent runs on the local process pool (1, 2 and all cores) and on a local
Dask cluster; the overhead per task; and the projected time of a province's nightly plans.

Each run is one dong office's day, planned in a worker process in the deterministic mode (a fixed work budget,
so every configuration does the same work): the Gwanak fixture cut to its busiest dong's visits and two workers
(a visiting nurse and the next worker of another role).  The overhead per task is measured twice:

* with a near-empty task (``planner.sweep.tasks.echo``): the sweep's wall time per task and slot, all of it
  overhead (a fresh spawned process per task by default, so this is mostly Python and planner start-up);
* with the real task: the sweep's wall time per task and slot minus the run's own time inside its worker.

The province projection is ``offices x per-office seconds / workers`` for a few cluster sizes, the per-office
seconds being one run's slot time (its own time plus the sweep's overhead) in the least disturbed local
configuration.  ``--offices`` defaults to 560: Gyeonggi-do has 31 si/gun (28 cities, 3 counties) and about
560-580 eup, myeon and dong administrative units; the exact count per province and year is the Ministry of the
Interior and Safety's statistical yearbook table "시도별 행정구역 개수" (administrative units by province;
data.go.kr dataset 15107296, updated 2025-05-25), which we could not read offline -- pass the count you read
there (the projection is linear in it).

Each real run is OR-Tools on a 50-solution work budget: on 2 shared cores under load 9-16 a run takes 8-13 s,
and the whole bench 10-18 minutes (the issue's 40 runs per configuration within the ~25 minutes we allow).

    python bench/sweep.py                         # 40 runs per configuration (the issue's sweep), all parts
    python bench/sweep.py --runs 8 --solution-limit 20    # a quick look
    python bench/sweep.py --skip-dask

The machine's load average is recorded with every configuration.  Each configuration's row is appended to
``bench/results/sweep_rows.jsonl`` as it finishes; ``--resume`` reuses the rows measured with the same runs,
office, solver and work budget (an interrupted bench redoes only what is missing).  Writes
``bench/results/sweep.json`` and ``bench/results/sweep.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from planner.sweep import default_workers, run_tasks  # noqa: E402
from planner.sweep.tasks import echo, solve_day  # noqa: E402

FIXTURE = REPO / "fixtures" / "problems" / "gwanak.json"
RESULTS = REPO / "bench" / "results"
OFFICES_DEFAULT = 560
CLUSTER_SIZES = (2, 8, 32, 64)


def office_day(fixture: Path = FIXTURE) -> dict[str, Any]:
    """The fixture's busiest dong (by visits) with two workers of different roles: one office's day."""
    data = json.loads(fixture.read_text(encoding="utf-8"))
    dong_of: dict[str, Any] = {h["id"]: h.get("dong") for h in data["households"]}
    busiest = Counter(str(dong_of[v["household_id"]]) for v in data["visits"]).most_common(1)[0][0]
    visits = [v for v in data["visits"] if str(dong_of[v["household_id"]]) == busiest]
    kept = {v["household_id"] for v in visits}
    first = data["workers"][0]
    other = next((w for w in data["workers"] if w["role"] != first["role"]), data["workers"][1])
    staff = {first["id"], other["id"]}
    households = [{k: v for k, v in h.items() if k != "preferred_worker_id" or v in staff}
                  for h in data["households"] if h["id"] in kept]
    return {**data, "name": f"{data.get('name', 'office')} / {busiest}", "households": households,
            "workers": [first, other], "visits": visits}


def _measure(label: str, tasks: list[dict[str, Any]], fn: Any, *, engine: str, workers: int,
             tasks_per_process: int = 1, rows_file: Path | None = None, key: str = "",
             done: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    if done is not None and f"{key}|{label}" in done:
        kept = done[f"{key}|{label}"]
        print(f"{label:<34} (from {rows_file}, measured {kept.get('at', '?')})")
        return kept
    load_before = os.getloadavg()
    swept = run_tasks(tasks, engine=engine, fn=fn, workers=workers, tasks_per_process=tasks_per_process)  # type: ignore[arg-type]
    load_after = os.getloadavg()
    if not swept.ok:
        raise SystemExit(f"{label}: {len(swept.failed)} runs failed: {swept.failed[0].error}")
    inside = [o.elapsed_s or 0.0 for o in swept.outcomes]
    runs = len(tasks)
    slot_s = swept.wall_s * workers / runs
    row: dict[str, Any] = {
        "label": label, "engine": engine, "workers": workers, "runs": runs, "tasks_per_process": tasks_per_process,
        "wall_s": round(swept.wall_s, 2), "runs_per_min": round(runs / swept.wall_s * 60, 1),
        "slot_s_per_run": round(slot_s, 3), "run_s_mean": round(sum(inside) / runs, 3),
        "overhead_s_per_run": round(slot_s - sum(inside) / runs, 3),
        "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in load_after],
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if rows_file is not None:
        with rows_file.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"key": key, **row}) + "\n")
    print(f"{label:<34} {row['wall_s']:>7.1f} s  {row['runs_per_min']:>6.1f} runs/min  "
          f"run {row['run_s_mean']:.2f} s  overhead {row['overhead_s_per_run']:.2f} s/run  load {row['load_before'][0]}")
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=40, help="runs per configuration (default 40)")
    ap.add_argument("--solution-limit", type=int, default=50, help="work budget of each office's day (default 50)")
    ap.add_argument("--solver", default="ortools", help="the planner's engine for each run (default ortools)")
    ap.add_argument("--offices", type=int, default=OFFICES_DEFAULT,
                    help=f"eup/myeon/dong offices in the province (default {OFFICES_DEFAULT}, Gyeonggi-do)")
    ap.add_argument("--skip-dask", action="store_true", help="local pool only")
    ap.add_argument("--out", type=Path, default=RESULTS / "sweep.md")
    ap.add_argument("--resume", action="store_true", help="reuse the rows already in sweep_rows.jsonl")
    args = ap.parse_args(argv)
    cores = default_workers()
    office = office_day()
    real = [{"problem": office, "seed": s, "solution_limit": args.solution_limit, "solver": args.solver}
            for s in range(args.runs)]
    empty = [{"value": i} for i in range(args.runs)]
    print(f"office day: {office['name']}, {len(office['visits'])} visits, {len(office['workers'])} workers; "
          f"{args.runs} runs per configuration; {cores} cores")
    rows_file = args.out.parent / "sweep_rows.jsonl"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    key = f"{args.runs}|{office['name']}|{args.solver}|{args.solution_limit}"
    done: dict[str, dict[str, Any]] | None = None
    if args.resume and rows_file.is_file():
        done = {}
        for line in rows_file.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a torn last line
            done[f"{rec.pop('key', '')}|{rec['label']}"] = rec
    kw: dict[str, Any] = {"rows_file": rows_file, "key": key, "done": done}
    rows: list[dict[str, Any]] = []
    for w in sorted({1, 2, cores}):
        rows.append(_measure(f"local, {w} process(es), real", real, solve_day, engine="local", workers=w, **kw))
    rows.append(_measure(f"local, {cores}, near-empty", empty, echo, engine="local", workers=cores, **kw))
    rows.append(_measure(f"local, {cores}, near-empty, reused", empty, echo, engine="local", workers=cores,
                         tasks_per_process=10**6, **kw))
    if not args.skip_dask:
        rows.append(_measure(f"dask local cluster, {cores}, real", real, solve_day, engine="dask", workers=cores,
                             **kw))
        rows.append(_measure(f"dask local cluster, {cores}, near-empty", empty, echo, engine="dask", workers=cores,
                             **kw))
    # Per-office time: one run's slot time (its own time plus the sweep's overhead) in the local configuration
    # where it was least disturbed (on a shared machine the other processes' load inflates the busier ones).
    best = min((r for r in rows if r["engine"] == "local" and r["label"].endswith("real")),
               key=lambda r: r["slot_s_per_run"])
    projection = {str(n): round(args.offices * best["slot_s_per_run"] / n / 60, 1) for n in CLUSTER_SIZES}
    result = {
        "machine": {"cores": cores, "python": platform.python_version(), "platform": platform.platform()},
        "office": {"name": office["name"], "visits": len(office["visits"]), "workers": len(office["workers"]),
                   "solution_limit": args.solution_limit, "solver": args.solver},
        "offices": args.offices, "rows": rows, "projection_min_by_workers": projection,
        "per_office_s": best["slot_s_per_run"], "per_office_from": best["label"],
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    args.out.write_text(render(result) + "\n", encoding="utf-8")
    print(render(result))
    return 0


def render(r: dict[str, Any]) -> str:
    o = r["office"]
    lines = [
        f"# Sweep throughput ({r['machine']['cores']} cores, {r['at']})", "",
        f"Each real run: one office's day ({o['name']}: {o['visits']} visits, {o['workers']} workers), "
        f"deterministic, solution limit {o['solution_limit']}, solver {o['solver']}.", "",
        "| configuration | runs | wall s | runs/min | run s (inside worker) | slot s per run | overhead s per run | load 1/5/15 min before |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for x in r["rows"]:
        lines.append(f"| {x['label']} | {x['runs']} | {x['wall_s']} | {x['runs_per_min']} | {x['run_s_mean']} | "
                     f"{x['slot_s_per_run']} | {x['overhead_s_per_run']} | {' / '.join(map(str, x['load_before']))} |")
    lines += ["", f"Projected nightly plans of {r['offices']} offices (minutes) = {r['offices']} x "
              f"{r['per_office_s']} s per office ({r['per_office_from']}) / workers:",
              "", "| workers | " + " | ".join(r["projection_min_by_workers"]) + " |",
              "|---|" + "---:|" * len(r["projection_min_by_workers"]),
              "| minutes | " + " | ".join(str(v) for v in r["projection_min_by_workers"].values()) + " |"]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
