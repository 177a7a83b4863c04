"""Serialised plan bodies per plan version, rebuilt only when what a read shows (publication, statuses) changed."""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

__all__ = ["ROUTE_INDEX", "CachedBody", "PlanBodyCache", "RouteIndex"]

#: ``session.info`` key of the app's ``RouteIndex`` (set when a request's session opens).
ROUTE_INDEX = "salpimi_route_index"


@dataclass(frozen=True, slots=True, kw_only=True)
class CachedBody:
    """A plan's JSON body (as is and gzip-compressed), the state it was built from, and its strong ETag."""

    key: tuple[Any, ...]
    body: bytes
    etag: str
    team_id: str = ""
    gzipped: bytes = b""  # the same body gzip-compressed once, for clients that accept it (its ETag: ``gzip_etag``)

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gz"'

    @staticmethod
    def build(key: tuple[Any, ...], body: bytes, *, team_id: str = "") -> CachedBody:
        return CachedBody(key=key, body=body, etag='"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"',
                          team_id=team_id, gzipped=gzip.compress(body, compresslevel=6, mtime=0))


class PlanBodyCache:
    """A small LRU of plan bodies (thread-safe; one per app, created in the lifespan).

    A stored plan's routes never change; what a read adds to them (whether the version is
    published, each visit's current status) is part of the key, so a changed status or a
    publication builds a new body.  ``visit_ids`` remembers each plan's stops so that a read
    that hits the cache never loads the plan JSON.

    Each entry also remembers the database's version (``api.changewatch``) at which it was last
    checked against the plan's row and statuses: while the version is unchanged, ``fresh`` returns
    the body with no query at all.
    """

    def __init__(self, *, max_plans: int = 64) -> None:
        if max_plans < 1:
            raise ValueError(f"max_plans: must be at least 1, got {max_plans}")
        self._max = max_plans
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[tuple[str, ...], CachedBody | None]] = OrderedDict()
        self._checked: dict[str, Any] = {}  # plan id -> the database version its body was last checked at

    def visit_ids(self, plan_id: str) -> tuple[str, ...] | None:
        with self._lock:
            entry = self._entries.get(plan_id)
            return None if entry is None else entry[0]

    def fresh(self, plan_id: str, version: Any) -> CachedBody | None:
        """The body, if it was checked at ``version`` (the database's version now): nothing changed since."""
        if version is None:
            return None
        with self._lock:  # the body and the version it was checked at, as one pair
            entry = self._entries.get(plan_id)
            if entry is None or entry[1] is None or self._checked.get(plan_id) != version:
                return None
            return entry[1]

    def lookup(self, plan_id: str, key: tuple[Any, ...], *, version: Any = None) -> CachedBody | None:
        """The body built for ``key``; it is then known valid at ``version`` (read before the key's queries)."""
        with self._lock:
            entry = self._entries.get(plan_id)
            if entry is None or entry[1] is None or entry[1].key != key:
                return None
            self._entries.move_to_end(plan_id)
            self._checked[plan_id] = version
            return entry[1]

    def store(
        self, plan_id: str, visit_ids: tuple[str, ...], body: CachedBody | None, *, version: Any = None
    ) -> None:
        with self._lock:
            self._entries[plan_id] = (visit_ids, body)
            self._entries.move_to_end(plan_id)
            self._checked[plan_id] = version if body is not None else None
            while len(self._entries) > self._max:
                old, _ = self._entries.popitem(last=False)
                self._checked.pop(old, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class RouteIndex:
    """Per stored plan, each worker's households (thread-safe LRU; one per app, created in the lifespan).

    A stored plan's routes never change, so an entry never goes stale: a field worker's access to a
    household asks which plans are published (ids only) and parses a plan's JSON once, not per request.
    """

    def __init__(self, *, max_plans: int = 1024) -> None:
        if max_plans < 1:
            raise ValueError(f"max_plans: must be at least 1, got {max_plans}")
        self._max = max_plans
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, dict[str, frozenset[str]]] = OrderedDict()

    def get(self, plan_id: str) -> dict[str, frozenset[str]] | None:
        with self._lock:
            entry = self._entries.get(plan_id)
            if entry is not None:
                self._entries.move_to_end(plan_id)
            return entry

    def put(self, plan_id: str, households_by_worker: dict[str, frozenset[str]]) -> None:
        with self._lock:
            self._entries[plan_id] = households_by_worker
            self._entries.move_to_end(plan_id)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
