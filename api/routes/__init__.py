"""HTTP routes under /v1: thin functions over services, documented with problem responses."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.routing import APIRoute

from ..errors import problem_responses
from . import audit, auth, feeds, households, jobs, plans, teams, visits, workers

__all__ = ["api_router"]


def api_router() -> APIRouter:
    """Every /v1 route; all may answer 400 (malformed), 413 (too large) and 503 (overloaded), body routes 415."""
    router = APIRouter(prefix="/v1", responses=problem_responses(400, 413, 503))
    for module in (auth, teams, workers, households, visits, jobs, plans, feeds, audit):
        for route in module.router.routes:
            if isinstance(route, APIRoute) and (route.methods or set()) & {"POST", "PUT", "PATCH"}:
                route.responses = {**problem_responses(415), **route.responses}
        router.include_router(module.router)
    return router
