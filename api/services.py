"""Use cases: access rules, auditing, problem building, jobs, plans, outcomes and re-planning."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

import planner

from . import crud
from .config import Settings
from .db import session_scope
from .errors import ApiError, conflict, forbidden, not_found
from .feedevents import record_publish
from .mappers import (
    household_json,
    plan_public,
    problem_of,
    seconds_of_day,
    stored_plan,
    today_seoul,
)
from .models import (
    RISK_FIELDS,
    ApiKey,
    AuditLog,
    ErrorItem,
    Household,
    HouseholdCreate,
    HouseholdPrivate,
    HouseholdPrivateCreate,
    HouseholdPrivateUpdate,
    HouseholdUpdate,
    JobKind,
    JobStatus,
    Outcome,
    OutcomeCreate,
    OutcomeKind,
    Plan,
    PlanJob,
    PlanJobCreate,
    PlanKind,
    ReplanRequest,
    Report,
    ReportCreate,
    Team,
    TeamCreate,
    TeamInput,
    User,
    UserCreate,
    UserRole,
    VisitKind,
    VisitRequest,
    VisitRequestCreate,
    VisitRequestUpdate,
    VisitSource,
    VisitStatus,
    Worker,
    WorkerCreate,
    WorkerUpdate,
    check_worker_times,
    now_utc,
)
from .plancache import CachedBody, PlanBodyCache
from .redact import scrub_values
from .runner import JobRunner
from .security import Principal, hash_api_key, hash_password, new_api_key, verify_password

_log = logging.getLogger("salpimi.services")

_PUBLISH_ATTEMPTS = 5
FINISHED_VISIT = (VisitStatus.DONE.value, VisitStatus.NO_ANSWER.value, VisitStatus.REFUSED.value)
NOT_CANCELLED = tuple(s.value for s in VisitStatus if s != VisitStatus.CANCELLED)

# ---- access rules ------------------------------------------------------------------------------


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


def get_team(session: Session, team_id: str) -> Team:
    team = crud.get(session, Team, team_id)
    if team is None:
        raise not_found("team", team_id)
    return team


def field_worker_households(session: Session, p: Principal) -> set[str]:
    """Households on the caller's route in any currently published plan of her team."""
    if not (p.is_field_worker and p.team_id and p.worker_id):
        return set()
    out: set[str] = set()
    for plan in crud.published_plans(session, p.team_id):
        route = stored_plan(plan).route_of(p.worker_id)
        if route is not None:
            out.update(stop.household_id for stop in route.stops)
    return out


def require_household_read(session: Session, p: Principal, household: Household) -> None:
    if p.is_field_worker:
        if p.team_id != household.team_id or household.id not in field_worker_households(session, p):
            raise forbidden(f"household {household.id} is not on your route")
        return
    require_team_read(p, household.team_id)


def require_private_read(session: Session, p: Principal, household: Household) -> None:
    """Personal and health data: the team's dispatchers and the worker who visits."""
    if p.is_manager:
        raise forbidden("managers do not read households' personal data")
    require_household_read(session, p, household)


# ---- audit ---------------------------------------------------------------------------------------

READ_ACTIONS = frozenset({"read", "list"})
#: ``session.info`` key of the read entries waiting for the request to commit.
AUDIT_QUEUE = "salpimi_audit_reads"


def audit(
    session: Session, p: Principal | None, action: str, resource: str, resource_id: str | None,
    *, team_id: str | None = None, detail: str = "",
) -> None:
    """Append one entry (ids and counts only, never personal data).

    A change is audited in its own transaction.  A read (``read``, ``list``) in a request is
    handed, once the request has committed, to the background audit writer (see
    ``deps.get_session``), so reads never take a write lock.
    """
    entry = AuditLog(
        actor_id=p.user_id if p else None,
        actor_role=p.role if p else "system",
        action=action,
        resource=resource,
        resource_id=resource_id,
        team_id=team_id,
        detail=detail[:500],
    )
    if action in READ_ACTIONS and AUDIT_QUEUE in session.info:
        session.info[AUDIT_QUEUE].append(entry)
        return
    crud.insert_audit(session, entry)


# ---- users and keys ------------------------------------------------------------------------------


def authenticate(session: Session, username: str, password: str) -> User | None:
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
    row = crud.api_key_owner(session, hash_api_key(key))
    if row is None or row.revoked or (row.expires_at is not None and row.expires_at <= now_utc()):
        return None
    if not row.active:
        return None
    return Principal(
        user_id=row.id, role=str(UserRole(row.role)), team_id=row.team_id, worker_id=row.worker_id, via="api_key",
        token_version=row.token_version,
    )


def principal_from_claims(session: Session, claims: dict[str, object]) -> Principal | None:
    """The token's user, unless deactivated or their tokens were revoked since it was issued."""
    user = crud.get(session, User, str(claims.get("sub")))
    if user is None or not user.active or claims.get("ver", 0) != user.token_version:
        return None
    return principal_of(user)


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


def create_user(session: Session, body: UserCreate) -> User:
    if crud.user_by_username(session, body.username) is not None:
        raise conflict(f"username {body.username!r} is taken")
    if body.team_id is not None:
        get_team(session, body.team_id)
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


DEFAULT_API_KEY_TTL_DAYS = 90


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


def get_user(session: Session, user_id: str) -> User:
    user = crud.get(session, User, user_id)
    if user is None:
        raise not_found("user", user_id)
    return user


def revoke_api_key(session: Session, p: Principal | None, key_id: str) -> ApiKey:
    """Revoke a key at once: the caller's own, or one of an account they administer."""
    row = crud.get(session, ApiKey, key_id)
    if row is None:
        raise not_found("API key", key_id)
    if p is not None and row.user_id != p.user_id:
        require_user_admin(p, get_user(session, row.user_id))
    if not row.revoked:
        row.revoked = True
        row.revoked_at = now_utc()
        session.add(row)
        session.flush()
    return row


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


# ---- teams ------------------------------------------------------------------------------------------


def create_team(session: Session, body: TeamCreate) -> Team:
    return crud.add(session, Team.model_validate(body))


def visible_teams(session: Session, p: Principal) -> list[Team]:
    if p.is_manager:
        return crud.list_teams(session)
    return crud.list_teams(session, ids=[p.team_id] if p.team_id else [])


# ---- risk ------------------------------------------------------------------------------------------


def team_risk_settings(session: Session, team_id: str) -> planner.RiskSettings | None:
    """The team's own risk model settings (cadences, tier weights), read by the planner's parser."""
    risk_model = team_inputs(session, team_id).get("risk_model")
    if not risk_model:
        return None
    return planner.problem_from_json(
        {"date": "2026-01-01", "households": [], "workers": [], "visits": [], "risk_model": risk_model}
    ).risk_model


def assess_households(
    rows: Sequence[tuple[Household, HouseholdPrivate | None]], on: dt.date, risk_model: Any,
    *, settings: planner.RiskSettings | None = None,
) -> dict[str, Any]:
    """Risk assessments (planner.RiskModel, with the team's ``settings``) on ``on``, keyed by household id."""
    if not rows:
        return {}
    from planner import problem_from_json

    risk_model = risk_model.with_settings(settings)
    households = []
    for h, priv in rows:
        data = household_json(h, priv)
        data["preferred_worker_id"] = None  # workers are not part of this mini-problem
        households.append(data)
    problem = problem_from_json(
        {"date": on.isoformat(), "households": households, "workers": [], "visits": []}
    )
    return {h.id: risk_model.assess(h, on) for h in problem.households}


def refresh_tier(household: Household, private: HouseholdPrivate | None, risk_model: Any) -> None:
    household.risk_tier = assess_households([(household, private)], today_seoul(), risk_model)[
        household.id
    ].tier


# ---- workers -----------------------------------------------------------------------------------------


def _check_worker_ref(session: Session, team_id: str, worker_id: str | None, field: str) -> None:
    if worker_id is None:
        return
    worker = crud.get(session, Worker, worker_id)
    if worker is None or worker.team_id != team_id:
        raise ApiError(
            422, f"{field}: {worker_id} is not a worker of this team",
            errors=[ErrorItem(field=field, message="not a worker of this team")],
        )


def create_worker(session: Session, team_id: str, body: WorkerCreate) -> Worker:
    worker = Worker.model_validate(body, update={"team_id": team_id})
    try:
        with session.begin_nested():
            crud.add(session, worker)
    except IntegrityError:
        raise conflict(f"a worker with ref {body.ref!r} already exists in this team") from None
    return worker


def update_worker(session: Session, worker: Worker, body: WorkerUpdate) -> Worker:
    changes = body.model_dump(exclude_unset=True)
    merged = {**worker.model_dump(), **changes}
    try:
        check_worker_times(
            merged["shift_start"], merged["shift_end"], merged["break_start"], merged["break_end"],
            merged["break_s"], merged["end_lat"], merged["end_lon"],
        )
    except ValueError as exc:
        field, _, message = str(exc).partition(": ")
        raise ApiError(422, str(exc), errors=[ErrorItem(field=field, message=message)]) from None
    for key, value in changes.items():
        setattr(worker, key, value)
    worker.updated_at = now_utc()
    ref = worker.ref  # read before the flush: a failed flush leaves the row unreadable
    try:
        with session.begin_nested():
            session.add(worker)
            session.flush()
    except IntegrityError:
        raise conflict(f"a worker with ref {ref!r} already exists in this team") from None
    return worker


# ---- households -----------------------------------------------------------------------------------


def create_household(
    session: Session, p: Principal, team_id: str, body: HouseholdCreate, risk_model: Any
) -> tuple[Household, HouseholdPrivate]:
    _check_worker_ref(session, team_id, body.preferred_worker_id, "preferred_worker_id")
    household = Household.model_validate(body.model_dump(exclude={"private"}), update={"team_id": team_id})
    private = HouseholdPrivate.model_validate(
        (body.private or HouseholdPrivateCreate()).model_dump(), update={"household_id": household.id}
    )
    refresh_tier(household, private, risk_model)
    try:
        with session.begin_nested():
            crud.add(session, household)
            crud.add(session, private)
    except IntegrityError:
        raise conflict(f"a household with ref {body.ref!r} already exists in this team") from None
    audit(session, p, "create", "household", household.id, team_id=team_id)
    return household, private


def update_household(
    session: Session, p: Principal, household: Household, body: HouseholdUpdate, risk_model: Any
) -> Household:
    changes = body.model_dump(exclude_unset=True)
    if "preferred_worker_id" in changes:
        _check_worker_ref(session, household.team_id, changes["preferred_worker_id"], "preferred_worker_id")
    for key, value in changes.items():
        if key in ("lat", "lon", "active", "languages", "availability", "dong") and value is None:
            raise ApiError(
                422, f"{key}: must not be null", errors=[ErrorItem(field=key, message="must not be null")]
            )
        setattr(household, key, value)
    household.updated_at = now_utc()
    ref = household.ref
    with session.no_autoflush:  # a duplicate ref must fail in the savepoint below, not here
        refresh_tier(household, crud.get(session, HouseholdPrivate, household.id), risk_model)
    try:
        with session.begin_nested():
            session.add(household)
            session.flush()
    except IntegrityError:
        raise conflict(f"a household with ref {ref!r} already exists in this team") from None
    audit(session, p, "update", "household", household.id, team_id=household.team_id,
          detail="fields=" + ",".join(sorted(changes)))
    return household


def update_private(
    session: Session, p: Principal, household: Household, body: HouseholdPrivateUpdate, risk_model: Any
) -> HouseholdPrivate:
    private = crud.get(session, HouseholdPrivate, household.id)
    if private is None:
        private = HouseholdPrivate(household_id=household.id)
    changes = body.model_dump(exclude_unset=True)
    for key, value in changes.items():
        if value is None:
            raise ApiError(
                422, f"{key}: must not be null", errors=[ErrorItem(field=key, message="must not be null")]
            )
        setattr(private, key, value)
    private.updated_at = now_utc()
    session.add(private)
    if set(changes) & set(RISK_FIELDS):
        refresh_tier(household, private, risk_model)
        household.updated_at = now_utc()
        session.add(household)
    session.flush()
    audit(session, p, "update", "household_private", household.id, team_id=household.team_id,
          detail="fields=" + ",".join(sorted(changes)))
    return private


def get_household(session: Session, p: Principal, household_id: str) -> Household:
    household = crud.get(session, Household, household_id)
    if household is None:
        raise not_found("household", household_id)
    require_household_read(session, p, household)
    return household


# ---- visit requests ----------------------------------------------------------------------------------


def _household_of_team(session: Session, team_id: str, household_id: str, field: str) -> Household:
    household = crud.get(session, Household, household_id)
    if household is None or household.team_id != team_id:
        raise ApiError(
            422, f"{field}: {household_id} is not a household of this team",
            errors=[ErrorItem(field=field, message="not a household of this team")],
        )
    return household


def create_visit_request(
    session: Session, p: Principal, team_id: str, body: VisitRequestCreate,
    *, source: VisitSource = VisitSource.MANUAL,
) -> VisitRequest:
    _household_of_team(session, team_id, body.household_id, "household_id")
    _check_worker_ref(session, team_id, body.required_worker_id, "required_worker_id")
    for wid in body.forbidden_worker_ids:
        _check_worker_ref(session, team_id, wid, "forbidden_worker_ids")
    row = VisitRequest.model_validate(
        body, update={"team_id": team_id, "source": source, "created_by": p.user_id}
    )
    crud.add(session, row)
    audit(session, p, "create", "visit_request", row.id, team_id=team_id,
          detail=f"household={row.household_id} date={row.date.isoformat()}")
    return row


def update_visit_request(
    session: Session, p: Principal, row: VisitRequest, body: VisitRequestUpdate
) -> VisitRequest:
    changes = body.model_dump(exclude_unset=True)
    if "required_worker_id" in changes:
        _check_worker_ref(session, row.team_id, changes["required_worker_id"], "required_worker_id")
    status = changes.pop("status", None)
    if status is not None:
        if row.status in FINISHED_VISIT and status == VisitStatus.OPEN.value:
            raise conflict(f"visit request {row.id} is already {row.status}")
        row.status = VisitStatus(status)
    for key, value in changes.items():
        if value is None and key not in VisitRequestUpdate.NULLABLE:
            raise ApiError(
                422, f"{key}: must not be null", errors=[ErrorItem(field=key, message="must not be null")]
            )
        setattr(row, key, value)
    row.updated_at = now_utc()
    session.add(row)
    session.flush()
    audit(session, p, "update", "visit_request", row.id, team_id=row.team_id,
          detail="fields=" + ",".join(sorted(body.model_dump(exclude_unset=True))))
    return row


def generate_visits(
    session: Session, p: Principal, team_id: str, date: dt.date, risk_model: Any,
    *, lookahead_days: int = 0,
) -> list[VisitRequest]:
    """Candidate visits for households due (by the risk model's cadence) on ``date``.

    A household is due when it was never contacted or its days since contact reach its
    cadence minus ``lookahead_days``.  Crisis-reported households get an urgent, mandatory
    crisis visit.  Households that already have a visit request that day are skipped, so the
    call is idempotent.
    """
    households, _ = crud.list_households(session, team_id, active=True)
    privates = crud.privates_by_ids(session, [h.id for h in households])
    taken = crud.households_with_request_on(session, team_id, date, statuses=NOT_CANCELLED)
    assessments = assess_households([(h, privates.get(h.id)) for h in households], date, risk_model,
                                    settings=team_risk_settings(session, team_id))
    created = []
    for h in households:
        a = assessments[h.id]
        if h.risk_tier != a.tier:
            h.risk_tier = a.tier
            session.add(h)
        if h.id in taken:
            continue
        due = a.days_since_contact is None or a.days_since_contact + lookahead_days >= a.cadence_days
        if not due:
            continue
        if a.tier == "urgent":
            kind, urgent, mandatory = VisitKind.CRISIS, True, True
        elif h.last_contact is None:
            kind, urgent, mandatory = VisitKind.ASSESSMENT, False, False
        else:
            kind, urgent, mandatory = VisitKind.ROUTINE, False, False
        row = VisitRequest(
            team_id=team_id, household_id=h.id, date=date, kind=kind, urgent=urgent,
            mandatory=mandatory, source=VisitSource.CADENCE, created_by=p.user_id,
        )
        session.add(row)
        created.append(row)
    session.flush()
    audit(session, p, "generate", "visit_request", None, team_id=team_id,
          detail=f"date={date.isoformat()} created={len(created)} households={len(households)}")
    return created


def create_report(session: Session, p: Principal, body: ReportCreate, risk_model: Any) -> Report:
    """A report (utility worker, landlord, neighbour...) becomes an urgent visit request."""
    household = crud.get(session, Household, body.household_id)
    if household is None:
        raise not_found("household", body.household_id)
    if p.is_field_worker:
        require_household_read(session, p, household)
    else:
        require_team_write(p, household.team_id)
    date = body.date or today_seoul()
    report = Report.model_validate(
        body, update={"team_id": household.team_id, "date": date, "created_by": p.user_id}
    )
    visit = VisitRequest(
        team_id=household.team_id, household_id=household.id, date=date, kind=VisitKind.CRISIS,
        urgent=True, mandatory=True, source=VisitSource.REPORT, report_id=report.id,
        created_by=p.user_id,
    )
    report.visit_request_id = visit.id
    private = crud.get(session, HouseholdPrivate, household.id) or HouseholdPrivate(
        household_id=household.id
    )
    private.crisis_report = True
    private.updated_at = now_utc()
    refresh_tier(household, private, risk_model)
    household.updated_at = now_utc()
    for row in (report, visit, private, household):
        session.add(row)
    session.flush()
    audit(session, p, "report", "household", household.id, team_id=household.team_id,
          detail=f"report={report.id} visit_request={visit.id} reporter={body.reporter_kind}")
    return report


# ---- problems ---------------------------------------------------------------------------------------


def build_problem(session: Session, team: Team, date: dt.date, *, statuses: Collection[str]) -> planner.Problem:
    """The planner's Problem for ``team`` on ``date`` (no names, contacts or notes), validated once by
    the planner; 422 when the team's rows do not form a valid problem."""
    workers, _ = crud.list_workers(session, team.id, active=True)
    visits, _ = crud.list_visit_requests(session, team.id, date=date, statuses=statuses)
    households = crud.households_by_ids(session, {v.household_id for v in visits})
    households = {k: h for k, h in households.items() if h.active}
    privates = crud.privates_by_ids(session, list(households))
    try:
        return problem_of(
            name=team.name, date=date,
            households=[(h, privates.get(h.id)) for h in sorted(households.values(), key=lambda h: h.id)],
            workers=workers, visits=[v for v in visits if v.household_id in households],
            extra=team_inputs(session, team.id),
        )
    except (ValueError, TypeError) as exc:
        raise ApiError(422, f"the team's data do not form a valid problem: {scrub_values(str(exc))}") from None


def team_inputs(session: Session, team_id: str) -> dict[str, Any]:
    """The team's own problem-level inputs (a travel matrix, risk model settings), as problem JSON."""
    row = crud.get(session, TeamInput, team_id)
    if row is None:
        return {}
    return {key: value for key, value in (("travel_matrix", row.travel_matrix), ("risk_model", row.risk_model))
            if value}


# ---- plan jobs -------------------------------------------------------------------------------------


class JobEvents:
    """Receives runner events (in the runner's monitor thread) and records them in the database."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._problems: dict[str, dict[str, Any]] = {}

    def remember(self, job_id: str, problem: planner.Problem) -> None:
        with self._lock:
            self._problems[job_id] = planner.problem_to_json(problem)

    def _take(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            return self._problems.pop(job_id, {})

    def __call__(self, job_id: str, kind: str, data: dict[str, Any]) -> None:
        try:
            self._record(job_id, kind, data)
        except Exception as exc:
            if kind not in ("result", "error", "died"):
                raise
            # A finished job whose plan cannot be stored must not stay "running" forever.
            _log.error("job %s: could not record %s (%s)", job_id, kind, type(exc).__name__)
            with session_scope(self._engine) as session:
                job = crud.get(session, PlanJob, job_id)
                if job is not None and job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
                    job.status = JobStatus.FAILED
                    job.error = f"the result could not be stored ({type(exc).__name__})"
                    job.finished_at = job.updated_at = now_utc()
                    session.add(job)

    def _record(self, job_id: str, kind: str, data: dict[str, Any]) -> None:
        with session_scope(self._engine) as session:
            job = crud.get(session, PlanJob, job_id)
            if job is None:
                return
            now = now_utc()
            if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
                if kind in ("result", "error", "died"):
                    self._take(job_id)
                return
            if kind == "started":
                job.status = JobStatus.RUNNING
                job.started_at = now
            elif kind == "progress":
                job.progress = {**data}
            elif kind == "result":
                # A re-plan is checked against the day as it now stands (the planner's ``Replanned.day``).
                remembered = self._take(job_id)
                problem = data.get("problem") or remembered
                violations = list(data.get("violations") or [])
                plan = store_plan(
                    session, team_id=job.team_id, date=job.date, plan_json=data["plan"],
                    problem=problem,
                    kind=PlanKind.REPLAN if job.kind == JobKind.REPLAN else PlanKind.SOLVE,
                    job_id=job.id, base_plan_id=job.base_plan_id,
                    stopped_early=bool(data.get("stopped_early")), created_by=job.created_by,
                    publish=job.publish_on_finish and not violations,  # never a plan the evaluator objects to
                )
                if job.publish_on_finish and violations:
                    audit(session, None, "publish_withheld", "plan", plan.id, team_id=job.team_id,
                          detail=f"version={plan.version} job={job.id} violations={violations_brief(violations)}")
                job.plan_id = plan.id
                job.status = JobStatus.CANCELLED if job.cancel_requested else JobStatus.SUCCEEDED
                job.finished_at = now
                progress = dict(job.progress or {})
                progress.setdefault("elapsed_s", (now - (job.started_at or now)).total_seconds())
                job.progress = progress
            elif kind in ("error", "died"):
                self._take(job_id)
                job.status = JobStatus.FAILED
                job.error = str(data.get("message") or data.get("reason") or "failed")[:1000]
                job.finished_at = now
            job.updated_at = now
            session.add(job)
        if kind in ("result", "error", "died"):
            _log.info("job %s finished: %s", job_id, kind)


def _job_payload(job: PlanJob, problem: planner.Problem, **extra: Any) -> dict[str, Any]:
    return {"problem": problem, "time_limit_s": job.time_limit_s, "seed": job.seed, **extra}


def _insert_job(session: Session, job: PlanJob) -> None:
    if crud.active_job(session, job.team_id, job.date) is not None:
        raise conflict(
            f"a plan job for team {job.team_id} on {job.date.isoformat()} is already running",
            slug="job-running",
        )
    try:
        with session.begin_nested():
            crud.add(session, job)
    except IntegrityError:
        raise conflict(
            f"a plan job for team {job.team_id} on {job.date.isoformat()} is already running",
            slug="job-running",
        ) from None


def create_plan_job(
    session: Session, p: Principal, body: PlanJobCreate, *, runner: JobRunner, events: JobEvents,
    settings: Settings,
) -> PlanJob:
    team = get_team(session, body.team_id)
    require_planner(p, team.id)
    if body.time_limit_s > settings.max_time_limit_s:
        raise ApiError(
            422, f"time_limit_s: at most {settings.max_time_limit_s} s on this server",
            errors=[ErrorItem(field="body.time_limit_s", message=f"at most {settings.max_time_limit_s}")],
        )
    problem = build_problem(session, team, body.date, statuses=(VisitStatus.OPEN.value,))
    if not problem.workers:
        raise ApiError(422, f"team {team.id} has no active workers to plan", slug="nothing-to-plan")
    if not problem.visits:
        raise ApiError(
            422, f"team {team.id} has no open visit requests on {body.date.isoformat()}; "
            "generate them first (POST /v1/teams/{team_id}/visit-requests/generate)",
            slug="nothing-to-plan",
        )
    job = PlanJob.model_validate(body, update={"kind": JobKind.PLAN, "created_by": p.user_id})
    _insert_job(session, job)
    session.commit()
    events.remember(job.id, problem)
    runner.submit(job.id, _job_payload(job, problem, network=settings.network, data_dir=str(settings.data_dir)))
    return job


def get_job(session: Session, p: Principal, job_id: str) -> PlanJob:
    job = crud.get(session, PlanJob, job_id)
    if job is None:
        raise not_found("plan job", job_id)
    require_not_field_worker(p, "plan jobs")
    require_team_read(p, job.team_id)
    return job


def cancel_job(session: Session, p: Principal, job: PlanJob, *, runner: JobRunner) -> PlanJob:
    require_planner(p, job.team_id)
    if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
        raise conflict(f"plan job {job.id} already {job.status}", slug="job-finished")
    job.cancel_requested = True
    job.updated_at = now_utc()
    session.add(job)
    session.commit()
    outcome = runner.cancel(job.id)
    if outcome in ("dequeued", "unknown"):
        session.refresh(job)
        if job.status in (JobStatus.QUEUED, JobStatus.RUNNING):
            job.status = JobStatus.CANCELLED
            job.finished_at = now_utc()
            job.error = None if outcome == "dequeued" else "no worker process was running the job"
            session.add(job)
            session.commit()
    return job


def fail_orphaned_jobs(session: Session) -> int:
    """Jobs left queued or running by a previous server process can never finish."""
    jobs = crud.active_jobs(session)
    for job in jobs:
        job.status = JobStatus.FAILED
        job.error = "the server restarted before the job finished"
        job.finished_at = now_utc()
        job.updated_at = now_utc()
        session.add(job)
    return len(jobs)


# ---- plans ------------------------------------------------------------------------------------------


def store_plan(
    session: Session, *, team_id: str, date: dt.date, plan_json: dict[str, Any],
    problem: dict[str, Any], kind: PlanKind, job_id: str | None, base_plan_id: str | None,
    stopped_early: bool, created_by: str | None, publish: bool,
) -> Plan:
    """Save a new version (1, 2, 3 ... per team and day), optionally published.

    ``plan_json`` is read by the planner's parser and stored as the planner writes it.
    """
    parsed = planner.plan_from_json({**plan_json, "date": date.isoformat()})
    data = planner.plan_to_json(parsed)
    for _attempt in range(5):
        version = crud.max_plan_version(session, team_id, date) + 1
        plan = Plan(
            team_id=team_id, date=date, version=version, kind=kind, job_id=job_id,
            base_plan_id=base_plan_id, stopped_early=stopped_early, data=data,
            problem=problem, kpis=data["kpis"], created_by=created_by,
        )
        try:
            with session.begin_nested():
                crud.add(session, plan)
        except IntegrityError:
            continue
        if publish:
            publish_plan(session, plan)
        return plan
    raise conflict("could not allocate a plan version; try again")


def get_plan(session: Session, p: Principal, plan_id: str) -> Plan:
    plan = crud.plan_without_bodies(session, plan_id)  # the JSON loads only if it is used
    if plan is None:
        raise not_found("plan", plan_id)
    require_not_field_worker(p, "whole plans")
    require_team_read(p, plan.team_id)
    return plan


def plan_for_outcomes(session: Session, plan_id: str) -> Plan:
    """The plan outcomes are recorded against (access is checked per outcome)."""
    plan = crud.get(session, Plan, plan_id)
    if plan is None:
        raise not_found("plan", plan_id)
    return plan


def _stop_visit_ids(plan: Plan) -> tuple[str, ...]:
    return tuple(s.visit_id for r in stored_plan(plan).routes for s in r.stops)


def visit_statuses(session: Session, plan: Plan) -> dict[str, str]:
    return crud.visit_status_map(session, set(_stop_visit_ids(plan)))


def read_plan_body(session: Session, p: Principal, plan_id: str, cache: PlanBodyCache) -> CachedBody:
    """``GET /v1/plans/{id}``: the access checks of ``get_plan``, then the JSON body and ETag from
    ``cache`` unless the plan's row or one of its visits' statuses changed since it was built.

    A cache hit costs three small queries (the plan's columns without its JSON, the day's visit
    statuses) and loads no plan JSON and no ORM object.
    """
    state = crud.plan_state(session, plan_id)
    if state is None:
        raise not_found("plan", plan_id)
    require_not_field_worker(p, "whole plans")
    require_team_read(p, state.team_id)
    plan: Plan | None = None
    visit_ids = cache.visit_ids(plan_id)
    if visit_ids is None:
        plan = crud.plan_without_bodies(session, plan_id)
        assert plan is not None
        visit_ids = _stop_visit_ids(plan)
    statuses = crud.day_status_map(session, state.team_id, state.date)  # a plan's visits are its day's
    missing = [v for v in visit_ids if v not in statuses]
    if missing:
        statuses.update(crud.visit_status_map(session, missing))
    key = (tuple(state), tuple(statuses.get(v, "open") for v in visit_ids))
    hit = cache.lookup(plan_id, key)
    if hit is not None:
        return hit
    plan = plan or crud.plan_without_bodies(session, plan_id)
    assert plan is not None
    body = CachedBody.build(key, plan_public(plan, statuses).model_dump_json(by_alias=True).encode())
    cache.store(plan_id, visit_ids, body)
    return body


def publish_plan(session: Session, plan: Plan, *, at: dt.datetime | None = None) -> Plan:
    """Publish ``plan``; earlier versions of the team's day stay stored but unpublished.

    Atomic: the day's other versions are unpublished and ``plan`` published in one transaction,
    under a lock on the day's versions, and the database allows one published version per team
    and day (a partial unique index).  A publisher that still loses a race retries.  The calendar
    feeds' events follow in the same transaction (``feedevents.record_publish``).
    """
    for _attempt in range(_PUBLISH_ATTEMPTS):
        try:
            with session.begin_nested():
                crud.publish_exclusively(session, plan, at=at or now_utc())
                record_publish(session, plan, at=at or now_utc())
        except IntegrityError:
            continue
        return plan
    raise conflict(f"plan {plan.id}: another version of the day was being published; try again",
                   slug="publish-conflict")


def violations_brief(violations: Sequence[Any], *, limit: int = 12) -> str:
    """Violations (the evaluator's, or their JSON) as codes and ids only, for the audit log:
    ``3 (break: w1; travel: w1/v2; ...)``."""
    def field(v: Any, name: str) -> str:
        return str((v.get(name) if isinstance(v, dict) else getattr(v, name, "")) or "")

    parts = [f"{field(v, 'code')}: " + "/".join(x for x in (field(v, "worker_id"), field(v, "visit_id")) if x)
             for v in violations[:limit]]
    more = f"; {len(violations) - limit} more" if len(violations) > limit else ""
    return f"{len(violations)} ({'; '.join(parts)}{more})"


def publish_checked(
    session: Session, p: Principal, plan: Plan, *, force: bool, network: str | None = None, data_dir: Any = None,
) -> Plan:
    """Publish ``plan`` by hand: only if the evaluator finds no violation, or with ``force``, which the audit
    log records together with the violations (ids only)."""
    # Every version the API stores carries its problem; a bare row (made in tests) has nothing to check against.
    ev = check_plan(plan, None, network=network, data_dir=data_dir) if plan.problem else None
    if ev is not None and ev.violations and not force:
        raise ApiError(
            409, f"plan {plan.id} breaks {len(ev.violations)} rule(s); fix it, or publish with force=true "
            "(recorded in the audit log)", slug="plan-has-violations",
            errors=[ErrorItem(field=v.code, message=v.message) for v in ev.violations[:50]],
        )
    publish_plan(session, plan)
    detail = f"version={plan.version}"
    if ev is not None and ev.violations:
        detail += f" forced despite violations={violations_brief(ev.violations)}"
    audit(session, p, "publish", "plan", plan.id, team_id=plan.team_id, detail=detail)
    return plan


def travel_provider(network: str | None, *, data_dir: Any = None) -> Any:
    """The travel-time provider of this server: a named road network (in ``data_dir``), or straight lines."""
    from planner import HaversineProvider, road_network

    if not network:
        return HaversineProvider()
    try:
        return road_network(network, data_dir=data_dir)
    except ValueError as exc:
        raise ApiError(503, f"road network unavailable: {exc}", slug="network-unavailable") from None


def plan_travel(problem: planner.Problem, network: str | None, *, data_dir: Any = None) -> Any:
    """The travel provider a plan of ``problem`` is made and checked with: the problem's own travel
    matrix (the team's), else the server's road network, else straight lines."""
    if problem.travel_matrix is not None:
        return planner.MatrixProvider(problem.travel_matrix)
    return travel_provider(network, data_dir=data_dir)


def _read_edit(plan: Plan, edited: dict[str, Any] | None) -> planner.Plan:
    data = dict(edited) if edited is not None else dict(plan.data)
    data.setdefault("date", plan.date.isoformat())
    try:
        return planner.plan_from_json(data)
    except (ValueError, TypeError, KeyError) as exc:
        why = scrub_values(f"missing {exc.args[0]}" if isinstance(exc, KeyError) and exc.args else str(exc))
        raise ApiError(422, f"not a readable plan: {why}",
                       errors=[ErrorItem(field="body", message=why)]) from None


def check_plan(plan: Plan, edited: dict[str, Any] | None, *, network: str | None = None, data_dir: Any = None) -> Any:
    """Evaluate the stored (or an edited) plan against the problem it was made for."""
    problem = planner.problem_from_json(plan.problem)
    candidate = _read_edit(plan, edited)
    if candidate.date != plan.date:
        raise ApiError(422, f"plan.date: {candidate.date} differs from the plan's {plan.date}")
    return planner.evaluate(problem, candidate, plan_travel(problem, network, data_dir=data_dir))


def plan_geojson(plan: Plan, *, network: str | None = None, data_dir: Any = None) -> dict[str, Any]:
    """The planner's GeoJSON of a stored plan (legs along the streets when the server has a road
    network), with the plan's id and version."""
    problem = planner.problem_from_json(plan.problem)
    out = planner.plan_geojson(problem, stored_plan(plan), plan_travel(problem, network, data_dir=data_dir))
    out["properties"] = {"plan_id": plan.id, "version": plan.version, **out.get("properties", {})}
    return out


#: Violations that make an edited plan something other than a version of the day (saved plans may break
#: other rules: the check goes with them, and publishing them needs force).
_STRUCTURAL = frozenset({"unknown_worker", "unknown_visit", "missing_visit", "duplicate_visit", "duplicate_route",
                         "date"})


def save_edited_plan(
    session: Session, p: Principal, base: Plan, edited: dict[str, Any]
) -> tuple[Plan, Any]:
    """Store a dispatcher's hand-edited plan as a new (unpublished) version, with its check."""
    require_team_write(p, base.team_id)
    ev = check_plan(base, edited)
    broken = [v for v in ev.violations if v.code in _STRUCTURAL]
    if broken:
        raise ApiError(
            422, f"the edited plan names unknown workers or visits, or loses visits ({len(broken)} problem(s)); "
            "every visit of the day must be planned or listed as unassigned", slug="plan-incomplete",
            errors=[ErrorItem(field=v.code, message=v.message) for v in broken[:50]],
        )
    normalised = planner.plan_to_json(replace(_read_edit(base, edited), kpis=ev.kpis))
    plan = store_plan(
        session, team_id=base.team_id, date=base.date, plan_json=normalised, problem=base.problem,
        kind=PlanKind.EDIT, job_id=None, base_plan_id=base.id, stopped_early=False,
        created_by=p.user_id, publish=False,
    )
    return plan, ev


# ---- schedules -----------------------------------------------------------------------------------


def worker_schedule(
    session: Session, p: Principal, worker_id: str, date: dt.date
) -> tuple[Worker, Plan | None, planner.Route | None]:
    worker = crud.get(session, Worker, worker_id)
    if worker is None:
        raise not_found("worker", worker_id)
    if p.is_field_worker:
        if p.worker_id != worker.id:
            raise forbidden("field workers read only their own schedule")
    else:
        require_team_read(p, worker.team_id)
    plan = crud.published_plan(session, worker.team_id, date)
    route = stored_plan(plan).route_of(worker.id) if plan is not None else None
    audit(session, p, "read", "schedule", worker.id, team_id=worker.team_id,
          detail=f"date={date.isoformat()} stops={len(route.stops) if route else 0}")
    return worker, plan, route


# ---- outcomes -------------------------------------------------------------------------------------


def _route_of_visit(plan: Plan, visit_id: str) -> str | None:
    for route in stored_plan(plan).routes:
        if any(s.visit_id == visit_id for s in route.stops):
            return route.worker_id
    return None


def record_outcome(session: Session, p: Principal, plan: Plan, body: OutcomeCreate) -> Outcome:
    """Record what happened; a no-answer creates a mandatory, urgent follow-up the next day."""
    at = body.at or now_utc()
    visit: VisitRequest | None = None
    worker_ids = {w["id"] for w in (plan.problem or {}).get("workers", [])}
    if body.visit_id is not None:
        visit = crud.get(session, VisitRequest, body.visit_id)
        if visit is None or visit.team_id != plan.team_id or visit.date != plan.date:
            raise ApiError(422, f"visit_id: {body.visit_id} is not a visit of this plan's day",
                           errors=[ErrorItem(field="visit_id", message="not a visit of this day")])
    if body.worker_id is not None and body.worker_id not in worker_ids:
        raise ApiError(422, f"worker_id: {body.worker_id} is not a worker of this plan",
                       errors=[ErrorItem(field="worker_id", message="not a worker of this plan")])
    if p.is_field_worker:
        if p.team_id != plan.team_id:
            raise forbidden(f"plan {plan.id} is not your team's")
        if visit is not None and _route_of_visit(plan, visit.id) != p.worker_id:
            raise forbidden(f"visit {visit.id} is not on your route")
        if body.worker_id is not None and body.worker_id != p.worker_id:
            raise forbidden("field workers report only about themselves")
    else:
        require_team_write(p, plan.team_id)
    outcome = Outcome.model_validate(
        body, update={"plan_id": plan.id, "team_id": plan.team_id, "date": plan.date, "at": at,
                      "recorded_by": p.user_id},
    )
    if visit is not None:
        if visit.status in FINISHED_VISIT or visit.status == VisitStatus.CANCELLED:
            raise conflict(f"visit {visit.id} is already {visit.status}")
        visit.status = VisitStatus(body.kind.value)
        visit.updated_at = now_utc()
        session.add(visit)
        household = crud.get(session, Household, visit.household_id)
        if household is not None and body.kind in (OutcomeKind.DONE, OutcomeKind.REFUSED):
            household.last_contact = plan.date
            household.updated_at = now_utc()
            session.add(household)
        if body.kind == OutcomeKind.NO_ANSWER:
            follow = VisitRequest(
                team_id=visit.team_id, household_id=visit.household_id,
                date=plan.date + dt.timedelta(days=1), kind=VisitKind.FOLLOW_UP, mandatory=True,
                urgent=True, source=VisitSource.FOLLOW_UP, parent_id=visit.id,
                created_by=p.user_id, required_skills=list(visit.required_skills or []),
                allowed_roles=list(visit.allowed_roles or []),
            )
            session.add(follow)
            outcome.follow_up_request_id = follow.id
        audit(session, p, "outcome", "household", visit.household_id, team_id=plan.team_id,
              detail=f"visit={visit.id} outcome={body.kind.value}")
    session.add(outcome)
    session.flush()
    return outcome


# ---- re-planning ------------------------------------------------------------------------------------


def replan_args(session: Session, plan: Plan, now: dt.datetime) -> dict[str, Any]:
    """What has happened so far today, in the planner's seconds (see planner.replan.freeze): visits
    finished and under way, who went off sick and when, who is held up until when and since when."""
    now_s = seconds_of_day(now, plan.date)
    visits, _ = crud.list_visit_requests(session, plan.team_id, date=plan.date)
    outcomes = crud.list_outcomes(session, team_id=plan.team_id, date=plan.date)
    done = sorted(v.id for v in visits if v.status in FINISHED_VISIT)
    in_progress: dict[str, int] = {}
    off_sick: dict[str, int] = {}
    delay_until: dict[str, int] = {}
    delayed_at: dict[str, int] = {}
    for o in outcomes:
        at_s = seconds_of_day(o.at or o.created_at, plan.date)
        if o.kind == OutcomeKind.IN_PROGRESS and o.visit_id:
            in_progress[o.visit_id] = at_s
        elif o.kind == OutcomeKind.WORKER_OFF_SICK and o.worker_id:
            off_sick[o.worker_id] = min(off_sick.get(o.worker_id, at_s), at_s)
        elif o.kind == OutcomeKind.WORKER_DELAYED and o.worker_id:
            until = at_s + int(o.delay_s or 0)
            delay_until[o.worker_id] = max(delay_until.get(o.worker_id, 0), until)
            delayed_at[o.worker_id] = min(delayed_at.get(o.worker_id, at_s), at_s)
    still = {v.id for v in visits if v.status == VisitStatus.IN_PROGRESS}
    in_progress = {k: v for k, v in in_progress.items() if k in still}
    delayed = {w: until - now_s for w, until in delay_until.items() if until > now_s}
    return {
        "now_s": now_s, "done": done, "in_progress": in_progress, "off_sick": off_sick,
        "delayed_s": delayed, "delayed_at_s": delayed_at,
    }


def create_replan_job(
    session: Session, p: Principal, plan: Plan, body: ReplanRequest, *, runner: JobRunner,
    events: JobEvents, settings: Settings,
) -> PlanJob:
    """Re-plan the rest of ``plan``'s day from ``now``: a job whose result is a new version."""
    require_team_write(p, plan.team_id)
    if body.time_limit_s > settings.max_time_limit_s:
        raise ApiError(422, f"time_limit_s: at most {settings.max_time_limit_s} s on this server")
    now = body.now
    if now.tzinfo is None:
        raise ApiError(422, "now: give an offset, e.g. 2026-11-24T13:30:00+09:00",
                       errors=[ErrorItem(field="body.now", message="a date and time with an offset")])
    if not 0 <= seconds_of_day(now, plan.date) < 24 * 3600:
        raise ApiError(422, f"now: not a moment of the plan's day ({plan.date.isoformat()}, Seoul time)",
                       errors=[ErrorItem(field="body.now", message="not on the plan's day")])
    team = get_team(session, plan.team_id)
    problem = build_problem(session, team, plan.date, statuses=NOT_CANCELLED)
    if not problem.workers:
        raise ApiError(422, f"team {team.id} has no active workers to plan", slug="nothing-to-plan")
    args = replan_args(session, plan, now)
    job = PlanJob(
        team_id=plan.team_id, date=plan.date, time_limit_s=body.time_limit_s, seed=body.seed,
        kind=JobKind.REPLAN, base_plan_id=plan.id, publish_on_finish=body.publish,
        created_by=p.user_id,
    )
    _insert_job(session, job)
    session.commit()
    events.remember(job.id, problem)
    previous = stored_plan(plan)
    runner.submit(job.id, _job_payload(job, problem, previous=previous, replan=args, network=settings.network,
                                         data_dir=str(settings.data_dir)))
    return job


# ---- loading a problem file (fixtures, scenarios) -------------------------------------------------


def load_problem_data(
    session: Session, data: dict[str, Any], *, risk_model: Any, team_name: str | None = None,
    district: str | None = None, actor: Principal | None = None,
) -> tuple[Team, int, int, int]:
    """Create a team from a planner problem JSON: workers, households (private part apart), visits.

    Fixture ids become ``ref``; the database gives every row a fresh opaque id.
    Raises ``ValueError`` (one line) when the data are not a valid problem.
    """
    problem = planner.problem_from_json(data)
    inputs = planner.problem_to_json(problem)
    labels = {
        h.get("id"): str(h.get("label", ""))
        for h in data.get("households", []) if isinstance(h, dict)
    }
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    if district is None and meta.get("district") is not None:
        district = meta["district"]
        if not isinstance(district, str) or len(district) > 200 or not district.isprintable():
            raise ValueError("meta.district: expected printable text of at most 200 characters")
    team = Team(
        name=team_name or problem.name or "district",
        district=district if district is not None else str(meta.get("district", "")),
    )
    session.add(team)
    session.flush()
    if problem.travel_matrix is not None or problem.risk_model is not None:
        session.add(TeamInput(team_id=team.id, travel_matrix=inputs.get("travel_matrix"),
                              risk_model=inputs.get("risk_model")))
    hhmm = planner.format_hhmm
    worker_ids: dict[str, str] = {}
    for w in problem.workers:
        row = Worker(
            team_id=team.id, ref=w.id, name=w.name, role=w.role, skills=sorted(w.skills),
            languages=list(w.languages), start_lat=w.start.lat, start_lon=w.start.lon,
            end_lat=w.end.lat, end_lon=w.end.lon,
            shift_start=hhmm(w.shift.start_s), shift_end=hhmm(w.shift.end_s),
            break_start=hhmm(w.break_window.start_s) if w.break_window else None,
            break_end=hhmm(w.break_window.end_s) if w.break_window else None,
            break_s=w.break_s if w.break_window else 0,
            max_visits=w.max_visits, max_work_s=w.max_work_s, travel_mode=w.travel_mode,
            speed_factor=float(w.speed_factor), capacity=w.capacity,
        )
        worker_ids[w.id] = row.id
        session.add(row)
    session.flush()
    household_ids: dict[str, str] = {}
    pairs = []
    for h in problem.households:
        row = Household(
            team_id=team.id, ref=h.id, dong=h.dong, lat=h.location.lat, lon=h.location.lon,
            last_contact=h.last_contact, preferred_worker_id=worker_ids.get(h.preferred_worker_id or ""),
            languages=list(h.languages), availability=planner.availability_to_json(h.availability),
            priority=h.priority,
        )
        private = HouseholdPrivate(
            household_id=row.id, label=labels.get(h.id, "")[:200],
            **{k: getattr(h.risk, k) for k in RISK_FIELDS},
        )
        household_ids[h.id] = row.id
        pairs.append((row, private))
    tiers = assess_households(pairs, problem.date, risk_model, settings=problem.risk_model)
    for row, _private in pairs:
        row.risk_tier = tiers[row.id].tier
        session.add(row)
    session.flush()
    for _row, private in pairs:
        session.add(private)
    for v in problem.visits:
        session.add(
            VisitRequest(
                team_id=team.id, household_id=household_ids[v.household_id], date=problem.date,
                kind=v.kind, duration_s=v.duration_s, mandatory=v.mandatory, urgent=v.urgent,
                time_windows=planner.windows_to_json(v.time_windows),
                required_skills=sorted(v.required_skills),
                required_worker_id=worker_ids.get(v.required_worker_id or ""),
                forbidden_worker_ids=[worker_ids[w] for w in sorted(v.forbidden_worker_ids)],
                allowed_roles=sorted(v.allowed_roles), load=v.load, priority=v.priority,
                source=VisitSource.FIXTURE,
            )
        )
    session.flush()
    n_visits = len(problem.visits)
    audit(session, actor, "import", "team", team.id, team_id=team.id,
          detail=f"workers={len(worker_ids)} households={len(household_ids)} visits={n_visits}")
    return team, len(worker_ids), len(household_ids), n_visits


def first_field_worker(session: Session, team_id: str) -> Worker | None:
    workers, _ = crud.list_workers(session, team_id, active=True)
    nurses = [w for w in workers if w.role == "visiting_nurse"]
    return (nurses or workers or [None])[0]


def ids(rows: Iterable[Any]) -> list[str]:
    return [r.id for r in rows]
