"""Database queries; no access control and no business rules (those live in services)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import defer
from sqlmodel import Session, SQLModel, col, func, select

from .models import (
    ACTIVE_JOB_STATUSES,
    ApiKey,
    AuditLog,
    Household,
    HouseholdPrivate,
    HouseholdPublic,
    Outcome,
    Plan,
    PlanJob,
    PlanKind,
    Report,
    Team,
    User,
    VisitRequest,
    Worker,
)

M = TypeVar("M", bound=SQLModel)


def get(session: Session, model: type[M], ident: str) -> M | None:
    return session.get(model, ident)


def add(session: Session, row: M) -> M:
    session.add(row)
    session.flush()
    return row


def _page(session: Session, stmt: Any, *, limit: int | None, offset: int) -> tuple[list[Any], int]:
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    if limit is not None:
        stmt = stmt.limit(limit).offset(offset)
    return list(session.exec(stmt).all()), int(total)


# ---- teams and users -------------------------------------------------------------------------


def list_teams(session: Session, *, ids: Collection[str] | None = None) -> list[Team]:
    stmt = select(Team).order_by(Team.name, Team.id)
    if ids is not None:
        stmt = stmt.where(col(Team.id).in_(list(ids)))
    return list(session.exec(stmt).all())


def first_team_named(session: Session, name: str) -> Team | None:
    """The oldest team called ``name`` (the demo's team, after restarts)."""
    return session.exec(select(Team).where(Team.name == name).order_by(col(Team.created_at), col(Team.id))).first()


def count_teams(session: Session) -> int:
    return int(session.exec(select(func.count()).select_from(Team)).one())


def user_by_username(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(User.username == username)).first()


def list_users(session: Session, *, team_id: str | None = None) -> list[User]:
    stmt = select(User).order_by(User.username)
    if team_id is not None:
        stmt = stmt.where(User.team_id == team_id)
    return list(session.exec(stmt).all())


def api_key_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    return session.exec(select(ApiKey).where(ApiKey.key_hash == key_hash)).first()


def api_key_owner(session: Session, key_hash: str) -> Any:
    """The key's ``revoked``, ``expires_at`` and its user's ``id``, ``role``, ``team_id``, ``worker_id``,
    ``active`` and ``token_version``, in one query without ORM objects (every request signed with a key asks)."""
    keys, users = ApiKey.__table__, User.__table__  # type: ignore[attr-defined]
    stmt = (
        sa.select(keys.c.revoked, keys.c.expires_at, users.c.id, users.c.role, users.c.team_id,
                  users.c.worker_id, users.c.active, users.c.token_version)
        .join_from(keys, users, users.c.id == keys.c.user_id)
        .where(keys.c.key_hash == key_hash)
    )
    return session.connection().execute(stmt).first()


def list_api_keys(session: Session, user_id: str, *, include_revoked: bool = True) -> list[ApiKey]:
    stmt = select(ApiKey).where(ApiKey.user_id == user_id)
    if not include_revoked:
        stmt = stmt.where(col(ApiKey.revoked).is_(False))
    return list(session.exec(stmt.order_by(col(ApiKey.created_at).desc(), col(ApiKey.id))).all())


# ---- workers and households ------------------------------------------------------------------


def list_workers(
    session: Session, team_id: str, *, active: bool | None = None, limit: int | None = None,
    offset: int = 0,
) -> tuple[list[Worker], int]:
    stmt = select(Worker).where(Worker.team_id == team_id).order_by(Worker.ref, Worker.id)
    if active is not None:
        stmt = stmt.where(Worker.active == active)
    return _page(session, stmt, limit=limit, offset=offset)


def workers_by_ref(session: Session, team_id: str) -> dict[str, Worker]:
    rows = session.exec(select(Worker).where(Worker.team_id == team_id)).all()
    return {w.ref: w for w in rows if w.ref}


def list_households(
    session: Session, team_id: str, *, active: bool | None = None, dong: str | None = None,
    limit: int | None = None, offset: int = 0,
) -> tuple[list[Household], int]:
    stmt = select(Household).where(Household.team_id == team_id).order_by(Household.ref, Household.id)
    if active is not None:
        stmt = stmt.where(Household.active == active)
    if dong:
        stmt = stmt.where(Household.dong == dong)
    return _page(session, stmt, limit=limit, offset=offset)


def households_by_ref(session: Session, team_id: str) -> dict[str, Household]:
    rows = session.exec(select(Household).where(Household.team_id == team_id)).all()
    return {h.ref: h for h in rows if h.ref}


def households_by_ids(session: Session, ids: Collection[str]) -> dict[str, Household]:
    if not ids:
        return {}
    rows = session.exec(select(Household).where(col(Household.id).in_(list(ids)))).all()
    return {h.id: h for h in rows}


def household_row(session: Session, household_id: str) -> Any:
    """The household's columns that ``HouseholdPublic`` shows, in one query without an ORM object (a hot,
    audited read), or ``None``."""
    table = Household.__table__  # type: ignore[attr-defined]
    columns = [table.c[name] for name in HouseholdPublic.model_fields]
    return session.connection().execute(sa.select(*columns).where(table.c.id == household_id)).first()


def privates_by_ids(session: Session, ids: Collection[str]) -> dict[str, HouseholdPrivate]:
    if not ids:
        return {}
    rows = session.exec(
        select(HouseholdPrivate).where(col(HouseholdPrivate.household_id).in_(list(ids)))
    ).all()
    return {p.household_id: p for p in rows}


# ---- visit requests and reports ----------------------------------------------------------------


def list_visit_requests(
    session: Session, team_id: str, *, date: dt.date | None = None,
    statuses: Collection[str] | None = None, household_id: str | None = None,
    limit: int | None = None, offset: int = 0,
) -> tuple[list[VisitRequest], int]:
    stmt = select(VisitRequest).where(VisitRequest.team_id == team_id)
    if date is not None:
        stmt = stmt.where(VisitRequest.date == date)
    if statuses:
        stmt = stmt.where(col(VisitRequest.status).in_(list(statuses)))
    if household_id is not None:
        stmt = stmt.where(VisitRequest.household_id == household_id)
    stmt = stmt.order_by(col(VisitRequest.date), col(VisitRequest.created_at), col(VisitRequest.id))
    return _page(session, stmt, limit=limit, offset=offset)


def visit_status_map(session: Session, ids: Collection[str]) -> dict[str, str]:
    """``{visit id: status}`` of the given visit requests (two columns, no ORM objects)."""
    if not ids:
        return {}
    table = VisitRequest.__table__  # type: ignore[attr-defined]
    stmt = sa.select(table.c.id, table.c.status).where(table.c.id.in_(list(ids)))
    return {str(vid): str(status) for vid, status in session.connection().execute(stmt)}


def day_status_map(session: Session, team_id: str, date: dt.date) -> dict[str, str]:
    """``{visit id: status}`` of a team's visit requests on ``date`` (one indexed query, no ORM)."""
    table = VisitRequest.__table__  # type: ignore[attr-defined]
    stmt = sa.select(table.c.id, table.c.status).where(table.c.team_id == team_id, table.c.date == date)
    return {str(vid): str(status) for vid, status in session.connection().execute(stmt)}


def plan_state(session: Session, plan_id: str) -> Any:
    """Every column of a plan but its ``data`` and ``problem`` JSON (a row, no ORM object), or ``None``."""
    table = Plan.__table__  # type: ignore[attr-defined]
    columns = [c for c in table.columns if c.name not in ("data", "problem")]
    return session.connection().execute(sa.select(*columns).where(table.c.id == plan_id)).first()


def plan_without_bodies(session: Session, plan_id: str) -> Plan | None:
    """A plan row whose ``data`` and ``problem`` JSON load only when first touched."""
    return session.get(Plan, plan_id, options=[defer(Plan.data), defer(Plan.problem)])  # type: ignore[arg-type]


def visit_requests_by_ids(session: Session, ids: Collection[str]) -> dict[str, VisitRequest]:
    if not ids:
        return {}
    rows = session.exec(select(VisitRequest).where(col(VisitRequest.id).in_(list(ids)))).all()
    return {v.id: v for v in rows}


def households_with_request_on(
    session: Session, team_id: str, date: dt.date, *, statuses: Collection[str]
) -> set[str]:
    rows = session.exec(
        select(VisitRequest.household_id).where(
            VisitRequest.team_id == team_id,
            VisitRequest.date == date,
            col(VisitRequest.status).in_(list(statuses)),
        )
    ).all()
    return set(rows)


def list_reports(
    session: Session, team_id: str, *, limit: int | None = None, offset: int = 0
) -> tuple[list[Report], int]:
    stmt = select(Report).where(Report.team_id == team_id).order_by(col(Report.received_at).desc())
    return _page(session, stmt, limit=limit, offset=offset)


# ---- jobs and plans ----------------------------------------------------------------------------


def active_job(session: Session, team_id: str, date: dt.date) -> PlanJob | None:
    return session.exec(
        select(PlanJob).where(
            PlanJob.team_id == team_id,
            PlanJob.date == date,
            col(PlanJob.status).in_(ACTIVE_JOB_STATUSES),
        )
    ).first()


def active_jobs(session: Session) -> list[PlanJob]:
    return list(
        session.exec(select(PlanJob).where(col(PlanJob.status).in_(ACTIVE_JOB_STATUSES))).all()
    )


def list_jobs(
    session: Session, team_id: str, *, date: dt.date | None = None, limit: int | None = None,
    offset: int = 0,
) -> tuple[list[PlanJob], int]:
    stmt = select(PlanJob).where(PlanJob.team_id == team_id)
    if date is not None:
        stmt = stmt.where(PlanJob.date == date)
    stmt = stmt.order_by(col(PlanJob.created_at).desc())
    return _page(session, stmt, limit=limit, offset=offset)


def list_plans(
    session: Session, team_id: str, *, date: dt.date | None = None,
    published: bool | None = None, limit: int | None = None, offset: int = 0,
) -> tuple[list[Plan], int]:
    stmt = select(Plan).where(Plan.team_id == team_id)
    if date is not None:
        stmt = stmt.where(Plan.date == date)
    if published is not None:
        stmt = stmt.where(Plan.published == published)
    stmt = stmt.order_by(col(Plan.date).desc(), col(Plan.version).desc())
    return _page(session, stmt, limit=limit, offset=offset)


def max_plan_version(session: Session, team_id: str, date: dt.date) -> int:
    value = session.exec(
        select(func.max(Plan.version)).where(Plan.team_id == team_id, Plan.date == date)
    ).one()
    return int(value or 0)


def lock_plan_day(session: Session, team_id: str, date: dt.date) -> None:
    """Lock a team's day's versions for the rest of the transaction: ``SELECT ... FOR UPDATE`` on
    PostgreSQL.  SQLite needs nothing here: the transaction's first write takes the database's one
    write lock (a read before it would pin an old snapshot), and what it reads after that is current."""
    if session.get_bind().dialect.name == "postgresql":
        day = (col(Plan.team_id) == team_id, col(Plan.date) == date)
        session.exec(select(Plan.id).where(*day).order_by(col(Plan.id)).with_for_update()).all()


def other_edit_of(session: Session, base_plan_id: str, *, excluding: str) -> tuple[str, int] | None:
    """The id and version of a hand edit of ``base_plan_id`` other than ``excluding`` (the oldest)."""
    table = Plan.__table__  # type: ignore[attr-defined]
    stmt = (sa.select(table.c.id, table.c.version)
            .where(table.c.base_plan_id == base_plan_id, table.c.kind == PlanKind.EDIT.value,
                   table.c.id != excluding)
            .order_by(table.c.version).limit(1))
    row = session.connection().execute(stmt).first()
    return (str(row[0]), int(row[1])) if row is not None else None


def published_plan(session: Session, team_id: str, date: dt.date) -> Plan | None:
    return session.exec(
        select(Plan)
        .where(Plan.team_id == team_id, Plan.date == date, Plan.published == True)  # noqa: E712
        .order_by(col(Plan.version).desc())
    ).first()


def published_plans(session: Session, team_id: str) -> list[Plan]:
    return list(
        session.exec(
            select(Plan).where(Plan.team_id == team_id, Plan.published == True)  # noqa: E712
        ).all()
    )


def published_plan_ids(session: Session, team_id: str) -> list[str]:
    """The ids of a team's published plans (one per day), without loading any plan."""
    table = Plan.__table__  # type: ignore[attr-defined]
    stmt = sa.select(table.c.id).where(table.c.team_id == team_id, table.c.published.is_(True))
    return [str(row[0]) for row in session.connection().execute(stmt)]


def publish_exclusively(session: Session, plan: Plan, *, at: dt.datetime) -> None:
    """Make ``plan`` the one published version of its team's day, in the current transaction.

    The day's versions are locked first (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the
    first UPDATE takes the database's single write lock, waiting its turn: a read before it would
    pin an old snapshot and fail with "database is locked" instead of waiting), so concurrent
    publishers of the same day run one after the other; the partial unique index
    ``uq_plan_published`` refuses a second published version whatever happens.  Readers see the
    old version until the transaction commits, then the new one: never none.
    """
    day = (col(Plan.team_id) == plan.team_id, col(Plan.date) == plan.date)
    if session.get_bind().dialect.name == "postgresql":
        session.exec(select(Plan.id).where(*day).order_by(col(Plan.id)).with_for_update()).all()
    session.exec(
        sa.update(Plan)
        .where(*day, col(Plan.published) == True, col(Plan.id) != plan.id)  # noqa: E712
        .values(published=False)
    )
    session.exec(
        sa.update(Plan).where(col(Plan.id) == plan.id).values(published=True, published_at=at)
    )


# ---- outcomes ------------------------------------------------------------------------------------


def list_outcomes(
    session: Session, *, plan_id: str | None = None, team_id: str | None = None,
    date: dt.date | None = None,
) -> list[Outcome]:
    stmt = select(Outcome)
    if plan_id is not None:
        stmt = stmt.where(Outcome.plan_id == plan_id)
    if team_id is not None:
        stmt = stmt.where(Outcome.team_id == team_id)
    if date is not None:
        stmt = stmt.where(Outcome.date == date)
    return list(session.exec(stmt.order_by(col(Outcome.created_at), col(Outcome.id))).all())


# ---- audit (insert and select only: the log is append-only) -------------------------------------


def insert_audit(session: Session, entry: AuditLog) -> None:
    session.add(entry)


def list_audit(
    session: Session, *, actor_id: str | None = None, resource: str | None = None,
    resource_id: str | None = None, team_id: str | None = None, since: dt.datetime | None = None,
    limit: int = 100, offset: int = 0,
) -> tuple[list[AuditLog], int]:
    stmt = select(AuditLog)
    for column, value in (
        (AuditLog.actor_id, actor_id), (AuditLog.resource, resource),
        (AuditLog.resource_id, resource_id), (AuditLog.team_id, team_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if since is not None:
        stmt = stmt.where(col(AuditLog.at) >= since)
    stmt = stmt.order_by(col(AuditLog.at).desc(), col(AuditLog.id).desc())
    return _page(session, stmt, limit=limit, offset=offset)
