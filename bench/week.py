"""Planning a week: the horizon planner side by side with the day-by-day baseline (the day planner run on each
day in order, carrying forward who was seen), and on the periodic VRPTW instances of Cordeau, Laporte and
Mercier (2001) when their files are at hand.

Each run is a fresh process (one solve at a time); every plan is checked by the horizon evaluator.

    python bench/week.py                          # Gwanak and Osan weeks and their tight variants, 60 s each
    python bench/week.py --time-limit 30 --skip-tight
    python bench/week.py --cordeau DIR            # also pr*.txt from DIR (type 5, PVRPTW); DIR/bks.csv
                                                  # (instance,value) adds the gap to a best known value
    python bench/week.py --week-params swaps=False --skip-baseline   # an alternative of the day choice

Results: ``bench/results/week.md`` (table) and ``bench/results/week.jsonl`` (raw rows).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from planner import (
    Holidays,
    HorizonParams,
    HorizonProblem,
    HorizonVisit,
    Household,
    Location,
    MatrixProvider,
    Role,
    SolveParams,
    TimeWindow,
    TravelModeName,
    TravelTable,
    Visit,
    Worker,
    evaluate_horizon,
    horizon_from_json,
    plan_day_by_day,
    plan_horizon,
)
from planner.travel.haversine import HaversineProvider

REPO = Path(__file__).resolve().parents[1]
WEEKS = REPO / "fixtures" / "problems"
OUT_MD = REPO / "bench" / "results" / "week.md"
OUT_JSONL = REPO / "bench" / "results" / "week.jsonl"
DEFAULT_CORDEAU = REPO.parent / "shared" / "benchmarks" / "pvrptw"


# ---- the Gwanak week -------------------------------------------------------------------------------


def district_week(district: str, variant: str) -> HorizonProblem:
    """The fixture week, or its tight variant: a week of duties at the centre, every worker making at most two
    home visits a day, so the week's capacity is below its demand (Gwanak: about 150 visits for 182)."""
    p = horizon_from_json(json.loads((WEEKS / f"{district}_week.json").read_text(encoding="utf-8")))
    if variant == "week":
        return p
    workers = tuple(dataclasses.replace(w, max_visits=2) for w in p.workers)
    return dataclasses.replace(p, workers=workers, name=p.name + " (tight: two home visits a day each)")


def _horizon_params(spec: str) -> HorizonParams:
    """``name=value,...`` (floats, or True/False) over the default :class:`HorizonParams`."""
    kw: dict[str, Any] = {}
    for part in filter(None, spec.split(",")):
        name, _, value = (x.strip() for x in part.partition("="))
        flags = {"true": True, "false": False}
        kw[name] = flags[value.lower()] if value.lower() in flags else float(value)
    return HorizonParams(**kw)


def run_district(district: str, variant: str, method: str, limit: float, seed: int,
                 week_params: str = "") -> dict[str, Any]:
    p = district_week(district, variant)
    travel = HaversineProvider()
    params = SolveParams(time_limit_s=limit, seed=seed)
    load = os.getloadavg()
    t0 = time.perf_counter()
    if method == "week":
        r = plan_horizon(p, travel, params, horizon=_horizon_params(week_params))
    else:
        r = plan_day_by_day(p, travel, params)
    wall = time.perf_counter() - t0
    ev = evaluate_horizon(p, r.horizon_plan(), travel)
    k = r.summary.kpis
    return {
        "case": f"{district}-{variant}", "method": method + (f" ({week_params})" if week_params else ""),
        "time_limit_s": limit, "seed": seed, "wall_s": round(wall, 2),
        "violations": len(ev.all_violations()), "visits_planned": k.visits_planned, "visits_total": k.visits_total,
        "risk_covered": k.risk_covered, "risk_total": k.risk_total, "ageing": k.ageing,
        "intensive_within": k.intensive_within_cadence, "intensive_due": k.intensive_due,
        "overdue_first_day": k.overdue_visited_first_day, "overdue_at_start": k.overdue_at_start,
        "spread": k.daily_visit_spread, "sd": k.daily_visit_sd, "travel_h": round(k.travel_s / 3600, 1),
        "per_day": [sum(len(rt.stops) for rt in d.plan.routes) for d in r.days],
        "loadavg_before": [round(x, 2) for x in load], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


# ---- Cordeau, Laporte and Mercier (2001) PVRPTW -----------------------------------------------------


def read_cordeau(path: Path) -> dict[str, Any]:
    """A type-5 (PVRPTW) instance: vehicles per day, customers with frequency, allowed day combinations
    and time windows, the depot's window, route duration and load limits.  A combination is the decimal
    value of a bit string read from the left, day 1 first (in a 5-day period 10 = 01010: days 2 and 4), as
    the format's description says."""
    tokens = path.read_text(encoding="utf-8").split("\n")
    head = tokens[0].split()
    kind, m, n, t = (int(x) for x in head[:4])
    if kind != 5:
        raise ValueError(f"{path.name}: type {kind} is not a PVRPTW instance (5)")
    limits = [tuple(float(x) for x in tokens[1 + i].split()[:2]) for i in range(t)]
    rows = [line.split() for line in tokens[1 + t:] if line.strip()]
    depot = rows[0]
    customers = []
    for row in rows[1:n + 1]:
        i, x, y, d, q, f, a = int(row[0]), float(row[1]), float(row[2]), int(float(row[3])), int(float(row[4])), \
            int(row[5]), int(row[6])
        combos = [int(c) for c in row[7:7 + a]]
        e, ell = float(row[7 + a]), float(row[8 + a])
        days = [[k for k in range(t) if mask >> (t - 1 - k) & 1] for mask in combos]
        customers.append({"i": i, "x": x, "y": y, "service": d, "demand": q, "freq": f, "days": days, "e": e,
                          "l": ell})
    return {"name": path.stem, "vehicles": m, "days": t, "duration": limits[0][0], "capacity": limits[0][1],
            "depot": {"x": float(depot[1]), "y": float(depot[2]), "e": float(depot[-2]), "l": float(depot[-1])},
            "customers": customers}


def cordeau_problem(inst: dict[str, Any]) -> tuple[HorizonProblem, np.ndarray]:
    """The instance as a horizon problem (1 unit of time = 1 minute; travel = Euclidean distance, rounded up
    to whole seconds so no window is met only by rounding), and the exact distance matrix."""
    start = dt.date(2030, 1, 7)
    pts = [(inst["depot"]["x"], inst["depot"]["y"])] + [(c["x"], c["y"]) for c in inst["customers"]]
    xy = np.array(pts)
    dist = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))
    secs = np.ceil(dist * 60 - 1e-9).astype(np.int64)
    locs = tuple(Location(lat=10 + y / 1000, lon=10 + x / 1000) for x, y in pts)
    table = TravelTable(locations=locs, duration_s={"drive": secs}, distance_m={"drive": np.rint(dist * 1000).astype(
        np.int64)}, source="Euclidean (Cordeau)")
    shift = TimeWindow(start_s=int(inst["depot"]["e"] * 60), end_s=int(inst["depot"]["l"] * 60))
    workers = tuple(Worker(id=f"veh{k + 1}", role=Role.MOBILE_UNIT, start=locs[0], end=locs[0], shift=shift,
                           max_work_s=int(inst["duration"] * 60), capacity=int(inst["capacity"]),
                           travel_mode=TravelModeName.DRIVE)
                    for k in range(inst["vehicles"]))
    households, visits = [], []
    for c, loc in zip(inst["customers"], locs[1:], strict=True):
        hid = f"c{c['i']}"
        households.append(Household(id=hid, location=loc))
        window = TimeWindow(start_s=int(c["e"] * 60), end_s=max(int(c["e"] * 60) + 1, int(c["l"] * 60)))
        visit = Visit(id=hid, household_id=hid, duration_s=max(1, c["service"] * 60), time_windows=(window,),
                      load=c["demand"], priority=10_000.0)
        patterns = tuple(tuple(start + dt.timedelta(days=k) for k in days) for days in c["days"])
        visits.append(HorizonVisit(visit=visit, count=c["freq"], min_spacing_days=1, day_patterns=patterns))
    end = start + dt.timedelta(days=inst["days"] - 1)
    p = HorizonProblem(start=start, end=end, households=tuple(households), workers=workers, visits=tuple(visits),
                       holidays=Holidays(calendar="none"), working_weekdays=("mon", "tue", "wed", "thu", "fri",
                                                                             "sat", "sun"),
                       name=inst["name"], travel_matrix=table)
    return p, dist


def run_cordeau(path: Path, limit: float, seed: int) -> dict[str, Any]:
    inst = read_cordeau(path)
    p, dist = cordeau_problem(inst)
    travel = MatrixProvider(p.travel_matrix)  # type: ignore[arg-type]
    hp = HorizonParams(fairness_weight=0.0, continuity_weight=0.0, travel_weight=1.0 / 60)
    load = os.getloadavg()
    t0 = time.perf_counter()
    r = plan_horizon(p, travel, SolveParams(time_limit_s=limit, seed=seed), horizon=hp)
    wall = time.perf_counter() - t0
    ev = evaluate_horizon(p, r.horizon_plan(), travel)
    index = {f"c{c['i']}": k + 1 for k, c in enumerate(inst["customers"])}
    total = 0.0
    for day in r.days:
        for route in day.plan.routes:
            seq = [0] + [index[s.household_id] for s in route.stops] + [0]
            total += float(sum(dist[a, b] for a, b in itertools.pairwise(seq)))
    k = r.summary.kpis
    return {"case": inst["name"], "method": "week", "time_limit_s": limit, "seed": seed, "wall_s": round(wall, 2),
            "violations": len(ev.all_violations()), "visits_planned": k.visits_planned,
            "visits_total": k.visits_total, "distance": round(total, 2), "customers": len(inst["customers"]),
            "vehicles": inst["vehicles"], "days": inst["days"],
            "loadavg_before": [round(x, 2) for x in load], "loadavg_after": [round(x, 2) for x in os.getloadavg()]}


# ---- driver ----------------------------------------------------------------------------------------


def _child(args: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--one", *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"bench/week.py: run {args} failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def read_bks(folder: Path) -> dict[str, float]:
    """Best known values the user puts next to the instances (``bks.csv``: ``instance,value`` per line, e.g.
    from a paper's table); none are shipped, as none could be found (see README, "Planning a week")."""
    path = folder / "bks.csv"
    if not path.is_file():
        return {}
    out: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, _, value = line.partition(",")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            continue  # a header or a note
    return out


def _table(rows: list[dict[str, Any]]) -> str:
    lines = ["| case | method | wall | risk covered | ageing past due | intensive within cadence | overdue seen first day | "
             "daily visits spread (sd) | visits (per day) | travel | violations | load avg |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "risk_covered" not in r:
            continue
        lines.append(
            f"| {r['case']} | {r['method']} | {r['wall_s']:.1f} s | {r['risk_covered']:,.1f} | {r['ageing']:,.1f} | "
            f"{r['intensive_within']}/{r['intensive_due']} | {r['overdue_first_day']}/{r['overdue_at_start']} | "
            f"{r['spread']:.2f} ({r['sd']:.2f}) | "
            f"{r['visits_planned']}/{r['visits_total']} {r['per_day']} | {r['travel_h']} h | {r['violations']} | "
            f"{r['loadavg_after'][0]:.1f} |")
    cordeau = [r for r in rows if "distance" in r]
    if cordeau:
        lines += ["", "| instance | customers | days x vehicles | wall | visits | distance | best known | violations |"
                      " load avg |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in cordeau:
            bks = r.get("best_known")
            known = "not found" if bks is None else f"{bks:,.2f} ({100 * (r['distance'] / bks - 1):+.1f} %)"
            lines.append(f"| {r['case']} | {r['customers']} | {r['days']} x {r['vehicles']} | {r['wall_s']:.1f} s | "
                         f"{r['visits_planned']}/{r['visits_total']} | {r['distance']:,.2f} | {known} | "
                         f"{r['violations']} | {r['loadavg_after'][0]:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-tight", action="store_true")
    ap.add_argument("--skip-baseline", action="store_true", help="only the week planner (e.g. an alternative)")
    ap.add_argument("--week-params", default="", help="HorizonParams of the week runs, e.g. swaps=False")
    ap.add_argument("--out", default="week", help="results name: bench/results/NAME.md and NAME.jsonl")
    ap.add_argument("--districts", nargs="+", default=["gwanak", "osan"], help="or none (Cordeau files only)")
    ap.add_argument("--cordeau", type=Path, default=None, help="folder of pr*.txt PVRPTW files")
    ap.add_argument("--cordeau-limit", type=float, default=60.0)
    ap.add_argument("--one", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        kind = args.one[0]
        if kind == "district":
            row = run_district(args.one[1], args.one[2], args.one[3], float(args.one[4]), int(args.one[5]),
                               args.one[6] if len(args.one) > 6 else "")
        else:
            row = run_cordeau(Path(args.one[1]), float(args.one[2]), int(args.one[3]))
        print(json.dumps(row))
        return 0
    rows: list[dict[str, Any]] = []
    variants = ["week"] + ([] if args.skip_tight else ["tight"])
    for district in [d for d in args.districts if d != "none"]:
        for variant in variants:
            for method in ("week",) if args.skip_baseline else ("day-by-day", "week"):
                row = _child(["district", district, variant, method, str(args.time_limit), str(args.seed),
                              args.week_params if method == "week" else ""])
                print(json.dumps(row), flush=True)
                rows.append(row)
    folder = args.cordeau or DEFAULT_CORDEAU
    files = sorted(folder.glob("pr*.txt")) if folder.is_dir() else []
    bks = read_bks(folder) if files else {}
    if args.cordeau is not None and not files:
        print(f"bench/week.py: no pr*.txt in {folder}", file=sys.stderr)
    for path in files:
        try:
            read_cordeau(path)
        except ValueError as exc:
            print(f"bench/week.py: skipped {exc}", file=sys.stderr)
            continue
        row = _child(["cordeau", str(path), str(args.cordeau_limit), str(args.seed)])
        if path.stem in bks:
            row["best_known"] = bks[path.stem]
        print(json.dumps(row), flush=True)
        rows.append(row)
    out_md, out_jsonl = OUT_MD.with_name(f"{args.out}.md"), OUT_JSONL.with_name(f"{args.out}.jsonl")
    out_jsonl.parent.mkdir(parents=True, exist_ok=True)
    with out_jsonl.open("a", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")
    out_md.write_text("# Planning a week (bench/week.py)\n\n" + _table(rows), encoding="utf-8")
    print(_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

