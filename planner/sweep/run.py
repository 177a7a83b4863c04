"""run_tasks: independent tasks on the local engine or Dask, stored as they finish, retried once, resumable."""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from .model import Outcome, SweepProgress, SweepResult
from .store import ResultStore, task_key

__all__ = ["ATTEMPTS", "default_workers", "run_tasks"]

#: Tries per task: a task that raised or whose worker process died is run once more, then reported failed.
ATTEMPTS = 2

TaskFn = Callable[[dict[str, Any]], Any]


class _Engine(Protocol):
    name: str
    slots: int

    def submit(self, ref: int, task: dict[str, Any]) -> None: ...
    def wait(self, timeout_s: float) -> list[tuple[int, dict[str, Any]]]: ...
    def running(self) -> int: ...
    def close(self, *, kill: bool = False) -> None: ...


def default_workers() -> int:
    """The cores this process may use (its CPU affinity, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _fn_name(fn: TaskFn) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def run_tasks(
    tasks: Sequence[Mapping[str, Any]],
    *,
    engine: Literal["local", "dask"] = "local",
    address: str | None = None,
    store: ResultStore | str | os.PathLike[str] | None = None,
    progress: Callable[[SweepProgress], None] | None = None,
    workers: int | None = None,
    fn: TaskFn,
    tasks_per_process: int = 1,
    should_stop: Callable[[], bool] | None = None,
    poll_s: float = 0.25,
    nice: int = 0,
) -> SweepResult:
    """Run ``fn(task)`` for every task, each in a worker process, and return every outcome in task order.

    Parameters
    ----------
    tasks
        Plain JSON-able dicts (``planner.scenarios.simulate.run_task``'s tasks by default).  Equal tasks run
        once and share their outcome.
    engine
        ``"local"``: spawned processes on this machine; ``"dask"``: Dask distributed (``address`` of a running
        scheduler, e.g. ``tcp://10.0.0.5:8786``, else a local cluster on 127.0.0.1 closed afterwards).
    store
        A :class:`ResultStore` or the path of its JSON-lines file: each finished run is written there as it
        ends, keyed by the task's content hash, and tasks already stored with a result are not run again
        (resume).  Failed runs are tried again.
    progress
        Called with a :class:`SweepProgress` whenever a run starts or ends.
    workers
        Processes (local) or local-cluster workers at once; default the cores this process may use.  With an
        address: at most this many tasks at once (default the cluster's threads).
    fn
        The task function, importable by name in the workers (a scenario sweep passes
        ``planner.scenarios.simulate.run_task``).
    tasks_per_process
        Local engine: tasks one worker process runs one after the other before it is replaced (1: a fresh
        process per task).
    nice
        Local engine: niceness added to the worker processes (the API's sweeps yield to its day plans).
    should_stop
        Polled while the sweep runs; when it returns true the running tasks are stopped and every task not
        finished is reported ``"cancelled"`` (finished ones stay stored).

    A task that raises, or whose worker process dies, is run once more; then it is reported ``"failed"``
    with the reason, never dropped.  Ctrl-C stops the worker processes, closes the cluster and re-raises;
    the runs that finished are in the store.
    """
    if not isinstance(store, ResultStore | None):
        store = ResultStore(Path(store))
    name = _fn_name(fn)
    plain = [dict(t) for t in tasks]
    keys = [task_key(t, fn_name=name) for t in plain]
    first: dict[str, int] = {}
    for i, k in enumerate(keys):
        first.setdefault(k, i)
    outcomes: dict[str, Outcome] = {}
    for k in first:
        record = store.get(k) if store is not None else None
        if record is not None and record.get("status") == "ok":
            outcomes[k] = Outcome(key=k, status="ok", result=record.get("result"), attempts=0,
                                  elapsed_s=record.get("elapsed_s"), from_store=True)
    todo = deque(k for k in first if k not in outcomes)
    attempts: dict[str, int] = {}
    started = time.monotonic()
    loads = os.getloadavg()
    stored = len(outcomes)
    n_workers = workers if workers is not None else (None if (engine == "dask" and address) else default_workers())
    eng: _Engine | None = None
    stopped = False

    def report(running: int) -> None:
        if progress is None:
            return
        done = len(outcomes)
        failed = sum(o.status == "failed" for o in outcomes.values())
        elapsed = time.monotonic() - started
        ran = done - stored
        slots = eng.slots if eng is not None else 1
        eta = None
        left_total = len(first) - done
        if ran > 0:
            per_run = elapsed / ran * slots  # seconds of one slot per run, as measured so far
            eta = left_total * per_run / max(1, min(slots, left_total)) if left_total else 0.0
        progress(SweepProgress(total=len(first), done=done, running=running, left=len(todo), failed=failed,
                               elapsed_s=elapsed, eta_s=eta, from_store=stored))

    try:
        if todo:
            if engine == "local":
                from .local import LocalEngine

                eng = LocalEngine(fn, workers=n_workers or default_workers(), tasks_per_process=tasks_per_process,
                                  nice=nice)
            elif engine == "dask":
                from .cluster import DaskEngine

                eng = DaskEngine(fn, workers=n_workers, address=address)
            else:
                raise ValueError(f"engine: {engine!r} is not one of local, dask")
        report(0)
        refs: dict[int, str] = {}
        next_ref = 0
        while eng is not None and (todo or eng.running()):
            if should_stop is not None and should_stop():
                stopped = True
                break
            changed = False
            while todo and eng.running() < eng.slots:
                k = todo.popleft()
                attempts[k] = attempts.get(k, 0) + 1
                refs[next_ref] = k
                eng.submit(next_ref, plain[first[k]])
                next_ref += 1
                changed = True
            if changed:
                report(eng.running())
            for ref, raw in eng.wait(poll_s):
                k = refs.pop(ref)
                elapsed_s = raw.get("elapsed_s")
                if raw.get("status") == "ok":
                    outcome = Outcome(key=k, status="ok", result=raw.get("result"), attempts=attempts[k],
                                      elapsed_s=elapsed_s)
                elif attempts[k] < ATTEMPTS:
                    todo.appendleft(k)  # once more, first in line
                    continue
                else:
                    outcome = Outcome(key=k, status="failed", error=str(raw.get("error") or "failed"),
                                      attempts=attempts[k], elapsed_s=elapsed_s)
                outcomes[k] = outcome
                if store is not None:
                    store.put({"key": k, "status": outcome.status, "result": outcome.result,
                               "error": outcome.error, "attempts": outcome.attempts, "elapsed_s": elapsed_s,
                               "fn": name})
                report(eng.running())
    except BaseException:
        if eng is not None:
            eng.close(kill=True)
            eng = None
        raise
    finally:
        if eng is not None:
            eng.close(kill=stopped)
    for k in first:
        if k not in outcomes:
            outcomes[k] = Outcome(key=k, status="cancelled", attempts=attempts.get(k, 0))
    return SweepResult(
        outcomes=tuple(outcomes[k] for k in keys),
        engine=engine, workers=eng.slots if eng is not None else (n_workers or 0),
        wall_s=time.monotonic() - started, stopped=stopped, loads=loads,
    )
