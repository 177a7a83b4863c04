"""FastAPI dependencies: settings, session, runner and the authenticated principal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

import jwt
import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, OAuth2PasswordBearer
from sqlmodel import Session

from . import services
from .config import Settings
from .errors import ApiError
from .runner import JobRunner
from .security import Principal, decode_token

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False)


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


def get_engine(request: Request) -> sa.Engine:
    return request.app.state.engine  # type: ignore[no-any-return]


def get_session(request: Request) -> Iterator[Session]:
    """One session per request: committed when the route returns, rolled back on error.

    Its connection goes back to the pool before the response is sent (``scope="function"``);
    the request's read audit entries go to the audit writer once the commit succeeded.
    """
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        writer = getattr(request.app.state, "audit_writer", None)
        if writer is not None:
            session.info[services.AUDIT_QUEUE] = []
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        if writer is not None and session.info[services.AUDIT_QUEUE]:
            writer.submit(session.info[services.AUDIT_QUEUE])


def get_runner(request: Request) -> JobRunner:
    return request.app.state.runner  # type: ignore[no-any-return]


def get_events(request: Request) -> services.JobEvents:
    return request.app.state.job_events  # type: ignore[no-any-return]


def get_risk_model(request: Request) -> Any:
    return request.app.state.risk_model


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]
EventsDep = Annotated[services.JobEvents, Depends(get_events)]
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
        principal = services.principal_from_api_key(session, api_key)
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
        principal = services.principal_from_claims(session, claims)
        if principal is None:
            raise ApiError(
                401, "the access token has been revoked or its user deactivated", headers=_CHALLENGE
            )
        return principal
    raise ApiError(
        401, "sign in (POST /v1/auth/token) or send an X-API-Key header", headers=_CHALLENGE
    )


PrincipalDep = Annotated[Principal, Depends(get_principal)]
