"""Minimum staffing: the smallest head count of a role that meets a KPI target, by bisection over the count.

The search assumes the measure is monotone in the count (more nurses never do worse, within noise: the same seeds
at every count meet the same reports, arrivals and answers).  It checks both ends first (the largest count must
meet the target, else there is no answer in the range; the smallest may already meet it), then halves the range,
so 1..16 takes at most 2 + 4 counts instead of 16.  Every count evaluated is returned, with whether the values it
saw were monotone, so a reader can see when the assumption did not hold.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..domain import Role
from .kpis import aggregate
from .spec import Spec, SpecError

__all__ = ["KPI_NAMES", "Target", "min_staff", "parse_target"]

#: KPI names a target may use (a result's ``kpis``, nested names joined with dots).
KPI_NAMES = (
    "within_cadence.intensive", "within_cadence.regular", "within_cadence.self_care",
    "weeks_all_within.intensive", "weeks_all_within.regular", "weeks_all_within.self_care",
    "high_risk_overdue_worst_days", "high_risk_overdue_p95_days", "urgent_within_24h", "urgent_hours_median",
    "travel_share", "utilisation", "overtime_h", "workload_spread", "workload_cv", "visits_not_reached",
)
_TARGET = re.compile(r"\s*([a-z_][a-z0-9_.]*)\s*(>=|<=)\s*(-?[0-9]+(?:\.[0-9]+)?)\s*(%?)\s*")
Run = Callable[[list[dict[str, Any]]], list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Target:
    """``metric op value``: e.g. ``weeks_all_within.intensive >= 0.95``."""

    metric: str
    op: str
    value: float

    def met(self, x: float | None) -> bool:
        if x is None:
            return False
        return x >= self.value - 1e-12 if self.op == ">=" else x <= self.value + 1e-12

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


def parse_target(text: str) -> Target:
    """Read ``"metric >= value"`` (or ``<=``; a value with ``%`` is a percentage); raises :class:`SpecError`."""
    m = _TARGET.fullmatch(text or "")
    if m is None:
        raise SpecError(f"{text[:60]!r} is not 'KPI >= value' or 'KPI <= value' (e.g. "
                        "'weeks_all_within.intensive >= 0.95')", key="target", source="min-staff")
    metric, op, value, pct = m.groups()
    if metric not in KPI_NAMES:
        raise SpecError(f"{metric!r} is not a KPI (one of {', '.join(KPI_NAMES)})", key="target", source="min-staff")
    return Target(metric=metric, op=op, value=float(value) / (100 if pct else 1))


def _count_of(spec: Spec, role: str) -> int:
    from .world import World  # the world reads the base problem; only the head count is needed here

    return World(spec, 0).staff().get(role, 0)


def min_staff(
    spec: Spec,
    *,
    role: str,
    target: str | Target,
    seeds: Sequence[int],
    run: Run,
    lo: int | None = None,
    hi: int | None = None,
    policy: str = "salpimi",
    statistic: str = "mean",
) -> dict[str, Any]:
    """The smallest head count of ``role`` in ``lo``..``hi`` whose runs meet ``target``.

    Parameters
    ----------
    spec
        The scenario; each count runs it with ``{"staff": {role: count}}`` laid over it.
    role
        ``visiting_nurse``, ``case_manager``, ``counsellor`` or ``mobile_unit`` (vehicles).
    target
        ``"KPI >= value"`` or ``"KPI <= value"`` (:func:`parse_target`).
    seeds
        The same seeds at every count.
    run
        Runs a list of tasks and returns their results in order (``planner.sweep.run_tasks`` or a plain loop).
    lo, hi
        The range (default 1 .. max(current + 4, 2 x current)).
    statistic
        ``mean`` over the seeds, or ``worst`` (the seed least in favour of the target).

    Returns
    -------
    dict
        ``answer`` (``None`` when even ``hi`` misses the target), ``met_at_hi``, ``evaluated`` (count, value, met,
        the aggregate, in the order run), ``monotone`` (whether the values seen never got worse with more staff).
    """
    roles = tuple(r.value for r in Role)
    if role not in roles:
        raise SpecError(f"{role!r} is not one of {', '.join(roles)}", key="role", source="min-staff")
    if statistic not in ("mean", "worst"):
        raise SpecError(f"{statistic!r} is not one of mean, worst", key="statistic", source="min-staff")
    tgt = target if isinstance(target, Target) else parse_target(target)
    if not seeds:
        raise SpecError("give at least one seed", key="seeds", source="min-staff")
    current = _count_of(spec, role)
    if current == 0 and not any(w for w in spec.base.get("workers", []) if isinstance(w, Mapping)
                                and w.get("role") == role):
        raise SpecError(f"the scenario has no {role} to copy", key="role", source="min-staff")
    lo = 1 if lo is None else lo
    hi = max(current + 4, 2 * current) if hi is None else hi
    if not 0 <= lo <= hi <= 200:
        raise SpecError(f"the range {lo}..{hi} is not within 0..200 with lo <= hi", key="range", source="min-staff")
    base = spec.to_dict()
    seen: dict[int, dict[str, Any]] = {}
    order: list[int] = []

    def measure(n: int) -> bool:
        if n not in seen:
            tasks = [{"spec": base, "seed": int(s), "policy": policy, "overrides": {"staff": {role: n}}}
                     for s in seeds]
            agg = aggregate(run(tasks))
            stats = agg["kpis"].get(tgt.metric, {"mean": None, "min": None, "max": None})
            worst = stats["min"] if tgt.op == ">=" else stats["max"]
            value = stats["mean"] if statistic == "mean" else worst
            seen[n] = {"count": n, "value": value, "met": tgt.met(value), "aggregate": agg}
            order.append(n)
        return bool(seen[n]["met"])

    answer: int | None
    if not measure(hi):
        answer = None
    elif measure(lo):
        answer = lo
    else:
        a, b = lo, hi  # a misses, b meets
        while b - a > 1:
            mid = (a + b) // 2
            if measure(mid):
                b = mid
            else:
                a = mid
        answer = b
    counts = sorted(seen)
    values = [seen[n]["value"] for n in counts]
    monotone = all(
        (x is None or y is None) or (y >= x - 1e-9 if tgt.op == ">=" else y <= x + 1e-9)
        for x, y in itertools.pairwise(values)
    )
    return {
        "role": role, "target": str(tgt), "statistic": statistic, "policy": policy, "seeds": [int(s) for s in seeds],
        "range": [lo, hi], "current": current, "answer": answer, "met_at_hi": bool(seen[hi]["met"]),
        "monotone": monotone, "evaluated": [seen[n] for n in order],
    }
