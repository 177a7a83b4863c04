"""A day's plan as the web page shows it: timeline rows, map layers, where unassigned visits could fit,
moves by hand (checked, then saved as a version) and what changed between versions."""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from sqlmodel import Session, col, select

import planner

from .. import crud
from ..errors import ApiError, not_found
from ..mappers import stored_plan
from ..models import ErrorItem, Plan, PlanKind, VisitStatus, Worker
from ..redact import scrub_values
from ..security import Principal
from .access import require_schedule_read, require_team_read, require_team_write
from .audit import audit
from .plans import get_plan, plan_travel, published_route, store_plan, travel_provider
from .registry import get_team

#: Visits whose stop must stay where it is when looking for room (what happened, happened).
_SETTLED = frozenset({VisitStatus.DONE.value, VisitStatus.IN_PROGRESS.value, "no_answer", "refused"})
_STREET_PAD_DEG = 0.004  # about 400 m around the team's households and bases
_MAX_STREET_POINTS = 40_000


class ViewCache:
    """A small thread-safe LRU of derived views (street layers, insertion options): plan versions never
    change, so a plan's options are computed once; street layers once per network, area and mode."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_make(self, key: Hashable, make: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value


def _problem(plan: Plan) -> planner.Problem:
    if not plan.problem:  # every version the API stores carries its problem; a bare row has nothing to show
        raise ApiError(409, f"plan {plan.id} was stored without its problem", slug="plan-without-problem")
    return planner.problem_from_json(plan.problem)


def _worker_names(plan: Plan) -> dict[str, str]:
    return {str(w["id"]): str(w.get("name") or w["id"]) for w in (plan.problem or {}).get("workers", [])}


# ---- timeline ----------------------------------------------------------------------------------------


def plan_timeline(session: Session, p: Principal, plan_id: str) -> dict[str, Any]:
    """One row per worker of the day (visits, travel, break, idle), the KPIs and the unassigned visits."""
    row = get_plan(session, p, plan_id)
    plan = stored_plan(row)
    clock = planner.DayClock(row.date)
    statuses = crud.day_status_map(session, row.team_id, row.date)
    problem = _problem(row)
    names = _worker_names(row)
    rows = []
    for w in problem.workers:
        route = plan.route_of(w.id)
        crews = {s.visit_id: s.crew for s in route.stops if s.crew is not None} if route is not None else {}
        segments = []
        for g in planner.route_segments(route) if route is not None else []:
            seg: dict[str, Any] = {"kind": g.kind, "start": clock.to_datetime(g.start_s),
                                   "end": clock.to_datetime(g.end_s), "duration_s": g.end_s - g.start_s}
            if g.visit_id:
                seg.update(visit_id=g.visit_id, household_id=g.household_id, order=g.order)
                if g.kind == "visit":
                    seg["status"] = statuses.get(g.visit_id, "open")
                    crew = crews.get(g.visit_id)
                    if crew is not None:  # a joint visit's half: the same visit_id in each partner's row
                        seg["crew"] = {"seat": crew.seat, "partners": [
                            {"worker_id": x.worker_id, "role": x.role} for x in crew.partners]}
            segments.append(seg)
        rows.append({
            "worker_id": w.id, "name": names.get(w.id, w.id), "role": str(w.role.value),
            "shift_start": clock.to_datetime(w.shift.start_s), "shift_end": clock.to_datetime(w.shift.end_s),
            "departure": clock.to_datetime(route.depart_s) if route is not None else None,
            "return": clock.to_datetime(route.return_s) if route is not None else None,
            "segments": segments,
        })
    return {
        "plan_id": row.id, "version": row.version, "date": row.date, "kpis": row.kpis or {},
        "workers": rows,
        "unassigned": [{"visit_id": u.visit_id, "household_id": u.household_id, "reason": u.reason.value,
                        "detail": u.detail, "mandatory": u.mandatory, "urgent": u.urgent} for u in plan.unassigned],
    }


# ---- where could it fit ----------------------------------------------------------------------------


def plan_fits(
    session: Session, p: Principal, plan_id: str, *, network: str | None, data_dir: Any, cache: ViewCache,
    risk_model: Any = None,
) -> dict[str, Any]:
    """For each unassigned visit, its cheapest insertions (``planner.where_it_fits``): the worker, the place,
    minutes added, overtime and the stop it would displace.  Computed once per plan version and settled
    visits (done, under way, no answer, refused are never displaced)."""
    row = get_plan(session, p, plan_id)
    statuses = crud.day_status_map(session, row.team_id, row.date)
    keep = frozenset(v for v, s in statuses.items() if s in _SETTLED)

    def make() -> dict[str, tuple[planner.FitOption, ...]]:
        problem = _problem(row)
        return planner.where_it_fits(problem, stored_plan(row), plan_travel(problem, network, data_dir=data_dir),
                                     keep=keep, risk_model=risk_model)  # the server's, as plan jobs use

    found = cache.get_or_make(("fits", row.id, network, keep), make)
    clock = planner.DayClock(row.date)
    plan = stored_plan(row)
    data = []
    for u in plan.unassigned:
        options = found.get(u.visit_id, ())
        data.append({
            "visit_id": u.visit_id, "household_id": u.household_id, "reason": u.reason.value,
            "options": [{
                "worker_id": o.worker_id, "position": o.position, "after_visit_id": o.after_visit_id or None,
                "before_visit_id": o.before_visit_id or None, "start": clock.to_datetime(o.start_s),
                "added_s": o.added_s, "added_travel_s": o.added_travel_s, "overtime_s": o.overtime_s,
                "fits": o.fits,
                "displaces": ({"visit_id": o.displaces, "household_id": _household_of(plan, o.displaces)}
                              if o.displaces else None),
            } for o in options],
        })
    return {"plan_id": row.id, "data": data, "count": len(data)}


def _household_of(plan: planner.Plan, visit_id: str) -> str:
    return next((s.household_id for r in plan.routes for s in r.stops if s.visit_id == visit_id), "")


# ---- moving a visit by hand --------------------------------------------------------------------------


def _moved(row: Plan, body: Any, *, network: str | None, data_dir: Any) -> tuple[planner.Plan, planner.Evaluation]:
    problem = _problem(row)
    travel = plan_travel(problem, network, data_dir=data_dir)
    plan = stored_plan(row)
    position = body.position
    if position is None and body.at is not None and body.worker_id is not None:
        at_s = planner.DayClock(row.date).to_seconds(body.at)
        if not 0 <= at_s < 24 * 3600:
            raise ApiError(422, f"at: not on the plan's day {row.date}",
                           errors=[ErrorItem(field="at", message="not on the plan's day")])
        route = plan.route_of(body.worker_id)
        others = [s for s in (route.stops if route is not None else ())
                  if s.visit_id not in (body.visit_id, body.displace_visit_id)]
        position = next((k for k, s in enumerate(others) if s.start_s > at_s), len(others))
    try:
        edited = planner.move_visit(problem, plan, travel, visit_id=body.visit_id, worker_id=body.worker_id,
                                    position=position, displace=body.displace_visit_id,
                                    from_worker_id=body.from_worker_id)
    except ValueError as exc:
        message = scrub_values(str(exc))
        field = message.split(":", 1)[0] if ":" in message else "body"
        raise ApiError(422, message, errors=[ErrorItem(field=field, message=message)]) from None
    ev = planner.evaluate(problem, edited, travel)
    return planner.Plan(date=edited.date, routes=edited.routes, unassigned=edited.unassigned, kpis=ev.kpis,
                        meta=edited.meta), ev


def check_move(
    session: Session, p: Principal, plan_id: str, body: Any, *, network: str | None, data_dir: Any,
) -> tuple[planner.Plan, planner.Evaluation, dict[str, float]]:
    """The evaluator's verdict on ``plan_id`` with one visit moved (nothing stored): the team's dispatchers."""
    row = get_plan(session, p, plan_id)
    require_team_write(p, row.team_id)
    statuses = crud.day_status_map(session, row.team_id, row.date)
    for field, vid in (("visit_id", body.visit_id), ("displace_visit_id", body.displace_visit_id)):
        if vid is not None and statuses.get(vid) in _SETTLED:
            raise ApiError(409, f"{field}: visit {vid} is already {statuses[vid]}; what happened stays where it "
                           "happened", slug="visit-settled", errors=[ErrorItem(field=field, message="settled")])
    edited, ev = _moved(row, body, network=network, data_dir=data_dir)
    return edited, ev, planner.kpi_delta(stored_plan(row), edited)


#: What a hand move may not save: a joint visit's seats apart or missing, a follower without its first.  Other
#: violations (a seat or visit its worker may not take, overtime) are saved as a draft to publish with force.
CREW_BREAKS = frozenset({"crew_incomplete", "crew_not_synchronised", "precedence_gap", "precedence_missing_first"})


def _breaks_a_crew(ev: planner.Evaluation) -> bool:
    return any(v.code in CREW_BREAKS for v in ev.violations)


def save_move(
    session: Session, p: Principal, plan_id: str, body: Any, *, network: str | None, data_dir: Any,
) -> tuple[Plan, planner.Evaluation, dict[str, float]]:
    """Store ``plan_id`` with one visit moved as a new, unpublished version (kind ``edit``); audited."""
    row = get_plan(session, p, plan_id)
    require_team_write(p, row.team_id)
    edited, ev, delta = check_move(session, p, plan_id, body, network=network, data_dir=data_dir)
    before = {(v.code, v.visit_id) for v in planner.evaluate(_problem(row), stored_plan(row), plan_travel(
        _problem(row), network, data_dir=data_dir)).violations} if _breaks_a_crew(ev) else set()
    broken = [v for v in ev.violations if v.code in CREW_BREAKS and (v.code, v.visit_id) not in before]
    if broken:
        raise ApiError(409, f"visit_id: this move breaks joint visit or precedence {broken[0].visit_id} "
                       f"({broken[0].code}: {scrub_values(broken[0].message)}); nothing was saved",
                       slug="crew-broken", errors=[ErrorItem(field=v.code, message=scrub_values(v.message))
                                                   for v in broken[:20]])
    stored = store_plan(
        session, team_id=row.team_id, date=row.date, plan_json=planner.plan_to_json(edited), problem=row.problem,
        kind=PlanKind.EDIT, job_id=None, base_plan_id=row.id, stopped_early=False, created_by=p.user_id,
        publish=False,
    )
    audit(session, p, "create", "plan", stored.id, team_id=row.team_id,
          detail=f"move of {row.id}: visit={body.visit_id} worker={body.worker_id or '-'} "
          f"position={body.position if body.position is not None else 'best'} "
          f"displaced={body.displace_visit_id or '-'} from={body.from_worker_id or '-'} version={stored.version} "
          f"violations={len(ev.violations)}")
    return stored, ev, delta


# ---- precedences ---------------------------------------------------------------------------------------


def plan_precedences(session: Session, p: Principal, plan_id: str) -> dict[str, Any]:
    """The day's precedences as this version keeps them: each pair, its gap rule and the gap as planned
    (``null`` when either visit is left out), ``ok`` when the rule holds or the follower is not planned."""
    row = get_plan(session, p, plan_id)
    plan = stored_plan(row)
    starts: dict[str, int] = {}
    for r in plan.routes:
        for s in r.stops:
            starts[s.visit_id] = min(starts.get(s.visit_id, s.start_s), s.start_s)
    data = []
    for pr in _problem(row).precedences:
        gap = starts[pr.then] - starts[pr.first] if pr.first in starts and pr.then in starts else None
        high = pr.max_gap_s if pr.max_gap_s is not None and pr.max_gap_s >= 0 else None
        ok = (pr.then not in starts) or (gap is not None and gap >= pr.min_gap_s and (high is None or gap <= high))
        data.append({"first": pr.first, "then": pr.then, "min_gap_s": pr.min_gap_s, "max_gap_s": high,
                     "gap_s": gap, "ok": ok})
    return {"plan_id": row.id, "data": data, "count": len(data)}


def schedule_rules(session: Session, p: Principal, worker_id: str, date: dt.date) -> dict[str, Any]:
    """The precedences touching a worker's own stops in the day's published plan, as she may see them: her
    visit, whether it comes before or after the other one, the gap rule and the gap as planned, and the
    other visit's workers by role only (never a name, id or household).  Audited as a schedule read."""
    worker = crud.get(session, Worker, worker_id)
    if worker is None:
        raise not_found("worker", worker_id)
    require_schedule_read(p, worker)
    row = crud.published_plan(session, worker.team_id, date)
    data: list[dict[str, Any]] = []
    route = stored_plan(row).route_of(worker.id) if row is not None else None
    if row is not None and route is not None:
        plan = stored_plan(row)
        roles = {w.id: str(w.role.value) for w in _problem(row).workers}
        starts: dict[str, int] = {}
        held: dict[str, set[str]] = {}
        for r in plan.routes:
            for s in r.stops:
                starts[s.visit_id] = min(starts.get(s.visit_id, s.start_s), s.start_s)
                held.setdefault(s.visit_id, set()).add(roles.get(r.worker_id, ""))
        mine = {s.visit_id for s in route.stops}
        for pr in _problem(row).precedences:
            for own, other, relation in ((pr.first, pr.then, "before"), (pr.then, pr.first, "after")):
                if own not in mine:
                    continue
                gap = starts[pr.then] - starts[pr.first] if pr.first in starts and pr.then in starts else None
                high = pr.max_gap_s if pr.max_gap_s is not None and pr.max_gap_s >= 0 else None
                data.append({"visit_id": own, "relation": relation, "other_roles": sorted(held.get(other, set())),
                             "other_planned": other in starts, "min_gap_s": pr.min_gap_s, "max_gap_s": high,
                             "gap_s": gap})
    audit(session, p, "read", "schedule", worker.id, team_id=worker.team_id,
          detail=f"date={date.isoformat()} order rules={len(data)}")
    return {"worker_id": worker.id, "date": date, "plan_id": row.id if row is not None else None, "data": data,
            "count": len(data)}


# ---- what changed ------------------------------------------------------------------------------------


def plan_diff(session: Session, p: Principal, plan_id: str, against: str | None) -> dict[str, Any]:
    """``plan_id`` compared with ``against`` (default: the day's published version, else the version
    before it): visits moved, re-timed, added, removed, KPI deltas."""
    row = get_plan(session, p, plan_id)
    other: Plan | None
    if against is not None:
        other = get_plan(session, p, against)
        if (other.team_id, other.date) != (row.team_id, row.date):
            raise ApiError(422, f"against: {against} is a plan of another team or day",
                           errors=[ErrorItem(field="against", message="a plan of another team or day")])
    else:
        other = crud.published_plan(session, row.team_id, row.date)
        if other is None or other.id == row.id:
            earlier, _ = crud.list_plans(session, row.team_id, date=row.date, published=None, limit=1000, offset=0)
            other = next((x for x in earlier if x.version < row.version), None)
    if other is None:
        raise ApiError(409, f"plan {row.id} is the day's only version: nothing to compare with",
                       slug="nothing-to-compare")
    older, newer = (other, row) if other.version <= row.version else (row, other)
    body = planner.plan_diff(stored_plan(older), stored_plan(newer))
    return {"from": {"id": older.id, "version": older.version}, "to": {"id": newer.id, "version": newer.version},
            **body}


# ---- map layers ---------------------------------------------------------------------------------------


def _area(session: Session, team_id: str) -> tuple[float, float, float, float] | None:
    households, _ = crud.list_households(session, team_id, active=True)
    workers, _ = crud.list_workers(session, team_id, active=True)
    lons = [h.lon for h in households] + [w.start_lon for w in workers]
    lats = [h.lat for h in households] + [w.start_lat for w in workers]
    if not lons:
        return None
    pad = _STREET_PAD_DEG
    return (min(lons) - pad, min(lats) - pad, max(lons) + pad, max(lats) + pad)


def team_streets(
    session: Session, p: Principal, team_id: str, *, mode: str | None, network: str | None, data_dir: Any,
    cache: ViewCache,
) -> dict[str, Any]:
    """The road network's streets around the team's households and bases (simplified, bounded), for the
    map's base layer: anyone who reads the team, its field workers included (no personal data)."""
    get_team(session, team_id)
    require_team_read(p, team_id)  # field workers read their own team's streets too
    workers, _ = crud.list_workers(session, team_id, active=True)
    if mode is None:
        walking = sum(1 for w in workers if str(w.travel_mode) == "walk")
        mode = "walk" if walking * 2 >= len(workers) else "drive"
    area = _area(session, team_id)
    if area is None or not network:
        return planner.streets_geojson(None, bbox=area or (0.0, 0.0, 0.0, 0.0), mode=mode)
    rounded = tuple(round(v, 3) for v in area)
    key = ("streets", network, mode, rounded)

    def make() -> dict[str, Any]:
        travel = travel_provider(network, data_dir=data_dir)
        try:
            return planner.streets_geojson(travel, bbox=area, mode=mode, max_points=_MAX_STREET_POINTS)
        except ValueError as exc:
            raise ApiError(503, f"road network unavailable: {scrub_values(str(exc))}",
                           slug="network-unavailable") from None

    result: dict[str, Any] = cache.get_or_make(key, make)
    return result


def _tiers(session: Session, household_ids: set[str]) -> dict[str, str | None]:
    return {k: (str(h.risk_tier) if h.risk_tier is not None else None)
            for k, h in crud.households_by_ids(session, household_ids).items()}


def plan_map(
    session: Session, p: Principal, plan_id: str, *, network: str | None, data_dir: Any,
    cache: ViewCache | None = None,
) -> dict[str, Any]:
    """The plan's GeoJSON for the map: legs along the streets when the server has a road network (even when
    the team plans with its own travel matrix), numbered stops with risk tier and status, and the
    unassigned households with their reasons; straight lines otherwise, and ``geometry`` says which."""
    row = get_plan(session, p, plan_id)
    problem = _problem(row)
    plan = stored_plan(row)
    return _map_of(session, row, problem, plan, network=network, data_dir=data_dir, with_unassigned=True,
                   cache=cache)


def _map_of(session: Session, row: Plan, problem: planner.Problem, plan: planner.Plan, *, network: str | None,
            data_dir: Any, with_unassigned: bool, cache: ViewCache | None = None) -> dict[str, Any]:
    def draw() -> dict[str, Any]:
        streets = travel_provider(network, data_dir=data_dir) if network else None
        return planner.plan_geojson(problem, plan, streets)

    # Legs along the streets cost a path search each: drawn once per version (the lines never change),
    # decorated with the visits' current status on every read.
    drawn = cache.get_or_make(("map", row.id, network), draw) if cache is not None else draw()
    out = {**drawn, "features": [{**f, "properties": dict(f["properties"])} for f in drawn["features"]]}
    households = problem.households_by_id()
    ids = {s.household_id for r in plan.routes for s in r.stops}
    if with_unassigned:
        ids |= {u.household_id for u in plan.unassigned if u.household_id}
    tiers = _tiers(session, ids)
    statuses = crud.day_status_map(session, row.team_id, row.date)
    stop_household = {s.visit_id: s.household_id for r in plan.routes for s in r.stops}
    for f in out["features"]:
        props = f["properties"]
        if props.get("kind") == "stop":
            hid = stop_household.get(props["visit_id"], "")
            props.update(household_id=hid, risk_tier=tiers.get(hid), status=statuses.get(props["visit_id"], "open"))
    if with_unassigned:
        for u in plan.unassigned:
            h = households.get(u.household_id)
            if h is None:
                continue
            out["features"].append({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [h.location.lon, h.location.lat]},
                "properties": {"kind": "unassigned", "visit_id": u.visit_id, "household_id": u.household_id,
                               "reason": u.reason.value, "detail": u.detail, "mandatory": u.mandatory,
                               "urgent": u.urgent, "risk_tier": tiers.get(u.household_id)},
            })
    along = any(f["properties"].get("along_streets") for f in out["features"] if f["properties"].get("kind") == "leg")
    out["properties"] = {"plan_id": row.id, "version": row.version, **out.get("properties", {}),
                         "geometry": "streets" if along else "straight_lines", "network": network or None}
    return out


def schedule_map(
    session: Session, p: Principal, worker_id: str, date: dt.date, *, network: str | None, data_dir: Any,
) -> dict[str, Any]:
    """A worker's own route in the day's published plan as GeoJSON (the worker herself, or whoever reads
    her team); audited as a schedule read.  An unpublished day is an empty collection."""
    worker, row, route = published_route(session, p, worker_id, date)
    audit(session, p, "read", "schedule", worker.id, team_id=worker.team_id,
          detail=f"date={date.isoformat()} map stops={len(route.stops) if route else 0}")
    if row is None or route is None:
        return {"type": "FeatureCollection", "features": [],
                "properties": {"plan_id": row.id if row else None, "date": date.isoformat(),
                               "geometry": "straight_lines", "network": network or None}}
    own = planner.Plan(date=row.date, routes=(route,), unassigned=(), kpis=None, meta={})
    return _map_of(session, row, _problem(row), own, network=network, data_dir=data_dir, with_unassigned=False)


# ---- a worker's published days -------------------------------------------------------------------

#: How far a listing of published days may reach (days from first to last).
MAX_DAYS_SPAN = 366


def published_days(
    session: Session, p: Principal, worker_id: str, date_from: dt.date | None, date_to: dt.date | None,
) -> dict[str, Any]:
    """The days between ``date_from`` and ``date_to`` (default: a month back to two months ahead, Seoul
    time) whose published plan gives ``worker_id`` a route with stops: the worker herself, or whoever reads
    her team.  Only days with her own stops are listed (a colleague's planned day never shows); audited as
    a schedule read."""
    worker = crud.get(session, Worker, worker_id)
    if worker is None:
        raise not_found("worker", worker_id)
    require_schedule_read(p, worker)
    today = dt.datetime.now(planner.SEOUL).date()
    first = date_from if date_from is not None else today - dt.timedelta(days=31)
    last = date_to if date_to is not None else max(first, today) + dt.timedelta(days=62)
    if last < first:
        raise ApiError(422, "date_to: before date_from",
                       errors=[ErrorItem(field="date_to", message="before date_from")])
    if (last - first).days >= MAX_DAYS_SPAN:
        raise ApiError(422, f"date_to: at most {MAX_DAYS_SPAN} days after date_from",
                       errors=[ErrorItem(field="date_to", message=f"at most {MAX_DAYS_SPAN} days after date_from")])
    rows = session.exec(
        select(Plan).where(Plan.team_id == worker.team_id, Plan.published == True,  # noqa: E712
                           col(Plan.date) >= first, col(Plan.date) <= last)
        .order_by(col(Plan.date), col(Plan.version).desc())
    ).all()
    data: list[dict[str, Any]] = []
    for row in rows:
        if data and data[-1]["date"] == row.date:
            continue  # one published version a day; the newest if ever two
        route = stored_plan(row).route_of(worker.id)
        if route is None or not route.stops:
            continue
        data.append({"date": row.date, "plan_id": row.id, "version": row.version, "stops": len(route.stops),
                     "departure": planner.DayClock(row.date).to_datetime(route.depart_s)})
    audit(session, p, "read", "schedule", worker.id, team_id=worker.team_id,
          detail=f"published days {first.isoformat()}..{last.isoformat()} days={len(data)}")
    return {"worker_id": worker.id, "date_from": first, "date_to": last, "data": data, "count": len(data)}
