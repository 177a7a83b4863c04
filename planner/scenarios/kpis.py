"""Scenario KPIs: recorded day by day during a simulation, summed up per week and over the horizon, and aggregated
over seeds (mean and range)."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..domain import Worker
from ..plan import Plan
from .world import World

__all__ = ["TIERS", "Recorder", "aggregate", "flatten", "percentile"]

#: The tiers households are counted in (by their own risk score; crisis reports are measured apart).
TIERS = ("intensive", "regular", "self_care")
HIGH_RISK = "intensive"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks (NumPy's default)."""
    if not values:
        return 0.0
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return float(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))


@dataclass(slots=True)
class _Week:
    within: dict[str, list[int]] = field(default_factory=lambda: {t: [0, 0] for t in TIERS})  # [within, total]
    overdue_any: dict[str, set[str]] = field(default_factory=lambda: {t: set() for t in TIERS})
    present: dict[str, set[str]] = field(default_factory=lambda: {t: set() for t in TIERS})
    visits: int = 0
    no_answers: int = 0
    follow_ups: int = 0
    not_reached: int = 0
    travel_s: int = 0
    work_s: int = 0
    available_s: int = 0
    households: int = 0


class Recorder:
    """What happened, day by day: each household's overdue days, the visits made, each worker's day."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.spec = world.spec
        self.weeks: list[_Week] = [_Week() for _ in range(self.spec.weeks)]
        self.measure_from = self.spec.start + dt.timedelta(days=7 * self.spec.warmup_weeks)
        self.worst: dict[str, int] = {}
        self.worst_tier: dict[str, str] = {}
        self.per_worker: dict[str, list[int]] = {}  # working days, visits, work_s
        self.role_of: dict[str, str] = {}
        self.overtime_s = 0

    def _week(self, day: dt.date) -> _Week:
        return self.weeks[(day - self.spec.start).days // 7]

    def visit(self, day: dt.date, *, answered: bool) -> None:
        wk = self._week(day)
        wk.visits += 1
        if not answered:
            wk.no_answers += 1
            wk.follow_ups += 1

    def not_reached(self, day: dt.date) -> None:
        """A planned visit the worker could not start before the shift's end (earlier visits ran over)."""
        self._week(day).not_reached += 1

    def day(self, day: dt.date, plan: Plan | None, workers: Sequence[Worker],
            clocks: Mapping[str, Any] | None = None) -> None:
        """Close ``day``: each worker's load from ``plan`` as carried out (``clocks``: each worker's
        :class:`~planner.scenarios.simulate.Clock`; without them, as planned) and each household's overdue status
        at the day's end."""
        wk = self._week(day)
        measured = day >= self.measure_from
        routes = {r.worker_id: r for r in plan.routes} if plan is not None else {}
        for w in workers:
            self.role_of[w.id] = w.role.value
            available = w.shift.length_s - w.break_s
            wk.available_s += available
            r = routes.get(w.id)
            work = travel = visits = 0
            if r is not None and r.stops:
                brk = (r.break_end_s - r.break_start_s) if r.break_start_s is not None and r.break_end_s is not None \
                    else 0
                clock = (clocks or {}).get(w.id)
                back = clock.returns_s(r) if clock is not None else r.return_s
                visits = clock.made if clock is not None else len(r.stops)
                work, travel = back - r.depart_s - brk, r.travel_s
                over = max(0, back - w.shift.end_s)
                if w.max_work_s is not None:
                    over = max(over, work - w.max_work_s)
                if measured:
                    self.overtime_s += over
            wk.work_s += work
            wk.travel_s += travel
            if measured:
                acc = self.per_worker.setdefault(w.id, [0, 0, 0])
                acc[0] += 1
                acc[1] += visits
                acc[2] += work
        wk.households = len(self.world.by_index)
        for st in self.world.by_index:
            tier, overdue = self.world.overdue_days(st, day)
            counts = wk.within[tier]
            counts[1] += 1
            hid = st.household.id
            wk.present[tier].add(hid)
            if overdue == 0:
                counts[0] += 1
            else:
                wk.overdue_any[tier].add(hid)
            if measured:
                key = f"{tier}|{hid}"
                if overdue >= self.worst.get(key, -1):
                    self.worst[key] = overdue
                    self.worst_tier[key] = tier

    # ---- results ----------------------------------------------------------------------------

    def result(self) -> dict[str, Any]:
        spec = self.spec
        weekly = []
        for i, wk in enumerate(self.weeks):
            monday = spec.start + dt.timedelta(days=7 * i)
            reports = [r for r in self.world.reports if monday <= r.day < monday + dt.timedelta(days=7)
                       and not r.initial]
            weekly.append({
                "week": i + 1, "from": monday.isoformat(),
                "within_cadence": {t: _share(*wk.within[t]) for t in TIERS},
                "all_within": {t: not wk.overdue_any[t] for t in TIERS},
                "visits": wk.visits, "no_answers": wk.no_answers, "not_reached": wk.not_reached,
                "urgent_reports": len(reports),
                "urgent_within_24h": sum(1 for r in reports if _within_24h(r)),
                "travel_share": _share(wk.travel_s, wk.work_s),
                "utilisation": _share(wk.work_s, wk.available_s),
                "households": wk.households,
            })
        measured = self.weeks[spec.warmup_weeks:]
        within = {t: _share(sum(w.within[t][0] for w in measured), sum(w.within[t][1] for w in measured))
                  for t in TIERS}
        all_within = {t: _share(sum(1 for w in measured if not w.overdue_any[t]), len(measured)) for t in TIERS}
        overdue: dict[str, list[int]] = {t: [] for t in TIERS}
        for key, days in self.worst.items():
            overdue[self.worst_tier[key]].append(days)
        for t in TIERS:
            overdue[t].sort()
        high = overdue[HIGH_RISK]
        end = spec.end
        reports = [r for r in self.world.reports if r.day >= self.measure_from and not r.initial]
        judged = [r for r in reports if r.served is not None or (end - r.day).days >= 1]
        hours = sorted(h for r in reports if (h := r.hours_to_serve()) is not None)
        travel = sum(w.travel_s for w in measured)
        work = sum(w.work_s for w in measured)
        available = sum(w.available_s for w in measured)
        kpis: dict[str, Any] = {
            "within_cadence": within,
            "weeks_all_within": all_within,
            "high_risk_overdue_worst_days": max(high) if high else 0,
            "high_risk_overdue_p95_days": round(percentile(high, 95), 3),
            "urgent_reports": len(reports),
            "urgent_within_24h": _share(sum(1 for r in judged if _within_24h(r)), len(judged)) if judged else None,
            "urgent_hours_median": round(statistics.median(hours), 3) if hours else None,
            "travel_share": _share(travel, work),
            "utilisation": _share(work, available),
            "overtime_h": round(self.overtime_s / 3600, 3),
            "workload_spread": self._spread(),
            "workload_cv": self._cv(),
            "visits": sum(w.visits for w in measured),
            "no_answers": sum(w.no_answers for w in measured),
            "follow_ups": sum(w.follow_ups for w in measured),
            "visits_not_reached": sum(w.not_reached for w in measured),
            "households_end": len(self.world.by_index),
        }
        return {"kpis": kpis, "weekly": weekly, "overdue_days": overdue}

    def _spread(self) -> float:
        """Mean over roles with two or more workers of (most - fewest) visits per working day."""
        by_role: dict[str, list[float]] = {}
        for wid, (days, visits, _) in self.per_worker.items():
            if days:
                by_role.setdefault(self.role_of[wid], []).append(visits / days)
        spreads = [max(v) - min(v) for v in by_role.values() if len(v) >= 2]
        return round(statistics.fmean(spreads), 4) if spreads else 0.0

    def _cv(self) -> float:
        """Coefficient of variation of working hours per working day over all workers."""
        xs = [work / days for days, _, work in self.per_worker.values() if days]
        if len(xs) < 2 or statistics.fmean(xs) == 0:
            return 0.0
        return round(statistics.pstdev(xs) / statistics.fmean(xs), 4)


def _share(a: float, b: float) -> float:
    return round(a / b, 6) if b else 0.0


def _within_24h(r: Any) -> bool:
    h = r.hours_to_serve()
    return h is not None and h <= 24.0


def flatten(kpis: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"within_cadence": {"intensive": x}}`` -> ``{"within_cadence.intensive": x}``."""
    out: dict[str, Any] = {}
    for k, v in kpis.items():
        name = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{name}."))
        else:
            out[name] = v
    return out


def _stats(values: Sequence[Any]) -> dict[str, Any]:
    xs = [float(v) for v in values if v is not None and not isinstance(v, bool)]
    if not xs:
        bools = [v for v in values if isinstance(v, bool)]
        if bools:
            xs = [1.0 if b else 0.0 for b in bools]
        else:
            return {"mean": None, "min": None, "max": None}
    return {"mean": round(statistics.fmean(xs), 6), "min": min(xs), "max": max(xs)}


def aggregate(results: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Several seeds of one scenario and policy: every KPI's mean, min and max, the weekly series likewise, and the
    overdue days of all seeds pooled per tier."""
    if not results:
        raise ValueError("aggregate: no results")
    first = results[0]
    names: list[str] = []
    flat = [flatten(r["kpis"]) for r in results]
    for f in flat:
        names.extend(k for k in f if k not in names)
    kpis = {k: _stats([f.get(k) for f in flat]) for k in names}
    weekly = []
    for i, wk in enumerate(first["weekly"]):
        rows = [flatten(r["weekly"][i]) for r in results if i < len(r["weekly"])]
        entry: dict[str, Any] = {"week": wk["week"], "from": wk["from"]}
        for k in rows[0]:
            if k not in ("week", "from"):
                entry[k] = _stats([row.get(k) for row in rows])
        weekly.append(entry)
    overdue = {t: sorted(x for r in results for x in r["overdue_days"].get(t, [])) for t in TIERS}
    return {
        "scenario": first["scenario"], "policy": first["policy"], "overrides": first.get("overrides", {}),
        "seeds": [r["seed"] for r in results], "runs": len(results), "staff": first.get("staff", {}),
        "from": first.get("from"), "to": first.get("to"), "weeks": first.get("weeks"),
        "warmup_weeks": first.get("warmup_weeks"),
        "kpis": kpis, "weekly": weekly, "overdue_days": overdue,
    }
