"""The FastAPI application factory: settings and heavy resources are created in the lifespan."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlmodel import Session

from .admission import AdmissionMiddleware, install_overload_handlers, set_thread_limit
from .auditwriter import AuditWriter
from .changewatch import ChangeWatch, VersionedCache
from .config import Settings
from .db import current_revision, make_engine, upgrade
from .errors import install_handlers, problem_responses
from .guard import install_guards
from .middleware import BodyLimitMiddleware
from .plancache import PlanBodyCache, RouteIndex
from .ratelimit import SignInGuard
from .redact import install_log_redaction, know_route_words
from .routes import api_router, copy_routes
from .runner import JobRunner
from .scenariorunner import ScenarioRunner
from .security import load_or_create_secret
from .services.feeds import FeedCache
from .services.jobs import JobEvents, fail_orphaned_jobs
from .services.scenarios import ScenarioEvents, resume_unfinished
from .webpage import install_web_page

__all__ = ["create_app"]

_log = logging.getLogger("salpimi.api")

DESCRIPTION = """\
Outreach visit scheduling for municipal welfare teams: dispatchers plan, publish and re-plan
the day; field workers see their own route; managers read everything.

* Sign in with `POST /v1/auth/token` (OAuth2 password flow) or send `X-API-Key`.
* Errors are RFC 9457 `application/problem+json`; lists are `{"data": [...], "count": n}`.
* IDs are opaque strings; datetimes are ISO 8601 with `+09:00`; durations `_s`, distances `_m`.
"""


def _risk_model(settings: Settings) -> Any:
    from planner import RiskModel

    if settings.risk_toml is not None:
        return RiskModel.from_toml(settings.risk_toml)
    return RiskModel.default()


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (default: from the environment)."""
    settings = settings or Settings.from_env()
    install_log_redaction()  # logs carry ids and field names only, whatever logs them

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        set_thread_limit(settings.threads)
        engine = make_engine(settings)
        if settings.auto_migrate:
            upgrade(engine)
        with Session(engine) as session:
            orphaned = fail_orphaned_jobs(session)
            session.commit()
        if orphaned:
            _log.warning("marked %d unfinished job(s) of a previous run as failed", orphaned)
        # Job progress and the audit writer have connections of their own: a flood of requests
        # holding every pooled connection cannot delay them.
        events_engine = make_engine(settings, pool_size=1, max_overflow=1)
        audit_engine = make_engine(settings, pool_size=1, max_overflow=0)
        audit_writer = AuditWriter(audit_engine)
        events = JobEvents(events_engine)
        runner = JobRunner(
            max_workers=settings.max_workers, on_event=events, grace_s=settings.job_grace_s,
            nice=settings.solver_nice,
        )
        app.state.settings = settings
        app.state.engine = engine
        app.state.secret_key = settings.secret_key or load_or_create_secret(settings.data_dir)
        app.state.risk_model = _risk_model(settings)
        app.state.job_events = events
        app.state.runner = runner
        # Scenario sweeps: one at a time, in worker processes of their own; unfinished ones resume.
        scenario_engine = make_engine(settings, pool_size=1, max_overflow=1)
        scenario_runner = ScenarioRunner(workers=settings.max_workers, store_dir=settings.data_dir / "scenario-runs",
                                         on_event=ScenarioEvents(scenario_engine),
                                         nice=min(19, settings.solver_nice + 5))  # day plans first
        with Session(engine) as session:
            if resume_unfinished(session, scenario_runner):
                _log.warning("resuming unfinished scenario run(s) of a previous run")
            session.commit()
        app.state.scenario_runner = scenario_runner
        app.state.audit_writer = audit_writer
        app.state.plan_cache = PlanBodyCache()
        app.state.route_index = RouteIndex()
        # Hot reads skip their queries while nothing has been committed since they last checked.
        app.state.change_watch = ChangeWatch(engine)
        audit_writer.note_xid = app.state.change_watch.note_own_write  # its commits change no cached read
        app.state.principals = VersionedCache()
        app.state.me_bodies = VersionedCache()  # GET /v1/users/me: each user's body, by version
        app.state.feed_cache = FeedCache()
        audit_writer.start()
        runner.start()
        scenario_runner.start()
        try:
            yield
        finally:
            scenario_runner.shutdown()
            runner.shutdown()
            audit_writer.close()
            await app.state.change_watch.aclose()
            for each in (engine, events_engine, audit_engine, scenario_engine):
                each.dispose()

    app = FastAPI(
        title="Salpimi",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=problem_responses(413),
    )
    install_guards(app)  # 400 control characters in the URL, 415 unreadable bodies, OPTIONS with Allow
    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        import_max_bytes=max(settings.max_body_bytes, settings.max_csv_bytes + 64 * 1024),
    )
    # Outermost: excess requests wait here, or get 503, before using a thread or a connection.
    app.add_middleware(
        AdmissionMiddleware, max_in_flight=settings.max_in_flight, queue_timeout_s=settings.queue_timeout_s,
        max_queued=settings.max_queued, queue_target_s=settings.queue_target_s,
    )
    install_handlers(app)
    install_overload_handlers(app)
    app.state.signin_guard = SignInGuard(
        window_s=settings.signin_window_s, account_failures=settings.signin_account_failures,
        address_failures=settings.signin_address_failures,
    )
    copy_routes(app.router, api_router())  # one flat route table: nested routers cost CPU on every request

    @app.get("/healthz", tags=["service"], summary="Liveness and database revision")
    def healthz() -> dict[str, Any]:
        engine = app.state.engine
        return {
            "status": "ok",
            "database": engine.dialect.name,
            "revision": current_revision(engine),
            "jobs_active": len(app.state.runner.active_jobs()),
        }

    install_web_page(app, settings)  # last: "/" and the page's files ("/{name}") after every other route
    know_route_words(getattr(r, "path", "") for r in app.routes)
    return app
