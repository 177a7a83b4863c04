"""What the web page's derived views cost on a district-sized day: where-it-fits, a move's verdict, the timeline,
and the street base layer of a real Seoul extract (size and time).  Not part of the test run.

    .venv/bin/python bench/web_views.py                 # Gwanak demo day; cauH and Baltimore extracts if ../shared has them
    .venv/bin/python bench/web_views.py --solution-limit 200 --repeat 5 --out bench/results/web_views.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import planner  # noqa: E402

SHARED_OSM = [REPO.parent / "shared" / "osm" / "seoul" / "cauH.drive.osm",
              REPO.parent / "shared" / "osm" / "baltimore" / "baltimore.drive.osm"]


def _timed(fn: Any, repeat: int) -> tuple[Any, float]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return out, statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problem", type=Path, default=REPO / "fixtures" / "problems" / "gwanak.json")
    ap.add_argument("--solution-limit", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--osm", type=Path, action="append", help="an OSM file for the street layer (repeatable; "
                    "default: the Seoul cauH and Baltimore extracts in ../shared)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    problem = planner.load_problem(args.problem)
    travel = planner.HaversineProvider()
    params = planner.SolveParams(time_limit_s=120, deterministic=True, solution_limit=args.solution_limit, seed=1)
    result = planner.solve(problem, travel, params)
    plan = result.plan
    rows: list[tuple[str, str]] = [
        ("day", f"{args.problem.name}: {len(problem.visits)} visits, {len(problem.workers)} workers, "
                f"{len(plan.unassigned)} unassigned"),
    ]
    fits, fit_s = _timed(lambda: planner.where_it_fits(problem, plan, travel), args.repeat)
    best = [opts[0] if opts else None for opts in fits.values()]  # the first option is the best one
    as_is = sum(1 for o in best if o is not None and o.fits and not o.displaces)
    displacing = sum(1 for o in best if o is not None and o.fits and o.displaces)
    overtime = sum(1 for o in best if o is not None and not o.fits)
    rows.append(("where_it_fits (all unassigned)", f"{fit_s * 1000:.0f} ms; best option: {as_is} fit as they are, "
                 f"{displacing} by displacing a stop, {overtime} with overtime, "
                 f"{best.count(None)} nowhere"))
    route = next(r for r in plan.routes if r.stops)
    visit = route.stops[0].visit_id
    target = next((r.worker_id for r in plan.routes if r.worker_id != route.worker_id), route.worker_id)

    def verdict() -> Any:
        moved = planner.move_visit(problem, plan, travel, visit_id=visit, worker_id=target)
        return planner.evaluate(problem, moved, travel)

    ev, move_s = _timed(verdict, args.repeat)
    rows.append(("move + evaluate (one visit)", f"{move_s * 1000:.0f} ms; {len(ev.violations)} violation(s)"))
    segs, seg_s = _timed(lambda: [planner.route_segments(r) for r in plan.routes], args.repeat)
    rows.append(("timeline segments (all routes)", f"{seg_s * 1000:.1f} ms; {sum(len(s) for s in segs)} segments"))
    for osm in args.osm or SHARED_OSM:
        if not osm.is_file():
            rows.append(("streets layer", f"skipped: {osm} not found"))
            continue
        from planner.travel.osm import OsmProvider

        roads = OsmProvider(path=osm, name=osm.name.split(".")[0])
        roads.graph("drive")  # built once and cached, as a serving process does
        g = roads.graph("drive")
        bbox = (float(g.lon.min()), float(g.lat.min()), float(g.lon.max()), float(g.lat.max()))
        layer, street_s = _timed(lambda r=roads, b=bbox: planner.streets_geojson(r, bbox=b, mode="drive",
                                                                                 max_points=40_000), args.repeat)
        size = len(json.dumps(layer, separators=(",", ":")).encode())
        rows.append(("streets layer (" + osm.name + ", drive)",
                     f"{street_s * 1000:.0f} ms; {g.n_edges} edges -> {layer['properties']['points']} points, "
                     f"{size / 1024:.0f} KB JSON, truncated={layer['properties']['truncated']}"))
    load = os.getloadavg()
    text = "\n".join([
        f"# Web page views ({dt.datetime.now().isoformat(timespec='minutes')}, load "
        f"{load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f} on {os.cpu_count()} cores; median of {args.repeat})",
        "", "| view | measured |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows), "",
    ])
    print(text)
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
