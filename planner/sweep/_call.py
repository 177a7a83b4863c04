"""What runs inside a sweep's worker process: one task through its function, every failure as plain data."""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["call", "quiet_worker"]


def call(fn: Callable[[dict[str, Any]], Any], task: dict[str, Any]) -> dict[str, Any]:
    """Run ``fn(task)``; return ``{"status": "ok", "result", "elapsed_s", "pid"}`` or, when it raises,
    ``{"status": "error", "error": "Type: message", "elapsed_s", "pid"}`` (the last frame's place kept, never
    the task's data)."""
    started = time.perf_counter()
    try:
        result = fn(task)
    except BaseException as exc:  # a task's failure is reported, never lost
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" (at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:600] + where,
                "elapsed_s": time.perf_counter() - started, "pid": os.getpid()}
    return {"status": "ok", "result": result, "elapsed_s": time.perf_counter() - started, "pid": os.getpid()}


def quiet_worker() -> None:
    """Worker processes leave Ctrl-C to the sweep (it stops them) and keep numeric libraries to one thread."""
    import contextlib
    import signal

    with contextlib.suppress(ValueError):  # not the main thread (a Dask worker that runs it elsewhere)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(name, "1")
