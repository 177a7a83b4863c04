"""FastAPI dependencies: settings, session, runner and the authenticated principal."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

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
            await anyio.to_thread.run_sync(lambda: _finish_session(request, session, ok=False))
        raise
    with anyio.CancelScope(shield=True):
        await anyio.to_thread.run_sync(lambda: _finish_session(request, session, ok=True))


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


def get_principal(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(oauth2_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal:
    """The caller, from a bearer token (OAuth2 password flow) or an ``X-API-Key`` header."""
    # The version must be read before the session's first query (a read transaction already open may see
    # an older state): otherwise nothing is cached or reused for this request.
    version = None if session.in_transaction() else db_version(request)
    return principal_at(request, session, token, api_key, version)


def db_version(request: Request) -> Any:
    """The database's version now (``api.changewatch``), read before a request's queries; ``None``: unknown."""
    watch = getattr(request.app.state, "change_watch", None)
    return None if watch is None else watch.current()


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
        return get_principal(request, session, token, api_key)
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
    request: Request, token: str | None, api_key: str | None, work: Callable[[Session, Principal], T]
) -> T:
    """Open the request's session, authenticate the caller and run ``work(session, principal)``,
    all in the calling thread (one thread hop for a hot read instead of one per dependency);
    committed, audited and closed as ``get_session`` does."""
    session = _open_session(request)
    session.info[DB_VERSION] = version = db_version(request)  # before the session's first query
    try:
        result = work(session, principal_at(request, session, token, api_key, version))
    except BaseException:
        _finish_session(request, session, ok=False)
        raise
    _finish_session(request, session, ok=True)
    return result
