"""HTTP routes under /v1: thin functions over services, documented with problem responses."""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute

from ..errors import problem_responses
from . import audit, auth, dayview, feeds, households, jobs, plans, scenarios, teams, visits, web, workers

__all__ = ["api_router", "copy_routes"]


def api_router() -> APIRouter:
    """Every /v1 route; all may answer 400 (malformed), 413 (too large) and 503 (overloaded), body routes 415."""
    router = APIRouter(prefix="/v1", responses=problem_responses(400, 413, 503))
    for module in (auth, teams, workers, households, visits, jobs, plans, feeds, audit, web, dayview, scenarios):
        for route in module.router.routes:
            if isinstance(route, APIRoute) and (route.methods or set()) & {"POST", "PUT", "PATCH"}:
                route.responses = {**problem_responses(415), **route.responses}
        copy_routes(router, module.router)
    return router


#: What ``copy_routes`` passes on by itself rather than copying as the route has it.
_MERGED = frozenset({"path", "endpoint", "responses", "tags", "dependencies", "callbacks", "route_class_override"})


def copy_routes(target: APIRouter, source: APIRouter) -> None:
    """Add every route of ``source`` to ``target`` itself (its prefix, tags and responses applied), as
    ``include_router`` did before FastAPI 0.16x, instead of including ``source`` as a nested router.

    Included routers are matched level by level on every request, re-walking each level's route table
    (about a quarter of a plan read's CPU time with the /v1 router inside the app and ten module routers
    inside it); one flat table costs a regular-expression match per route.  A router holding anything
    other than API routes is included as it is.
    """
    if not all(isinstance(route, APIRoute) for route in source.routes):
        target.include_router(source)
        return
    accepted = inspect.signature(target.add_api_route).parameters
    for route in source.routes:
        assert isinstance(route, APIRoute)
        kwargs: dict[str, Any] = {
            name: getattr(route, name) for name in accepted if name not in _MERGED and hasattr(route, name)
        }
        target.add_api_route(
            route.path, route.endpoint, responses=dict(route.responses), tags=list(route.tags or []),
            dependencies=list(route.dependencies or []), callbacks=list(route.callbacks or []) or None,
            route_class_override=type(route), **kwargs,
        )
