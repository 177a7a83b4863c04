"""GeoJSON of a plan's routes: along the streets when the travel provider knows them."""

from __future__ import annotations

from typing import Any

from .domain import Location, Problem
from .plan import Plan
from .timeline import DayClock

__all__ = ["plan_geojson"]


def _straight(a: Location, b: Location) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [[a.lon, a.lat], [b.lon, b.lat]]}


def plan_geojson(problem: Problem, plan: Plan, travel: object | None = None) -> dict[str, Any]:
    """One LineString feature per leg of every route, and one Point feature per stop.

    Parameters
    ----------
    problem
        The problem the plan belongs to (for locations and travel modes).
    plan
        The plan to draw.
    travel
        A travel provider; when it has ``leg_geometry(a, b, *, mode)`` (the road-network
        provider) legs follow the streets, otherwise they are straight lines.

    Returns
    -------
    dict
        A FeatureCollection (with the plan's ``date`` in its ``properties``).  Leg properties
        carry the worker, the visits at either end, the mode and the leg's travel seconds and
        metres as planned; stop properties the visit, order and times.  No names, no addresses,
        no health data.  The API serves this same GeoJSON.
    """
    clock = DayClock(plan.date)
    workers = problem.workers_by_id()
    households = problem.households_by_id()
    leg_geometry = getattr(travel, "leg_geometry", None)
    features: list[dict[str, Any]] = []
    for route in plan.routes:
        worker = workers.get(route.worker_id)
        if worker is None:
            continue
        mode = worker.travel_mode.value
        points = [worker.start]
        ids: list[str | None] = [None]
        legs: list[tuple[int, int]] = []
        for s in route.stops:
            h = households.get(s.household_id)
            if h is not None:
                points.append(h.location)
                ids.append(s.visit_id)
                legs.append((s.travel_s, s.travel_m))
        points.append(worker.end)
        ids.append(None)
        back_s, back_m = route.travel_s - sum(t for t, _ in legs), route.travel_m - sum(m for _, m in legs)
        legs.append((max(0, back_s), max(0, back_m)))
        for k in range(len(points) - 1):
            a, b = points[k], points[k + 1]
            geometry: dict[str, Any] | None = None
            if callable(leg_geometry):
                try:
                    geometry = leg_geometry(a, b, mode=mode)
                except ValueError:
                    geometry = None
            features.append({
                "type": "Feature",
                "geometry": geometry or _straight(a, b),
                "properties": {
                    "kind": "leg", "worker_id": route.worker_id, "leg": k, "mode": mode,
                    "from_visit_id": ids[k], "to_visit_id": ids[k + 1],
                    "travel_s": legs[k][0], "travel_m": legs[k][1],
                    "along_streets": geometry is not None,
                },
            })
        for order, s in enumerate(route.stops, start=1):
            h = households.get(s.household_id)
            if h is None:
                continue
            features.append({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [h.location.lon, h.location.lat]},
                "properties": {
                    "kind": "stop", "worker_id": route.worker_id, "order": order, "visit_id": s.visit_id,
                    "start": clock.to_iso(s.start_s), "end": clock.to_iso(s.end_s),
                },
            })
    return {"type": "FeatureCollection", "features": features, "properties": {"date": plan.date.isoformat()}}
