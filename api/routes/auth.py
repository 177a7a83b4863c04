"""Sign-in (OAuth2 password flow, rate-limited), users, deactivation and API keys."""

from __future__ import annotations

import math
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import Response
from fastapi.security import OAuth2PasswordRequestForm
from sqlmodel import Session

from ..changewatch import VersionedCache
from ..deps import (
    ApiKeyDep,
    PrincipalDep,
    SessionDep,
    SettingsDep,
    TokenDep,
    cached_principal,
    loop_version,
    run_authenticated,
    shared_check,
)
from ..errors import ApiError, problem_responses
from ..mappers import seoul, user_public
from ..models import ApiKey, ApiKeyCreate, ApiKeyPublic, Page, Token, UserCreate, UserPublic
from ..ratelimit import SignInGuard
from ..security import Principal, issue_token
from ..services import access, users

router = APIRouter(tags=["auth"], responses=problem_responses(401, 422))


def _key_public(row: ApiKey, key: str | None = None) -> ApiKeyPublic:
    return ApiKeyPublic(  # datetimes in +09:00 like every other resource
        id=row.id, user_id=row.user_id, name=row.name, revoked=row.revoked,
        created_at=seoul(row.created_at) or row.created_at, expires_at=seoul(row.expires_at),
        revoked_at=seoul(row.revoked_at), key=key,
    )


@router.post(
    "/auth/token", response_model=Token, summary="Sign in (OAuth2 password flow)",
    description="Failed sign-ins are limited per account and per client address "
    "(SALPIMI_SIGNIN_*); over the limit the answer is 429 with Retry-After.",
    responses=problem_responses(400, 429),
)
def sign_in(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> Token:
    guard: SignInGuard = request.app.state.signin_guard
    address = request.client.host if request.client else "unknown"
    wait_s = guard.retry_after(form.username, address)
    if wait_s is not None:
        retry = max(1, math.ceil(wait_s))
        raise ApiError(
            429, f"too many failed sign-ins; try again in {retry} s", slug="too-many-sign-ins",
            title="Too many requests", headers={"Retry-After": str(retry)},
        )
    user = access.authenticate(session, form.username, form.password)
    if user is None:
        guard.failed(form.username, address)
        raise ApiError(401, "wrong username or password", slug="invalid-credentials")
    guard.succeeded(form.username)
    token = issue_token(
        access.principal_of(user), secret=request.app.state.secret_key, ttl_s=settings.token_ttl_s
    )
    return Token(access_token=token, expires_in=settings.token_ttl_s)


@router.get("/users/me", response_model=UserPublic, summary="Who am I")
async def me(request: Request, token: TokenDep, api_key: ApiKeyDep) -> Response:
    # From memory, in the event loop, while nothing has been committed since the caller's credential and this
    # body were checked (a deactivation, a revoked key or a changed user is a commit); else one worker-thread
    # call, shared by the concurrent reads of the same caller at the same version.
    version = await loop_version(request)
    bodies: VersionedCache[bytes] | None = getattr(request.app.state, "me_bodies", None)
    known = cached_principal(request, token, api_key, version)
    body = None if known is None or bodies is None else bodies.get(known.user_id, version)
    if body is None:
        def work(session: Session, p: Principal) -> bytes:
            data = user_public(users.get_user(session, p.user_id)).model_dump_json().encode()
            if bodies is not None:
                bodies.put(p.user_id, data, version)
            return data

        body = await shared_check(
            request, ("me", token, api_key, version),
            lambda: anyio.to_thread.run_sync(run_authenticated, request, token, api_key, work, version),
        )
    return Response(body, media_type="application/json")


@router.get(
    "/users", response_model=Page[UserPublic],
    summary="List users (managers: everyone; dispatchers: their own team)",
    responses=problem_responses(403),
)
def list_users(session: SessionDep, p: PrincipalDep, team_id: str | None = None) -> Page[UserPublic]:
    rows = users.list_users(session, p, team_id)
    return Page(data=[user_public(u) for u in rows], count=len(rows))


@router.post(
    "/users", response_model=UserPublic, status_code=status.HTTP_201_CREATED,
    summary="Create a user: managers create managers, dispatchers their own team's dispatchers "
    "and field workers", responses=problem_responses(403, 404, 409),
)
def create_user(body: UserCreate, session: SessionDep, p: PrincipalDep) -> UserPublic:
    return user_public(users.add_user(session, p, body))


@router.post(
    "/users/{user_id}/deactivate", response_model=UserPublic,
    summary="Deactivate a user: their tokens and API keys stop working at once "
    "(managers; dispatchers for their own team)",
    responses=problem_responses(403, 404, 409),
)
def deactivate_user(user_id: str, session: SessionDep, p: PrincipalDep) -> UserPublic:
    return user_public(users.change_user_active(session, p, user_id, False))


@router.post(
    "/users/{user_id}/activate", response_model=UserPublic,
    summary="Let a deactivated user sign in again (earlier tokens and keys stay revoked)",
    responses=problem_responses(403, 404),
)
def activate_user(user_id: str, session: SessionDep, p: PrincipalDep) -> UserPublic:
    return user_public(users.change_user_active(session, p, user_id, True))


@router.post(
    "/users/{user_id}/api-keys", response_model=ApiKeyPublic, status_code=status.HTTP_201_CREATED,
    summary="Create an API key for yourself (nobody mints keys for another account); "
    "the key is shown once",
    responses=problem_responses(403, 404),
)
def create_api_key(
    user_id: str, body: ApiKeyCreate, session: SessionDep, p: PrincipalDep, settings: SettingsDep
) -> ApiKeyPublic:
    row, key = users.create_own_api_key(
        session, p, user_id, body.name, ttl_days=body.expires_in_days or settings.api_key_ttl_days
    )
    return _key_public(row, key)


@router.get(
    "/api-keys", response_model=Page[ApiKeyPublic],
    summary="Your API keys (or, with user_id, those of an account you administer); never the secrets",
    responses=problem_responses(403, 404),
)
def list_api_keys(session: SessionDep, p: PrincipalDep, user_id: str | None = None) -> Page[ApiKeyPublic]:
    rows = users.list_api_keys(session, p, user_id)
    return Page(data=[_key_public(r) for r in rows], count=len(rows))


@router.delete(
    "/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API key at once (yours, or one of an account you administer)",
    responses=problem_responses(403, 404),
)
def revoke_api_key(key_id: str, session: SessionDep, p: PrincipalDep) -> Response:
    users.revoke_api_key(session, p, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
