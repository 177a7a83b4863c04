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
from starlette.types import ASGIApp, Receive, Scope, Send

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

    Waiters are served first come, first served, until one times out: then, for the next
    ``queue_timeout_s``, the newest waiter is served first (adaptive LIFO).  Under overload the
    requests that have waited longest are the ones to give up, and when the flood stops a new
    request is served at once instead of after the whole backlog.
    """

    def __init__(
        self, app: ASGIApp, *, max_in_flight: int, queue_timeout_s: float, max_queued: int,
        retry_after_s: int | None = None,
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.queue_timeout_s = queue_timeout_s
        self.max_queued = max_queued
        self.retry_after_s = retry_after_s or max(1, math.ceil(queue_timeout_s))
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[bool]] = deque()
        self._congested_until = 0.0
        self.rejected = 0

    @property
    def waiting(self) -> int:
        return sum(1 for f in self._waiters if not f.done())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path", "").endswith(STREAM_SUFFIXES):
            await self.app(scope, receive, send)
            return
        if not await self._acquire():
            self.rejected += 1
            await self._reject(scope, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self._release()

    async def _acquire(self) -> bool:
        if self.in_flight < self.max_in_flight and not self._waiters:
            self.in_flight += 1
            return True
        if len(self._waiters) >= self.max_queued:
            self._prune()
            if len(self._waiters) >= self.max_queued:
                self._congested_until = asyncio.get_running_loop().time() + self.queue_timeout_s
                return False
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[bool] = loop.create_future()
        if loop.time() < self._congested_until:
            self._waiters.appendleft(fut)  # overloaded: newest first
        else:
            self._waiters.append(fut)
        timer = loop.call_later(self.queue_timeout_s, _resolve, fut, False)
        try:
            granted = await fut  # True: the releasing request handed its slot over
            if not granted:
                self._congested_until = loop.time() + self.queue_timeout_s
            return granted
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.result():
                self._release()
            raise
        finally:
            timer.cancel()

    def _release(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(True)  # the slot passes to the longest waiter
                return
        self.in_flight -= 1

    def _prune(self) -> None:
        self._waiters = deque(f for f in self._waiters if not f.done())

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


def _resolve(fut: asyncio.Future[bool], value: bool) -> None:
    if not fut.done():
        fut.set_result(value)


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
