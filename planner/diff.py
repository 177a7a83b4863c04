"""What changed between two versions of a day's plan: visits moved, re-timed, added and removed, KPI deltas."""

from __future__ import annotations

from typing import Any

from .formats import kpis_to_json
from .plan import Plan

__all__ = ["kpi_delta", "plan_diff"]


def kpi_delta(before: Plan, after: Plan) -> dict[str, float]:
    """``after - before`` for every numeric KPI both plans carry (none without KPIs)."""
    if before.kpis is None or after.kpis is None:
        return {}
    a, b = kpis_to_json(before.kpis), kpis_to_json(after.kpis)
    out: dict[str, float] = {}
    for key, old in a.items():
        new = b.get(key)
        if isinstance(old, int | float) and isinstance(new, int | float) and not isinstance(old, bool):
            d = new - old
            out[key] = round(d, 6) if isinstance(d, float) else d
    return out


def plan_diff(before: Plan, after: Plan) -> dict[str, Any]:
    """The visits of ``after`` compared with ``before``.

    ``moved``: planned in both with another worker; ``retimed``: same worker, start shifted (seconds, +
    later); ``added``: planned only in ``after``; ``removed``: planned only in ``before`` (with the reason
    ``after`` gives, if it lists the visit as unassigned); ``kpis_delta``: see :func:`kpi_delta`.
    """
    old = {s.visit_id: (r.worker_id, s.start_s) for r in before.routes for s in r.stops}
    new = {s.visit_id: (r.worker_id, s.start_s) for r in after.routes for s in r.stops}
    why = {u.visit_id: u.reason.value for u in after.unassigned}
    moved, retimed, added, removed = [], [], [], []
    for vid, (w, start) in new.items():
        if vid not in old:
            added.append({"visit_id": vid, "worker_id": w})
        elif old[vid][0] != w:
            moved.append({"visit_id": vid, "from_worker_id": old[vid][0], "to_worker_id": w,
                          "shift_s": start - old[vid][1]})
        elif start != old[vid][1]:
            retimed.append({"visit_id": vid, "worker_id": w, "shift_s": start - old[vid][1]})
    for vid, (w, _start) in old.items():
        if vid not in new:
            removed.append({"visit_id": vid, "worker_id": w, "reason": why.get(vid)})
    return {"moved": moved, "retimed": retimed, "added": added, "removed": removed,
            "kpis_delta": kpi_delta(before, after)}
