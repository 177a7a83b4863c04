"""GeoJSON of a plan's routes: along the streets when the travel provider knows them."""

from __future__ import annotations

from typing import Any

import numpy as np

from .domain import Location, Problem
from .plan import Plan
from .timeline import DayClock

__all__ = ["plan_geojson", "streets_geojson"]


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


#: Street classes from the most to the least important: a base layer over budget keeps the first ones.
_CLASS_RANK = (
    "motorway", "trunk", "primary", "secondary", "tertiary", "motorway_link", "trunk_link", "primary_link",
    "secondary_link", "tertiary_link", "unclassified", "residential", "living_street", "road", "service",
    "pedestrian", "track", "footway", "path", "cycleway", "steps",
)
_M_PER_DEG = 111_320.0


def _simplify(coords: np.ndarray, tolerance_deg: float) -> np.ndarray:
    """Douglas-Peucker on one polyline (lon/lat degrees; plenty at street scale)."""
    if len(coords) <= 2 or tolerance_deg <= 0:
        return coords
    keep = np.zeros(len(coords), dtype=bool)
    keep[[0, -1]] = True
    stack = [(0, len(coords) - 1)]
    while stack:
        i, j = stack.pop()
        if j - i < 2:
            continue
        a, b = coords[i], coords[j]
        seg = b - a
        pts = coords[i + 1:j] - a
        norm = float(np.hypot(*seg))
        dist = np.abs(seg[0] * pts[:, 1] - seg[1] * pts[:, 0]) / norm if norm > 0 else np.hypot(pts[:, 0], pts[:, 1])
        k = int(np.argmax(dist))
        if dist[k] > tolerance_deg:
            keep[i + 1 + k] = True
            stack += [(i, i + 1 + k), (i + 1 + k, j)]
    return coords[keep]


def streets_geojson(
    travel: object | None, *, bbox: tuple[float, float, float, float], mode: str = "walk",
    max_points: int = 20_000, tolerance_m: float = 5.0,
) -> dict[str, Any]:
    """The streets of a road network inside ``bbox`` as a light GeoJSON base layer.

    Parameters
    ----------
    travel
        A travel provider; only one with ``graph(mode)`` (a road network) has streets.
    bbox
        ``(min_lon, min_lat, max_lon, max_lat)``: streets with an end inside it are kept.
    mode
        ``"walk"`` or ``"drive"``: which of the network's graphs.
    max_points
        At most this many coordinates in all: past it, the least important classes are left out
        (``truncated``).
    tolerance_m
        Douglas-Peucker tolerance of each street's line.

    Returns
    -------
    dict
        A FeatureCollection with one MultiLineString per street class (``properties.class``), each
        two-way street once; ``properties``: ``network`` (``None`` without one), ``mode``, ``bbox``,
        ``points``, ``truncated``.
    """
    props: dict[str, Any] = {"network": None, "mode": mode, "bbox": [round(v, 6) for v in bbox], "points": 0,
                             "truncated": False}
    graph_of = getattr(travel, "graph", None)
    if not callable(graph_of):
        return {"type": "FeatureCollection", "features": [], "properties": props}
    g = graph_of(mode)
    props["network"] = str(getattr(travel, "name", "") or "") or None
    min_lon, min_lat, max_lon, max_lat = bbox
    inside = (g.lon >= min_lon) & (g.lon <= max_lon) & (g.lat >= min_lat) & (g.lat <= max_lat)
    tails = np.repeat(np.arange(g.n_nodes, dtype=np.int64), np.diff(g.indptr))
    heads = g.indices.astype(np.int64)
    chosen = np.flatnonzero(inside[tails] | inside[heads])
    rank = {c: k for k, c in enumerate(_CLASS_RANK)}
    classes = [str(c) for c in g.classes]
    order = sorted(chosen.tolist(), key=lambda e: (rank.get(classes[int(g.edge_class[e])], len(rank)), e))
    seen: set[tuple[int, int]] = set()
    lines: dict[str, list[list[list[float]]]] = {}
    budget, tol = max_points, tolerance_m / _M_PER_DEG
    for e in order:
        u, v = int(tails[e]), int(heads[e])
        if (v, u) in seen or (u, v) in seen:
            continue
        seen.add((u, v))
        inner = g.geom_lonlat[int(g.geom_ptr[e]):int(g.geom_ptr[e + 1])].reshape(-1, 2)
        coords = np.vstack([[g.lon[u], g.lat[u]], inner, [g.lon[v], g.lat[v]]]).astype(float)
        coords = _simplify(coords, tol)
        if len(coords) > budget:
            props["truncated"] = True
            break
        budget -= len(coords)
        lines.setdefault(classes[int(g.edge_class[e])], []).append(np.round(coords, 6).tolist())
    props["points"] = max_points - budget
    features = [
        {"type": "Feature", "geometry": {"type": "MultiLineString", "coordinates": parts},
         "properties": {"kind": "street", "class": cls}}
        for cls, parts in sorted(lines.items(), key=lambda kv: rank.get(kv[0], len(rank)))
    ]
    return {"type": "FeatureCollection", "features": features, "properties": props}
