"""Routing on a road graph: snapping points to nodes (KD-tree) and time-shortest paths and matrices (csgraph)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from ..base import UNREACHABLE
from .errors import UnreachableLegError
from .graph import RoadGraph

__all__ = ["EARTH_RADIUS_M", "Router", "Snapper", "haversine_m"]

EARTH_RADIUS_M = 6_371_009.0  # the radius osmnx uses for edge lengths


def haversine_m(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    """Return the great-circle distance in metres between points given in degrees (numpy broadcasting)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _unit_sphere(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points in degrees as 3-D points on the unit sphere (``n x 3``)."""
    phi, lmb = np.radians(lat), np.radians(lon)
    return np.column_stack([np.cos(phi) * np.cos(lmb), np.cos(phi) * np.sin(lmb), np.sin(phi)])


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapper:
    """Each point's nearest graph node by great-circle distance.

    Nodes sit on the unit sphere in a KD-tree: the straight chord between two points grows with
    the arc between them, so the nearest by chord is the nearest by haversine, with no projection
    error anywhere on Earth.  The distance reported is the haversine one.
    """

    lat: np.ndarray
    lon: np.ndarray
    tree: cKDTree

    @classmethod
    def of(cls, graph: RoadGraph) -> Snapper:
        """Index the nodes of ``graph``."""
        return cls(lat=graph.lat, lon=graph.lon, tree=cKDTree(_unit_sphere(graph.lat, graph.lon)))

    def nearest(self, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(node index int64, distance_m float64)`` of each point (degrees)."""
        lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
        if lat.size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        _, idx = self.tree.query(_unit_sphere(lat, lon), k=1)
        idx = np.asarray(idx, dtype=np.int64)
        return idx, np.asarray(haversine_m(lat, lon, self.lat[idx], self.lon[idx]), dtype=float)


@dataclass(frozen=True, slots=True, kw_only=True)
class Router:
    """Shortest paths by time on a :class:`RoadGraph`, reporting the metres of those paths.

    Fast path: edge weights pack integer milliseconds and centimetres into one float,
    ``ms * scale + cm`` (exact below 2**53), so one Dijkstra pass minimises time and then
    length, and both come back by integer division.  If the sums could exceed 2**53,
    lengths follow the predecessor tree instead (pointer jumping, vectorised).
    """

    graph: RoadGraph
    time_csr: csr_matrix
    keys: np.ndarray
    packed_csr: csr_matrix | None
    scale: int

    @classmethod
    def of(cls, graph: RoadGraph, *, packed: bool = True) -> Router:
        """Prepare ``graph`` for routing; ``packed=False`` forces the predecessor-tree path."""
        n = graph.n_nodes
        t_ms = np.maximum(np.rint(graph.time_s * 1000.0), 1.0)
        l_cm = np.rint(graph.length_m * 100.0)
        ms_csr = csr_matrix((t_ms, graph.indices, graph.indptr), shape=(n, n))
        # any shortest time <= time(s -> 0) + time(0 -> t); its length <= time x max(cm/ms)
        t_bound = float(dijkstra(ms_csr, indices=0).max() + dijkstra(ms_csr.T, indices=0).max())
        l_bound = t_bound * float((l_cm / t_ms).max(initial=0.0))
        scale = 10 ** len(str(int(l_bound) + 1))
        weights = t_ms * scale + l_cm
        fits = t_bound * scale + l_bound + float(weights.max(initial=0.0)) < 2.0**52
        packed_csr = None
        if packed and fits:
            packed_csr = csr_matrix((weights, graph.indices, graph.indptr), shape=(n, n))
        return cls(
            graph=graph,
            time_csr=graph.time_csr(),
            keys=graph.edge_keys(),
            packed_csr=packed_csr,
            scale=scale,
        )

    def rows(self, sources: np.ndarray, targets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Return seconds and metres of the time-shortest paths from ``sources``.

        Columns are ``targets`` (node indices) or all nodes; no path gives ``inf``.
        """
        if self.packed_csr is not None:
            w = dijkstra(self.packed_csr, directed=True, indices=sources)
            if targets is not None:
                w = w[:, targets]
            # exact: w = ms * scale + cm with cm < scale and w < 2**52 (see ``of``)
            q = np.floor(w / self.scale)
            r = w - q * self.scale
            if not np.isfinite(q).all():
                r[~np.isfinite(q)] = np.inf
            q /= 1000.0
            r /= 100.0
            return q, r
        times, pred = dijkstra(self.time_csr, directed=True, indices=sources, return_predecessors=True)
        k, n = pred.shape
        has = pred >= 0
        cols = np.arange(n, dtype=np.int64)
        edge = np.searchsorted(self.keys, np.where(has, pred.astype(np.int64) * n + cols, 0))
        dist = np.where(has, self.graph.length_m[np.minimum(edge, len(self.keys) - 1)], 0.0)
        offset = (np.arange(k, dtype=np.int64) * n)[:, None]
        anc = (np.where(has, pred, cols) + offset).ravel()
        flat = dist.ravel()
        while True:
            nxt = anc[anc]
            flat += flat[anc]
            if np.array_equal(nxt, anc):
                break
            anc = nxt
        dist = flat.reshape(k, n)
        dist[~np.isfinite(times)] = np.inf
        if targets is not None:
            return times[:, targets], dist[:, targets]
        return times, dist

    def path(self, a: int, b: int) -> list[int]:
        """Return the node indices of the time-shortest path from ``a`` to ``b``."""
        csr = self.packed_csr if self.packed_csr is not None else self.time_csr
        _, pred = dijkstra(csr, directed=True, indices=a, return_predecessors=True)
        nodes = [b]
        while nodes[-1] != a:
            step = int(pred[nodes[-1]])
            if step < 0:
                raise UnreachableLegError(f"no path from node {a} to node {b}")
            nodes.append(step)
        nodes.reverse()
        return nodes

    def matrix(
        self,
        coords: np.ndarray,
        node: np.ndarray,
        snap_m: np.ndarray,
        ok: np.ndarray,
        *,
        walk_kph: float,
        chunk: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return rounded int64 seconds and metres between points, door to door.

        Each point walks ``snap_m[i]`` to ``node[i]`` (at ``walk_kph``, at both ends); points that
        share a node walk straight across instead.  Rows and columns of points with ``ok[i]`` false
        hold :data:`~planner.travel.base.UNREACHABLE`; the diagonal is 0.

        Parameters
        ----------
        coords
            ``n x 2`` latitudes and longitudes (degrees).
        node, snap_m, ok
            Each point's snapped node, its distance to it, and whether it is close enough.
        walk_kph
            Speed of the snap legs.
        chunk
            Dijkstra origins per batch (capped to keep a batch near 64 MB).
        """
        n = coords.shape[0]
        duration = np.full((n, n), UNREACHABLE, dtype=np.int64)
        distance = np.full((n, n), UNREACHABLE, dtype=np.int64)
        np.fill_diagonal(duration, 0)
        np.fill_diagonal(distance, 0)
        loc = np.flatnonzero(ok)
        if loc.size == 0:
            return duration, distance
        walk_ms = walk_kph / 3.6
        uniq, inv = np.unique(node[loc], return_inverse=True)
        inv = inv.reshape(-1)
        leg_m = snap_m[loc]
        leg_s = leg_m / walk_ms
        lat, lon = coords[loc, 0], coords[loc, 1]
        order = np.argsort(inv, kind="stable")
        starts = np.searchsorted(inv[order], np.arange(len(uniq) + 1))
        everyone = loc.size == n  # then loc is arange(n): plain row assignment
        chunk = max(1, min(chunk, int(64e6 // max(1, self.graph.n_nodes * 40))))
        for a in range(0, len(uniq), chunk):
            b = min(a + chunk, len(uniq))
            t_u, d_u = self.rows(uniq[a:b], uniq)
            rows_all = order[starts[a] : starts[b]]
            for r in range(0, len(rows_all), chunk):
                rows = rows_all[r : r + chunk]
                grid = np.ix_(inv[rows] - a, inv)
                bt, bd = t_u[grid], d_u[grid]
                bt += leg_s[rows, None]
                bt += leg_s[None, :]
                bd += leg_m[rows, None]
                bd += leg_m[None, :]
                same = inv[rows][:, None] == inv[None, :]
                if same.any():  # both snap to one node: walk straight across instead
                    ri, cj = np.nonzero(same)
                    direct = haversine_m(lat[rows][ri], lon[rows][ri], lat[cj], lon[cj])
                    bd[ri, cj] = direct
                    bt[ri, cj] = direct / walk_ms
                bad = ~np.isfinite(bt)
                if bad.any():  # cannot happen inside one strong component; stay safe
                    bt[bad] = UNREACHABLE
                    bd[bad] = UNREACHABLE
                np.rint(bt, out=bt)
                np.rint(bd, out=bd)
                if everyone:
                    duration[rows] = bt
                    distance[rows] = bd
                else:
                    out = np.ix_(loc[rows], loc)
                    duration[out] = bt
                    distance[out] = bd
        np.fill_diagonal(duration, 0)
        np.fill_diagonal(distance, 0)
        return duration, distance

    def leg(
        self,
        a: tuple[float, float],
        b: tuple[float, float],
        nodes: tuple[int, int],
        snap_m: tuple[float, float],
        *,
        walk_kph: float,
    ) -> tuple[list[list[float]], float, float]:
        """Return the street-following ``[lon, lat]`` points, seconds and metres from ``a`` to ``b``.

        ``a`` and ``b`` are ``(lat, lon)``; ``nodes`` and ``snap_m`` their snapped nodes and snap
        distances.  The line walks to the first node, follows the time-shortest path through the
        interior points of each street, and walks on to ``b``; unrounded times and lengths.
        """
        graph = self.graph
        walk_ms = walk_kph / 3.6
        start, end = [round(a[1], 7), round(a[0], 7)], [round(b[1], 7), round(b[0], 7)]
        na, nb = nodes
        if na == nb:
            direct = float(haversine_m(a[0], a[1], b[0], b[1]))
            return [start, end], direct / walk_ms, direct
        path = self.path(na, nb)
        coords = [start]
        seconds, metres = float(sum(snap_m)) / walk_ms, float(sum(snap_m))

        def point(i: int) -> list[float]:
            return [round(float(graph.lon[i]), 7), round(float(graph.lat[i]), 7)]

        coords.append(point(path[0]))
        for u, v in itertools.pairwise(path):
            e = int(np.searchsorted(self.keys, u * graph.n_nodes + v))
            seconds += float(graph.time_s[e])
            metres += float(graph.length_m[e])
            interior = graph.geom_lonlat[graph.geom_ptr[e] : graph.geom_ptr[e + 1]]
            coords.extend([round(float(x), 7), round(float(y), 7)] for x, y in interior)
            coords.append(point(v))
        coords.append(end)
        dedup = [c for i, c in enumerate(coords) if i == 0 or c != coords[i - 1]]
        return dedup, seconds, metres
