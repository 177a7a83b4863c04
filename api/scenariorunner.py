"""Scenario sweeps for the API: one sweep at a time, its runs in worker processes (``planner.sweep``), never in
the web process.

A single thread of the web process takes queued sweeps in order and hands each to
:func:`planner.sweep.run_tasks` on the local engine, which spawns the worker processes (one run per process at
a time) and only waits on their pipes here.  Each sweep's runs are stored as they finish in
``<store_dir>/<run_id>.jsonl``, so a sweep interrupted by a shutdown resumes where it stopped when it is
submitted again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

__all__ = ["ScenarioRunner"]

_log = logging.getLogger("salpimi.scenarios")

#: ``on_event(run_id, kind, data)``: kind one of started, progress, result (``outcomes``: one per task, in
#: order, ``{"status", "result"|"error"}``), error (``message``).
EventSink = Callable[[str, str, dict[str, Any]], None]
_PROGRESS_EVERY_S = 0.5


class ScenarioRunner:
    """Runs scenario sweeps one after the other in a background thread.

    Parameters
    ----------
    workers
        Worker processes of a sweep (runs at once).
    store_dir
        Where each sweep's finished runs are kept (``<run_id>.jsonl``).
    on_event
        Called from the runner's thread.
    nice
        Niceness of the sweep's worker processes.
    """

    def __init__(self, *, workers: int, store_dir: Path, on_event: EventSink, nice: int = 0) -> None:
        self._workers = max(1, workers)
        self._nice = nice
        self._store_dir = store_dir
        self._on_event = on_event
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: deque[tuple[str, list[dict[str, Any]]]] = deque()
        self._cancel: set[str] = set()
        self._current: str | None = None
        self._closing = False
        self._thread = threading.Thread(target=self._loop, name="salpimi-scenarios", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, run_id: str, tasks: list[dict[str, Any]]) -> None:
        with self._wake:
            self._queue.append((run_id, tasks))
            self._wake.notify()

    def cancel(self, run_id: str) -> bool:
        """Stop ``run_id`` (dropped from the queue, or its running sweep stopped); whether it was known."""
        with self._lock:
            queued = any(r == run_id for r, _ in self._queue)
            self._queue = deque((r, t) for r, t in self._queue if r != run_id)
            if self._current == run_id:
                self._cancel.add(run_id)
                return True
        if queued:
            self._emit(run_id, "result", {"outcomes": [], "cancelled": True})
        return queued

    def active(self) -> list[str]:
        with self._lock:
            return ([self._current] if self._current else []) + [r for r, _ in self._queue]

    def shutdown(self, *, timeout_s: float = 20.0) -> None:
        """Stop the running sweep (its finished runs stay stored) and the thread; queued sweeps stay queued."""
        with self._wake:
            self._closing = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout_s)

    def store_path(self, run_id: str) -> Path:
        return self._store_dir / f"{run_id}.jsonl"

    def _emit(self, run_id: str, kind: str, data: dict[str, Any]) -> None:
        try:
            self._on_event(run_id, kind, data)
        except Exception:  # keep the thread alive whatever the sink does
            _log.exception("scenario run %s: event %s could not be recorded", run_id, kind)

    def _loop(self) -> None:
        while True:
            with self._wake:
                while not self._queue and not self._closing:
                    self._wake.wait()
                if self._closing:
                    return
                run_id, tasks = self._queue.popleft()
                self._current = run_id
            try:
                self._run(run_id, tasks)
            finally:
                with self._lock:
                    self._current = None
                    self._cancel.discard(run_id)

    def _run(self, run_id: str, tasks: list[dict[str, Any]]) -> None:
        from planner.scenarios.simulate import run_task
        from planner.sweep import SweepProgress, run_tasks

        last = 0.0

        def progress(p: SweepProgress) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last >= _PROGRESS_EVERY_S or p.left == p.running == 0:
                last = now
                self._emit(run_id, "progress", asdict(p))

        def should_stop() -> bool:
            with self._lock:
                return self._closing or run_id in self._cancel

        self._emit(run_id, "started", {})
        try:
            self._store_dir.mkdir(parents=True, exist_ok=True)
            swept = run_tasks(tasks, engine="local", fn=run_task, workers=self._workers, store=self.store_path(run_id),
                              progress=progress, should_stop=should_stop, nice=self._nice)
        except Exception as exc:
            self._emit(run_id, "error", {"message": f"the sweep failed: {type(exc).__name__}"})
            return
        with self._lock:
            if self._closing:
                return  # left running: the next server start resumes it from the store
        outcomes = [{"status": o.status, "result": o.result, "error": o.error} for o in swept.outcomes]
        self._emit(run_id, "result", {"outcomes": outcomes, "cancelled": swept.stopped})
