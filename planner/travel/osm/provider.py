"""The OpenStreetMap travel-time provider: cached road graphs, door-to-door matrices and street geometry."""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...domain import Location
from ..base import TravelMatrix
from ..cache import DiskCache, content_key, default_cache_dir, file_digest
from .errors import NetworkError, UnreachableLegError
from .graph import RoadGraph, build_road_graph
from .reading import SUPPORTED_SUFFIXES, fetch_place_graphml, file_suffix, raw_graph
from .router import Router, Snapper
from .tags import MODES, NetworkConfig

__all__ = ["OsmProvider"]

_FORMAT_VERSION = "osm-graph-v2"  # v2: merged edges take their alphabetically first class


@dataclass(frozen=True, slots=True, kw_only=True)
class OsmProvider:
    """Directed road-network travel matrices from an OSM XML, PBF or GraphML file.

    Implements :class:`~planner.travel.base.TravelTimeProvider`.  Graphs and matrices
    are cached on disk, keyed by the file's content, the mode and the speed settings.

    Parameters
    ----------
    path
        ``.osm``/``.xml`` (raw Overpass output is fine), ``.osm.pbf`` or ``.graphml``.
    name
        Network name shown in :attr:`TravelMatrix.source`; defaults to the file stem.
    config
        Speeds, snapping limit and batch size.
    cache_dir
        Cache directory; default :func:`~planner.travel.cache.default_cache_dir`.
    cache_matrices
        Also cache matrices on disk (graphs are always cached).
    """

    path: Path
    name: str = ""
    config: NetworkConfig = field(default_factory=NetworkConfig)
    cache_dir: Path | None = None
    cache_matrices: bool = True
    _memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        path = Path(self.path)
        object.__setattr__(self, "path", path)
        if not path.is_file():
            raise NetworkError(f"{path}: no such network file")
        if file_suffix(path) not in SUPPORTED_SUFFIXES:
            raise NetworkError(f"{path.name}: unsupported network file; expected {', '.join(SUPPORTED_SUFFIXES)}")
        if not self.name:
            object.__setattr__(self, "name", path.name.split(".")[0])

    # -- graph --------------------------------------------------------------------------

    @property
    def cache(self) -> DiskCache:
        return DiskCache(root=Path(self.cache_dir) if self.cache_dir else default_cache_dir())

    def _digest(self) -> str:
        if "digest" not in self._memo:
            self._memo["digest"] = file_digest(self.path)
        return str(self._memo["digest"])

    def _graph_key(self, mode: str) -> str:
        fp = self.config.graph_fingerprint(mode)
        return content_key(_FORMAT_VERSION, self._digest(), mode, fp)

    @staticmethod
    def _check_mode(mode: str) -> None:
        if mode not in MODES:
            raise NetworkError(f"mode: {mode!r} is not one of {', '.join(MODES)}")

    def graph(self, mode: str) -> RoadGraph:
        """Return the ``mode`` road graph, from memory, the disk cache, or built from the file.

        Parameters
        ----------
        mode
            ``"drive"`` or ``"walk"``.

        Returns
        -------
        RoadGraph
            The largest strongly connected component, with travel times.
        """
        self._check_mode(mode)
        memo_key = f"graph:{mode}"
        if memo_key in self._memo:
            graph: RoadGraph = self._memo[memo_key]
            return graph
        key = self._graph_key(mode)
        cached = self.cache.load("graph", key)
        if cached is not None:
            graph = RoadGraph.from_arrays(cached)
        else:
            graph = self._build(mode)
            self.cache.store("graph", key, graph.to_arrays())
        self._memo[memo_key] = graph
        return graph

    def _build(self, mode: str) -> RoadGraph:
        try:
            return build_road_graph(raw_graph(self.path, mode, self.cache), mode, self.config)
        except NetworkError as exc:
            if str(exc).startswith(self.path.name):
                raise
            raise NetworkError(f"{self.path.name}: {exc}") from exc

    def _router(self, mode: str) -> Router:
        memo_key = f"router:{mode}"
        if memo_key not in self._memo:
            self._memo[memo_key] = Router.of(self.graph(mode))
        router: Router = self._memo[memo_key]
        return router

    def _snapper(self, mode: str) -> Snapper:
        memo_key = f"snapper:{mode}"
        if memo_key not in self._memo:
            self._memo[memo_key] = Snapper.of(self.graph(mode))
        snapper: Snapper = self._memo[memo_key]
        return snapper

    def snap(self, locations: Sequence[Location], *, mode: str) -> tuple[np.ndarray, np.ndarray]:
        """Return each location's nearest graph node (internal index) and distance (m).

        Parameters
        ----------
        locations
            Points to snap.
        mode
            ``"drive"`` or ``"walk"``.

        Returns
        -------
        tuple of numpy.ndarray
            ``(node_index int64, distance_m float64)``, one entry per location.
        """
        if not locations:
            return np.empty(0, dtype=np.int64), np.empty(0)
        lat = np.array([p.lat for p in locations], dtype=float)
        lon = np.array([p.lon for p in locations], dtype=float)
        return self._snapper(mode).nearest(lat, lon)

    def _reason(self, metres: float, mode: str) -> str:
        what = "walkable street" if mode == "walk" else "drivable road"
        return f"{metres:.0f} m from the nearest {what} (limit {self.config.max_snap_m:.0f} m)"

    # -- matrix -------------------------------------------------------------------------

    def matrix(self, locations: Sequence[Location], *, mode: str) -> TravelMatrix:
        """Return directed travel times (s) and distances (m) between ``locations``.

        Each location walks straight to its nearest node (at ``walk_kph``, both at the
        origin and at the destination); between nodes the time-shortest path is taken
        and its length reported.  Locations farther than ``max_snap_m`` from the network
        get :data:`~planner.travel.base.UNREACHABLE` rows and columns and a reason.

        Parameters
        ----------
        locations
            Points in matrix order.
        mode
            ``"drive"`` or ``"walk"``.

        Returns
        -------
        TravelMatrix
            Asymmetric int64 matrices; ``source`` names the network.
        """
        self._check_mode(mode)
        graph = self.graph(mode)
        source = f"osm:{self.name} ({mode}, {graph.n_nodes} nodes)"
        coords = np.array([[p.lat, p.lon] for p in locations], dtype=np.float64).reshape(-1, 2)
        key = content_key(
            self._graph_key(mode),
            "matrix",
            json.dumps([self.config.walk_kph, self.config.max_snap_m]),
            coords.tobytes(),
        )
        if self.cache_matrices and (hit := self.cache.load("matrix", key)) is not None:
            reasons = {int(i): str(t) for i, t in zip(hit["reason_index"], hit["reason_text"], strict=True)}
            return TravelMatrix(
                duration_s=hit["duration_s"],
                distance_m=hit["distance_m"],
                mode=mode,
                source=source,
                unreachable_reason=reasons,
            )
        duration, distance, reasons = self._compute_matrix(graph, locations, coords, mode)
        if self.cache_matrices:
            idx = sorted(reasons)
            self.cache.store(
                "matrix",
                key,
                {
                    "duration_s": duration,
                    "distance_m": distance,
                    "reason_index": np.array(idx, dtype=np.int64),
                    "reason_text": np.array([reasons[i] for i in idx], dtype=str),
                },
            )
        return TravelMatrix(
            duration_s=duration,
            distance_m=distance,
            mode=mode,
            source=source,
            unreachable_reason=reasons,
        )

    def _compute_matrix(
        self, graph: RoadGraph, locations: Sequence[Location], coords: np.ndarray, mode: str
    ) -> tuple[np.ndarray, np.ndarray, dict[int, str]]:
        node, snap_m = self.snap(locations, mode=mode)
        ok = snap_m <= self.config.max_snap_m
        reasons = {int(i): self._reason(float(snap_m[i]), mode) for i in np.flatnonzero(~ok)}
        duration, distance = self._router(mode).matrix(
            coords, node, snap_m, ok, walk_kph=self.config.walk_kph, chunk=self.config.chunk
        )
        return duration, distance, reasons

    # -- geometry -----------------------------------------------------------------------

    def _leg(self, a: Location, b: Location, mode: str) -> tuple[list[list[float]], float, float]:
        """Street-following coordinates, seconds and metres of one leg (unrounded)."""
        (na, nb), (ma, mb) = self.snap([a, b], mode=mode)
        for where, metres in ((a, ma), (b, mb)):
            if metres > self.config.max_snap_m:
                raise UnreachableLegError(f"({where.lat:.6f}, {where.lon:.6f}) is {self._reason(float(metres), mode)}")
        return self._router(mode).leg(
            (a.lat, a.lon), (b.lat, b.lon), (int(na), int(nb)), (ma, mb), walk_kph=self.config.walk_kph
        )

    def leg_geometry(self, a: Location, b: Location, *, mode: str) -> dict[str, Any]:
        """Return a GeoJSON LineString from ``a`` to ``b`` along the streets.

        The line starts at ``a``, walks straight to its snapped node, follows the
        time-shortest path (including the interior points of each street) and walks to ``b``.

        Raises
        ------
        UnreachableLegError
            If ``a`` or ``b`` lies farther than ``max_snap_m`` from the network.
        """
        self._check_mode(mode)
        coords, _, _ = self._leg(a, b, mode)
        return {"type": "LineString", "coordinates": coords}

    def route_geojson(self, locations: Sequence[Location], *, mode: str) -> dict[str, Any]:
        """Return a GeoJSON FeatureCollection with one LineString feature per leg.

        Parameters
        ----------
        locations
            The stops of a route in visiting order (e.g. start, visits, end).
        mode
            ``"drive"`` or ``"walk"``.

        Returns
        -------
        dict
            Features carry ``leg``, ``from_index``, ``to_index``, ``duration_s``,
            ``distance_m`` and ``mode``; an unreachable leg has ``geometry: null`` and
            ``unreachable_reason``.
        """
        self._check_mode(mode)
        features = []
        for k, (a, b) in enumerate(itertools.pairwise(locations)):
            props: dict[str, Any] = {"leg": k, "from_index": k, "to_index": k + 1, "mode": mode}
            geometry: dict[str, Any] | None
            try:
                coords, seconds, metres = self._leg(a, b, mode)
            except UnreachableLegError as exc:
                geometry = None
                props["unreachable_reason"] = str(exc)
            else:
                geometry = {"type": "LineString", "coordinates": coords}
                props["duration_s"] = round(seconds)
                props["distance_m"] = round(metres)
            features.append({"type": "Feature", "geometry": geometry, "properties": props})
        return {"type": "FeatureCollection", "features": features}

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_place(
        cls,
        place: str,
        *,
        name: str = "",
        config: NetworkConfig | None = None,
        cache_dir: Path | None = None,
    ) -> OsmProvider:
        """Download (once, needs internet) and cache a place's streets; return a provider.

        Raises
        ------
        NetworkError
            One readable line when offline or the place is unknown.
        """
        cache = DiskCache(root=Path(cache_dir) if cache_dir else default_cache_dir())
        target = cache.path("place", content_key(place.strip().lower()), suffix=".graphml")
        if not target.is_file():
            fetch_place_graphml(place, target)
        return cls(
            path=target,
            name=name or place,
            config=config or NetworkConfig(),
            cache_dir=cache.root,
        )
