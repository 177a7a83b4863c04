"""The service under load: the real server on loopback, C concurrent keep-alive clients per phase, with a solve or not.

Starts ``salpimi serve`` (``python -m api.cli serve``: uvicorn, one process, as shipped) on 127.0.0.1 with the
Gwanak fixture loaded into a fresh database (SQLite in a temporary directory, or a throwaway database created next to
``--db postgresql://...`` and dropped afterwards), plans and publishes the day once, then runs each phase for ``--duration`` seconds:

* ``plans``  -- every client reads the published plan (``GET /v1/plans/{id}``) in a loop;
* ``mixed``  -- 3 plan reads, 1 household read (audited), 1 ``GET /v1/users/me`` per cycle;

at ``--clients`` concurrent clients each (default 100 and 1,000).  With ``--solve both`` (default) the phases run
twice: alone, and with a plan job whose budget is the phase's duration started just before.  After each phase a
probe measures how soon a fresh connection gets a 200 (recovery).

The client is a small raw-asyncio HTTP/1.1 client (one keep-alive connection per simulated client, no parsing
beyond the status line, headers and body length): on 2 shared cores an ordinary client library would eat much of
the CPU the server needs.  Clients honour ``Retry-After`` on 503 (``--ignore-retry-after`` hammers instead).
The client's and the server's CPU seconds and the machine's load average are recorded with every phase.

    python bench/load.py                                   # SQLite, 100 and 1,000 clients, 20 s phases
    python bench/load.py --db postgresql://postgres@127.0.0.1:5432/test
    python bench/load.py --clients 100 --phases plans --solve off --duration 10

Writes ``bench/results/load.json`` (raw, one entry per database) and ``bench/results/load.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

FIXTURE = REPO / "fixtures" / "problems" / "gwanak.json"
DAY = "2026-11-24"
RESULTS = REPO / "bench" / "results"
REQUEST_TIMEOUT_S = 60.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---- a minimal HTTP/1.1 keep-alive client ---------------------------------------------------------


class HttpError(Exception):
    """A request that got no HTTP answer (refused, reset, timed out)."""


class Connection:
    """One keep-alive connection; ``request`` returns ``(status, headers, body)``."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connect_s: float | None = None  # the last request's connection set-up, if it opened one

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
        try:
            self.connect_s = None
            if self.writer is None:
                started = time.perf_counter()
                self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
                self.connect_s = time.perf_counter() - started
            assert self.reader is not None
            self.writer.write(raw)
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            headers: dict[bytes, bytes] = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower()] = value.strip()
            if status in (204, 304) or status < 200:  # never a body (RFC 9112 6.3)
                body = b""
            elif b"content-length" in headers:
                body = await self.reader.readexactly(int(headers[b"content-length"]))
            elif headers.get(b"transfer-encoding", b"").lower() == b"chunked":
                parts = []
                while True:
                    size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                    parts.append(await self.reader.readexactly(size + 2))
                    if size == 0:
                        break
                body = b"".join(p[:-2] for p in parts)
            else:
                body = await self.reader.read()
                await self.close()
            if headers.get(b"connection", b"").lower() == b"close":
                await self.close()
            return status, headers, body
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError) as exc:
            await self.close()
            raise HttpError(type(exc).__name__) from None


def get_request(path: str, port: int, key: str, *, gzip: bool = False) -> bytes:
    extra = "Accept-Encoding: gzip\r\n" if gzip else ""
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {key}\r\n{extra}\r\n".encode()


def json_request(method: str, path: str, port: int, key: str, body: dict[str, Any] | None = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-API-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    ).encode() + data


async def call_raw(port: int, raw: bytes) -> tuple[int, bytes]:
    conn = Connection("127.0.0.1", port)
    try:
        status, _headers, body = await asyncio.wait_for(conn.request(raw), REQUEST_TIMEOUT_S)
    finally:
        await conn.close()
    return status, body


async def call(port: int, raw: bytes) -> tuple[int, dict[str, Any]]:
    status, body = await call_raw(port, raw)
    return status, (json.loads(body) if body else {})


# ---- load phases ----------------------------------------------------------------------------------


@dataclass
class PhaseStats:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    retry_after_missing: int = 0
    requests: int = 0
    connects: list[float] = field(default_factory=list)  # seconds to set up each new connection
    first_requests: list[float] = field(default_factory=list)  # latency of requests that opened a connection
    later_max: float | None = None  # the longest 200 of a request sent on a connection already open


async def _client(
    port: int, mix: list[tuple[str, bytes]], stop_at: float, stats: PhaseStats, offset: int, honour_retry: bool
) -> None:
    conn = Connection("127.0.0.1", port)
    i = offset
    try:
        while time.monotonic() < stop_at:
            kind, raw = mix[i % len(mix)]
            i += 1
            t0 = time.perf_counter()
            try:
                status, headers, _body = await asyncio.wait_for(conn.request(raw), REQUEST_TIMEOUT_S)
            except HttpError as exc:
                stats.errors[str(exc)] += 1
                await asyncio.sleep(0.05)
                continue
            except TimeoutError:
                stats.errors["timeout"] += 1
                await conn.close()
                continue
            elapsed = time.perf_counter() - t0
            if conn.connect_s is not None:
                stats.connects.append(conn.connect_s)
                stats.first_requests.append(elapsed)
            elif status == 200:
                stats.later_max = max(elapsed, stats.later_max or 0.0)
            stats.requests += 1
            stats.statuses[str(status)] += 1
            stats.latencies.setdefault(f"{kind} {status}", []).append(elapsed)
            if status == 503:
                retry = headers.get(b"retry-after")
                if retry is None:
                    stats.retry_after_missing += 1
                elif honour_retry:
                    await asyncio.sleep(min(float(retry), 5.0) * (0.5 + (i % 10) / 10))
    finally:
        await conn.close()


async def _probe(port: int, raw: bytes, started: float, limit_s: float = 60.0) -> float | None:
    """Seconds from ``started`` until a fresh connection gets a 200 (``None`` if not within ``limit_s``)."""
    while time.monotonic() - started < limit_s:
        try:
            status, _h, _b = await asyncio.wait_for(Connection("127.0.0.1", port).request(raw), 5.0)
        except (HttpError, TimeoutError):
            status = 0
        if status == 200:
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    return None


def _cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (and of its reaped children when ``children``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / CLK_TCK


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


async def run_phase(
    port: int, mix: list[tuple[str, bytes]], clients: int, duration_s: float, honour_retry: bool,
    server_pid: int, probe_raw: bytes,
) -> dict[str, Any]:
    stats = PhaseStats()
    tcp_before = _tcp_counters()
    load_before = os.getloadavg()
    cpu_client0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu_server0 = _cpu_seconds(server_pid)
    t0 = time.monotonic()
    stop_at = t0 + duration_s
    tasks = [
        asyncio.create_task(_client(port, mix, stop_at, stats, i, honour_retry)) for i in range(clients)
    ]
    await asyncio.sleep(max(0.0, stop_at - time.monotonic()))
    recovery = asyncio.create_task(_probe(port, probe_raw, time.monotonic()))
    await asyncio.gather(*tasks)
    drained = time.monotonic() - stop_at
    recovery_s = await recovery
    wall = time.monotonic() - t0
    cpu_client1 = resource.getrusage(resource.RUSAGE_SELF)
    all_lat = [x for k, v in stats.latencies.items() if k.endswith(" 200") for x in v]
    by_kind: dict[str, dict[str, Any]] = {}
    for key, values in sorted(stats.latencies.items()):
        by_kind[key] = {
            "n": len(values), "p50_ms": _ms(percentile(values, 50)), "p95_ms": _ms(percentile(values, 95)),
            "p99_ms": _ms(percentile(values, 99)), "max_ms": _ms(max(values)),
        }
    plan_ok = stats.latencies.get("plan 200", [])
    return {
        "clients": clients,
        "duration_s": duration_s,
        "wall_s": round(wall, 2),
        "drain_s": round(drained, 2),
        "requests": stats.requests,
        "rps": round(stats.requests / duration_s, 1),
        "ok_rps": round(len(all_lat) / duration_s, 1),
        "plan_rps": round(len(plan_ok) / duration_s, 1),
        "p50_ms": _ms(percentile(all_lat, 50)),
        "p95_ms": _ms(percentile(all_lat, 95)),
        "p99_ms": _ms(percentile(all_lat, 99)),
        "plan_p95_ms": _ms(percentile(plan_ok, 95)),
        "statuses": dict(sorted(stats.statuses.items())),
        "errors": dict(stats.errors),
        "retry_after_missing": stats.retry_after_missing,
        "by_kind": by_kind,
        "recovery_s": None if recovery_s is None else round(recovery_s, 3),
        # Requests that opened a connection (their latency includes the connection's set-up) and the kernel's
        # counters of refused or retried connection set-ups during the phase (the whole machine's).
        "new_connections": {
            "n": len(stats.connects), "connect_p99_ms": _ms(percentile(stats.connects, 99)),
            "connect_max_ms": _ms(max(stats.connects, default=None)),
            "first_request_p99_ms": _ms(percentile(stats.first_requests, 99)),
            "first_request_max_ms": _ms(max(stats.first_requests, default=None)),
            "later_request_max_ms": _ms(stats.later_max),
        },
        "tcp": {k: v - tcp_before.get(k, 0) for k, v in _tcp_counters().items()},
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "client_cpu_s": round(
            cpu_client1.ru_utime + cpu_client1.ru_stime - cpu_client0.ru_utime - cpu_client0.ru_stime, 2
        ),
        "server_cpu_s": round(_cpu_seconds(server_pid) - cpu_server0, 2),
    }


_TCP_COUNTERS = ("ListenOverflows", "ListenDrops", "TCPSynRetrans", "TCPReqQFullDrop", "TCPTimeouts")


def _tcp_counters() -> dict[str, int]:
    """The kernel's TCP counters of ``_TCP_COUNTERS`` (``/proc/net/netstat``; empty where unreadable)."""
    try:
        lines = [line.split() for line in Path("/proc/net/netstat").read_text().splitlines()
                 if line.startswith("TcpExt:")]
    except OSError:
        return {}
    if len(lines) < 2:
        return {}
    table = dict(zip(lines[0][1:], lines[1][1:], strict=False))
    return {k: int(table[k]) for k in _TCP_COUNTERS if k in table}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


# ---- the solve running alongside --------------------------------------------------------------------


class JobWatcher:
    """Polls the job's row in the database directly (not through the loaded server) and counts progress."""

    def __init__(self, engine: Any, job_id: str) -> None:
        self.engine = engine
        self.job_id = job_id
        self.updates: list[tuple[float, Any]] = []
        self.last: Any = None
        self.status = "queued"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        import sqlalchemy as sa

        query = sa.text("SELECT status, progress FROM plan_job WHERE id = :id")
        while not self._stop.is_set():
            with contextlib.suppress(Exception), self.engine.connect() as conn:
                row = conn.execute(query, {"id": self.job_id}).one()
                self.status = row[0]
                progress = row[1] if not isinstance(row[1], str) else json.loads(row[1])
                elapsed = (progress or {}).get("elapsed_s")
                if row[0] == "running" and elapsed is not None and elapsed != self.last:  # the solver's own reports
                    self.last = elapsed
                    self.updates.append((time.monotonic(), elapsed))
            self._stop.wait(0.1)


def job_report(watcher: JobWatcher, job: dict[str, Any], budget_s: float) -> dict[str, Any]:
    started = _parse_time(job.get("started_at"))
    finished = _parse_time(job.get("finished_at"))
    wall = (finished - started).total_seconds() if started and finished else None
    times = [t for t, _ in watcher.updates]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # seen (bench clock) minus reported (solver clock): constant if every update is written at once
    lags = [t - float(elapsed) for t, elapsed in watcher.updates]
    return {
        "job_id": job.get("id"),
        "status": job.get("status"),
        "budget_s": budget_s,
        "wall_s": None if wall is None else round(wall, 2),
        "overrun_pct": None if wall is None else round(100 * (wall - budget_s) / budget_s, 1),
        "progress_updates_seen": len(watcher.updates),
        "max_gap_between_updates_s": round(max(gaps), 2) if gaps else None,
        "progress_delay_spread_s": round(max(lags) - min(lags), 2) if lags else None,
        "visits_covered": (job.get("progress") or {}).get("visits_covered"),
    }


def _parse_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


# ---- setting up and starting the server -------------------------------------------------------------


@dataclass
class Target:
    data_dir: Path
    database_url: str | None
    key: str
    team_id: str
    household_id: str = ""
    plan_id: str = ""
    drop: Callable[[], None] = lambda: None


@contextlib.contextmanager
def prepared(db: str | None) -> Iterator[Target]:
    """A fresh database with the Gwanak fixture, a dispatcher and her API key."""
    from api.config import Settings
    from api.db import make_engine, session_scope, upgrade
    from api.models import UserRole
    from api.services import loading, users
    from planner import RiskModel

    with tempfile.TemporaryDirectory(prefix="salpimi-load-") as tmp:
        data_dir = Path(tmp)
        database_url, drop = None, (lambda: None)
        if db:
            database_url, drop = _fresh_pg_database(db)
        try:
            engine = make_engine(Settings(data_dir=data_dir, database_url=database_url))
            upgrade(engine)
            with session_scope(engine) as session:
                team, *_ = loading.load_problem_data(
                    session, json.loads(FIXTURE.read_text(encoding="utf-8")), risk_model=RiskModel.default(),
                    team_name="Gwanak (load bench)",
                )
                user, _ = users.ensure_user(
                    session, username="bench-dispatcher", role=UserRole.DISPATCHER,
                    password=secrets.token_urlsafe(12), team_id=team.id,
                )
                _row, key = users.create_api_key(session, user, "bench")
                team_id = team.id
            engine.dispose()
            yield Target(data_dir=data_dir, database_url=database_url, key=key, team_id=team_id, drop=drop)
        finally:
            drop()


def _fresh_pg_database(admin_url: str) -> tuple[str, Callable[[], None]]:
    import psycopg

    admin_url = admin_url.replace("postgresql+psycopg://", "postgresql://")
    name = f"salpimi_load_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    head, _, _ = admin_url.rpartition("/")
    return f"{head}/{name}", drop


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(target: Target, port: int, env_extra: dict[str, str], log_path: Path,
           profile: Path | None = None) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "SALPIMI_DATA_DIR": str(target.data_dir), **env_extra}
    env.pop("DATABASE_URL", None)
    if target.database_url:
        env["DATABASE_URL"] = target.database_url
    cmd = [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if profile is not None:  # the same server under the sampling profiler (bench/_sampled_serve.py)
        env["SALPIMI_PROFILE_OUT"] = str(profile)
        cmd[1:3] = [str(REPO / "bench" / "_sampled_serve.py")]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {proc.returncode}; see {log_path}")
                with contextlib.suppress(HttpError, TimeoutError, OSError):
                    status, _ = asyncio.run(call(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"))
                    if status == 200:
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not answer /healthz within 90 s; see {log_path}")
                time.sleep(0.3)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


async def start_job(port: int, target: Target, budget_s: float) -> dict[str, Any]:
    body = {"team_id": target.team_id, "date": DAY, "time_limit_s": budget_s}
    status, job = await call(port, json_request("POST", "/v1/plan-jobs", port, target.key, body))
    if status != 202:
        raise RuntimeError(f"POST /v1/plan-jobs answered {status}: {job}")
    return job


async def wait_job(port: int, target: Target, job_id: str, *, status_in: tuple[str, ...], limit_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + limit_s
    while True:
        status, job = await call(port, get_request(f"/v1/plan-jobs/{job_id}", port, target.key))
        if status == 200 and job["status"] in status_in:
            return job
        if time.monotonic() > deadline:
            raise RuntimeError(f"job {job_id} still {job.get('status')} after {limit_s} s")
        await asyncio.sleep(0.2)


async def first_plan(port: int, target: Target, budget_s: float) -> None:
    job = await start_job(port, target, budget_s)
    job = await wait_job(port, target, job["id"], status_in=("succeeded", "failed", "cancelled"), limit_s=120)
    if job["status"] != "succeeded":
        raise RuntimeError(f"the first plan job {job['status']}: {job.get('error')}")
    target.plan_id = job["plan_id"]
    status, _ = await call(port, json_request("POST", f"/v1/plans/{target.plan_id}/publish", port, target.key))
    if status != 200:
        raise RuntimeError(f"publishing the plan answered {status}")
    status, page = await call(
        port, get_request(f"/v1/teams/{target.team_id}/households?limit=1", port, target.key)
    )
    if status != 200 or not page.get("data"):
        raise RuntimeError(f"listing households answered {status}")
    target.household_id = page["data"][0]["id"]


def mixes(port: int, target: Target, *, gzip: bool = False) -> dict[str, list[tuple[str, bytes]]]:
    plan = ("plan", get_request(f"/v1/plans/{target.plan_id}", port, target.key, gzip=gzip))
    household = ("household", get_request(f"/v1/households/{target.household_id}", port, target.key))
    me = ("me", get_request("/v1/users/me", port, target.key))
    return {"plans": [plan], "mixed": [plan, household, plan, me, plan]}


async def run_all(args: argparse.Namespace, target: Target, port: int, server_pid: int) -> dict[str, Any]:
    from api.config import Settings
    from api.db import make_engine

    await first_plan(port, target, min(5.0, args.duration))
    plan_bytes = len((await call_raw(port, get_request(f"/v1/plans/{target.plan_id}", port, target.key)))[1])
    plan_gzip_bytes = len((await call_raw(port, get_request(f"/v1/plans/{target.plan_id}", port, target.key,
                                                            gzip=True)))[1])
    engine = make_engine(Settings(data_dir=target.data_dir, database_url=target.database_url))
    phases = []
    the_mixes = mixes(port, target, gzip=args.gzip)
    probe = get_request(f"/v1/plans/{target.plan_id}", port, target.key)
    solve_modes = {"off": [False], "on": [True], "both": [False, True]}[args.solve]
    reference = None
    warmup = None
    try:
        if args.warmup > 0:  # first requests pay for imports, cache fills, pool growth: not measured
            print(f"[{_now()}] warm-up (not measured): {args.warmup:g} s ...", flush=True)
            warm_mix = [m for name in args.phases for m in the_mixes[name]]
            warmup = await run_phase(port, warm_mix, max(args.clients), args.warmup, not args.ignore_retry_after,
                                     server_pid, probe)
            print(f"    {summary_line(warmup)}", flush=True)
        if True in solve_modes:  # the same solve on an idle server, to compare with
            print(f"[{_now()}] reference solve, no load: {args.duration:g} s ...", flush=True)
            ref_job = await start_job(port, target, args.duration)
            await wait_job(port, target, ref_job["id"], status_in=("running",), limit_s=60)
            ref_watcher = JobWatcher(engine, ref_job["id"])
            ref_watcher.start()
            done = await wait_job(port, target, ref_job["id"], status_in=("succeeded", "failed", "cancelled"),
                                  limit_s=args.duration + 120)
            ref_watcher.stop()
            reference = job_report(ref_watcher, done, args.duration)
            print(f"    {reference}", flush=True)
        for with_solve in solve_modes:
            for clients in args.clients:
                for name in args.phases:
                    watcher: JobWatcher | None = None
                    job: dict[str, Any] | None = None
                    if with_solve:
                        job = await start_job(port, target, args.duration)
                        await wait_job(port, target, job["id"], status_in=("running",), limit_s=60)
                        watcher = JobWatcher(engine, job["id"])
                        watcher.start()
                    label = f"{name} x{clients}" + (" + solve" if with_solve else "")
                    print(f"[{_now()}] {label}: {args.duration:g} s ...", flush=True)
                    flag = Path(f"{args.profile}.on") if args.profile else None
                    if flag is not None:
                        flag.touch()  # the profiler samples the measured phases only
                    try:
                        result = await run_phase(
                            port, the_mixes[name], clients, args.duration, not args.ignore_retry_after,
                            server_pid, probe,
                        )
                    finally:
                        if flag is not None:
                            flag.unlink(missing_ok=True)
                    result.update(phase=name, with_solve=with_solve, label=label)
                    if watcher is not None and job is not None:
                        done = await wait_job(
                            port, target, job["id"], status_in=("succeeded", "failed", "cancelled"),
                            limit_s=args.duration + 120,
                        )
                        watcher.stop()
                        result["job"] = job_report(watcher, done, args.duration)
                    print(f"    {summary_line(result)}", flush=True)
                    phases.append(result)
    finally:
        engine.dispose()
    return {"plan_id": target.plan_id, "plan_bytes": plan_bytes, "plan_gzip_bytes": plan_gzip_bytes,
            "reference_job": reference, "phases": phases,
            "warmup": warmup}


def summary_line(r: dict[str, Any]) -> str:
    line = (
        f"{r['rps']:.0f} req/s ({r['ok_rps']:.0f} ok), p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms, "
        f"p99 {r['p99_ms']} ms, statuses {r['statuses']}, errors {r['errors'] or 0}, "
        f"recovery {r['recovery_s']} s, load {r['loadavg_after'][0]}, cpu client {r['client_cpu_s']} s / "
        f"server {r['server_cpu_s']} s ({1000 * r['server_cpu_s'] / max(1, r['requests']):.2f} ms per request)"
    )
    nc = r.get("new_connections")
    if nc:
        line += (f"; {nc['n']} new connections: set-up max {nc['connect_max_ms']} ms, their first request max "
                 f"{nc['first_request_max_ms']} ms, later 200s max {nc['later_request_max_ms']} ms; tcp {r.get('tcp')}")
    if "job" in r:
        j = r["job"]
        line += (
            f"; job {j['status']} {j['wall_s']} s of {j['budget_s']:g} s, "
            f"{j['progress_updates_seen']} progress updates (max gap {j['max_gap_between_updates_s']} s, "
            f"delay spread {j['progress_delay_spread_s']} s)"
        )
    return line


def _now() -> str:
    return time.strftime("%H:%M:%S")


# ---- report -----------------------------------------------------------------------------------------


def render(runs: dict[str, Any]) -> str:
    lines = [
        "# Service under load",
        "",
        "`python bench/load.py` (SQLite) and `python bench/load.py --db postgresql://...` on this machine "
        f"({os.cpu_count()} cores, shared by the server, its solver process and the load client). One server "
        "process (`salpimi serve`, settings at their defaults unless listed), loopback, raw-asyncio keep-alive "
        "clients; the server's log goes to a file. Before the first measured phase, a warm-up of the same "
        "requests (not measured) fills caches and pools and pays for first-use imports. `plans` = `GET /v1/plans/{id}` of the published Gwanak plan; `mixed` = 3 plan reads, 1 "
        "household read (audited), 1 `GET /v1/users/me` per cycle. Latencies of 200 answers. Recovery = from the "
        "end of the phase to the first 200 on a fresh connection. Load = 1-minute load average after the phase.",
        "",
    ]
    for backend, run in runs.items():
        lines += [
            f"## {backend}",
            "",
            f"{run['date']}, server env {run.get('server_env') or '{}'}, "
            + (f"{run['neighbours']} CPU-bound neighbour processes (niceness 0) beside it, " if run.get("neighbours")
               else "")
            + f"plan {run['plan_bytes']:,} bytes (gzip {run.get('plan_gzip_bytes', 0):,}; plan reads "
            f"{'accept gzip' if run.get('gzip') else 'as is'}), "
            f"{run.get('server_log_errors', 0)} error lines in the server's log.",
            "",
            "| phase | clients | solve | req/s | 200/s | p50 ms | p95 ms | p99 ms | statuses | errors | recovery | "
            "load | CPU client / server | server CPU per request | slowest 200: opening a connection / on an open "
            "one (SYN retransmits) | job wall / budget | progress updates (max gap, delay spread) |",
            "|---|---:|---|---:|---:|---:|---:|---:|---|---|---:|---:|---|---:|---|---|---|",
        ]
        for r in run["phases"]:
            job = r.get("job")
            statuses = ", ".join(f"{k}: {v}" for k, v in r["statuses"].items())
            errors = ", ".join(f"{k}: {v}" for k, v in r["errors"].items()) or "0"
            lines.append(
                f"| {r['phase']} | {r['clients']:,} | {'yes' if r['with_solve'] else 'no'} | {r['rps']:.0f} | "
                f"{r['ok_rps']:.0f} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {statuses} | {errors} | "
                f"{_fmt_s(r['recovery_s'])} | {r['loadavg_after'][0]:.2f} | {r['client_cpu_s']:.1f} s / "
                f"{r['server_cpu_s']:.1f} s | {1000 * r['server_cpu_s'] / max(1, r['requests']):.2f} ms | "
                + _slowest(r)
                + (f"{job['wall_s']} s / {job['budget_s']:g} s ({job['status']}) | "
                   f"{job['progress_updates_seen']} ({_fmt_s(job['max_gap_between_updates_s'])}, "
                   f"{_fmt_s(job.get('progress_delay_spread_s'))})"
                   if job else "— | —")
                + " |"
            )
        ref = run.get("reference_job")
        if ref:
            lines += [
                "",
                f"The same solve on the idle server: {ref['wall_s']} s of {ref['budget_s']:g} s ({ref['status']}), "
                f"{ref['progress_updates_seen']} progress updates (max gap {_fmt_s(ref['max_gap_between_updates_s'])}, "
                f"delay spread {_fmt_s(ref.get('progress_delay_spread_s'))}). Progress is reported on new solutions "
                "(at most every 0.5 s), so fewer updates under load mean fewer solutions found, not lost writes; "
                "the delay spread (when an update was seen in the database minus when the solver reported it, "
                "largest minus smallest) shows whether writes were held up.",
            ]
        lines.append("")
    return "\n".join(lines)


def _slowest(r: dict[str, Any]) -> str:
    nc = r.get("new_connections")
    if not nc:
        return "— | "
    retrans = (r.get("tcp") or {}).get("TCPSynRetrans")
    return (f"{_fmt_ms(nc['first_request_max_ms'])} / {_fmt_ms(nc['later_request_max_ms'])}"
            f" ({'—' if retrans is None else retrans}) | ")


def _fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value / 1000:.2f} s"


def _fmt_s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="a PostgreSQL URL to create a throwaway database next to (default: SQLite)")
    ap.add_argument("--clients", default="100,1000", help="concurrent clients per phase, comma-separated")
    ap.add_argument("--phases", default="plans,mixed", help="plans, mixed (comma-separated)")
    ap.add_argument("--duration", type=float, default=20.0, help="seconds per phase (also the solve's budget)")
    ap.add_argument("--solve", choices=["off", "on", "both"], default="both")
    ap.add_argument("--gzip", action="store_true", help="plan reads accept gzip (Accept-Encoding: gzip)")
    ap.add_argument("--warmup", type=float, default=5.0,
                    help="seconds of load before the measured phases, not measured (0: none)")
    ap.add_argument("--ignore-retry-after", action="store_true", help="retry at once after a 503")
    ap.add_argument("--neighbours", type=int, default=0, metavar="N",
                    help="N CPU-bound processes (niceness 0) run beside the server from its start to the end: "
                    "a machine other jobs keep busy")
    ap.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                    help="extra environment for the server (e.g. SALPIMI_THREADS=16)")
    ap.add_argument("--profile", type=Path, metavar="OUT",
                    help="run the server under bench/_sampled_serve.py and write where its threads spent the "
                    "measured phases to OUT (slower server: figures not comparable; nothing saved to --raw)")
    ap.add_argument("--raw", type=Path, default=RESULTS / "load.json")
    ap.add_argument("--out", type=Path, default=RESULTS / "load.md")
    ap.add_argument("--render", action="store_true", help="only rewrite --out from the runs in --raw")
    args = ap.parse_args(argv)
    if args.render:
        args.out.write_text(render(json.loads(args.raw.read_text(encoding="utf-8"))["runs"]) + "\n", encoding="utf-8")
        return 0
    try:
        args.clients = [int(x) for x in args.clients.split(",") if x]
        args.phases = [x for x in args.phases.split(",") if x]
        server_env = dict(item.split("=", 1) for item in args.server_env)
    except ValueError:
        print("load.py: --clients takes integers and --server-env NAME=VALUE", file=sys.stderr)
        return 2
    unknown = set(args.phases) - {"plans", "mixed"}
    if unknown or not args.clients or min(args.clients) < 1 or not (1 <= args.duration <= 600):
        print(f"load.py: bad phases {sorted(unknown)} or clients/duration", file=sys.stderr)
        return 2
    if not 0 <= args.neighbours <= 64:
        print("load.py: --neighbours takes 0..64", file=sys.stderr)
        return 2
    backend = "postgresql" if args.db else "sqlite"
    with prepared(args.db) as target:
        port = _free_port()
        log_path = target.data_dir / "server.log"
        try:
            with server(target, port, server_env, log_path, args.profile) as proc, neighbours(args.neighbours):
                result = asyncio.run(run_all(args, target, port, proc.pid))
        except Exception:
            print(log_path.read_text(errors="replace")[-3000:] if log_path.exists() else "", file=sys.stderr)
            raise
        server_log = log_path.read_text(errors="replace")
    result.update(
        date=dt.datetime.now().astimezone().isoformat(timespec="seconds"), host=platform.node(),
        cpus=os.cpu_count(), server_env=server_env, duration_s=args.duration, gzip=args.gzip,
        neighbours=args.neighbours,
        server_log_errors=sum(1 for line in server_log.splitlines() if "ERROR" in line or "Traceback" in line),
    )
    if args.profile:
        print(render({backend: result}))
        print(f"profile: {args.profile} (written when the server exits)")
        return 0
    save_run(args.raw, args.out, backend, result, render)
    return 0


@contextlib.contextmanager
def neighbours(n: int) -> Iterator[None]:
    """``n`` CPU-bound processes at niceness 0 while the block runs (each spins one core's worth)."""
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()


def save_run(raw: Path, out: Path, backend: str, result: dict[str, Any], render: Any) -> None:
    """Keep ``result`` as the run of ``backend`` in the raw JSON (other backends' runs stay) and rewrite the table."""
    runs: dict[str, Any] = {}
    if raw.exists():
        with contextlib.suppress(json.JSONDecodeError):
            runs = json.loads(raw.read_text(encoding="utf-8")).get("runs", {})
    runs[backend] = result
    raw.parent.mkdir(parents=True, exist_ok=True)
    raw.write_text(json.dumps({"runs": runs}, indent=1) + "\n", encoding="utf-8")
    out.write_text(render(runs) + "\n", encoding="utf-8")
    print(render({backend: result}))


if __name__ == "__main__":
    raise SystemExit(main())
