"""A team's candidate visits: visit requests by hand or from the risk model's cadences, and reports that become
urgent visits."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlmodel import Session

from .. import crud
from ..errors import ApiError, conflict, not_found
from ..mappers import today_seoul
from ..models import (
    ErrorItem,
    Household,
    HouseholdPrivate,
    PrecedenceItem,
    PrecedenceList,
    Report,
    ReportCreate,
    TeamInput,
    VisitKind,
    VisitRequest,
    VisitRequestCreate,
    VisitRequestUpdate,
    VisitSource,
    VisitStatus,
    now_utc,
)
from ..redact import shown_id
from ..security import Principal
from .access import require_not_field_worker, require_report, require_team_read, require_team_write
from .audit import audit
from .registry import assess_households, check_worker_ref, get_team, refresh_tier, team_risk_settings

#: Statuses of a visit that has happened (it counts as contact, or it was tried).
FINISHED_VISIT = (VisitStatus.DONE.value, VisitStatus.NO_ANSWER.value, VisitStatus.REFUSED.value)
NOT_CANCELLED = tuple(s.value for s in VisitStatus if s != VisitStatus.CANCELLED)


def _household_of_team(session: Session, team_id: str, household_id: str, field: str) -> Household:
    household = crud.get(session, Household, household_id)
    if household is None or household.team_id != team_id:
        raise ApiError(
            422, f"{field}: {shown_id(household_id)} is not a household of this team",
            errors=[ErrorItem(field=field, message="not a household of this team")],
        )
    return household


def get_visit_request(session: Session, p: Principal, visit_id: str) -> VisitRequest:
    """One visit request (not for field workers: they see their route)."""
    row = crud.get(session, VisitRequest, visit_id)
    if row is None:
        raise not_found("visit request", visit_id)
    require_not_field_worker(p, "visit requests")
    require_team_read(p, row.team_id)
    return row


def list_visit_requests(
    session: Session, p: Principal, team_id: str, *, date: dt.date | None, statuses: list[str],
    household_id: str | None, limit: int, offset: int,
) -> tuple[list[VisitRequest], int]:
    get_team(session, team_id)
    require_not_field_worker(p, "visit requests")
    require_team_read(p, team_id)
    return crud.list_visit_requests(
        session, team_id, date=date, statuses=statuses, household_id=household_id, limit=limit, offset=offset,
    )


def create_visit_request(
    session: Session, p: Principal, team_id: str, body: VisitRequestCreate,
    *, source: VisitSource = VisitSource.MANUAL,
) -> VisitRequest:
    get_team(session, team_id)
    require_team_write(p, team_id)
    _household_of_team(session, team_id, body.household_id, "household_id")
    check_worker_ref(session, team_id, body.required_worker_id, "required_worker_id")
    for wid in body.forbidden_worker_ids:
        check_worker_ref(session, team_id, wid, "forbidden_worker_ids")
    for i, seat in enumerate(body.crew):
        check_worker_ref(session, team_id, seat.get("worker_id"), f"crew[{i}].worker_id")
    row = VisitRequest.model_validate(
        body, update={"team_id": team_id, "source": source, "created_by": p.user_id}
    )
    crud.add(session, row)
    audit(session, p, "create", "visit_request", row.id, team_id=team_id,
          detail=f"household={row.household_id} date={row.date.isoformat()}")
    return row


def update_visit_request(
    session: Session, p: Principal, visit_id: str, body: VisitRequestUpdate
) -> VisitRequest:
    row = get_visit_request(session, p, visit_id)
    require_team_write(p, row.team_id)
    changes = body.model_dump(exclude_unset=True)
    if "required_worker_id" in changes:
        check_worker_ref(session, row.team_id, changes["required_worker_id"], "required_worker_id")
    for i, seat in enumerate(changes.get("crew") or []):
        check_worker_ref(session, row.team_id, seat.get("worker_id"), f"crew[{i}].worker_id")
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
    get_team(session, team_id)
    require_team_write(p, team_id)
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


# ---- reports -----------------------------------------------------------------------------------------


def create_report(session: Session, p: Principal, body: ReportCreate, risk_model: Any) -> Report:
    """A report (utility worker, landlord, neighbour...) becomes an urgent visit request."""
    household = crud.get(session, Household, body.household_id)
    if household is None:
        raise not_found("household", body.household_id)
    require_report(session, p, household)
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


def list_reports(session: Session, p: Principal, team_id: str, *, limit: int, offset: int) -> tuple[list[Report], int]:
    """A team's reports (its dispatchers); audited."""
    get_team(session, team_id)
    require_team_write(p, team_id)
    rows, total = crud.list_reports(session, team_id, limit=limit, offset=offset)
    audit(session, p, "list", "report", None, team_id=team_id, detail=f"rows={len(rows)}")
    return rows, total


def read_precedences(session: Session, p: Principal, team_id: str) -> list[PrecedenceItem]:
    """The team's precedences between its visit requests."""
    get_team(session, team_id)
    require_not_field_worker(p, "precedences")
    require_team_read(p, team_id)
    row = crud.get(session, TeamInput, team_id)
    return [PrecedenceItem.model_validate(x) for x in (row.precedences or [])] if row is not None else []


def set_precedences(session: Session, p: Principal, team_id: str, body: PrecedenceList) -> list[PrecedenceItem]:
    """Replace the team's precedences: each between two of its visit requests on the same day (422 naming
    ``data[i].first`` or ``.then`` otherwise); a cycle or a gap the windows cannot hold is refused when the day
    is planned, by the planner, naming the precedence."""
    get_team(session, team_id)
    require_team_write(p, team_id)
    requests = crud.visit_requests_by_ids(session, {x for item in body.data for x in (item.first, item.then)})
    seen: set[tuple[str, str]] = set()
    for i, item in enumerate(body.data):
        for end in ("first", "then"):
            vid = getattr(item, end)
            request = requests.get(vid)
            if request is None or request.team_id != team_id:
                raise ApiError(422, f"data[{i}].{end}: {shown_id(vid)} is not a visit request of this team",
                               errors=[ErrorItem(field=f"data[{i}].{end}", message="not a visit request of this team")])
        if requests[item.first].date != requests[item.then].date:
            raise ApiError(422, f"data[{i}].then: not on the same day as {item.first}",
                           errors=[ErrorItem(field=f"data[{i}].then", message="not on the same day as first")])
        if (item.first, item.then) in seen:
            raise ApiError(422, f"data[{i}]: {item.first} -> {item.then} appears twice",
                           errors=[ErrorItem(field=f"data[{i}]", message="appears twice")])
        seen.add((item.first, item.then))
    row = crud.get(session, TeamInput, team_id)
    if row is None:
        row = TeamInput(team_id=team_id)
    row.precedences = [item.model_dump() for item in body.data] or None
    session.add(row)
    session.flush()
    audit(session, p, "update", "precedences", team_id, team_id=team_id, detail=f"count={len(body.data)}")
    return list(body.data)
