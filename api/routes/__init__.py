"""HTTP routes under /v1: thin functions over services, documented with problem responses."""

from __future__ import annotations

from fastapi import APIRouter

from . import audit, auth, households, jobs, plans, teams, visits, workers

__all__ = ["api_router"]


def api_router() -> APIRouter:
    router = APIRouter(prefix="/v1")
    for module in (auth, teams, workers, households, visits, jobs, plans, audit):
        router.include_router(module.router)
    return router
