"""Calendar feed events: what each worker's calendar shows, brought in line with every published plan."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import Session, select

import planner

from .. import crud
from ..models import FeedEvent, Plan

__all__ = ["BREAK", "record_publish"]

#: ``item_id`` of a worker's lunch break (a visit's is its id).
BREAK = "break"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Item:
    """What one event of a published plan shows (a visit or a worker's lunch break)."""

    item_id: str
    worker_id: str
    household_id: str | None
    dong: str
    visit_kind: str
    start: dt.datetime
    end: dt.datetime
    travel_s: int
    partner_roles: str = ""  # a joint visit: the other workers' roles (never their names)

    @property
    def group(self) -> tuple[str, str]:
        """Rows of one calendar event across workers: a visit's, or one worker's break or joint-visit seat (each
        worker of a joint visit has an event of their own; leaving the visit cancels only theirs)."""
        return (self.item_id, self.worker_id if self.item_id == BREAK or self.partner_roles else "")


def _group(row: FeedEvent) -> tuple[str, str]:
    return (row.item_id, row.worker_id if row.item_id == BREAK or row.partner_roles else "")


def _published_items(session: Session, plan: Plan) -> list[_Item]:
    parsed = planner.plan_from_json({**(plan.data or {}), "date": plan.date.isoformat()})
    clock = planner.DayClock(plan.date)
    stops = [s for r in parsed.routes for s in r.stops]
    places = crud.households_by_ids(session, {s.household_id for s in stops})
    visits = crud.visit_requests_by_ids(session, {s.visit_id for s in stops})
    items = []
    for route in parsed.routes:
        for s in route.stops:
            h, v = places.get(s.household_id), visits.get(s.visit_id)
            items.append(_Item(
                item_id=s.visit_id, worker_id=route.worker_id, household_id=s.household_id or None,
                dong=h.dong if h else "", visit_kind=str(v.kind) if v else "routine",
                start=clock.to_datetime(s.start_s).astimezone(dt.UTC),
                end=clock.to_datetime(s.end_s).astimezone(dt.UTC), travel_s=s.travel_s,
                partner_roles=",".join(sorted(p.role for p in s.crew.partners)) if s.crew is not None else "",
            ))
        if route.stops and route.break_start_s is not None:
            end_s = route.break_end_s if route.break_end_s is not None else route.break_start_s
            items.append(_Item(
                item_id=BREAK, worker_id=route.worker_id, household_id=None, dong="", visit_kind="",
                start=clock.to_datetime(route.break_start_s).astimezone(dt.UTC),
                end=clock.to_datetime(end_s).astimezone(dt.UTC), travel_s=0,
            ))
    return items


def _moved_in_time_or_place(row: FeedEvent, item: _Item) -> bool:
    return (row.start, row.end, row.household_id, row.dong) != (item.start, item.end, item.household_id, item.dong)


def _show(row: FeedEvent, item: _Item, *, plan_id: str, at: dt.datetime, sequence: int) -> None:
    row.household_id, row.dong, row.visit_kind = item.household_id, item.dong, item.visit_kind
    row.start, row.end, row.travel_s = item.start, item.end, item.travel_s
    row.partner_roles = item.partner_roles
    row.sequence, row.cancelled, row.cancelled_at = sequence, False, None
    row.plan_id, row.changed_at = plan_id, at


def _cancel(row: FeedEvent, *, plan_id: str, at: dt.datetime, sequence: int) -> None:
    row.sequence, row.cancelled, row.cancelled_at = sequence, True, at
    row.plan_id, row.changed_at = plan_id, at


def record_publish(session: Session, plan: Plan, *, at: dt.datetime) -> int:
    """Bring the day's calendar events in line with ``plan``, which is being published.

    Called inside the publishing transaction (``plans.publish_plan``).  An event that did not
    change keeps its SEQUENCE and DTSTAMP; a change of time, place or worker raises SEQUENCE; any
    other change of what it shows (travel, visit kind) only moves DTSTAMP.  A visit that moved to
    another worker, or left the plan, turns cancelled (higher SEQUENCE) in the old worker's
    calendar.  Returns how many rows changed.
    """
    rows = session.exec(
        select(FeedEvent).where(FeedEvent.team_id == plan.team_id, FeedEvent.date == plan.date)
    ).all()
    groups: dict[tuple[str, str], dict[str, FeedEvent]] = {}
    for existing in rows:
        groups.setdefault(_group(existing), {})[existing.worker_id] = existing
    changed = 0
    seen: set[tuple[str, str]] = set()
    for item in _published_items(session, plan):
        seen.add(item.group)
        by_worker = groups.get(item.group, {})
        top = max((r.sequence for r in by_worker.values()), default=-1)
        elsewhere = [r for w, r in by_worker.items() if w != item.worker_id and not r.cancelled]
        row = by_worker.get(item.worker_id)
        if row is None:  # new in this worker's calendar
            new = FeedEvent(
                team_id=plan.team_id, date=plan.date, item_id=item.item_id, worker_id=item.worker_id,
                start=item.start, end=item.end, plan_id=plan.id, created_at=at, changed_at=at,
            )
            _show(new, item, plan_id=plan.id, at=at, sequence=top + 1)
            session.add(new)
            changed += 1
        elif row.cancelled or elsewhere or _moved_in_time_or_place(row, item):
            _show(row, item, plan_id=plan.id, at=at, sequence=top + 1)
            session.add(row)
            changed += 1
        elif (row.travel_s, row.visit_kind, row.partner_roles) != (item.travel_s, item.visit_kind,
                                                                    item.partner_roles):
            _show(row, item, plan_id=plan.id, at=at, sequence=row.sequence)
            session.add(row)
            changed += 1
        for other in elsewhere:
            _cancel(other, plan_id=plan.id, at=at, sequence=top + 1)
            session.add(other)
            changed += 1
    for group, by_worker in groups.items():
        if group in seen:
            continue
        top = max(r.sequence for r in by_worker.values())
        for gone in by_worker.values():
            if not gone.cancelled:
                _cancel(gone, plan_id=plan.id, at=at, sequence=top + 1)
                session.add(gone)
                changed += 1
    session.flush()
    return changed
