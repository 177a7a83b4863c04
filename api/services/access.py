"""Who may do what: the callers (principals from tokens and keys, sign-in) and every access rule (``require_*``).

The service functions call these rules; routes never do.  A rule raises 403 problem+json naming what is
refused (ids and roles only).
"""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from .. import crud
from ..errors import forbidden
from ..mappers import stored_plan
from ..models import Household, Plan, User, UserCreate, UserRole, Worker, now_utc
from ..plancache import ROUTE_INDEX, RouteIndex
from ..security import Principal, hash_api_key, verify_password

__all__ = [
    "api_key_principal",
    "authenticate",
    "field_worker_households",
    "principal_from_api_key",
    "principal_from_claims",
    "principal_of",
    "require_household_id_read",
    "require_household_read",
    "require_manager",
    "require_not_field_worker",
    "require_outcome",
    "require_planner",
    "require_private_read",
    "require_report",
    "require_schedule_read",
    "require_self",
    "require_team_feed",
    "require_team_read",
    "require_team_write",
    "require_user_admin",
    "require_user_create",
    "require_worker_feed",
    "require_worker_read",
    "users_team_filter",
]

# ---- principals and sign-in ----------------------------------------------------------------------


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with this password, else ``None`` (at the same cost either way)."""
    user = crud.user_by_username(session, username)
    if user is None or not user.active:
        verify_password(password, "scrypt$AAAAAAAAAAAAAAAAAAAAAA==$AAAA")  # same cost either way
        return None
    return user if verify_password(password, user.password_hash) else None


def principal_of(user: User, *, via: str = "token") -> Principal:
    return Principal(
        user_id=user.id, role=str(user.role), team_id=user.team_id, worker_id=user.worker_id,
        via=via, token_version=user.token_version,
    )


def principal_from_api_key(session: Session, key: str) -> Principal | None:
    """The key's user, unless the key is unknown, revoked or expired, or the user deactivated."""
    return api_key_principal(session, key)[0]


def api_key_principal(session: Session, key: str) -> tuple[Principal | None, dt.datetime | None]:
    """``principal_from_api_key`` and when the key expires (``None``: never)."""
    row = crud.api_key_owner(session, hash_api_key(key))
    if row is None or row.revoked or (row.expires_at is not None and row.expires_at <= now_utc()):
        return None, None
    if not row.active:
        return None, None
    principal = Principal(
        user_id=row.id, role=str(UserRole(row.role)), team_id=row.team_id, worker_id=row.worker_id, via="api_key",
        token_version=row.token_version,
    )
    return principal, row.expires_at


def principal_from_claims(session: Session, claims: dict[str, object]) -> Principal | None:
    """The token's user, unless deactivated or their tokens were revoked since it was issued."""
    user = crud.get(session, User, str(claims.get("sub")))
    if user is None or not user.active or claims.get("ver", 0) != user.token_version:
        return None
    return principal_of(user)


# ---- teams and roles ---------------------------------------------------------------------------------


def require_team_read(p: Principal, team_id: str) -> None:
    """Managers read every team; everyone else only their own."""
    if not (p.is_manager or p.team_id == team_id):
        raise forbidden(f"team {team_id} is not your team")


def require_team_write(p: Principal, team_id: str) -> None:
    """Only the team's dispatchers change its data."""
    if not p.is_dispatcher:
        raise forbidden(f"role {p.role} cannot change team data; a dispatcher of the team can")
    if p.team_id != team_id:
        raise forbidden(f"team {team_id} is not your team")


def require_planner(p: Principal, team_id: str) -> None:
    """Dispatchers plan their team; managers may run scenarios for any team."""
    if p.is_manager:
        return
    require_team_write(p, team_id)


def require_manager(p: Principal) -> None:
    if not p.is_manager:
        raise forbidden("only managers may do this")


def require_not_field_worker(p: Principal, what: str) -> None:
    if p.is_field_worker:
        raise forbidden(f"field workers cannot read {what}; use /v1/workers/{{id}}/schedule")


# ---- households, workers, schedules, outcomes ------------------------------------------------------------


def field_worker_households(session: Session, p: Principal) -> set[str]:
    """Households on the caller's route in any currently published plan of her team."""
    if not (p.is_field_worker and p.team_id and p.worker_id):
        return set()
    index: RouteIndex | None = session.info.get(ROUTE_INDEX)
    out: set[str] = set()
    for plan_id in crud.published_plan_ids(session, p.team_id):
        by_worker = index.get(plan_id) if index is not None else None
        if by_worker is None:  # a stored plan's routes never change: each plan is parsed once
            plan = crud.get(session, Plan, plan_id)
            if plan is None:
                continue
            by_worker = {r.worker_id: frozenset(s.household_id for s in r.stops) for r in stored_plan(plan).routes}
            if index is not None:
                index.put(plan_id, by_worker)
        out.update(by_worker.get(p.worker_id, ()))
    return out


def require_household_read(session: Session, p: Principal, household: Household) -> None:
    """The team (managers: every team); a field worker only the households on her published route."""
    require_household_id_read(session, p, household.id, household.team_id)


def require_household_id_read(session: Session, p: Principal, household_id: str, team_id: str) -> None:
    """``require_household_read`` of the household ``household_id`` of team ``team_id``."""
    if p.is_field_worker:
        if p.team_id != team_id or household_id not in field_worker_households(session, p):
            raise forbidden(f"household {household_id} is not on your route")
        return
    require_team_read(p, team_id)


def require_private_read(session: Session, p: Principal, household: Household) -> None:
    """Personal and health data: the team's dispatchers and the worker who visits."""
    if p.is_manager:
        raise forbidden("managers do not read households' personal data")
    require_household_read(session, p, household)


def require_report(session: Session, p: Principal, household: Household) -> None:
    """Reports: the team's dispatchers, and a field worker about a household on her route."""
    if p.is_field_worker:
        require_household_read(session, p, household)
    else:
        require_team_write(p, household.team_id)


def require_worker_read(p: Principal, worker: Worker) -> None:
    """A worker record: its team; a field worker only her own."""
    require_team_read(p, worker.team_id)
    if p.is_field_worker and p.worker_id != worker.id:
        raise forbidden("field workers read only their own worker record")


def require_schedule_read(p: Principal, worker: Worker) -> None:
    """A worker's schedule: the worker herself, or anyone who reads her team."""
    if p.is_field_worker:
        if p.worker_id != worker.id:
            raise forbidden("field workers read only their own schedule")
    else:
        require_team_read(p, worker.team_id)


def require_outcome(
    p: Principal, *, plan_id: str, team_id: str, visit_id: str | None, visit_worker_id: str | None,
    worker_id: str | None,
) -> None:
    """Outcomes: the team's dispatchers; a field worker about her own visits (``visit_worker_id``: whose
    route the visit is on) and herself."""
    if p.is_field_worker:
        if p.team_id != team_id:
            raise forbidden(f"plan {plan_id} is not your team's")
        if visit_id is not None and visit_worker_id != p.worker_id:
            raise forbidden(f"visit {visit_id} is not on your route")
        if worker_id is not None and worker_id != p.worker_id:
            raise forbidden("field workers report only about themselves")
    else:
        require_team_write(p, team_id)


# ---- calendar feeds ------------------------------------------------------------------------------------


def require_worker_feed(p: Principal, worker: Worker) -> None:
    """A worker's calendar feed: the worker herself, or a dispatcher of her team."""
    if p.is_field_worker:
        if p.worker_id != worker.id:
            raise forbidden("field workers manage only their own calendar feed")
    elif not (p.is_dispatcher and p.team_id == worker.team_id):
        raise forbidden(f"only the worker or a dispatcher of team {worker.team_id} manages this feed")


def require_team_feed(p: Principal, team_id: str) -> None:
    """Team feeds are for the team's dispatchers and for managers."""
    if p.is_field_worker:
        raise forbidden("field workers subscribe to their own feed: POST /v1/workers/{id}/feed")
    if not p.is_manager and p.team_id != team_id:
        raise forbidden(f"team {team_id} is not your team")


# ---- accounts and API keys ------------------------------------------------------------------------------


def require_user_create(p: Principal, body: UserCreate) -> None:
    """Nobody mints credentials for a role that could do more than they can.

    Managers (who never read households' personal data) create manager accounts only; a
    team's dispatchers create their own team's dispatchers and field workers; the first
    dispatcher of a team comes from the operator's ``salpimi user add``.
    """
    if p.is_manager:
        if body.role != UserRole.MANAGER:
            raise forbidden(
                "managers create manager accounts only; a team's dispatchers create its dispatchers "
                "and field workers (the first one with `salpimi user add`)"
            )
        return
    if p.is_dispatcher:
        if body.role == UserRole.MANAGER or body.team_id != p.team_id:
            raise forbidden("dispatchers create accounts only for their own team's dispatchers and field workers")
        return
    raise forbidden(f"role {p.role} cannot create accounts")


def require_user_admin(p: Principal, user: User) -> None:
    """Taking access away (deactivating, revoking keys) and listing keys of another account:
    managers for every account, dispatchers for their own team's dispatchers and field workers."""
    if p.is_manager:
        return
    if p.is_dispatcher and user.team_id == p.team_id and user.role != UserRole.MANAGER:
        return
    raise forbidden(f"user {user.id} is not an account you administer")


def require_self(p: Principal, user_id: str) -> None:
    """API keys are minted only for yourself (the operator's ``salpimi user key`` mints for others)."""
    if user_id != p.user_id:
        raise forbidden("you may create API keys only for yourself")


def users_team_filter(p: Principal, team_id: str | None) -> str | None:
    """Which accounts the caller lists: managers everyone (or ``team_id``'s), dispatchers their own team's."""
    if p.is_dispatcher:
        if team_id is not None and team_id != p.team_id:
            raise forbidden(f"team {team_id} is not your team")
        return p.team_id
    require_manager(p)
    return team_id
