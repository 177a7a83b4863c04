"""Loading a planner problem file as a new team (fixtures, scenarios): workers, households, visits."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

import planner

from .. import crud
from ..errors import ApiError
from ..models import (
    RISK_FIELDS,
    ErrorItem,
    Household,
    HouseholdPrivate,
    Team,
    TeamInput,
    VisitRequest,
    VisitSource,
    Worker,
)
from ..redact import scrub_values
from ..security import Principal
from .access import require_manager
from .audit import audit
from .registry import assess_households


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
    given_meta = data.get("meta")
    meta: dict[str, Any] = given_meta if isinstance(given_meta, dict) else {}
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
    team_input = None
    if problem.travel_matrix is not None or problem.risk_model is not None or problem.precedences:
        team_input = TeamInput(team_id=team.id, travel_matrix=inputs.get("travel_matrix"),
                               risk_model=inputs.get("risk_model"))
        session.add(team_input)
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
    pairs: list[tuple[Household, HouseholdPrivate]] = []
    for h in problem.households:
        household = Household(
            team_id=team.id, ref=h.id, dong=h.dong, lat=h.location.lat, lon=h.location.lon,
            last_contact=h.last_contact, preferred_worker_id=worker_ids.get(h.preferred_worker_id or ""),
            languages=list(h.languages), availability=planner.availability_to_json(h.availability),
            priority=h.priority,
        )
        private = HouseholdPrivate(
            household_id=household.id, label=labels.get(h.id, "")[:200],
            **{k: getattr(h.risk, k) for k in RISK_FIELDS},
        )
        household_ids[h.id] = household.id
        pairs.append((household, private))
    tiers = assess_households(pairs, problem.date, risk_model, settings=problem.risk_model)
    for household, _private in pairs:
        household.risk_tier = tiers[household.id].tier
        session.add(household)
    session.flush()
    for _row, private in pairs:
        session.add(private)
    request_ids: dict[str, str] = {}
    for v in problem.visits:
        crew = [
            {**({"role": s.role.value} if s.role is not None else {}),
             **({"skills": sorted(s.skills)} if s.skills else {}),
             **({"worker_id": worker_ids[s.worker_id]} if s.worker_id is not None else {}),
             **({"duration_s": s.duration_s} if s.duration_s is not None else {})}
            for s in v.crew]
        request = VisitRequest(
            team_id=team.id, household_id=household_ids[v.household_id], date=problem.date,
            kind=v.kind, duration_s=v.duration_s, mandatory=v.mandatory, urgent=v.urgent,
            time_windows=planner.windows_to_json(v.time_windows),
            required_skills=sorted(v.required_skills),
            required_worker_id=worker_ids.get(v.required_worker_id or ""),
            forbidden_worker_ids=[worker_ids[w] for w in sorted(v.forbidden_worker_ids)],
            allowed_roles=sorted(v.allowed_roles), load=v.load, priority=v.priority,
            source=VisitSource.FIXTURE, crew=crew,
            due=planner.format_hhmm(v.due_s) if v.due_s is not None else None,
            late_cost=v.late_cost if v.due_s is not None else None,
        )
        request_ids[v.id] = request.id
        session.add(request)
    if team_input is not None and problem.precedences:
        team_input.precedences = [
            {"first": request_ids[p.first], "then": request_ids[p.then], "min_gap_s": p.min_gap_s,
             "max_gap_s": p.max_gap_s} for p in problem.precedences]
    session.flush()
    n_visits = len(problem.visits)
    audit(session, actor, "import", "team", team.id, team_id=team.id,
          detail=f"workers={len(worker_ids)} households={len(household_ids)} visits={n_visits}")
    return team, len(worker_ids), len(household_ids), n_visits


def first_field_worker(session: Session, team_id: str) -> Worker | None:
    workers, _ = crud.list_workers(session, team_id, active=True)
    nurses = [w for w in workers if w.role == "visiting_nurse"]
    candidates = nurses or workers
    return candidates[0] if candidates else None


def load_team(
    session: Session, p: Principal, data: dict[str, Any], *, risk_model: Any, team_name: str | None = None
) -> tuple[Team, int, int, int]:
    """``POST /v1/teams/load`` (managers): ``load_problem_data``, its one-line errors as 422 naming the field."""
    require_manager(p)
    try:
        return load_problem_data(session, data, risk_model=risk_model, team_name=team_name, actor=p)
    except (ValueError, TypeError, KeyError) as exc:
        # The planner's message names the field and quotes the value: keep the field only.
        where, _, why = str(exc).partition(": ")
        raise ApiError(
            422, f"not a valid problem: {scrub_values(str(exc))}", slug="invalid-problem",
            errors=[ErrorItem(field=where if why else "body", message=why or str(exc))],
        ) from None
