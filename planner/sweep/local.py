"""The local engine: spawned worker processes on this machine, one task per process at a time.

Each worker process runs at most ``tasks_per_process`` tasks one after the other (1 by default: a fresh
process per task, since several OR-Tools routing models in one process have crashed in 9.11-9.15) and is
then replaced.  Each talks over its own pipe, so a process that dies takes only its own task with it, and
the sweep knows which one.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from ._call import call, quiet_worker

__all__ = ["LocalEngine"]


def _worker_main(conn: Connection, fn: Callable[[dict[str, Any]], Any], tasks: int, nice: int = 0) -> None:
    quiet_worker()
    if nice > 0:
        with contextlib.suppress(OSError):
            os.nice(nice)
    try:
        for _ in range(tasks):
            message = conn.recv()
            if message is None:
                return
            conn.send(call(fn, message))
    except (EOFError, OSError):
        return  # the sweep went away
    finally:
        conn.close()


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"worker process was killed by {name}"
    return f"worker process exited with code {exitcode} before it reported"


@dataclass
class _Proc:
    process: Any
    conn: Connection
    ref: int | None = None
    served: int = 0


class LocalEngine:
    """Runs ``fn(task)`` in up to ``workers`` spawned, daemonic processes (a daemonic process may not start
    another, so the planner's race runs its legs one after the other there)."""

    name = "local"

    def __init__(self, fn: Callable[[dict[str, Any]], Any], *, workers: int, tasks_per_process: int = 1,
                 nice: int = 0) -> None:
        if workers < 1:
            raise ValueError(f"workers: {workers} is not a positive number")
        if tasks_per_process < 1:
            raise ValueError(f"tasks_per_process: {tasks_per_process} is not a positive number")
        self.slots = workers
        self._fn = fn
        self._per_process = tasks_per_process
        self._nice = nice
        self._ctx = mp.get_context("spawn")
        self._procs: list[_Proc] = []

    def _spawn(self) -> _Proc:
        parent, child = self._ctx.Pipe(duplex=True)
        process = self._ctx.Process(target=_worker_main, args=(child, self._fn, self._per_process, self._nice),
                                    name="salpimi-sweep", daemon=True)
        process.start()
        child.close()
        proc = _Proc(process=process, conn=parent)
        self._procs.append(proc)
        return proc

    def running(self) -> int:
        return sum(p.ref is not None for p in self._procs)

    def submit(self, ref: int, task: dict[str, Any]) -> None:
        """Start ``task`` in an idle process (a new one when none is idle); ``ref`` names it in :meth:`wait`."""
        idle = next((p for p in self._procs if p.ref is None and p.served < self._per_process
                     and p.process.is_alive()), None)
        proc = idle or self._spawn()
        proc.ref = ref
        proc.served += 1
        with contextlib.suppress(BrokenPipeError, OSError):  # it died: wait() reports the death
            proc.conn.send(task)

    def wait(self, timeout_s: float) -> list[tuple[int, dict[str, Any]]]:
        """The tasks that finished within ``timeout_s``: ``(ref, outcome)`` with the outcome of
        :func:`planner.sweep._call.call`, or an error outcome naming how the process died."""
        busy = [p for p in self._procs if p.ref is not None]
        if not busy:
            return []
        waitables: list[Any] = [p.conn for p in busy] + [p.process.sentinel for p in busy]
        with contextlib.suppress(OSError):
            wait(waitables, timeout=timeout_s)
        out: list[tuple[int, dict[str, Any]]] = []
        for p in busy:
            assert p.ref is not None
            message: dict[str, Any] | None = None
            try:
                if p.conn.poll():
                    message = p.conn.recv()
            except (EOFError, OSError):
                message = None
            if message is None and not p.process.is_alive():
                p.process.join(timeout=1)
                message = {"status": "error", "error": _death(p.process.exitcode), "elapsed_s": None}
            if message is not None:
                out.append((p.ref, message))
                p.ref = None
        self._reap()
        return out

    def _reap(self) -> None:
        """Join the processes that served their share (or died) and forget them."""
        keep: list[_Proc] = []
        for p in self._procs:
            spent = p.ref is None and p.served >= self._per_process
            if (spent or not p.process.is_alive()) and p.ref is None:
                p.process.join(timeout=5)
                if p.process.is_alive():
                    p.process.terminate()
                    p.process.join(timeout=2)
                p.conn.close()
                continue
            keep.append(p)
        self._procs = keep

    def close(self, *, kill: bool = False) -> None:
        """Stop every worker process: idle ones are told to leave, busy ones (or all, with ``kill``) terminated."""
        for p in self._procs:
            if p.ref is None and not kill:
                with contextlib.suppress(BrokenPipeError, OSError):
                    p.conn.send(None)
            elif p.process.is_alive():
                p.process.terminate()
        for p in self._procs:
            p.process.join(timeout=5)
            if p.process.is_alive():
                p.process.kill()
                p.process.join(timeout=2)
            p.conn.close()
        self._procs = []
