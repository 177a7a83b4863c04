"""Serialised plan bodies per plan version, rebuilt only when what a read shows (publication, statuses) changed."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

__all__ = ["CachedBody", "PlanBodyCache"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CachedBody:
    """A plan's JSON body, the state it was built from, and its strong ETag."""

    key: tuple[Any, ...]
    body: bytes
    etag: str

    @staticmethod
    def build(key: tuple[Any, ...], body: bytes) -> CachedBody:
        return CachedBody(key=key, body=body, etag='"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"')


class PlanBodyCache:
    """A small LRU of plan bodies (thread-safe; one per app, created in the lifespan).

    A stored plan's routes never change; what a read adds to them (whether the version is
    published, each visit's current status) is part of the key, so a changed status or a
    publication builds a new body.  ``visit_ids`` remembers each plan's stops so that a read
    that hits the cache never loads the plan JSON.
    """

    def __init__(self, *, max_plans: int = 64) -> None:
        if max_plans < 1:
            raise ValueError(f"max_plans: must be at least 1, got {max_plans}")
        self._max = max_plans
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[tuple[str, ...], CachedBody | None]] = OrderedDict()

    def visit_ids(self, plan_id: str) -> tuple[str, ...] | None:
        with self._lock:
            entry = self._entries.get(plan_id)
            return None if entry is None else entry[0]

    def lookup(self, plan_id: str, key: tuple[Any, ...]) -> CachedBody | None:
        with self._lock:
            entry = self._entries.get(plan_id)
            if entry is None or entry[1] is None or entry[1].key != key:
                return None
            self._entries.move_to_end(plan_id)
            return entry[1]

    def store(self, plan_id: str, visit_ids: tuple[str, ...], body: CachedBody | None) -> None:
        with self._lock:
            self._entries[plan_id] = (visit_ids, body)
            self._entries.move_to_end(plan_id)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
