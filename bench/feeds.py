"""Calendar feed fetches under load: 100 subscribed clients on loopback while a plan job solves (SQLite, PostgreSQL).

Starts ``salpimi serve`` on 127.0.0.1 with the Gwanak fixture in a fresh database (the load bench's helpers in
``bench/load.py``: database, server, HTTP client), generates and plans today's visits (Seoul) and publishes them,
gives each of the 20 workers a feed and the dispatcher a team feed, then runs each phase for ``--duration`` s:

* ``paced``  -- every client fetches its feed about once a second (0.5-1.5 s apart), like a crowd of calendar
  apps: 100 clients offer ~100 fetches/s, as many as 360,000 subscribers refreshing hourly would;
* ``closed`` -- every client fetches again as soon as it has an answer (saturation: the server's throughput).

Half the clients send ``If-None-Match`` with the ETag they last got (most calendar apps do; the answer is a 304),
half fetch the whole calendar every time.  With ``--solve both`` (default) the ``paced`` phase also runs alone; with a
solve, a plan job for the fixture's day (166 visits, 20 workers) whose budget is the phase's duration starts just
before the phase.  Latencies are
measured by the client (wall time of each request on its keep-alive connection); the machine's load average and the
server's CPU seconds are recorded with every phase.

    python bench/feeds.py                                        # SQLite
    python bench/feeds.py --db postgresql://postgres@127.0.0.1:5432/test

Writes ``bench/results/feeds.json`` (raw, one entry per database) and ``bench/results/feeds.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import platform
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import load  # the load bench: fresh database with the Gwanak fixture, the server, a raw keep-alive client

RESULTS = load.RESULTS
SEOUL = ZoneInfo("Asia/Seoul")
TARGET_P95_MS = 20.0


def _now() -> str:
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


async def _post(port: int, target: load.Target, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    status, data = await load.call(port, load.json_request("POST", path, port, target.key, body))
    if status not in (200, 201, 202):
        raise RuntimeError(f"POST {path} answered {status}: {data}")
    return data


async def _plan(port: int, target: load.Target, day: dt.date, budget_s: float) -> dict[str, Any]:
    return await _post(port, target, "/v1/plan-jobs",
                       {"team_id": target.team_id, "date": day.isoformat(), "time_limit_s": budget_s})


async def _finished(port: int, target: load.Target, job_id: str, limit_s: float) -> dict[str, Any]:
    return await load.wait_job(port, target, job_id, status_in=("succeeded", "failed", "cancelled"), limit_s=limit_s)


async def setup(port: int, target: load.Target, today: dt.date, budget_s: float) -> dict[str, Any]:
    """Today's visits from the cadences, planned and published; a feed per worker and one team feed.  Returns the feeds' paths and what today's plan holds."""
    await _post(port, target, f"/v1/teams/{target.team_id}/visit-requests/generate?date={today.isoformat()}")
    job = await _finished(port, target, (await _plan(port, target, today, budget_s))["id"], 120)
    if job["status"] != "succeeded":
        raise RuntimeError(f"today's plan job {job['status']}: {job.get('error')}")
    await _post(port, target, f"/v1/plans/{job['plan_id']}/publish")
    status, workers = await load.call(
        port, load.get_request(f"/v1/teams/{target.team_id}/workers?limit=1000", port, target.key)
    )
    if status != 200:
        raise RuntimeError(f"listing workers answered {status}")
    paths = []
    for worker in workers["data"]:
        feed = await _post(port, target, f"/v1/workers/{worker['id']}/feed")
        paths.append("/" + feed["url"].split("/", 3)[3])
    team = await _post(port, target, f"/v1/teams/{target.team_id}/feed")
    paths.append("/" + team["url"].split("/", 3)[3])
    sizes = []
    for path in paths:
        status, body = await load.call_raw(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        if status != 200:
            raise RuntimeError(f"a feed answered {status}")
        sizes.append(len(body))
    return {
        "day": today.isoformat(), "plan_id": job["plan_id"], "visits_planned": (job.get("progress") or {}).get(
            "visits_covered"), "feeds": len(paths), "paths": paths,
        "worker_feed_bytes": sorted(sizes[:-1])[len(sizes[:-1]) // 2] if len(sizes) > 1 else None,
        "team_feed_bytes": sizes[-1],
    }


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


async def _subscriber(
    port: int, path: str, stop_at: float, stats: Stats, *, pace_s: float | None, conditional: bool, seed: int
) -> None:
    rnd = random.Random(seed)
    conn = load.Connection("127.0.0.1", port)
    etag = ""
    kind = "conditional" if conditional else "full"
    if pace_s:  # spread the first fetches over one period
        await asyncio.sleep(rnd.random() * pace_s)
    try:
        while time.monotonic() < stop_at:
            started = time.monotonic()
            extra = f"If-None-Match: {etag}\r\n" if conditional and etag else ""
            raw = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: bench\r\n{extra}\r\n".encode()
            t0 = time.perf_counter()
            try:
                status, headers, _body = await asyncio.wait_for(conn.request(raw), load.REQUEST_TIMEOUT_S)
            except load.HttpError as exc:
                stats.errors[str(exc)] += 1
                await asyncio.sleep(0.05)
                continue
            except TimeoutError:
                stats.errors["timeout"] += 1
                await conn.close()
                continue
            stats.latencies.setdefault(f"{kind} {status}", []).append(time.perf_counter() - t0)
            stats.statuses[str(status)] += 1
            etag = headers.get(b"etag", b"").decode() or etag
            if pace_s:
                await asyncio.sleep(max(0.0, started + pace_s * (0.5 + rnd.random()) - time.monotonic()))
    finally:
        await conn.close()


def _summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50_ms": load._ms(load.percentile(values, 50)),
            "p95_ms": load._ms(load.percentile(values, 95)), "p99_ms": load._ms(load.percentile(values, 99)),
            "max_ms": load._ms(max(values)) if values else None}


async def run_phase(port: int, paths: list[str], clients: int, duration_s: float, pace_s: float | None,
                    server_pid: int) -> dict[str, Any]:
    stats = Stats()
    load_before = os.getloadavg()
    cpu_server0 = load._cpu_seconds(server_pid)
    t0 = time.monotonic()
    stop_at = t0 + duration_s
    await asyncio.gather(*(
        _subscriber(port, paths[i % len(paths)], stop_at, stats, pace_s=pace_s, conditional=i % 2 == 1, seed=i)
        for i in range(clients)
    ))
    wall = time.monotonic() - t0
    ok = [x for key, values in stats.latencies.items() if key.endswith((" 200", " 304")) for x in values]
    return {
        "clients": clients, "duration_s": duration_s, "wall_s": round(wall, 2), "pace_s": pace_s,
        "fetches": sum(stats.statuses.values()), "fetches_per_s": round(sum(stats.statuses.values()) / duration_s, 1),
        **_summary(ok),
        "by_kind": {key: _summary(values) for key, values in sorted(stats.latencies.items())},
        "statuses": dict(sorted(stats.statuses.items())), "errors": dict(stats.errors),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "server_cpu_s": round(load._cpu_seconds(server_pid) - cpu_server0, 2),
    }


async def run_all(args: argparse.Namespace, target: load.Target, port: int, server_pid: int) -> dict[str, Any]:
    today = dt.datetime.now(SEOUL).date()
    prepared = await setup(port, target, today, min(5.0, args.duration))
    paths = prepared.pop("paths")
    plan = [("paced", False)] if args.solve in ("off", "both") else []
    if args.solve in ("on", "both"):
        plan += [("paced", True), ("closed", True)]
    phases = []
    for name, with_solve in plan:
        job = None
        if with_solve:  # the fixture's day (166 visits), solving through the whole phase
            job = await load.start_job(port, target, args.duration)
            await load.wait_job(port, target, job["id"], status_in=("running",), limit_s=60)
        label = f"{name} x{args.clients}" + (" + solve" if with_solve else "")
        print(f"[{_now()}] {label}: {args.duration:g} s ...", flush=True)
        result = await run_phase(port, paths, args.clients, args.duration, 1.0 if name == "paced" else None,
                                 server_pid)
        result.update(phase=name, with_solve=with_solve, label=label)
        if job is not None:
            done = await _finished(port, target, job["id"], args.duration + 120)
            started, finished = load._parse_time(done.get("started_at")), load._parse_time(done.get("finished_at"))
            result["job"] = {"status": done["status"], "budget_s": args.duration,
                             "visits_covered": (done.get("progress") or {}).get("visits_covered"),
                             "wall_s": round((finished - started).total_seconds(), 1) if started and finished else None}
        print(f"    {summary_line(result)}", flush=True)
        phases.append(result)
    return {**prepared, "phases": phases, "_paths": paths}


def summary_line(r: dict[str, Any]) -> str:
    return (f"{r['fetches_per_s']:.0f} fetches/s, p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, p99 {r['p99_ms']} ms, "
            f"statuses {r['statuses']}, errors {r['errors'] or 0}, load {r['loadavg_after'][0]}, "
            f"server CPU {r['server_cpu_s']} s" + (f", job {r['job']['status']}" if r.get("job") else ""))


def render(runs: dict[str, Any]) -> str:
    out = [
        "# Calendar feeds under load",
        "",
        "`python bench/feeds.py` (SQLite) and `python bench/feeds.py --db postgresql://...` on this machine (2 cores, "
        "shared by the server, its solver process and the load client). One server process (`salpimi serve`, default "
        "settings), loopback, raw-asyncio keep-alive clients; half of them send `If-None-Match` (304s), half fetch "
        "the whole calendar. `paced` = each client fetches about once a second; `closed` = each fetches again at "
        "once (saturation). Latency = the client's wall time per request, 200 and 304 answers together. "
        f"Target: p95 <= {TARGET_P95_MS:g} ms with the solve running. Load = 1-minute load average after the phase.",
    ]
    for backend, r in runs.items():
        out += [
            "", f"## {backend}", "",
            f"{r['date']}, day {r['day']}: {r['feeds']} feeds (a worker's about {r['worker_feed_bytes']:,} bytes, "
            f"the team's {r['team_feed_bytes']:,}), {r['server_log_errors']} error lines in the server's log.",
            "",
            "| phase | clients | solve | fetches/s | p50 ms | p95 ms | p99 ms | full 200 p95 | 304 p95 | statuses | errors "
            "| load | server CPU | job |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|---|",
        ]
        for p in r["phases"]:
            kinds = p["by_kind"]
            out.append(
                f"| {p['phase']} | {p['clients']} | {'yes' if p['with_solve'] else 'no'} | {p['fetches_per_s']:.0f} "
                f"| {p['p50_ms']} | {p['p95_ms']} | {p['p99_ms']} | {kinds.get('full 200', {}).get('p95_ms', '—')} "
                f"| {kinds.get('conditional 304', {}).get('p95_ms', '—')} "
                f"| {', '.join(f'{k}: {v}' for k, v in p['statuses'].items())} | {sum(p['errors'].values()) or 0} "
                f"| {p['loadavg_after'][0]} | {p['server_cpu_s']} s "
                f"| {_job(p.get('job'))} |"
            )
    return "\n".join(out)


def _job(job: dict[str, Any] | None) -> str:
    return "—" if not job else f"{job['status']}, {job['wall_s']} s of {job['budget_s']:g} s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="a PostgreSQL URL to create a throwaway database next to (default: SQLite)")
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per phase (also the solve's budget)")
    ap.add_argument("--solve", choices=["off", "on", "both"], default="both")
    ap.add_argument("--raw", type=Path, default=RESULTS / "feeds.json")
    ap.add_argument("--out", type=Path, default=RESULTS / "feeds.md")
    args = ap.parse_args(argv)
    if not (1 <= args.clients <= 2000 and 1 <= args.duration <= 600):
        print("feeds.py: --clients lies in 1..2000 and --duration in 1..600", file=sys.stderr)
        return 2
    backend = "postgresql" if args.db else "sqlite"
    with load.prepared(args.db) as target:
        port = load._free_port()
        log_path = target.data_dir / "server.log"
        try:
            with load.server(target, port, {}, log_path) as proc:
                result = asyncio.run(run_all(args, target, port, proc.pid))
        except Exception:
            print(log_path.read_text(errors="replace")[-3000:] if log_path.exists() else "", file=sys.stderr)
            raise
        server_log = log_path.read_text(errors="replace")
    tokens = [path.rsplit("/", 1)[1].removesuffix(".ics") for path in result.pop("_paths")]  # never written out
    result.update(
        date=_now(), host=platform.node(), cpus=os.cpu_count(), duration_s=args.duration,
        server_log_errors=sum(1 for line in server_log.splitlines() if "ERROR" in line or "Traceback" in line),
        server_log_lines=len(server_log.splitlines()), tokens_in_server_log=sum(t in server_log for t in tokens),
    )
    load.save_run(args.raw, args.out, backend, result, render)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
