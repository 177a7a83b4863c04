"""The registry of a team: teams, workers, households (planning and private parts) and their risk tiers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import IO, Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

import planner

from .. import crud, csvimport
from ..errors import ApiError, conflict, not_found
from ..mappers import household_json, household_public_json, today_seoul
from ..models import (
    RISK_FIELDS,
    ErrorItem,
    Household,
    HouseholdCreate,
    HouseholdPrivate,
    HouseholdPrivateCreate,
    HouseholdPrivateUpdate,
    HouseholdUpdate,
    Team,
    TeamCreate,
    TeamInput,
    Worker,
    WorkerCreate,
    WorkerUpdate,
    check_worker_times,
    now_utc,
)
from ..redact import shown_id
from ..security import Principal
from .access import (
    field_worker_households,
    require_household_id_read,
    require_household_read,
    require_manager,
    require_private_read,
    require_team_read,
    require_team_write,
    require_worker_read,
)
from .audit import audit

# ---- teams ------------------------------------------------------------------------------------------


def get_team(session: Session, team_id: str) -> Team:
    team = crud.get(session, Team, team_id)
    if team is None:
        raise not_found("team", team_id)
    return team


def read_team(session: Session, p: Principal, team_id: str) -> Team:
    team = get_team(session, team_id)
    require_team_read(p, team.id)
    return team


def visible_teams(session: Session, p: Principal) -> list[Team]:
    if p.is_manager:
        return crud.list_teams(session)
    return crud.list_teams(session, ids=[p.team_id] if p.team_id else [])


def create_team(session: Session, p: Principal, body: TeamCreate) -> Team:
    """A new, empty team (managers)."""
    require_manager(p)
    team = crud.add(session, Team.model_validate(body))
    audit(session, p, "create", "team", team.id, team_id=team.id)
    return team


def team_inputs(session: Session, team_id: str) -> dict[str, Any]:
    """The team's own problem-level inputs (a travel matrix, risk model settings), as problem JSON."""
    row = crud.get(session, TeamInput, team_id)
    if row is None:
        return {}
    return {key: value for key, value in (("travel_matrix", row.travel_matrix), ("risk_model", row.risk_model),
                                          ("precedences", row.precedences))
            if value}


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
    risk_model = risk_model.with_settings(settings)
    households = []
    for h, priv in rows:
        data = household_json(h, priv)
        data["preferred_worker_id"] = None  # workers are not part of this mini-problem
        households.append(data)
    problem = planner.problem_from_json(
        {"date": on.isoformat(), "households": households, "workers": [], "visits": []}
    )
    return {h.id: risk_model.assess(h, on) for h in problem.households}


def refresh_tier(household: Household, private: HouseholdPrivate | None, risk_model: Any) -> None:
    household.risk_tier = assess_households([(household, private)], today_seoul(), risk_model)[
        household.id
    ].tier


# ---- CSV uploads ------------------------------------------------------------------------------------


def read_limited(source: IO[bytes], limit: int) -> bytes:
    """An uploaded CSV file's bytes; 413 past ``limit``."""
    raw = source.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, f"the CSV file exceeds the limit of {limit} bytes")
    return raw


# ---- workers -----------------------------------------------------------------------------------------


def check_worker_ref(session: Session, team_id: str, worker_id: str | None, field: str) -> None:
    """422 naming ``field`` unless ``worker_id`` is empty or a worker of the team."""
    if worker_id is None:
        return
    worker = crud.get(session, Worker, worker_id)
    if worker is None or worker.team_id != team_id:
        raise ApiError(
            422, f"{field}: {shown_id(worker_id)} is not a worker of this team",
            errors=[ErrorItem(field=field, message="not a worker of this team")],
        )


def _worker(session: Session, worker_id: str) -> Worker:
    worker = crud.get(session, Worker, worker_id)
    if worker is None:
        raise not_found("worker", worker_id)
    return worker


def list_workers(
    session: Session, p: Principal, team_id: str, *, active: bool | None, limit: int, offset: int
) -> tuple[list[Worker], int]:
    """A team's workers; a field worker sees only herself (names and homes are personal)."""
    get_team(session, team_id)
    require_team_read(p, team_id)
    if p.is_field_worker:
        own = crud.get(session, Worker, p.worker_id) if p.worker_id else None
        rows = [w for w in [own] if w is not None and w.team_id == team_id and active in (None, w.active)]
        return rows[offset: offset + limit], len(rows)
    return crud.list_workers(session, team_id, active=active, limit=limit, offset=offset)


def read_worker(session: Session, p: Principal, worker_id: str) -> Worker:
    worker = _worker(session, worker_id)
    require_worker_read(p, worker)
    return worker


def create_worker(session: Session, p: Principal, team_id: str, body: WorkerCreate) -> Worker:
    get_team(session, team_id)
    require_team_write(p, team_id)
    worker = Worker.model_validate(body, update={"team_id": team_id})
    try:
        with session.begin_nested():
            crud.add(session, worker)
    except IntegrityError:
        raise conflict(f"a worker with ref {body.ref!r} already exists in this team") from None
    audit(session, p, "create", "worker", worker.id, team_id=team_id)
    return worker


def import_workers(
    session: Session, p: Principal, team_id: str, source: IO[bytes], *, max_bytes: int
) -> tuple[int, int, list[str]]:
    """CSV rows matched by ``ref`` (updated) or created: all rows or none."""
    get_team(session, team_id)
    require_team_write(p, team_id)
    created, updated, ids = csvimport.import_workers(session, team_id, read_limited(source, max_bytes))
    audit(session, p, "import", "worker", None, team_id=team_id, detail=f"created={created} updated={updated}")
    return created, updated, ids


_WORKER_TIME_FIELDS = ("shift_start", "shift_end", "break_start", "break_end", "break_s", "end_lat", "end_lon")


def update_worker(
    session: Session, p: Principal, worker_id: str, body: WorkerUpdate, *, action: str = "update"
) -> Worker:
    """Change a worker (``action="delete"``: the deactivation of ``DELETE``)."""
    worker = _worker(session, worker_id)
    require_team_write(p, worker.team_id)
    changes = body.model_dump(exclude_unset=True)
    # Only the fields the check reads, straight from the row: dumping the whole row would serialise
    # the enum columns, which come back from the database as their string values.
    merged = {**{name: getattr(worker, name) for name in _WORKER_TIME_FIELDS}, **changes}
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
    audit(session, p, action, "worker", worker.id, team_id=worker.team_id)
    return worker


# ---- households -----------------------------------------------------------------------------------


def get_household(session: Session, p: Principal, household_id: str) -> Household:
    """The household, if the caller may read it (a field worker: only on her published route)."""
    household = crud.get(session, Household, household_id)
    if household is None:
        raise not_found("household", household_id)
    require_household_read(session, p, household)
    return household


def read_household(session: Session, p: Principal, household_id: str) -> Household:
    household = get_household(session, p, household_id)
    audit(session, p, "read", "household", household.id, team_id=household.team_id)
    return household


def read_household_json(session: Session, p: Principal, household_id: str) -> bytes:
    """``read_household`` as its JSON body: one query, no ORM object; the same access rule and audit entry."""
    row = crud.household_row(session, household_id)
    if row is None:
        raise not_found("household", household_id)
    require_household_id_read(session, p, row.id, row.team_id)
    audit(session, p, "read", "household", row.id, team_id=row.team_id)
    return household_public_json(row)


def list_households(
    session: Session, p: Principal, team_id: str, *, active: bool | None, dong: str | None, limit: int,
    offset: int,
) -> tuple[list[Household], int]:
    """A team's households (planning part); a field worker sees those on her published route."""
    get_team(session, team_id)
    require_team_read(p, team_id)
    if p.is_field_worker:
        mine = field_worker_households(session, p)
        rows = [h for h in crud.households_by_ids(session, mine).values() if active is None or h.active == active]
        total = len(rows)
        rows = sorted(rows, key=lambda h: h.id)[offset: offset + limit]
    else:
        rows, total = crud.list_households(session, team_id, active=active, dong=dong, limit=limit, offset=offset)
    audit(session, p, "list", "household", None, team_id=team_id, detail=f"rows={len(rows)}")
    return rows, total


def create_household(
    session: Session, p: Principal, team_id: str, body: HouseholdCreate, risk_model: Any
) -> tuple[Household, HouseholdPrivate]:
    get_team(session, team_id)
    require_team_write(p, team_id)
    check_worker_ref(session, team_id, body.preferred_worker_id, "preferred_worker_id")
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


def import_households(
    session: Session, p: Principal, team_id: str, source: IO[bytes], *, max_bytes: int, risk_model: Any
) -> tuple[int, int, list[str]]:
    """CSV rows matched by ``ref`` (updated) or created, risk tiers refreshed: all rows or none."""
    get_team(session, team_id)
    require_team_write(p, team_id)
    created, updated, ids = csvimport.import_households(
        session, team_id, read_limited(source, max_bytes), refresh=lambda h, priv: refresh_tier(h, priv, risk_model)
    )
    audit(session, p, "import", "household", None, team_id=team_id, detail=f"created={created} updated={updated}")
    return created, updated, ids


def update_household(
    session: Session, p: Principal, household_id: str, body: HouseholdUpdate, risk_model: Any
) -> Household:
    household = get_household(session, p, household_id)
    require_team_write(p, household.team_id)
    changes = body.model_dump(exclude_unset=True)
    if "preferred_worker_id" in changes:
        check_worker_ref(session, household.team_id, changes["preferred_worker_id"], "preferred_worker_id")
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


def read_private(session: Session, p: Principal, household_id: str) -> HouseholdPrivate:
    """Label, contact, notes and risk factors: the team's dispatchers and the worker who visits; audited."""
    household = get_household(session, p, household_id)
    require_private_read(session, p, household)
    private = crud.get(session, HouseholdPrivate, household.id) or HouseholdPrivate(household_id=household.id)
    audit(session, p, "read", "household_private", household.id, team_id=household.team_id)
    return private


def update_private(
    session: Session, p: Principal, household_id: str, body: HouseholdPrivateUpdate, risk_model: Any
) -> HouseholdPrivate:
    household = get_household(session, p, household_id)
    require_team_write(p, household.team_id)
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
