"""Benchmark: OsmProvider's scipy matrix vs networkx per-origin Dijkstra on Baltimore's drive graph.

Every measurement runs in its own subprocess: wall time and peak RSS growth in one run,
tracemalloc peak in another (tracemalloc slows Python code, so it never shares a run with
timing).  Prints a markdown table and writes it to ``bench/results/matrix.md``.

    python bench/matrix.py [--sizes 100 500 1000 2000] [--nx-sample 200]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHARED_OSM = ROOT.parent / "shared" / "osm" / "baltimore" / "baltimore.drive.osm"
RESULTS = ROOT / "bench" / "results" / "matrix.md"
SEED = 20260101


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def _setup(cache_dir: Path, n: int):  # type: ignore[no-untyped-def]
    import numpy as np

    from planner.domain import Location
    from planner.travel.osm import OsmProvider

    provider = OsmProvider(path=SHARED_OSM, cache_dir=cache_dir, cache_matrices=False)
    g = provider.graph("drive")
    rng = np.random.default_rng(SEED + n)
    nodes = rng.choice(g.n_nodes, size=min(n, g.n_nodes), replace=False)
    locations = [Location(lat=float(g.lat[i]), lon=float(g.lon[i])) for i in nodes]
    return provider, g, nodes, locations


def _worker(method: str, n: int, cache_dir: Path, *, trace: bool, sample: int) -> dict:
    """Run one measurement in this (fresh) process and return it as a dict."""
    import numpy as np

    provider, g, nodes, locations = _setup(cache_dir, n)
    if method == "scipy":

        def run() -> object:
            return provider.matrix(locations, mode="drive")

        repeats, origins = (1 if trace else 3), len(nodes)
    else:
        import networkx as nx

        graph = nx.DiGraph()
        for u in range(g.n_nodes):
            for e in range(int(g.indptr[u]), int(g.indptr[u + 1])):
                graph.add_edge(u, int(g.indices[e]), t=float(g.time_s[e]))
        origins = len(nodes) if sample <= 0 else min(sample, len(nodes))
        col = {int(v): j for j, v in enumerate(nodes)}

        def run() -> object:
            out = np.zeros((origins, len(nodes)), dtype=np.int64)
            for i, s in enumerate(nodes[:origins]):
                lengths = nx.single_source_dijkstra_path_length(graph, int(s), weight="t")
                for v, t in lengths.items():
                    j = col.get(v)
                    if j is not None:
                        out[i, j] = round(t)
            return out

        repeats = 1
    times, peak_traced, rss_growth = [], 0, 0
    for _ in range(repeats):
        base_rss = _rss_bytes()
        if trace:
            tracemalloc.start()
        t0 = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t0)
        if trace:
            peak_traced = max(peak_traced, tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        rss_growth = max(rss_growth, _peak_rss_bytes() - base_rss)
        del result
    return {
        "seconds": statistics.median(times),
        "origins": origins,
        "traced_peak": peak_traced,
        "rss_growth": rss_growth,
        "nodes": g.n_nodes,
        "edges": g.n_edges,
    }


def _measure(method: str, n: int, cache_dir: Path, *, trace: bool, sample: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, str(n), str(cache_dir)]
    cmd += ["--nx-sample", str(sample)] + (["--trace"] if trace else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _mb(b: float) -> str:
    return f"{b / 1e6:.0f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000, 2000])
    parser.add_argument(
        "--nx-sample",
        type=int,
        default=500,
        help="networkx origins timed at sizes above this (then extrapolated); 0 = all",
    )
    parser.add_argument(
        "--worker", nargs=3, metavar=("METHOD", "N", "CACHE"), help=argparse.SUPPRESS
    )
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        method, n, cache = args.worker
        result = _worker(method, int(n), Path(cache), trace=args.trace, sample=args.nx_sample)
        print(json.dumps(result))
        return 0
    if not SHARED_OSM.is_file():
        print(f"bench/matrix.py: {SHARED_OSM} not found (needs ../shared)", file=sys.stderr)
        return 2

    import networkx
    import numpy
    import scipy

    from planner.travel.osm import OsmProvider

    with tempfile.TemporaryDirectory(prefix="salpimi-bench-") as tmp:
        cache = Path(tmp)
        t0 = time.perf_counter()
        g = OsmProvider(path=SHARED_OSM, cache_dir=cache).graph("drive")  # build + cache once
        build_s = time.perf_counter() - t0
        rows = []
        for n in args.sizes:
            ours = _measure("scipy", n, cache, trace=False, sample=0)
            ours_mem = _measure("scipy", n, cache, trace=True, sample=0)
            sample = args.nx_sample if n > args.nx_sample else 0
            theirs = _measure("networkx", n, cache, trace=False, sample=sample)
            theirs_mem = _measure("networkx", n, cache, trace=True, sample=sample)
            scale = n / theirs["origins"]
            nx_s = theirs["seconds"] * scale
            note = "" if scale == 1 else f" (extrapolated from {theirs['origins']} origins)"
            rows.append(
                f"| {n} | {ours['seconds']:.3f} s | {_mb(ours_mem['traced_peak'])} | "
                f"{_mb(ours['rss_growth'])} | {nx_s:.2f} s{note} | "
                f"{_mb(theirs_mem['traced_peak'])}"
                f"{'' if scale == 1 else ' (' + str(theirs['origins']) + ' origins)'} | "
                f"{nx_s / ours['seconds']:.0f}x |"
            )
            print(rows[-1], flush=True)
    table = "\n".join(
        [
            "# Travel-matrix benchmark",
            "",
            f"Graph: `../shared/osm/baltimore/baltimore.drive.osm` (ODbL, © OpenStreetMap "
            f"contributors), drive mode, largest strongly connected component: {g.n_nodes:,} "
            f"nodes, {g.n_edges:,} edges. Built and cached once in {build_s:.1f} s "
            "(osmnx parse + simplify), then loaded from the cache by every measurement.",
            "",
            "N random distinct graph nodes (seeded) as locations. *Ours* = "
            "`OsmProvider.matrix(locations, mode='drive')` with the matrix cache off: snapping, "
            "chunked directed `scipy.sparse.csgraph.dijkstra`, metres along the time-shortest "
            "path, int64 assembly; median of 3 runs. *networkx* = "
            "`single_source_dijkstra_path_length` per origin, seconds only (no metres, so less "
            "work than ours), one run. Each cell is a separate subprocess; memory is the "
            "tracemalloc peak during the call (separate run) and the growth of peak RSS "
            "(ru_maxrss) over the RSS just before the call.",
            "",
            "| N | ours: time | ours: tracemalloc peak | ours: peak RSS growth "
            "| networkx: time | networkx: tracemalloc peak | speed-up |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            f"Target: 2000 x 2000 within 1 s and 200 MB. Machine: {platform.machine()}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}, numpy "
            f"{numpy.__version__}, scipy {scipy.__version__}, networkx {networkx.__version__}.",
            "",
        ]
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(table, encoding="utf-8")
    print()
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
