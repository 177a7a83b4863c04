"""The Dask engine: the same tasks on Dask distributed, a running cluster or a local one on 127.0.0.1.

Without an address a ``LocalCluster`` starts with ``workers`` worker processes of one thread each (one solve
per process at a time), bound to 127.0.0.1 with no dashboard, and is closed afterwards.  With an address the
sweep connects to that scheduler; its workers need ``salpimi`` installed and should run with
``--nthreads 1``.  Dask's own retries are off for the local cluster (``allowed-failures`` 0): the sweep
retries a task once itself, whether it raised or its worker died.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import uuid
from collections.abc import Callable
from typing import Any

from ._call import call

__all__ = ["DaskEngine"]


def _prepare_worker() -> None:
    from ._call import quiet_worker

    quiet_worker()


class DaskEngine:
    """Runs ``fn(task)`` as Dask futures, at most one per worker thread at a time."""

    name = "dask"

    def __init__(self, fn: Callable[[dict[str, Any]], Any], *, workers: int | None, address: str | None = None,
                 connect_timeout_s: float = 30.0) -> None:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise RuntimeError("the dask engine needs dask[distributed]: pip install 'salpimi[scenarios]'") from exc
        self._fn = fn
        self._futures: dict[Any, int] = {}
        self._done: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._cluster: Any = None
        if address:
            self._client = Client(address, timeout=connect_timeout_s, set_as_default=False)
            threads = sum(self._client.nthreads().values())
            self.slots = max(1, min(workers, threads) if workers else threads)
        else:
            if workers is not None and workers < 1:
                raise ValueError(f"workers: {workers} is not a positive number")
            n = workers or 1
            # One task per worker process at a time (saturation 1.0; the default 1.1 lets the scheduler send a
            # one-thread worker a second task to hold): a worker that dies then takes only its own task with it,
            # never an innocent one queued beside it (seen in CI: the retry of a task that died once was sent to
            # the first worker back up, beside a task that always dies, and was killed with it).
            with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                                  "distributed.scheduler.worker-saturation": 1.0,
                                  "distributed.worker.daemon": True}):
                self._cluster = LocalCluster(
                    n_workers=n, threads_per_worker=1, processes=True, host="127.0.0.1",
                    dashboard_address=None, scheduler_port=0, silence_logs=logging.ERROR,
                )
            self._client = Client(self._cluster, set_as_default=False)
            self.slots = n
        self._client.run(_prepare_worker)

    def running(self) -> int:
        return len(self._futures)

    def submit(self, ref: int, task: dict[str, Any]) -> None:
        future = self._client.submit(call, self._fn, task, key=f"salpimi-sweep-{uuid.uuid4().hex}", pure=False,
                                     retries=0)
        self._futures[future] = ref
        future.add_done_callback(self._done.put)

    def wait(self, timeout_s: float) -> list[tuple[int, dict[str, Any]]]:
        """The tasks that finished within ``timeout_s`` as ``(ref, outcome)``; a task whose worker died (or
        that Dask could not run) gives an error outcome naming the exception."""
        if not self._futures:
            return []
        finished: list[Any] = []
        with contextlib.suppress(queue.Empty):
            finished.append(self._done.get(timeout=timeout_s))
            while True:
                finished.append(self._done.get_nowait())
        out: list[tuple[int, dict[str, Any]]] = []
        for future in finished:
            ref = self._futures.pop(future, None)
            if ref is None:
                continue
            if future.status == "finished":
                out.append((ref, future.result()))
            else:
                try:
                    exc = future.exception(timeout=5)
                    why = f"{type(exc).__name__}: {exc}"[:600]
                except Exception as err:  # cancelled or lost
                    why = f"{type(err).__name__}: the task was lost"
                out.append((ref, {"status": "error", "error": f"dask: {why}", "elapsed_s": None}))
            future.release()
        return out

    def close(self, *, kill: bool = False) -> None:
        """Cancel what still runs and close the client (and the local cluster, when the sweep started one)."""
        with contextlib.suppress(Exception):
            if self._futures:
                self._client.cancel(list(self._futures), force=kill)
        self._futures.clear()
        with contextlib.suppress(Exception):
            self._client.close(timeout=10)
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close(timeout=10)
