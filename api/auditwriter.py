"""Audit entries of reads, appended by one background writer in small transactions, so reads never take a write lock."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from .models import AuditLog

__all__ = ["AUDIT_QUEUE", "AuditWriter"]

#: ``session.info`` key of a request's read entries, handed to the writer once the request has committed.
AUDIT_QUEUE = "salpimi_audit_reads"

_log = logging.getLogger("salpimi.audit")

_STOP = object()


class AuditWriter:
    """Queue audit entries and append them from one thread, at most ``batch`` per transaction.

    An entry is queued when the request that made it has committed; the writer appends what
    has queued every ``interval_s`` at the latest.  A failed write is retried (every second,
    the batch kept) rather than dropped.  ``close()`` writes everything still queued: a clean
    shutdown loses nothing; a crash loses at most the last ``interval_s`` of reads.  When
    ``max_queue`` entries wait, ``submit`` blocks (back-pressure, never loss).

    Parameters
    ----------
    engine
        A small engine of its own (one connection), so that requests holding every pooled
        connection cannot starve it.
    """

    def __init__(
        self, engine: sa.Engine, *, batch: int = 500, interval_s: float = 0.05, max_queue: int = 100_000
    ) -> None:
        self._engine = engine
        self._batch = batch
        self._interval_s = interval_s
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._loop, name="salpimi-audit", daemon=True)
        self._closed = False
        self.written = 0
        #: PostgreSQL: told each batch's transaction id before it commits (``ChangeWatch.note_own_write``).
        self.note_xid: Callable[[int], None] | None = None

    def start(self) -> None:
        self._thread.start()

    def submit(self, entries: Sequence[AuditLog]) -> None:
        """Queue ``entries`` (written within ``interval_s``); after ``close()`` they are written at once."""
        if self._closed or not self._thread.is_alive():
            self._write(list(entries))
            return
        for entry in entries:
            self._queue.put(entry)

    def flush(self, timeout_s: float = 30.0) -> bool:
        """Wait until every entry queued so far is written (``False`` if that took over ``timeout_s``)."""
        if not self._thread.is_alive():
            return True
        done = threading.Event()
        self._queue.put(done)
        return done.wait(timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        """Write everything queued, then stop the thread."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout_s)

    # ---- the writer thread ----------------------------------------------------------------------
    def _loop(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            entries: list[AuditLog] = []
            markers: list[threading.Event] = []
            deadline = time.monotonic() + self._interval_s
            while True:
                if item is _STOP:
                    stopping = True
                elif isinstance(item, threading.Event):
                    markers.append(item)
                elif isinstance(item, AuditLog):
                    entries.append(item)
                if stopping or markers or len(entries) >= self._batch:
                    try:  # take whatever else is already queued, without waiting
                        while len(entries) < self._batch:
                            item = self._queue.get_nowait()
                            if item is _STOP:
                                stopping = True
                            elif isinstance(item, threading.Event):
                                markers.append(item)
                            elif isinstance(item, AuditLog):
                                entries.append(item)
                    except queue.Empty:
                        pass
                    break
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            self._write_retrying(entries, stopping)
            for marker in markers:
                marker.set()
        self._drain()

    def _drain(self) -> None:
        rest: list[AuditLog] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, AuditLog):
                rest.append(item)
            elif isinstance(item, threading.Event):
                item.set()
        if rest:
            self._write_retrying(rest, True)

    def _write_retrying(self, entries: list[AuditLog], stopping: bool) -> None:
        attempts = 0
        while entries:
            try:
                self._write(entries)
                return
            except Exception as exc:
                attempts += 1
                _log.error("could not append %d audit entries (%s); retrying", len(entries), type(exc).__name__)
                if stopping and attempts >= 5:
                    _log.error("gave up on %d audit entries at shutdown", len(entries))
                    return
                time.sleep(1.0)

    def _write(self, entries: list[AuditLog]) -> None:
        """One transaction, one multi-row ``INSERT`` (Core: the ORM's unit of work cost the writer thread about a
        quarter of the wall time in the ``mixed`` load phase, holding the GIL the request threads need)."""
        if not entries:
            return
        table = AuditLog.__table__  # type: ignore[attr-defined]
        names = [column.name for column in table.columns]
        rows = [{name: getattr(entry, name) for name in names} for entry in entries]
        with self._engine.begin() as conn:
            if self.note_xid is not None and conn.dialect.name == "postgresql":
                self.note_xid(int(conn.exec_driver_sql("SELECT pg_current_xact_id()::text").scalar_one()))
            conn.execute(table.insert(), rows)
        self.written += len(entries)
