"""The plan a solve produces (or a dispatcher edits): routes, stops, unassigned visits with reasons."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["Crew", "Kpis", "LeftBehind", "Partner", "Plan", "Reason", "Route", "Stop", "TierCount", "Unassigned"]


class Reason(StrEnum):
    """Why a visit is not in the plan; each comes with a sentence in ``Unassigned.detail``."""

    NO_QUALIFIED_WORKER = "no_qualified_worker"
    OUTSIDE_EVERY_SHIFT = "outside_every_shift"
    UNREACHABLE = "unreachable"
    OVER_CAPACITY = "over_capacity"
    LOWER_PRIORITY = "lower_priority"
    CANCELLED = "cancelled"
    PARTNER_LEFT_OUT = "partner_left_out"  # a visit that must follow another one that is not planned


@dataclass(frozen=True, slots=True, kw_only=True)
class Partner:
    """Another worker of a joint visit: who, and in which role (feeds show only the role)."""

    worker_id: str
    role: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Crew:
    """A stop of a joint visit: the seat this worker takes (0-based) and the other workers there."""

    seat: int
    partners: tuple[Partner, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Stop:
    visit_id: str
    household_id: str
    arrival_s: int
    start_s: int
    end_s: int
    travel_s: int = 0
    travel_m: int = 0
    crew: Crew | None = None  # set on each stop of a joint visit (one stop per worker, the same start)


@dataclass(frozen=True, slots=True, kw_only=True)
class Route:
    worker_id: str
    depart_s: int
    return_s: int
    stops: tuple[Stop, ...] = ()
    break_start_s: int | None = None
    break_end_s: int | None = None
    travel_s: int = 0
    travel_m: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Unassigned:
    visit_id: str
    reason: Reason
    detail: str
    household_id: str = ""
    mandatory: bool = False
    urgent: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TierCount:
    """Visits of one risk tier: how many were candidates, how many are planned."""

    total: int
    served: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LeftBehind:
    """The most overdue urgent or intensive household whose visit is left out ("nobody left behind")."""

    visit_id: str
    household_id: str
    tier: str
    days_overdue: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Kpis:
    """A plan's figures, as the evaluator computes them from the problem and the travel matrix.

    Coverage (``risk_weighted_coverage``, ``risk_covered``, ``risk_total``) is measured in the
    skip penalty each visit was planned with: its given ``priority`` where the problem has one,
    else the risk model's ageing penalty.  ``coverage_bound`` is an upper bound on ``risk_covered`` over every
    feasible plan of the day (:mod:`planner.bound`) and ``coverage_gap`` this plan's distance to it; both are
    ``None`` where nobody computed the bound.
    """

    visits_total: int
    visits_assigned: int
    visits_unassigned: int
    risk_weighted_coverage: float
    risk_covered: float
    risk_total: float
    visits_by_tier: Mapping[str, TierCount]
    mandatory_unassigned: int
    urgent_unassigned: int
    travel_s: int
    travel_m: int
    service_s: int
    utilisation: Mapping[str, float]
    worst_overdue_left_out: LeftBehind | None = None
    coverage_bound: float | None = None  # no plan of the day covers more (skip-penalty units, as risk_covered)
    coverage_gap: float | None = None  # (coverage_bound - risk_covered) / coverage_bound, 0..1
    coverage_bound_method: str | None = None  # the relaxation that gave the bound (planner.bound.BOUND_METHODS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """A day's plan in planner seconds; ``to_json``/``from_json`` (``planner.formats``) speak ISO 8601 with offset.

    ``kpis`` is ``None`` for a plan nobody has evaluated yet (one edited by hand).
    """

    date: dt.date
    routes: tuple[Route, ...]
    unassigned: tuple[Unassigned, ...] = ()
    kpis: Kpis | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def route_of(self, worker_id: str) -> Route | None:
        return next((r for r in self.routes if r.worker_id == worker_id), None)

    def assigned_visit_ids(self) -> set[str]:
        return {s.visit_id for r in self.routes for s in r.stops}

    def to_json(self) -> dict[str, Any]:
        """The plan file (see :func:`planner.formats.plan_to_json`)."""
        from .formats.plan import plan_to_json

        return plan_to_json(self)

    @classmethod
    def from_json(cls, data: Any) -> Plan:
        """Read a plan (possibly hand-edited); raises ``ValueError`` naming the bad field."""
        from .formats.plan import plan_from_json

        return plan_from_json(data)
