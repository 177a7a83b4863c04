"""Has anything been committed to the database since version v? One cheap, exact check that lets hot reads skip queries.

A read that validated something against the database (an API key and its user, a plan body and its visits'
statuses) remembers the database's *version* read just before its queries.  While the version has not changed,
nothing was committed anywhere (by this process, another server process or the command line), so the result still
holds and the read needs no query at all.  Any commit changes the version, and the next read validates again.

* SQLite: ``PRAGMA data_version`` on a connection of the watch's own, which changes whenever any other
  connection, in any process, commits (it reads the WAL index in shared memory: microseconds, no disk).  The
  event loop has a connection of its own and worker threads share another, so the loop never waits for a lock a
  worker thread holds (a thread that releases the GIL inside the pragma holds that lock for a GIL switch
  interval, and a queue of threads behind it stalled every request the loop serves).  ``data_version`` values of
  two connections cannot be compared, so the version is a process-wide counter, bumped when either connection
  sees its ``data_version`` change: a commit costs at most two bumps.
* PostgreSQL: ``pg_current_snapshot()`` on a connection of the watch's own (autocommit): it changes when a
  transaction that writes starts (``xmax``) or ends (``xip``, ``xmin``); read-only transactions leave it alone.  The
  version is a process-wide counter too, bumped when a connection's snapshot shows a transaction finished since its
  last read that is not one of this process's audit writer's (``note_own_write``: audit entries change nothing a
  cached read shows, and the writer's batches used to make every hot read check again up to 20 times a second).
  Transactions that have started but not finished change nothing visible and leave the version alone.

The version is ``None`` when it cannot be read (an in-memory database, a lost connection): nothing is then fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Hashable
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

__all__ = ["DB_VERSION", "ChangeWatch", "VersionedCache"]

#: ``session.info`` key: the database's version read before the session's first query.
DB_VERSION = "salpimi_db_version"

V = TypeVar("V")


class ChangeWatch:
    """The database's current version (see the module's docstring); thread-safe, one connection."""

    def __init__(self, engine: sa.Engine) -> None:
        self._url = engine.url
        self._dialect = engine.dialect.name
        self._lock = threading.Lock()
        self._conn: Any = None
        self._closed = False
        self._turn = threading.Condition()  # shared checks (PostgreSQL): started, finished, running, value
        self._started = self._finished = 0
        self._running = False
        self._value: Any = None
        # The event loop's own connection and shared checks (PostgreSQL); used from the loop's thread only.
        self._aconn: Any = None
        self._a_started = self._a_finished = 0
        self._a_running = False
        self._a_value: Any = None
        self._a_done = asyncio.Event()
        # SQLite: the event loop's own connection (no lock: one thread), the epoch both connections bump.
        self._loop_conn: Any = None
        self._loop_thread: int | None = None
        self._epoch = 0
        self._epoch_lock = threading.Lock()
        self._seen: dict[str, Any] = {}  # connection ("threads" or "loop") -> its last data_version or snapshot
        # PostgreSQL: the audit writer's transaction ids (the latest 4,096), noted before each commits.
        self._own: set[int] = set()
        self._own_order: deque[int] = deque()
        self._own_lock = threading.Lock()

    @property
    def cheap(self) -> bool:
        """Reading the version needs no round trip to a server (SQLite): fine in the event loop."""
        return self._dialect == "sqlite"

    def current(self) -> Any:
        """The version now (a comparable token), or ``None`` when it cannot be known.

        On PostgreSQL, callers that arrive while a check is under way share the next one (which starts
        after they arrived, so it sees every commit made before they asked): one round trip per batch
        of concurrent requests instead of one each, queued behind a single connection.
        """
        if self.cheap:
            return self._read()
        with self._turn:
            wanted = self._started + 1  # a check that starts after this call began
            while self._finished < wanted:
                if not self._running:
                    self._running = True
                    self._started += 1
                    mine = self._started
                    break
                self._turn.wait()
            else:
                return self._value
        value = None
        try:
            value = self._read()
        finally:
            with self._turn:
                self._finished, self._value, self._running = mine, value, False
                self._turn.notify_all()
        return value

    async def current_async(self) -> Any:
        """``current()`` for the event loop: on PostgreSQL over an asynchronous connection of its own
        (no worker thread; concurrent callers share the next check as in ``current``); on SQLite the same
        microsecond read as ``current`` on a connection of the loop's own."""
        if self.cheap:
            return self._read_in_loop()
        wanted = self._a_started + 1
        while self._a_finished < wanted:
            if not self._a_running:
                return await self._check_async()
            await self._a_done.wait()
        return self._a_value

    async def _check_async(self) -> Any:
        self._a_running = True
        self._a_started += 1
        mine, value, done = self._a_started, None, self._a_done
        try:
            if self._aconn is None and not self._closed:
                import psycopg

                url = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
                self._aconn = await psycopg.AsyncConnection.connect(url, autocommit=True, connect_timeout=5)
            if self._aconn is not None:
                cursor = await self._aconn.execute("SELECT pg_current_snapshot()::text")
                row = await cursor.fetchone()
                value = self._pg_version("loop", row[0] if row else None)
        except Exception:
            await self._aclose_conn()
            value = None
        finally:
            self._a_finished, self._a_value, self._a_running = mine, value, False
            self._a_done = asyncio.Event()
            done.set()
        return value

    async def aclose(self) -> None:
        """Close the event loop's connection (from the loop), then the rest."""
        await self._aclose_conn()
        self.close()

    async def _aclose_conn(self) -> None:
        if self._aconn is not None:
            with contextlib.suppress(Exception):
                await self._aconn.close()
        self._aconn = None

    def _read(self) -> Any:
        with self._lock:
            if self._closed:
                return None
            try:
                if self._conn is None:
                    self._conn = self._connect()
                    if self._conn is None:
                        return None
                if self._dialect == "sqlite":
                    return self._note("threads", self._conn.execute("PRAGMA data_version").fetchone()[0])
                snapshot = self._conn.execute("SELECT pg_current_snapshot()::text").fetchone()[0]
                return self._pg_version("threads", snapshot)
            except Exception:
                self._drop()
                return None

    def _read_in_loop(self) -> Any:
        """SQLite, from the event loop: its own connection, no lock (only the loop's thread uses it; another
        thread calling here gets the shared one)."""
        me = threading.get_ident()
        if self._loop_thread is None:
            self._loop_thread = me
        if self._loop_thread != me or self._closed:
            return self._read()
        try:
            if self._loop_conn is None:
                self._loop_conn = self._connect()
                if self._loop_conn is None:
                    return None
            return self._note("loop", self._loop_conn.execute("PRAGMA data_version").fetchone()[0])
        except Exception:
            conn, self._loop_conn = self._loop_conn, None
            self._seen.pop("loop", None)
            with contextlib.suppress(Exception):
                if conn is not None:
                    conn.close()
            return None

    def _note(self, who: str, data_version: Any) -> int:
        """The epoch after connection ``who`` read ``data_version`` (its reads are serialised): bumped when it
        changed since that connection's last read, or on its first.  A commit made before a read began is seen
        by that read's connection, or was by an earlier read of it that bumped the epoch: either way the epoch
        returned is newer than any read before the commit could have returned."""
        if self._seen.get(who) != data_version:
            with self._epoch_lock:
                self._epoch += 1
            self._seen[who] = data_version
        return self._epoch

    def note_own_write(self, xid: int) -> None:
        """PostgreSQL: transaction ``xid`` (this process's audit writer's, noted before it commits) writes nothing a
        cached read shows: a snapshot that moved only by it finishing keeps the version."""
        with self._own_lock:
            if xid not in self._own:
                self._own.add(xid)
                self._own_order.append(xid)
                while len(self._own_order) > 4096:
                    self._own.discard(self._own_order.popleft())

    def _pg_version(self, who: str, snapshot: str | None) -> int | None:
        """The version after connection ``who`` read ``snapshot`` (its reads are serialised); see ``_note``, with
        changes made only by the audit writer's transactions (or by transactions still running) not counted."""
        if snapshot is None:
            return None
        before = self._seen.get(who)
        if before != snapshot:
            if before is None or not self._only_own_finished(before, snapshot):
                with self._epoch_lock:
                    self._epoch += 1
            self._seen[who] = snapshot
        return self._epoch

    def _only_own_finished(self, before: str, after: str) -> bool:
        """Every transaction that finished between snapshots ``before`` and ``after`` was the audit writer's."""
        try:
            _bmin, bmax, bxip = _snapshot(before)
            _amin, amax, axip = _snapshot(after)
        except ValueError:
            return False
        if amax < bmax or amax - bmax > 256:
            return False
        finished = [x for x in bxip if x not in axip] + [x for x in range(bmax, amax) if x not in axip]
        with self._own_lock:
            return all(x in self._own for x in finished)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop()

    def _connect(self) -> Any:
        if self._dialect == "sqlite":
            path = self._url.database
            if not path or path == ":memory:" or path.startswith("file:"):
                self._closed = True  # nothing to watch from outside: never fresh
                return None
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=5)
            conn.execute("PRAGMA query_only = ON")
            return conn
        if self._dialect == "postgresql":
            import psycopg

            url = self._url.set(drivername="postgresql")
            return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True, connect_timeout=5)
        self._closed = True
        return None

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
        self._conn = None
        self._seen.pop("threads", None)
        if self._closed and self._loop_conn is not None:
            with contextlib.suppress(Exception):
                self._loop_conn.close()
            self._loop_conn = None


def _snapshot(text: str) -> tuple[int, int, frozenset[int]]:
    """``xmin``, ``xmax`` and the running transaction ids of a ``pg_snapshot`` in its text form (``10:20:10,14``)."""
    xmin, xmax, xip = text.split(":")
    return int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x)


class VersionedCache(Generic[V]):
    """Values that hold while the database's version is the one they were validated at (thread-safe, bounded).

    ``put(key, value, version, until)``: ``value`` was read from the database at ``version`` (read *before*
    the queries) and, whatever happens, stops at the monotonic time ``until`` (an expiry).  ``get(key, version)``
    returns it only while the version is still that one.  A full cache is emptied (a hot key returns at once).
    """

    def __init__(self, *, max_entries: int = 4096) -> None:
        self._max = max_entries
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[V, Any, float]] = {}

    def get(self, key: Hashable, version: Any) -> V | None:
        if version is None:
            return None
        entry = self._entries.get(key)
        if entry is None or entry[1] != version or time.monotonic() >= entry[2]:
            return None
        return entry[0]

    def put(self, key: Hashable, value: V, version: Any, *, until: float = float("inf")) -> None:
        if version is None:
            return
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key] = (value, version, until)

    def __len__(self) -> int:
        return len(self._entries)
