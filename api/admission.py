"""Admission control under load: a bounded number of requests in flight, a bounded wait, then 503 + Retry-After."""

from __future__ import annotations

import asyncio
import json
import math
from collections import deque
from typing import Any

import anyio.to_thread
import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import PROBLEM_JSON, TYPE_BASE, problem_response
from .redact import shown_path

__all__ = ["AdmissionMiddleware", "install_overload_handlers", "set_thread_limit"]

#: Paths that stay open for long and mostly sleep (server-sent events): not counted in flight.
STREAM_SUFFIXES = ("/events",)


class AdmissionMiddleware:
    """Let at most ``max_in_flight`` requests run; the rest wait for a slot.

    A request that waited ``queue_timeout_s`` for a slot, or that finds ``max_queued`` requests
    already waiting, is answered at once with 503 problem+json and ``Retry-After``, before any
    thread, database connection or body is touched.  Event streams are not counted.

    Which waiter gets a slot depends on the queueing delay (adaptive LIFO, CoDel-style): how long a
    request arriving now would wait if served first come, first served.  That is the event loop's
    lag (a request's bytes wait there before it reaches this middleware: requests answered from
    memory never wait for a slot, the loop itself queues them) or the requests waiting here served
    one after another at the recent pace, whichever is longer.  While it is at most
    ``queue_target_s`` requests are admitted at once when a slot is free and the longest waiter
    gets a freed slot; above it every request queues here and the newest waiter is served first,
    so a request arriving when a flood stops is answered at once instead of after the whole
    backlog, and under overload the requests that have waited longest are the ones that time out.
    A waiting request without a body whose client disconnects leaves the queue at once (it would
    only take a slot for nobody).
    """

    #: Weight of the newest sample in the running mean of the time between releases.
    WEIGHT = 1 / 16
    #: How often the event loop's lag is sampled while requests come in (seconds).
    LAG_EVERY_S = 0.02

    def __init__(
        self, app: ASGIApp, *, max_in_flight: int, queue_timeout_s: float, max_queued: int,
        queue_target_s: float = 0.25, retry_after_s: int | None = None,
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.queue_timeout_s = queue_timeout_s
        self.queue_target_s = queue_target_s
        self.max_queued = max_queued
        self.retry_after_s = retry_after_s or max(1, math.ceil(queue_timeout_s))
        self.in_flight = 0
        self._waiters: deque[_Waiter] = deque()
        self._live = 0  # waiters not yet granted, timed out or gone
        self._per_release_s = 0.0  # mean time between releases while requests waited (the pace of the queue)
        self._last_release: float | None = None  # when the last release with requests waiting happened
        self._lag_s = 0.0  # the event loop's latest lag
        self._lag_loop: asyncio.AbstractEventLoop | None = None  # the loop being sampled (None: not sampling)
        self._arrived = 0  # requests since the last lag sample
        self._pump_due = False
        self.rejected = 0
        self.gone = 0  # waiters whose client disconnected before they got a slot
        self.newest_first = 0  # slots handed to the newest waiter because the queue was congested

    @property
    def waiting(self) -> int:
        return self._live

    def queue_delay(self) -> float:
        """Seconds a request arriving now would wait, first come, first served."""
        return max(self._lag_s, self._live * self._per_release_s)

    def congested(self) -> bool:
        return self.queue_delay() > self.queue_target_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").endswith(STREAM_SUFFIXES):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        self._arrived += 1
        if self._lag_loop is not loop:
            self._start_sampling(loop)
        if self.in_flight < self.max_in_flight and not self._live and not self.congested():
            self.in_flight += 1
        else:
            outcome, receive = await self._wait(scope, receive)
            if outcome is _GONE:
                self.gone += 1
                return  # nobody is listening: no answer, no slot
            if outcome is not _GRANTED:
                self.rejected += 1
                await self._reject(scope, send)
                return
        started = loop.time()
        try:
            await self.app(scope, receive, send)
        finally:
            self._release(loop.time() - started)

    async def _wait(self, scope: Scope, receive: Receive) -> tuple[object, Receive]:
        """Wait for a slot: ``(_GRANTED | _TIMED_OUT | _GONE, receive)``; ``receive`` replays what was read."""
        loop = asyncio.get_running_loop()
        if self._live >= self.max_queued:
            return _TIMED_OUT, receive
        if len(self._waiters) > 2 * self._live + 64:
            self._waiters = deque(w for w in self._waiters if not w.fut.done())
        waiter = _Waiter(loop.create_future(), loop.time())
        self._waiters.append(waiter)
        self._live += 1
        if self.in_flight < self.max_in_flight and not self._pump_due:
            self._pump_due = True  # congested with a slot free: hand it out once this batch of arrivals queued
            loop.call_soon(self._pump)
        timer = loop.call_later(self.queue_timeout_s, self._settle, waiter, _TIMED_OUT)
        watch = _DisconnectWatch(receive, waiter, self) if _bodiless(scope) else None
        try:
            outcome = await waiter.fut
        except asyncio.CancelledError:
            if waiter.fut.done() and not waiter.fut.cancelled() and waiter.fut.result() is _GRANTED:
                self._release(None)
            else:
                self._settle(waiter, _GONE)
            raise
        finally:
            timer.cancel()
            if watch is not None:
                watch.stop()
        return outcome, (watch.replay if watch is not None else receive)

    def _settle(self, waiter: _Waiter, outcome: object) -> None:
        if not waiter.fut.done():
            waiter.fut.set_result(outcome)
            self._live -= 1

    def _next(self) -> _Waiter | None:
        """The waiter to get a slot: the longest waiting, or the newest while the queue is congested."""
        waiters = self._waiters
        while waiters and waiters[0].fut.done():
            waiters.popleft()
        while waiters and waiters[-1].fut.done():
            waiters.pop()
        if not waiters:
            return None
        if self.congested():
            self.newest_first += 1
            return waiters.pop()
        return waiters.popleft()

    def _pump(self) -> None:
        self._pump_due = False
        while self.in_flight < self.max_in_flight and (waiter := self._next()) is not None:
            self.in_flight += 1
            self._settle(waiter, _GRANTED)

    def _release(self, held_s: float | None) -> None:
        now = asyncio.get_running_loop().time()
        if self._live:  # saturated: the time since the last release is the queue's pace
            if self._last_release is not None:
                sample: float | None = now - self._last_release
            else:
                sample = None if held_s is None else held_s / self.max_in_flight
            if sample is not None:
                pace = self._per_release_s
                self._per_release_s = sample if pace == 0 else pace + self.WEIGHT * (sample - pace)
            self._last_release = now
        else:
            self._last_release = None
        self.in_flight -= 1
        waiter = self._next()
        if waiter is not None:
            self.in_flight += 1  # the slot passes on
            self._settle(waiter, _GRANTED)

    def _start_sampling(self, loop: asyncio.AbstractEventLoop) -> None:
        self._lag_loop, self._lag_s = loop, 0.0
        due = loop.time() + self.LAG_EVERY_S
        loop.call_at(due, self._sample_lag, loop, due)

    def _sample_lag(self, loop: asyncio.AbstractEventLoop, due: float) -> None:
        """Every ``LAG_EVERY_S`` while requests come in: how late a timer runs is how long ready work waits."""
        if self._lag_loop is not loop:
            return  # another loop's sampler took over (an earlier test's)
        now = loop.time()
        if not self._arrived and not self.in_flight and not self._live:
            self._lag_loop, self._lag_s = None, 0.0  # idle: no sampling until the next request
            return
        self._lag_s, self._arrived = max(0.0, now - due), 0
        loop.call_at(now + self.LAG_EVERY_S, self._sample_lag, loop, now + self.LAG_EVERY_S)

    async def _reject(self, scope: Scope, send: Send) -> None:
        body = {
            "type": TYPE_BASE + "unavailable",
            "title": "Service unavailable",
            "status": 503,
            "detail": f"the server is busy ({self.max_in_flight} requests in progress); "
            f"retry after {self.retry_after_s} s",
            "instance": shown_path(scope.get("path", "")),
        }
        raw = json.dumps(body).encode()
        await send({
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(raw)).encode()),
                (b"retry-after", str(self.retry_after_s).encode()),
            ],
        })
        await send({"type": "http.response.body", "body": raw})


_GRANTED, _TIMED_OUT, _GONE = object(), object(), object()


class _Waiter:
    __slots__ = ("fut", "since")

    def __init__(self, fut: asyncio.Future[object], since: float) -> None:
        self.fut = fut
        self.since = since


def _bodiless(scope: Scope) -> bool:
    """No request body follows (no ``content-length`` above 0, no ``transfer-encoding``)."""
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() not in (b"0", b"")):
            return False
    return True


class _DisconnectWatch:
    """While a bodiless request waits, read its (empty) body and then listen for the client going away.

    The messages read are handed to the application again by ``replay``; a ``http.disconnect`` takes
    the request out of the queue.  A body is never read before the request is admitted.
    """

    def __init__(self, receive: Receive, waiter: _Waiter, owner: AdmissionMiddleware) -> None:
        self._receive = receive
        self._read: deque[Message] = deque()
        self._task = asyncio.get_running_loop().create_task(self._listen(waiter, owner))

    async def _listen(self, waiter: _Waiter, owner: AdmissionMiddleware) -> None:
        while True:
            try:
                message = await self._receive()
            except Exception:  # the server's receive failed: leave it to the application
                return
            self._read.append(message)
            if message["type"] == "http.disconnect":
                owner._settle(waiter, _GONE)
                return
            if message.get("more_body", False):
                return  # a body after all: stop reading

    def stop(self) -> None:
        self._task.cancel()

    async def replay(self) -> Message:
        if self._read:
            return self._read.popleft()
        return await self._receive()


def set_thread_limit(threads: int) -> None:
    """Size the worker-thread pool that runs sync endpoints and dependencies (this event loop's)."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = threads


def install_overload_handlers(app: FastAPI, *, retry_after_s: int = 1) -> None:
    """A database pool that stays empty, or SQLite's write lock held past its busy timeout, is 503, not 500."""
    headers = {"Retry-After": str(retry_after_s)}

    @app.exception_handler(sa.exc.TimeoutError)
    async def _pool_timeout(request: Request, exc: Any) -> JSONResponse:
        return problem_response(
            request, 503, "no database connection became free in time; retry shortly", headers=headers
        )

    @app.exception_handler(sa.exc.OperationalError)
    async def _operational(request: Request, exc: sa.exc.OperationalError) -> JSONResponse:
        if "database is locked" in str(exc.orig):
            return problem_response(request, 503, "the database is busy; retry shortly", headers=headers)
        raise exc
