"""FastAPI dependencies: settings, session, runner and the authenticated principal."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, TypeVar, cast

import anyio.to_thread
import jwt
import sqlalchemy as sa
from fastapi import Depends, Query, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlmodel import Session

from .auditwriter import AUDIT_QUEUE
from .changewatch import DB_VERSION
from .config import Settings
from .errors import ApiError
from .plancache import ROUTE_INDEX
from .runner import JobRunner
from .scenariorunner import ScenarioRunner
from .security import Principal, decode_stream_token, decode_token, hash_api_key
from .services.access import api_key_principal, principal_from_claims
from .services.jobs import JobEvents

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_engine(request: Request) -> sa.Engine:
    return request.app.state.engine


T = TypeVar("T")
_UNREAD: Any = object()  # run_authenticated: read the version in the calling thread


def _open_session(request: Request) -> Session:
    session = Session(request.app.state.engine, expire_on_commit=False)  # no connection until used
    session.info[ROUTE_INDEX] = getattr(request.app.state, "route_index", None)
    if getattr(request.app.state, "audit_writer", None) is not None:
        session.info[AUDIT_QUEUE] = []
    return session


def _finish_session(request: Request, session: Session, *, ok: bool) -> None:
    """Commit (or roll back) and close; then hand the request's read audit entries to the writer."""
    try:
        if ok:
            session.commit()
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    pending = session.info.get(AUDIT_QUEUE)
    if ok and pending:
        request.app.state.audit_writer.submit(pending)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request: committed when the route returns, rolled back on error.

    Opening it costs no thread; committing and closing take one.  Its connection goes back to
    the pool before the response is sent (``scope="function"``); the request's read audit
    entries go to the audit writer once the commit succeeded.
    """
    session = _open_session(request)
    try:
        yield session
    except BaseException:
        with anyio.CancelScope(shield=True):
            await _finish(request, session, ok=False)
        raise
    with anyio.CancelScope(shield=True):
        await _finish(request, session, ok=True)


async def _finish(request: Request, session: Session, *, ok: bool) -> None:
    """``_finish_session``: in a worker thread when the session has a transaction (a commit or a rollback talks
    to the database) or audit entries wait (the writer's queue may push back), else here (nothing to end: a
    request answered from memory costs no thread hop)."""
    if session.in_transaction() or session.info.get(AUDIT_QUEUE):
        await anyio.to_thread.run_sync(lambda: _finish_session(request, session, ok=ok))
    else:
        _finish_session(request, session, ok=ok)


def get_runner(request: Request) -> JobRunner:
    return request.app.state.runner


def get_scenario_runner(request: Request) -> ScenarioRunner:
    return request.app.state.scenario_runner


def get_events(request: Request) -> JobEvents:
    return request.app.state.job_events


def get_risk_model(request: Request) -> Any:
    return request.app.state.risk_model


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]
ScenarioRunnerDep = Annotated[ScenarioRunner, Depends(get_scenario_runner)]
EventsDep = Annotated[JobEvents, Depends(get_events)]
RiskDep = Annotated[Any, Depends(get_risk_model)]

_CHALLENGE = {"WWW-Authenticate": 'Bearer, ApiKey header="X-API-Key"'}


async def get_principal(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """The caller, from a bearer token (OAuth2 password flow) or an ``X-API-Key`` header.

    The database's version is read in the event loop (``loop_version``); while nothing has been committed
    since the credential was last validated the caller comes from memory with no thread and no query, else
    the credential is checked in a worker thread.  (Read in the worker threads, every authenticated request
    queued on the version watch's one shared connection: in the ``mixed`` load phase 77 % of the worker
    threads' samples waited there.)"""
    # The version must be read before the session's first query (a read transaction already open may see
    # an older state): otherwise nothing is cached or reused for this request.
    version = None if session.in_transaction() else await loop_version(request)
    known = cached_principal(request, token, api_key, version)
    if known is not None:
        return known
    return await anyio.to_thread.run_sync(principal_at, request, session, token, api_key, version)


def principal_now(request: Request, session: Session, token: str | None, api_key: str | None) -> Principal:
    """``get_principal`` from a worker thread (the version read there)."""
    version = None if session.in_transaction() else db_version(request)
    return principal_at(request, session, token, api_key, version)


def db_version(request: Request) -> Any:
    """The database's version now (``api.changewatch``), read before a request's queries; ``None``: unknown."""
    watch = getattr(request.app.state, "change_watch", None)
    return None if watch is None else watch.current()


async def loop_version(request: Request) -> Any:
    """``db_version`` read in the event loop (its own connection on SQLite, a shared asynchronous check on
    PostgreSQL): no worker thread waits for the watch's shared connection."""
    watch = getattr(request.app.state, "change_watch", None)
    return None if watch is None else await watch.current_async()


async def shared_check(request: Request, key: tuple[Any, ...], check: Callable[[], Awaitable[T]]) -> T:
    """``check()``, or the result of the same check already under way (``key`` ends with the database version
    read before it: a check that started at that version sees every commit this caller could have seen).  Its
    answer (the result, or the 401/403/404 it raised) is this caller's too; a check whose caller went away is not
    shared.  No version (it could not be read): nothing is shared.  After a commit every hot read in flight misses
    its cache at once; reads with the same key then cost one thread and one set of queries, not one each."""
    flights: dict[tuple[Any, ...], asyncio.Future[Any]] | None = getattr(request.app.state, "shared_checks", None)
    if flights is None:
        flights = request.app.state.shared_checks = {}
    if key[-1] is None:
        return await check()
    running = flights.get(key)
    if running is not None:
        await asyncio.wait({running})
        if not running.cancelled():
            return cast(T, running.result())
    mine: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    flights[key] = mine
    try:
        result = await check()
    except asyncio.CancelledError:
        mine.cancel()
        raise
    except BaseException as exc:
        mine.set_exception(exc)
        mine.exception()  # retrieved: no "never retrieved" warning when nobody shared it
        raise
    else:
        mine.set_result(result)
        return result
    finally:
        if flights.get(key) is mine:
            del flights[key]


def _credential(token: str | None, api_key: str | None) -> tuple[str, str] | None:
    if api_key:
        return ("key", hash_api_key(api_key))
    if token:
        return ("token", token)
    return None


def cached_principal(request: Request, token: str | None, api_key: str | None, version: Any) -> Principal | None:
    """The caller as validated at ``version``, when nothing has been committed since (no query); else ``None``."""
    cache = getattr(request.app.state, "principals", None)
    credential = _credential(token, api_key)
    if cache is None or credential is None:
        return None
    return cache.get(credential, version)


def _remember(request: Request, credential: tuple[str, str], principal: Principal, version: Any,
              expires: dt.datetime | None) -> None:
    cache = getattr(request.app.state, "principals", None)
    if cache is None:
        return
    until = float("inf") if expires is None else (
        time.monotonic() + (expires - dt.datetime.now(dt.UTC)).total_seconds())
    cache.put(credential, principal, version, until=until)


def principal_at(
    request: Request, session: Session, token: str | None, api_key: str | None, version: Any
) -> Principal:
    """``get_principal`` with the database's ``version`` read before the session's first query: the caller
    comes from the cache of validated credentials while nothing has been committed since it was checked
    (a revoked key, a deactivated user or a signed-out token is a commit, and stops at the next request)."""
    known = cached_principal(request, token, api_key, version)
    if known is not None:
        return known
    if api_key:
        principal, expires = api_key_principal(session, api_key)
        if principal is None:
            raise ApiError(401, "the API key is unknown, revoked or expired", headers=_CHALLENGE)
        _remember(request, ("key", hash_api_key(api_key)), principal, version, expires)
        return principal
    if token:
        try:
            claims = decode_token(token, secret=request.app.state.secret_key)
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "the access token has expired", headers=_CHALLENGE) from None
        except jwt.InvalidTokenError:
            raise ApiError(401, "the access token is not valid", headers=_CHALLENGE) from None
        principal = principal_from_claims(session, claims)
        if principal is None:
            raise ApiError(
                401, "the access token has been revoked or its user deactivated", headers=_CHALLENGE
            )
        exp = claims.get("exp")
        expires = dt.datetime.fromtimestamp(exp, dt.UTC) if isinstance(exp, int | float) else dt.datetime.now(dt.UTC)
        _remember(request, ("token", token), principal, version, expires)
        return principal
    raise ApiError(
        401, "sign in (POST /v1/auth/token) or send an X-API-Key header", headers=_CHALLENGE
    )


PrincipalDep = Annotated[Principal, Depends(get_principal)]
TokenDep = Annotated[str | None, Depends(oauth2_scheme)]


def get_stream_principal(
    request: Request,
    session: SessionDep,
    job_id: str,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
    stream_token: Annotated[str | None, Query(
        alias="token", max_length=2048,
        description="a job-events token from POST /v1/plan-jobs/{id}/stream-token (for browsers' EventSource, "
        "which cannot send headers); valid 60 s, for this job's events only")] = None,
) -> Principal:
    """The caller of a job's event stream: a short-lived job-events token in the query (for this job
    only), else the usual bearer token or API key header.  Access tokens are never accepted in the query."""
    if stream_token is None:
        return principal_now(request, session, token, api_key)
    try:
        claims = decode_stream_token(stream_token, job_id=job_id, secret=request.app.state.secret_key)
    except jwt.ExpiredSignatureError:
        raise ApiError(401, "the stream token has expired; ask for a new one "
                       "(POST /v1/plan-jobs/{id}/stream-token)", headers=_CHALLENGE) from None
    except jwt.InvalidTokenError:
        raise ApiError(401, "the stream token is not valid for this job's events", headers=_CHALLENGE) from None
    principal = principal_from_claims(session, claims)
    if principal is None:
        raise ApiError(401, "the stream token's user was deactivated or signed out", headers=_CHALLENGE)
    return principal


StreamPrincipalDep = Annotated[Principal, Depends(get_stream_principal)]
ApiKeyDep = Annotated[str | None, Depends(api_key_scheme)]


def run_in_session(request: Request, work: Callable[[Session], T]) -> T:
    """``work(session)`` in the request's session, in the calling thread, for routes that carry
    their own secret instead of a signed-in user (calendar feeds); committed, audited and closed
    as ``get_session`` does."""
    session = _open_session(request)
    try:
        result = work(session)
    except BaseException:
        _finish_session(request, session, ok=False)
        raise
    _finish_session(request, session, ok=True)
    return result


def run_authenticated(
    request: Request, token: str | None, api_key: str | None, work: Callable[[Session, Principal], T],
    version: Any = _UNREAD,
) -> T:
    """Open the request's session, authenticate the caller and run ``work(session, principal)``,
    all in the calling thread (one thread hop for a hot read instead of one per dependency);
    committed, audited and closed as ``get_session`` does.  ``version``: the database's version read
    before this call (``loop_version``); by default it is read here."""
    session = _open_session(request)
    if version is _UNREAD:
        version = db_version(request)
    session.info[DB_VERSION] = version  # read before the session's first query
    try:
        result = work(session, principal_at(request, session, token, api_key, version))
    except BaseException:
        _finish_session(request, session, ok=False)
        raise
    _finish_session(request, session, ok=True)
    return result
