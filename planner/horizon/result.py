"""The horizon's plan: one day plan per working day, the visits no day could take, and the horizon summary."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..domain import Problem
from ..plan import Plan
from ..solve import Result

__all__ = [
    "DayPlan",
    "HorizonKpis",
    "HorizonPlan",
    "HorizonResult",
    "HorizonSummary",
    "HorizonUnassigned",
    "HouseholdVisits",
    "PlannedVisit",
    "WorkerDay",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class HorizonUnassigned:
    """A visit (one occurrence of a request) planned on no day, with a reason a dispatcher can act on."""

    visit_id: str  # the occurrence's id (``<request>#<k>`` when the request has several)
    request_id: str
    household_id: str
    reason: str
    detail: str
    mandatory: bool = False
    urgent: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedVisit:
    date: dt.date
    visit_id: str
    worker_id: str
    days_overdue: int  # days past the household's cadence on that day (0: within cadence)


@dataclass(frozen=True, slots=True, kw_only=True)
class HouseholdVisits:
    """One household's horizon: its planned visits, its due day, how many requested visits are left out."""

    household_id: str
    tier: str
    due: dt.date | None  # the last day it could be visited on or before last contact + cadence, else the first
    # one after (None: not due in the horizon); for a household already overdue, the first working day
    visits: tuple[PlannedVisit, ...]
    left_out: int
    overdue_at_start: bool = False  # past its cadence before the horizon begins (or never contacted)

    @property
    def within_cadence(self) -> bool | None:
        """Visited by its due day; ``None`` when it is not due within the horizon or already overdue."""
        if self.due is None or self.overdue_at_start:
            return None
        return any(v.date <= self.due for v in self.visits)


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerDay:
    """One worker's load on one day (``status``: working, leave, holiday or off)."""

    worker_id: str
    date: dt.date
    status: str
    visits: int = 0
    work_s: int = 0  # return - departure - break
    service_s: int = 0
    travel_s: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class HorizonKpis:
    """The horizon's figures, judged the same way for any plan of it (the day-by-day baseline too).

    ``risk_covered`` is the skip penalty of the visits made, each valued at the end of the horizon (what
    leaving it out would carry into the next plan, with the ageing it would accrue past its due date over
    the horizon); ``risk_total`` the same for every requested visit.  ``ageing`` is what the visits made
    accrued past their households' due dates before their day (an overdue household visited on Friday
    instead of Monday ages four more days; waiting within the cadence is free).
    ``daily_visit_spread`` is the mean over workers of (most - fewest visits on their working days).
    """

    visits_total: int
    visits_planned: int
    mandatory_left_out: int
    urgent_left_out: int
    risk_covered: float
    risk_total: float
    ageing: float
    intensive_due: int  # intensive households falling due within the horizon (not already overdue)
    intensive_within_cadence: int  # of those, visited by their due day
    overdue_at_start: int  # households past their cadence before the horizon begins
    overdue_visited_first_day: int  # of those, visited on the first working day they could have
    daily_visit_spread: float
    daily_visit_sd: float
    travel_s: int
    working_days: int


@dataclass(frozen=True, slots=True, kw_only=True)
class HorizonSummary:
    households: tuple[HouseholdVisits, ...]
    loads: tuple[WorkerDay, ...]
    kpis: HorizonKpis


@dataclass(frozen=True, slots=True, kw_only=True)
class HorizonPlan:
    """What a horizon plan file holds: the day plans (each in the day plan format) and the left-out visits."""

    start: dt.date
    end: dt.date
    plans: tuple[Plan, ...]
    unassigned: tuple[HorizonUnassigned, ...] = ()
    summary: HorizonSummary | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def plan_on(self, day: dt.date) -> Plan | None:
        return next((p for p in self.plans if p.date == day), None)


@dataclass(frozen=True, slots=True, kw_only=True)
class DayPlan:
    """One planned day: the day problem it was routed as and the solve's result."""

    date: dt.date
    problem: Problem
    result: Result

    @property
    def plan(self) -> Plan:
        return self.result.plan


@dataclass(frozen=True, slots=True, kw_only=True)
class HorizonResult:
    start: dt.date
    end: dt.date
    days: tuple[DayPlan, ...]
    unassigned: tuple[HorizonUnassigned, ...]
    summary: HorizonSummary
    elapsed_s: float
    stopped_early: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def plans(self) -> tuple[Plan, ...]:
        return tuple(d.plan for d in self.days)

    def horizon_plan(self) -> HorizonPlan:
        return HorizonPlan(start=self.start, end=self.end, plans=self.plans, unassigned=self.unassigned,
                           summary=self.summary, meta=dict(self.meta))
