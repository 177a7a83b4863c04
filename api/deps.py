"""FastAPI dependencies: settings, session, runner and the authenticated principal."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

import anyio.to_thread
import jwt
import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlmodel import Session

from .auditwriter import AUDIT_QUEUE
from .config import Settings
from .errors import ApiError
from .runner import JobRunner
from .security import Principal, decode_token
from .services.access import principal_from_api_key, principal_from_claims
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


def get_events(request: Request) -> JobEvents:
    return request.app.state.job_events


def get_risk_model(request: Request) -> Any:
    return request.app.state.risk_model


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]
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
    if api_key:
        principal = principal_from_api_key(session, api_key)
        if principal is None:
            raise ApiError(401, "the API key is unknown, revoked or expired", headers=_CHALLENGE)
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
        return principal
    raise ApiError(
        401, "sign in (POST /v1/auth/token) or send an X-API-Key header", headers=_CHALLENGE
    )


PrincipalDep = Annotated[Principal, Depends(get_principal)]
TokenDep = Annotated[str | None, Depends(oauth2_scheme)]
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
    try:
        result = work(session, get_principal(request, session, token, api_key))
    except BaseException:
        _finish_session(request, session, ok=False)
        raise
    _finish_session(request, session, ok=True)
    return result
