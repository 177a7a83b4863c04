"""The horizon problem: several days, per-day worker availability, holidays and visit rules across days."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from ..domain import Household, Problem, RiskSettings, ServiceTimes, TimeWindow, TravelTable, Visit, Worker
from ..timeline import WEEKDAYS
from .holidays import holidays_between

__all__ = [
    "MAX_DAYS",
    "FollowUp",
    "Holidays",
    "HorizonProblem",
    "HorizonReason",
    "HorizonVisit",
    "WorkerCalendar",
    "occurrence_id",
    "split_occurrence_id",
]

#: The longest horizon (days, inclusive of both ends).
MAX_DAYS = 28
_WORKWEEK = ("mon", "tue", "wed", "thu", "fri")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


class HorizonReason(StrEnum):
    """Why a visit is not planned on any day of the horizon (besides the day planner's reasons)."""

    NO_QUALIFIED_WORKER = "no_qualified_worker"
    NO_WORKING_DAY = "no_working_day"
    NOT_AVAILABLE = "not_available"
    SPACING = "spacing"
    FOLLOW_UP = "follow_up"
    SAME_DAY = "same_day"
    OVER_CAPACITY = "over_capacity"
    OUTSIDE_EVERY_SHIFT = "outside_every_shift"
    UNREACHABLE = "unreachable"
    LOWER_PRIORITY = "lower_priority"


def occurrence_id(visit_id: str, k: int, count: int) -> str:
    """The id a visit's ``k``-th occurrence (1-based) carries in the day plans: the visit's own id when it
    happens once, else ``<id>#<k>``."""
    return visit_id if count == 1 else f"{visit_id}#{k}"


def split_occurrence_id(text: str) -> tuple[str, int]:
    """``("v1", 2)`` for ``"v1#2"``; ``("v1", 1)`` for ``"v1"``."""
    head, sep, tail = text.rpartition("#")
    if sep and tail.isdigit() and head:
        return head, int(tail)
    return text, 1


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerCalendar:
    """When one worker works in the horizon.

    ``weekly`` gives a shift per weekday (``None``: not working that weekday; a weekday not named keeps
    the worker's shift on the problem's working weekdays); ``leave`` lists days off; ``days`` gives a
    shift (or ``None``) for single dates and wins over everything else, holidays and weekends included.
    """

    worker_id: str
    weekly: Mapping[str, TimeWindow | None] = field(default_factory=dict)
    leave: frozenset[dt.date] = frozenset()
    days: Mapping[dt.date, TimeWindow | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for day in self.weekly:
            _require(day in WEEKDAYS, f"worker {self.worker_id}.weekly: {day!r} is not one of {', '.join(WEEKDAYS)}")


@dataclass(frozen=True, slots=True, kw_only=True)
class FollowUp:
    """A visit that must come ``days`` (up to ``days + slack_days``) calendar days after visit ``visit_id``."""

    visit_id: str
    days: int
    slack_days: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class HorizonVisit:
    """A visit request over the horizon: the day visit it becomes, how often and with which rules across days.

    ``count`` visits at least ``min_spacing_days`` calendar days apart, each on a day within
    ``earliest``..``latest``; when ``day_patterns`` is given, the days are exactly one of those sets
    (as in the periodic VRP); never on a day with a visit of a request in ``not_same_day_as``; and,
    with ``after``, a follow-up that comes a given number of days after another request's visit.
    """

    visit: Visit
    count: int = 1
    min_spacing_days: int = 1
    earliest: dt.date | None = None
    latest: dt.date | None = None
    day_patterns: tuple[tuple[dt.date, ...], ...] = ()
    not_same_day_as: frozenset[str] = frozenset()
    after: FollowUp | None = None

    @property
    def id(self) -> str:
        return self.visit.id

    def occurrence_ids(self) -> tuple[str, ...]:
        return tuple(occurrence_id(self.id, k, self.count) for k in range(1, self.count + 1))


@dataclass(frozen=True, slots=True, kw_only=True)
class Holidays:
    """Non-working days: a built-in calendar (``"KR"``: Korean public holidays, or ``"none"``), plus
    ``add``, less ``remove``."""

    calendar: str = "KR"
    add: frozenset[dt.date] = frozenset()
    remove: frozenset[dt.date] = frozenset()

    def __post_init__(self) -> None:
        _require(self.calendar in ("KR", "none"), f"holidays.calendar: {self.calendar!r} is not one of KR, none")


@dataclass(frozen=True, slots=True, kw_only=True)
class HorizonProblem:
    """Everything needed to plan ``start``..``end`` (inclusive, at most :data:`MAX_DAYS` days)."""

    start: dt.date
    end: dt.date
    households: tuple[Household, ...]
    workers: tuple[Worker, ...]
    visits: tuple[HorizonVisit, ...]
    calendars: tuple[WorkerCalendar, ...] = ()
    holidays: Holidays = field(default_factory=Holidays)
    working_weekdays: tuple[str, ...] = _WORKWEEK
    name: str = ""
    service_times: ServiceTimes = field(default_factory=ServiceTimes)
    risk_model: RiskSettings | None = None
    travel_matrix: TravelTable | None = None

    def __post_init__(self) -> None:
        _require(self.end >= self.start, f"to: {self.end} is before from {self.start}")
        n = self.n_days
        _require(n <= MAX_DAYS, f"to: the horizon {self.start}..{self.end} has {n} days, more than {MAX_DAYS}")
        for day in self.working_weekdays:
            _require(day in WEEKDAYS, f"working_weekdays: {day!r} is not one of {', '.join(WEEKDAYS)}")
        # The day rules (ids, references, the travel matrix's coverage) are the day problem's own.
        self.template(self.start)
        worker_ids = {w.id for w in self.workers}
        seen: set[str] = set()
        for cal in self.calendars:
            _require(cal.worker_id in worker_ids, f"worker {cal.worker_id!r}: calendar of an unknown worker")
            _require(cal.worker_id not in seen, f"worker {cal.worker_id}: two calendars")
            seen.add(cal.worker_id)
        by_id = {hv.id: hv for hv in self.visits}
        for hv in self.visits:
            self._check_visit(hv, by_id)

    def _check_visit(self, hv: HorizonVisit, by_id: Mapping[str, HorizonVisit]) -> None:
        where = f"visit {hv.id}"
        n = self.n_days
        _require(isinstance(hv.count, int) and hv.count >= 1, f"{where}.count: must be a positive integer")
        _require(hv.count <= n, f"{where}.count: {hv.count} visits do not fit in a horizon of {n} days")
        _require(isinstance(hv.min_spacing_days, int) and hv.min_spacing_days >= 1,
                 f"{where}.min_spacing_days: must be a positive number of days")
        if hv.count > 1:
            need = (hv.count - 1) * hv.min_spacing_days + 1
            _require(need <= n, f"{where}.min_spacing_days: {hv.count} visits {hv.min_spacing_days} days apart "
                                f"need {need} days; the horizon {self.start}..{self.end} has {n}")
        for name in ("earliest", "latest"):
            day = getattr(hv, name)
            if day is not None:
                _require(self.start <= day <= self.end,
                         f"{where}.{name}: {day} lies outside the horizon {self.start}..{self.end}")
        if hv.earliest is not None and hv.latest is not None:
            _require(hv.earliest <= hv.latest, f"{where}.latest: {hv.latest} is before earliest {hv.earliest}")
        for i, pattern in enumerate(hv.day_patterns):
            _require(len(pattern) == hv.count,
                     f"{where}.day_patterns[{i}]: {len(pattern)} days for a count of {hv.count}")
            _require(len(set(pattern)) == len(pattern), f"{where}.day_patterns[{i}]: a day appears twice")
            for day in pattern:
                _require(self.start <= day <= self.end,
                         f"{where}.day_patterns[{i}]: {day} lies outside the horizon {self.start}..{self.end}")
        for other in sorted(hv.not_same_day_as):
            _require(other in by_id, f"{where}.not_same_day_as: {other!r} is not a known visit")
            _require(other != hv.id, f"{where}.not_same_day_as: names the visit itself")
        if hv.after is not None:
            a = hv.after
            _require(a.visit_id in by_id, f"{where}.after.visit_id: {a.visit_id!r} is not a known visit")
            _require(a.visit_id != hv.id, f"{where}.after.visit_id: names the visit itself")
            _require(hv.count == 1 and by_id[a.visit_id].count == 1,
                     f"{where}.after: a follow-up and the visit it follows must each happen once (count 1)")
            _require(isinstance(a.days, int) and 1 <= a.days < n,
                     f"{where}.after.days: {a.days} days after another visit does not fit in {n} days")
            _require(isinstance(a.slack_days, int) and a.slack_days >= 0,
                     f"{where}.after.slack_days: must be a non-negative number of days")

    # ---- calendar -------------------------------------------------------------------------

    @property
    def n_days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> tuple[dt.date, ...]:
        return tuple(self.start + dt.timedelta(days=i) for i in range(self.n_days))

    def holiday_names(self) -> dict[dt.date, str]:
        """The horizon's holidays (date -> name)."""
        h = self.holidays
        return holidays_between(self.start, self.end, calendar=h.calendar, add=h.add, remove=h.remove)

    def calendar_of(self, worker_id: str) -> WorkerCalendar:
        return next((c for c in self.calendars if c.worker_id == worker_id), WorkerCalendar(worker_id=worker_id))

    def shift_on(self, worker: Worker, day: dt.date, *, holidays: Mapping[dt.date, str] | None = None
                 ) -> tuple[TimeWindow | None, str]:
        """The worker's shift on ``day`` and, when ``None``, why (``"leave"``, ``"holiday"``, ``"off"``)."""
        cal = self.calendar_of(worker.id)
        if day in cal.days:
            shift = cal.days[day]
            return shift, "" if shift is not None else "off"
        if day in cal.leave:
            return None, "leave"
        if day in (self.holiday_names() if holidays is None else holidays):
            return None, "holiday"
        weekday = WEEKDAYS[day.weekday()]
        if weekday not in self.working_weekdays:
            return None, "off"
        if weekday in cal.weekly:
            shift = cal.weekly[weekday]
            return shift, "" if shift is not None else "off"
        return worker.shift, ""

    def workers_on(self, day: dt.date, *, holidays: Mapping[dt.date, str] | None = None) -> tuple[Worker, ...]:
        """The workers working on ``day``, each with that day's shift (a lunch break that no longer fits
        the shift is dropped; ``max_work_s`` is kept within the shift)."""
        out = []
        for w in self.workers:
            shift, _ = self.shift_on(w, day, holidays=holidays)
            if shift is not None:
                out.append(day_worker(w, shift))
        return tuple(out)

    def template(self, day: dt.date, *, workers: tuple[Worker, ...] | None = None,
                 visits: tuple[Visit, ...] | None = None, households: tuple[Household, ...] | None = None) -> Problem:
        """A one-day problem on ``day`` (default: every worker with its usual shift and every request once).

        With fewer workers than the horizon's, a visit that only an absent worker may make gets no
        qualified worker that day, and households keep a preferred worker only when that one works.
        """
        ws = self.workers if workers is None else workers
        vs = tuple(hv.visit for hv in self.visits) if visits is None else visits
        hs = self.households if households is None else households
        if workers is not None and len(workers) < len(self.workers):
            ids = frozenset(w.id for w in ws)
            vs = tuple(_visit_among(v, ids, ws) for v in vs)
            hs = tuple(h if h.preferred_worker_id in ids or h.preferred_worker_id is None
                       else dataclasses.replace(h, preferred_worker_id=None) for h in hs)
        return Problem(
            date=day, name=self.name, households=hs, workers=ws, visits=vs,
            service_times=self.service_times, risk_model=self.risk_model, travel_matrix=self.travel_matrix,
        )


def _visit_among(visit: Visit, worker_ids: frozenset[str], workers: tuple[Worker, ...] = ()) -> Visit:
    """``visit`` for a day with only ``worker_ids`` at work: nobody may make it when its required worker is
    away, or when a seat of a joint visit has nobody at work to take it (its named worker away, or nobody of
    its role and skills); forbidden workers who are away are dropped from the list."""
    if visit.required_worker_id is not None and visit.required_worker_id not in worker_ids:
        return dataclasses.replace(visit, required_worker_id=None, forbidden_worker_ids=worker_ids)
    if visit.crew and any(
        (seat.worker_id is not None and seat.worker_id not in worker_ids)
        or not any((seat.role is None or w.role == seat.role) and seat.skills <= w.skills for w in workers)
        for seat in visit.crew
    ):
        return dataclasses.replace(visit, crew=(), forbidden_worker_ids=worker_ids)
    if visit.forbidden_worker_ids - worker_ids:
        return dataclasses.replace(visit, forbidden_worker_ids=visit.forbidden_worker_ids & worker_ids)
    return visit


def day_worker(worker: Worker, shift: TimeWindow) -> Worker:
    """``worker`` with ``shift`` for one day: the break window cut to the shift (dropped when the break no
    longer fits, as on a half day) and ``max_work_s`` at most the shift."""
    if shift == worker.shift:
        return worker
    brk, brk_s = worker.break_window, worker.break_s
    if brk is not None:
        brk = brk.intersect(shift)
        if brk is None or brk.length_s < brk_s or brk_s == 0:
            brk, brk_s = None, 0
    max_work = worker.max_work_s
    if max_work is not None:
        max_work = min(max_work, shift.length_s)
    return dataclasses.replace(worker, shift=shift, break_window=brk, break_s=brk_s, max_work_s=max_work)
