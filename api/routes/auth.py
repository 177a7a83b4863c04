"""Sign-in (OAuth2 password flow), users and API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status
from fastapi.security import OAuth2PasswordRequestForm

from .. import crud, services
from ..deps import PrincipalDep, SessionDep, SettingsDep
from ..errors import ApiError, forbidden, not_found, problem_responses
from ..mappers import user_public
from ..models import ApiKeyCreate, ApiKeyPublic, Page, Token, User, UserCreate, UserPublic
from ..security import issue_token

router = APIRouter(tags=["auth"], responses=problem_responses(401, 422))


@router.post(
    "/auth/token", response_model=Token, summary="Sign in (OAuth2 password flow)",
    responses=problem_responses(400),
)
def sign_in(
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> Token:
    user = services.authenticate(session, form.username, form.password)
    if user is None:
        raise ApiError(401, "wrong username or password", slug="invalid-credentials")
    token = issue_token(
        services.principal_of(user), secret=request.app.state.secret_key, ttl_s=settings.token_ttl_s
    )
    return Token(access_token=token, expires_in=settings.token_ttl_s)


@router.get("/users/me", response_model=UserPublic, summary="Who am I")
def me(session: SessionDep, p: PrincipalDep) -> UserPublic:
    user = crud.get(session, User, p.user_id)
    if user is None:
        raise not_found("user", p.user_id)
    return user_public(user)


@router.get(
    "/users", response_model=Page[UserPublic], summary="List users (managers)",
    responses=problem_responses(403),
)
def list_users(session: SessionDep, p: PrincipalDep, team_id: str | None = None) -> Page[UserPublic]:
    services.require_manager(p)
    users = crud.list_users(session, team_id=team_id)
    return Page(data=[user_public(u) for u in users], count=len(users))


@router.post(
    "/users", response_model=UserPublic, status_code=status.HTTP_201_CREATED,
    summary="Create a user (managers)", responses=problem_responses(403, 409),
)
def create_user(body: UserCreate, session: SessionDep, p: PrincipalDep) -> UserPublic:
    services.require_manager(p)
    user = services.create_user(session, body)
    services.audit(session, p, "create", "user", user.id, team_id=user.team_id,
                   detail=f"role={user.role}")
    return user_public(user)


@router.post(
    "/users/{user_id}/api-keys", response_model=ApiKeyPublic, status_code=status.HTTP_201_CREATED,
    summary="Create an API key (for yourself, or anyone as a manager); the key is shown once",
    responses=problem_responses(403, 404),
)
def create_api_key(
    user_id: str, body: ApiKeyCreate, session: SessionDep, p: PrincipalDep
) -> ApiKeyPublic:
    if user_id != p.user_id and not p.is_manager:
        raise forbidden("you may create API keys only for yourself")
    user = crud.get(session, User, user_id)
    if user is None:
        raise not_found("user", user_id)
    row, key = services.create_api_key(session, user, body.name)
    services.audit(session, p, "create", "api_key", row.id, team_id=user.team_id)
    return ApiKeyPublic(
        id=row.id, user_id=row.user_id, name=row.name, revoked=row.revoked,
        created_at=row.created_at, key=key,
    )
