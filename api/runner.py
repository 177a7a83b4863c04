"""Solve jobs in worker processes (spawn), never in the web process or one of its threads.

OR-Tools holds the GIL for a whole solve, so each job runs in its own spawned process that
builds the model from plain data (the problem JSON dict).  The web process keeps one monitor
thread that starts queued jobs (at most ``max_workers`` at once), relays progress, forwards
cancellation and notices processes that die.  Each job talks over its own pipe, so a killed
process can break nothing but its own job.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection, wait
from typing import Any

__all__ = ["JobRunner", "run_payload"]

_log = logging.getLogger("salpimi.runner")

#: ``on_event(job_id, kind, data)`` with kind one of started, progress, result, error, died.
EventSink = Callable[[str, str, dict[str, Any]], None]

_PROGRESS_EVERY_S = 0.3
#: CPU seconds a worker spends once the solve has returned, fixed and per visit: checking the plan (the evaluator),
#: turning it into JSON and sending it to the web process (8 ms on the 166-visit Gwanak day; twice that kept).
_AFTER_SOLVE_CPU_S = 0.02
_AFTER_SOLVE_CPU_S_PER_VISIT = 0.0001



def _travel(matrix: Any, payload: dict[str, Any]) -> Any:
    """The problem's own travel matrix, else the job's road network, else straight-line estimates."""
    from planner import HaversineProvider, MatrixProvider, road_network

    if matrix is not None:
        return MatrixProvider(matrix)
    if payload.get("network"):
        return road_network(payload["network"], data_dir=payload.get("data_dir"))
    return HaversineProvider()


def run_payload(
    payload: dict[str, Any],
    *,
    progress: Callable[[Any], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Build the problem from ``payload`` and solve (or re-plan) it; return plain data.

    ``payload`` holds ``problem`` (a :class:`planner.Problem` the web process built and validated
    once, or planner JSON), ``time_limit_s``, ``seed``, optionally ``previous`` (the plan to stay
    close to: a :class:`planner.Plan` or plan JSON) and ``replan`` (what has happened so far:
    ``now_s``, ``done``, ``in_progress``, ``off_sick``, ``delayed_s``, ``delayed_at_s``).  The problem's own
    travel matrix wins over the server's road network.  The result holds the plan, the evaluator's
    ``violations`` of it and, for a re-plan, the ``problem`` it was checked against (the day as it now stands).
    """
    from planner import (
        Plan,
        Problem,
        evaluate,
        plan_from_json,
        plan_to_json,
        problem_from_json,
        problem_to_json,
        solve,
    )

    if payload.get("horizon") is not None:
        return _run_horizon(payload, progress=progress, should_stop=should_stop)
    raw = payload["problem"]
    problem = raw if isinstance(raw, Problem) else problem_from_json(raw)
    params = _params(payload)
    travel = _travel(problem.travel_matrix, payload)
    before = payload.get("previous")
    previous = before if isinstance(before, Plan) else (plan_from_json(before) if before else None)
    replan_args = payload.get("replan")
    if replan_args:
        from planner import replan

        if previous is None:
            raise ValueError("re-planning needs the current plan")
        sick = replan_args.get("off_sick", ())
        out = replan(
            problem,
            previous,
            travel,
            params,
            now_s=int(replan_args["now_s"]),
            done=frozenset(replan_args.get("done", ())),
            in_progress={k: int(v) for k, v in dict(replan_args.get("in_progress", {})).items()},
            off_sick={k: int(v) for k, v in sick.items()} if isinstance(sick, dict) else frozenset(sick),
            delayed_s={k: int(v) for k, v in dict(replan_args.get("delayed_s", {})).items()},
            delayed_at_s={k: int(v) for k, v in dict(replan_args.get("delayed_at_s", {})).items()},
            progress=progress,
            should_stop=should_stop,
        )
        # The version is checked against the day as it now stands (a worker sent home owes no lunch).
        return {"plan": plan_to_json(out.plan), "stopped_early": out.stopped_early,
                "problem": problem_to_json(out.day), "violations": _violations(out.violations)}
    result = solve(
        problem, travel, params, previous=previous, progress=progress, should_stop=should_stop,
        known_pace=payload.get("pace"),
    )
    checked = evaluate(problem, result.plan, travel)
    plan = replace(result.plan, meta={**result.plan.meta, "violations": len(checked.violations)})
    return {"plan": plan_to_json(plan), "stopped_early": bool(result.stopped_early),
            "violations": _violations(checked.violations)}


def _run_horizon(
    payload: dict[str, Any],
    *,
    progress: Callable[[Any], None] | None,
    should_stop: Callable[[], bool] | None,
) -> dict[str, Any]:
    """A date range (``payload["horizon"]``: a :class:`planner.HorizonProblem` or its JSON): each day's plan,
    the day problem it was checked against and its violations, and the visits planned on no day."""
    from planner import (
        HorizonProblem,
        evaluate,
        horizon_from_json,
        plan_horizon,
        plan_to_json,
        problem_to_json,
    )

    raw = payload["horizon"]
    problem = raw if isinstance(raw, HorizonProblem) else horizon_from_json(raw)
    params = _params(payload)
    travel = _travel(problem.travel_matrix, payload)
    result = plan_horizon(problem, travel, params, progress=progress, should_stop=should_stop)
    days = []
    for day in result.days:
        checked = evaluate(day.problem, day.plan, travel)
        plan = replace(day.plan, meta={**day.plan.meta, "violations": len(checked.violations)})
        days.append({"date": day.date.isoformat(), "plan": plan_to_json(plan), "problem": problem_to_json(day.problem),
                     "violations": _violations(checked.violations)})
    left = [{"visit_id": u.visit_id, "reason": u.reason, "detail": u.detail} for u in result.unassigned]
    return {"days": days, "unassigned": left, "stopped_early": bool(result.stopped_early)}


def _params(payload: dict[str, Any]) -> Any:
    """The search parameters of a job, as ``salpimi plan`` builds them from its options (engine, work budget)."""
    from planner import SolveParams

    params = SolveParams(time_limit_s=float(payload["time_limit_s"]), seed=int(payload["seed"]),
                         deterministic=bool(payload.get("deterministic", False)),
                         solver=str(payload.get("solver") or "auto"))
    if payload.get("solution_limit") is not None:
        params = replace(params, solution_limit=int(payload["solution_limit"]))
    return params


def _violations(violations: Any) -> list[dict[str, str]]:
    """The evaluator's violations as plain data (codes, ids and times only)."""
    return [{"code": v.code, "worker_id": v.worker_id, "visit_id": v.visit_id, "message": v.message}
            for v in violations]


def _progress_dict(p: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("elapsed_s", "objective", "visits_covered", "visits_total"):
        value = getattr(p, name, None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = value
    return out


def _child_main(conn: Connection, payload: dict[str, Any], nice: int = 0, spawned: float | None = None) -> None:
    """Entry point of a worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    if nice > 0:  # requests first: the solve stops on its clock whatever CPU it gets
        with contextlib.suppress(OSError):
            os.nice(nice)
    stop = False
    last_sent = 0.0

    def should_stop() -> bool:
        nonlocal stop
        try:
            while not stop and conn.poll():
                if conn.recv() == "stop":
                    stop = True
        except (EOFError, OSError):
            stop = True  # the web process went away: finish quickly
        return stop

    def progress(p: Any) -> None:
        nonlocal last_sent
        now = time.monotonic()
        if now - last_sent >= _PROGRESS_EVERY_S:
            last_sent = now
            with contextlib.suppress(BrokenPipeError, OSError):
                conn.send(("progress", _progress_dict(p)))

    started = time.monotonic()
    try:
        conn.send(("started", {"pid": os.getpid()}))
        # The job's time limit counts from "started": the solver's own imports (seconds when the
        # machine is busy and this process niced) come out of it, keeping at least half for the solve.
        import planner  # noqa: F401
        limit = float(payload.get("time_limit_s") or 0)
        # Deterministic: the work budget decides and the limit is only a safety cap, kept as given (the plan
        # records it, and the same job then gives the same plan as `salpimi plan --deterministic`).
        if limit > 0 and not payload.get("deterministic"):
            from planner import pace

            # The pace this process has had: its life so far (the interpreter's start, unpickling the payload,
            # which imports the planner, the imports here) is CPU work, so its wall over CPU time is the measure
            # (1 on an idle machine; 5-10 for a niced worker beside CPU-bound neighbours).
            slow = pace(time.monotonic() - (spawned if spawned is not None else started), time.process_time())
            payload = {**payload, "pace": slow,  # the solve's post-passes are CPU work at this pace too
                       "time_limit_s": _solve_limit(limit, time.monotonic() - started, slow, _visit_count(payload))}
        result = run_payload(payload, progress=progress, should_stop=should_stop)
        conn.send(("result", result))
    except BaseException as exc:  # report, never crash silently
        with contextlib.suppress(BrokenPipeError, OSError):
            conn.send(("error", {"message": f"{type(exc).__name__}: {exc}"[:900]}))
    finally:
        conn.close()


def _solve_limit(limit: float, spent_s: float, slow: float, visits: int) -> float:
    """The solve's time limit in a job of ``limit`` seconds whose worker has spent ``spent_s`` since "started" and
    runs at pace ``slow`` (wall seconds per CPU second): what is left, less the work after the solve (the check,
    the JSON, the message) at that pace, and at least half the limit."""
    after = slow * (_AFTER_SOLVE_CPU_S + _AFTER_SOLVE_CPU_S_PER_VISIT * visits)
    return max(limit / 2, limit - spent_s - after)


def _visit_count(payload: dict[str, Any]) -> int:
    """Visits in a job's problem (a day's, or a date range's), whatever form it came in."""
    raw = payload.get("horizon") if payload.get("horizon") is not None else payload.get("problem")
    visits = raw.get("visits") if isinstance(raw, dict) else getattr(raw, "visits", None)
    return len(visits) if visits is not None else 0


@dataclass
class _Running:
    job_id: str
    process: Any
    conn: Connection
    time_limit_s: float
    started: float = field(default_factory=time.monotonic)
    stop_sent_at: float | None = None
    finished: bool = False
    terminated_reason: str | None = None


def _exit_reason(exitcode: int | None) -> str:
    if exitcode is None:
        return "worker process vanished"
    if exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"worker process was killed by {name} before it reported a plan"
    return f"worker process exited with code {exitcode} before it reported a plan"


class JobRunner:
    """Runs solve payloads in spawned processes and reports events to ``on_event``.

    Parameters
    ----------
    max_workers
        Solver processes running at once; further jobs wait in a queue.
    on_event
        Called from the monitor thread as ``on_event(job_id, kind, data)``.
    grace_s
        How long past its time limit (or a stop request) a process may run before it is
        terminated and its job failed.
    nice
        Niceness added to each worker process (0 keeps the web process's): the web process
        answers requests first when both want the CPU.
    """

    def __init__(
        self, *, max_workers: int, on_event: EventSink, grace_s: float = 30.0, nice: int = 0
    ) -> None:
        self._nice = nice
        self._ctx = mp.get_context("spawn")
        self._max_workers = max_workers
        self._on_event = on_event
        self._grace_s = grace_s
        self._lock = threading.Lock()
        self._queue: deque[tuple[str, dict[str, Any]]] = deque()
        self._running: dict[str, _Running] = {}
        self._stop_requests: set[str] = set()
        self._wake_r, self._wake_w = self._ctx.Pipe(duplex=False)
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="salpimi-jobs", daemon=True)

    # ---- public -------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def submit(self, job_id: str, payload: dict[str, Any]) -> None:
        with self._lock:
            if self._closing:
                raise RuntimeError("the job runner is shutting down")
            self._queue.append((job_id, payload))
        self._wake()

    def cancel(self, job_id: str) -> str:
        """``"dequeued"`` (never started), ``"signalled"`` (asked to stop) or ``"unknown"``."""
        with self._lock:
            for i, (jid, _payload) in enumerate(self._queue):
                if jid == job_id:
                    del self._queue[i]
                    return "dequeued"
            if job_id in self._running:
                self._stop_requests.add(job_id)
                state = "signalled"
            else:
                return "unknown"
        self._wake()
        return state

    def pid(self, job_id: str) -> int | None:
        with self._lock:
            run = self._running.get(job_id)
            return run.process.pid if run is not None else None

    def active_jobs(self) -> list[str]:
        with self._lock:
            return [j for j, _ in self._queue] + list(self._running)

    def shutdown(self, *, timeout_s: float = 10.0) -> None:
        """Stop accepting jobs, ask running ones to stop, and terminate stragglers."""
        with self._lock:
            self._closing = True
            dropped = [j for j, _ in self._queue]
            self._queue.clear()
            self._stop_requests.update(self._running)
        for job_id in dropped:
            self._emit(job_id, "died", {"reason": "the server shut down before the job started"})
        self._wake()
        self._thread.join(timeout=timeout_s)
        with self._lock:
            leftovers = list(self._running.values())
        for run in leftovers:
            if run.process.is_alive():
                run.process.terminate()
            run.process.join(timeout=2)
            if not run.finished:
                self._emit(run.job_id, "died", {"reason": "the server shut down during the job"})
        self._wake_r.close()
        self._wake_w.close()

    # ---- monitor thread ---------------------------------------------------------------
    def _wake(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._wake_w.send_bytes(b"x")

    def _emit(self, job_id: str, kind: str, data: dict[str, Any]) -> None:
        try:
            self._on_event(job_id, kind, data)
        except Exception:  # keep the monitor alive whatever the sink does
            _log.exception("job event handler failed for job %s (%s)", job_id, kind)

    def _start_queued(self) -> None:
        while True:
            with self._lock:
                if self._closing or not self._queue or len(self._running) >= self._max_workers:
                    return
                job_id, payload = self._queue.popleft()
            parent_conn, child_conn = self._ctx.Pipe(duplex=True)
            process = self._ctx.Process(
                target=_child_main, args=(child_conn, payload, self._nice, time.monotonic()),
                name=f"salpimi-job-{job_id}",
                daemon=True,
            )
            try:
                process.start()
            except Exception as exc:
                parent_conn.close()
                child_conn.close()
                self._emit(job_id, "error", {"message": f"could not start a worker: {exc}"})
                continue
            child_conn.close()
            with self._lock:
                self._running[job_id] = _Running(
                    job_id=job_id, process=process, conn=parent_conn,
                    time_limit_s=float(payload.get("time_limit_s", 10.0)),
                )

    def _loop(self) -> None:
        while True:
            with self._lock:
                closing = self._closing
                runs = list(self._running.values())
            if closing and not runs:
                return
            if not closing:
                self._start_queued()
                with self._lock:
                    runs = list(self._running.values())
            waitables: list[Any] = [self._wake_r]
            for run in runs:
                waitables.append(run.conn)
                waitables.append(run.process.sentinel)
            with contextlib.suppress(OSError):
                wait(waitables, timeout=0.5)
            try:
                while self._wake_r.poll():
                    self._wake_r.recv_bytes()
            except (EOFError, OSError):
                pass
            for run in runs:
                self._service(run)

    def _drain(self, run: _Running) -> None:
        try:
            while run.conn.poll():
                kind, data = run.conn.recv()
                if kind in ("result", "error"):
                    run.finished = True
                self._emit(run.job_id, kind, data)
        except (EOFError, OSError):
            pass

    def _service(self, run: _Running) -> None:
        self._drain(run)
        now = time.monotonic()
        with self._lock:
            wants_stop = run.job_id in self._stop_requests
        if wants_stop and run.stop_sent_at is None:
            run.stop_sent_at = now
            with contextlib.suppress(BrokenPipeError, OSError):
                run.conn.send("stop")
        if run.stop_sent_at is None and now - run.started > run.time_limit_s + self._grace_s:
            run.stop_sent_at = now  # overran its limit: ask once, then terminate
            with contextlib.suppress(BrokenPipeError, OSError):
                run.conn.send("stop")
        if (
            run.stop_sent_at is not None
            and not run.finished
            and now - run.stop_sent_at > self._grace_s
            and run.process.is_alive()
        ):
            run.terminated_reason = (
                f"worker process did not stop within {self._grace_s:g} s and was terminated"
            )
            run.process.terminate()
        if run.process.is_alive():
            return
        run.process.join(timeout=1)
        self._drain(run)  # anything written just before exit
        if not run.finished:
            reason = run.terminated_reason or _exit_reason(run.process.exitcode)
            self._emit(run.job_id, "died", {"reason": reason, "exitcode": run.process.exitcode})
        run.conn.close()
        with self._lock:
            self._running.pop(run.job_id, None)
            self._stop_requests.discard(run.job_id)
        self._wake()
