"""Sign-in rate limits: failed attempts per account and per client address in sliding windows (one process)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["SignInGuard", "SlidingWindow"]


class SlidingWindow:
    """At most ``limit`` events per key within the last ``window_s`` seconds.

    Memory stays bounded: keys whose events have all aged out are dropped when the table
    grows past ``max_keys``, and if every key is still live the oldest ones go.
    """

    def __init__(
        self, *, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
    ) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError(f"limit and window_s must be positive, got {limit} and {window_s}")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str, now: float) -> deque[float] | None:
        events = self._events.get(key)
        if events is None:
            return None
        while events and events[0] <= now - self.window_s:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or ``None`` when it is under the limit."""
        with self._lock:
            now = self._clock()
            events = self._live(key, now)
            if events is None or len(events) < self.limit:
                return None
            return max(0.0, events[0] + self.window_s - now)

    def hit(self, key: str) -> None:
        with self._lock:
            now = self._clock()
            events = self._live(key, now)
            if events is None:
                if len(self._events) >= self._max_keys:
                    self._prune(now)
                events = self._events.setdefault(key, deque(maxlen=self.limit))
            events.append(now)

    def clear(self, key: str) -> None:
        with self._lock:
            self._events.pop(key, None)

    def _prune(self, now: float) -> None:
        for key in list(self._events):
            self._live(key, now)
        while len(self._events) >= self._max_keys:
            oldest = min(self._events, key=lambda k: self._events[k][-1])
            del self._events[oldest]


class SignInGuard:
    """Failed sign-ins counted per account and per client address; a success clears the account."""

    def __init__(
        self, *, window_s: float, account_failures: int, address_failures: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.accounts = SlidingWindow(limit=account_failures, window_s=window_s, clock=clock)
        self.addresses = SlidingWindow(limit=address_failures, window_s=window_s, clock=clock)

    @staticmethod
    def _account(username: str) -> str:
        return username[:128]

    def retry_after(self, username: str, address: str) -> float | None:
        """Seconds to wait when the account or the address is over its limit, else ``None``."""
        waits = [
            w for w in (self.accounts.retry_after(self._account(username)), self.addresses.retry_after(address))
            if w is not None
        ]
        return max(waits) if waits else None

    def failed(self, username: str, address: str) -> None:
        self.accounts.hit(self._account(username))
        self.addresses.hit(address)

    def succeeded(self, username: str) -> None:
        self.accounts.clear(self._account(username))
