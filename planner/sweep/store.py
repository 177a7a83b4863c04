"""Sweep results on disk as they finish: one JSON line per run, keyed by the task's content hash."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["ResultStore", "task_key"]


def task_key(task: Mapping[str, Any], *, fn_name: str = "") -> str:
    """The content hash of ``task`` (canonical JSON, keys sorted) and the task function's name.

    The same task run by another function is another run; key order and whitespace do not matter.
    Raises ``TypeError`` when the task is not plain JSON data.
    """
    text = json.dumps(task, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(f"{fn_name}\n{text}".encode()).hexdigest()


class ResultStore:
    """An append-only JSON-lines file of finished runs (``{"key", "status", "result"|"error", ...}``).

    Each record is written and flushed to disk when its run finishes, so an interrupted sweep loses at most
    the runs still in progress.  On opening, a torn last line (the process died mid-write) is ignored, and
    the last record of a key wins.  Only the sweep's own process writes.

    Parameters
    ----------
    path
        The file; created with its folder when missing.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._records: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        raw = self.path.read_bytes()
        for line in raw.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn write of an interrupted sweep
            if isinstance(record, dict) and isinstance(record.get("key"), str):
                self._records[record["key"]] = record
        if raw and not raw.endswith(b"\n"):
            with self.path.open("ab") as f:  # the next record starts on its own line
                f.write(b"\n")

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored record of ``key``, or None."""
        with self._lock:
            return self._records.get(key)

    def finished(self, key: str) -> bool:
        """Whether ``key`` has a successful result (failed runs are tried again on resume)."""
        record = self.get(key)
        return record is not None and record.get("status") == "ok"

    def put(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` (it must hold ``key``) and flush it to disk before returning."""
        line = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as f:
                f.write(line + "\n")
                f.flush()
                os.fsync(f.fileno())
            self._records[str(record["key"])] = dict(record)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
