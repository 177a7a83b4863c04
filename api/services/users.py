"""Accounts and API keys: creating, listing, deactivating and reactivating users; minting and revoking keys."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from .. import crud
from ..errors import ApiError, conflict, not_found
from ..models import ApiKey, ErrorItem, Team, User, UserCreate, UserRole, Worker, now_utc
from ..security import Principal, hash_api_key, hash_password, new_api_key
from .access import require_self, require_user_admin, require_user_create, users_team_filter
from .audit import audit

__all__ = [
    "DEFAULT_API_KEY_TTL_DAYS",
    "add_user",
    "change_user_active",
    "create_api_key",
    "create_own_api_key",
    "create_user",
    "ensure_user",
    "get_user",
    "list_api_keys",
    "list_users",
    "revoke_api_key",
    "set_user_active",
]

DEFAULT_API_KEY_TTL_DAYS = 90


def get_user(session: Session, user_id: str) -> User:
    user = crud.get(session, User, user_id)
    if user is None:
        raise not_found("user", user_id)
    return user


def list_users(session: Session, p: Principal, team_id: str | None) -> list[User]:
    """Managers list everyone (or one team), dispatchers their own team."""
    return crud.list_users(session, team_id=users_team_filter(p, team_id))


def create_user(session: Session, body: UserCreate) -> User:
    """A new account (the operator's path; ``add_user`` is the API's, with its access rule)."""
    if crud.user_by_username(session, body.username) is not None:
        raise conflict(f"username {body.username!r} is taken")
    if body.team_id is not None and crud.get(session, Team, body.team_id) is None:
        raise not_found("team", body.team_id)
    if body.worker_id is not None:
        worker = crud.get(session, Worker, body.worker_id)
        if worker is None or worker.team_id != body.team_id:
            raise ApiError(
                422, f"worker_id: {body.worker_id} is not a worker of team {body.team_id}",
                errors=[ErrorItem(field="worker_id", message="not a worker of the team")],
            )
    user = User(
        username=body.username, role=body.role, team_id=body.team_id, worker_id=body.worker_id,
        password_hash=hash_password(body.password),
    )
    return crud.add(session, user)


def add_user(session: Session, p: Principal, body: UserCreate) -> User:
    """``POST /v1/users``: an account no mightier than its creator's, audited."""
    require_user_create(p, body)
    user = create_user(session, body)
    audit(session, p, "create", "user", user.id, team_id=user.team_id, detail=f"role={user.role}")
    return user


def ensure_user(
    session: Session, *, username: str, role: UserRole, password: str, team_id: str | None = None,
    worker_id: str | None = None,
) -> tuple[User, bool]:
    """Create the user unless it exists; returns ``(user, created)``."""
    existing = crud.user_by_username(session, username)
    if existing is not None:
        return existing, False
    body = UserCreate(
        username=username, role=role, password=password, team_id=team_id, worker_id=worker_id
    )
    return create_user(session, body), True


def set_user_active(session: Session, user: User, active: bool) -> User:
    """Deactivating ends every token (``token_version`` bumped) and key (revoked) at once;
    reactivating lets the user sign in again but brings none of them back."""
    if user.active == active:
        return user
    user.active = active
    if active:
        user.deactivated_at = None
    else:
        user.deactivated_at = now_utc()
        user.token_version += 1
        for key in crud.list_api_keys(session, user.id, include_revoked=False):
            key.revoked = True
            key.revoked_at = user.deactivated_at
            session.add(key)
    session.add(user)
    session.flush()
    return user


def change_user_active(session: Session, p: Principal, user_id: str, active: bool) -> User:
    """Deactivate (or reactivate) an account the caller administers; nobody deactivates themselves."""
    user = get_user(session, user_id)
    require_user_admin(p, user)
    if user.id == p.user_id and not active:
        raise conflict("you cannot deactivate yourself")
    set_user_active(session, user, active)
    audit(session, p, "activate" if active else "deactivate", "user", user.id, team_id=user.team_id)
    return user


# ---- API keys --------------------------------------------------------------------------------------------


def create_api_key(
    session: Session, user: User, name: str, *, ttl_days: int = DEFAULT_API_KEY_TTL_DAYS
) -> tuple[ApiKey, str]:
    """A new key for ``user`` (only its hash is stored), expiring after ``ttl_days``."""
    key = new_api_key()
    row = crud.add(
        session,
        ApiKey(user_id=user.id, name=name, key_hash=hash_api_key(key),
               expires_at=now_utc() + dt.timedelta(days=ttl_days)),
    )
    return row, key


def create_own_api_key(session: Session, p: Principal, user_id: str, name: str, *, ttl_days: int) -> tuple[ApiKey, str]:
    """``POST /v1/users/{id}/api-keys``: a key for the caller herself, audited."""
    require_self(p, user_id)
    user = get_user(session, user_id)
    row, key = create_api_key(session, user, name, ttl_days=ttl_days)
    audit(session, p, "create", "api_key", row.id, team_id=user.team_id, detail=f"user={user.id}")
    return row, key


def list_api_keys(session: Session, p: Principal, user_id: str | None) -> list[ApiKey]:
    """The caller's keys, or those of an account she administers (never the secrets)."""
    target = user_id or p.user_id
    if target != p.user_id:
        require_user_admin(p, get_user(session, target))
    return crud.list_api_keys(session, target)


def revoke_api_key(session: Session, p: Principal, key_id: str) -> ApiKey:
    """Revoke a key at once: the caller's own, or one of an account they administer; audited."""
    row = crud.get(session, ApiKey, key_id)
    if row is None:
        raise not_found("API key", key_id)
    if row.user_id != p.user_id:
        require_user_admin(p, get_user(session, row.user_id))
    if not row.revoked:
        row.revoked = True
        row.revoked_at = now_utc()
        session.add(row)
        session.flush()
    user = get_user(session, row.user_id)
    audit(session, p, "revoke", "api_key", row.id, team_id=user.team_id, detail=f"user={row.user_id}")
    return row
