"""Road-network travel times and street geometry from OpenStreetMap (the only osmnx importer)."""

from __future__ import annotations

import itertools
import json
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from xml.sax.saxutils import quoteattr

import networkx as nx
import numpy as np
import osmnx as ox
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from sklearn.neighbors import BallTree

from ..domain import Location
from .base import UNREACHABLE, TravelMatrix
from .cache import DiskCache, content_key, default_cache_dir, file_digest

__all__ = [
    "DEFAULT_DRIVE_SPEEDS_KPH",
    "MODES",
    "SUPPORTED_SUFFIXES",
    "NetworkConfig",
    "NetworkError",
    "OsmProvider",
    "RoadGraph",
    "UnreachableLegError",
    "fetch_place_graphml",
]

#: Travel modes a road network is built for.
MODES = ("drive", "walk")
#: File kinds a network can be built from.
SUPPORTED_SUFFIXES = (".osm", ".xml", ".osm.pbf", ".pbf", ".graphml")
#: Free-flow speeds by OSM ``highway`` class, following Seoul's "safe speed 5030" policy:
#: 50 km/h on arterials, 30 km/h on residential streets; urban expressways 80 km/h.
#: Korean OSM rarely tags ``maxspeed``; where it is tagged, it wins (see ``NetworkConfig``).
DEFAULT_DRIVE_SPEEDS_KPH: Mapping[str, float] = MappingProxyType(
    {
        "motorway": 80.0,
        "motorway_link": 50.0,
        "trunk": 60.0,
        "trunk_link": 50.0,
        "primary": 50.0,
        "primary_link": 50.0,
        "secondary": 50.0,
        "secondary_link": 50.0,
        "tertiary": 50.0,
        "tertiary_link": 50.0,
        "unclassified": 30.0,
        "residential": 30.0,
        "road": 30.0,
        "living_street": 20.0,
        "service": 20.0,
    }
)
EARTH_RADIUS_M = 6_371_009.0  # the radius osmnx uses for edge lengths
_FORMAT_VERSION = "osm-graph-v1"
_DRIVE_CLASSES = frozenset(DEFAULT_DRIVE_SPEEDS_KPH)
_WALK_EXCLUDED = frozenset(
    {
        "motorway",
        "motorway_link",
        "bus_guideway",
        "busway",
        "raceway",
        "construction",
        "proposed",
        "planned",
        "abandoned",
        "razed",
        "disused",
        "platform",
        "no",
    }
)
_FOOT_OK = frozenset({"yes", "designated", "permissive", "destination"})
_MOTOR_OK = frozenset({"yes", "designated", "permissive", "destination"})
_SERVICE_NO_DRIVE = frozenset({"parking_aisle", "parking", "emergency_access", "private"})
_MAXSPEED = re.compile(r"(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?")


class NetworkError(ValueError):
    """A road network cannot be built or used (bad file, no roads, unknown mode)."""


class UnreachableLegError(NetworkError):
    """A leg's endpoint lies too far from the network to be routed."""


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkConfig:
    """How a road network turns into travel times.

    Parameters
    ----------
    drive_speeds_kph
        Driving speed by OSM ``highway`` class (assumption: Seoul's 50/30 km/h policy).
    drive_default_kph
        Driving speed for classes missing from ``drive_speeds_kph``.
    honour_maxspeed
        Use a parseable ``maxspeed`` tag instead of the class speed when present.
    walk_kph
        Walking speed on streets and on the snap legs of both modes.
    max_snap_m
        A location farther than this from every node of the network is unreachable.
    chunk
        Dijkstra origins per batch; bounds memory to about ``chunk x nodes x 40`` bytes.
    """

    drive_speeds_kph: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_DRIVE_SPEEDS_KPH)
    )
    drive_default_kph: float = 30.0
    honour_maxspeed: bool = True
    walk_kph: float = 4.0
    max_snap_m: float = 500.0
    chunk: int = 256

    def __post_init__(self) -> None:
        for name in ("drive_default_kph", "walk_kph"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 < value <= 200):
                raise ValueError(f"{name}: expected a speed in (0, 200] km/h, got {value!r}")
        for cls, kph in self.drive_speeds_kph.items():
            if not (isinstance(kph, int | float) and 0 < kph <= 200):
                raise ValueError(f"drive_speeds_kph[{cls!r}]: expected (0, 200] km/h, got {kph!r}")
        if not (isinstance(self.max_snap_m, int | float) and self.max_snap_m >= 0):
            raise ValueError(f"max_snap_m: expected metres >= 0, got {self.max_snap_m!r}")
        if not (isinstance(self.chunk, int) and self.chunk >= 1):
            raise ValueError(f"chunk: expected a positive integer, got {self.chunk!r}")

    def graph_fingerprint(self, mode: str) -> str:
        """Return the settings that shape the ``mode`` graph, serialised for cache keys."""
        if mode == "walk":
            return json.dumps({"walk_kph": float(self.walk_kph)})
        return json.dumps(
            {
                "speeds": {k: float(v) for k, v in sorted(self.drive_speeds_kph.items())},
                "default": float(self.drive_default_kph),
                "maxspeed": self.honour_maxspeed,
            }
        )


# --------------------------------------------------------------------------- road graph


@dataclass(frozen=True, slots=True, kw_only=True)
class RoadGraph:
    """A directed road graph as CSR arrays: the largest strongly connected component only.

    Edges are sorted by (tail, head); parallel edges were reduced to the fastest one.
    ``geom_lonlat[geom_ptr[e]:geom_ptr[e + 1]]`` are the interior points of edge ``e``.
    """

    mode: str
    node_id: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    time_s: np.ndarray
    length_m: np.ndarray
    edge_class: np.ndarray
    classes: tuple[str, ...]
    geom_ptr: np.ndarray
    geom_lonlat: np.ndarray
    dropped_nodes: int = 0

    @property
    def n_nodes(self) -> int:
        return int(self.node_id.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.indices.shape[0])

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """``(min_lat, min_lon, max_lat, max_lon)`` of the kept nodes."""
        return (
            float(self.lat.min()),
            float(self.lon.min()),
            float(self.lat.max()),
            float(self.lon.max()),
        )

    def time_csr(self) -> csr_matrix:
        """Return the travel-time adjacency matrix (seconds) for ``scipy.sparse.csgraph``."""
        n = self.n_nodes
        return csr_matrix((self.time_s, self.indices, self.indptr), shape=(n, n))

    def edge_keys(self) -> np.ndarray:
        """Return ``tail * n_nodes + head`` per edge, ascending."""
        tails = np.repeat(np.arange(self.n_nodes, dtype=np.int64), np.diff(self.indptr))
        return tails * self.n_nodes + self.indices.astype(np.int64)

    def node_index(self, osm_id: int) -> int:
        """Return the internal index of an OSM node id, or raise ``KeyError``."""
        hits = np.flatnonzero(self.node_id == osm_id)
        if hits.size == 0:
            raise KeyError(osm_id)
        return int(hits[0])

    def edge(self, u_osm: int, v_osm: int) -> tuple[float, float, str]:
        """Return ``(time_s, length_m, highway)`` of the edge between two OSM nodes.

        Raises
        ------
        KeyError
            If either node is not kept or no such edge exists.
        """
        u, v = self.node_index(u_osm), self.node_index(v_osm)
        row = slice(int(self.indptr[u]), int(self.indptr[u + 1]))
        hits = np.flatnonzero(self.indices[row] == v)
        if hits.size == 0:
            raise KeyError((u_osm, v_osm))
        e = row.start + int(hits[0])
        return float(self.time_s[e]), float(self.length_m[e]), self.classes[self.edge_class[e]]

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Serialise to plain arrays (for :class:`~planner.travel.cache.DiskCache`)."""
        return {
            "mode": np.array(self.mode),
            "node_id": self.node_id,
            "lat": self.lat,
            "lon": self.lon,
            "indptr": self.indptr,
            "indices": self.indices,
            "time_s": self.time_s,
            "length_m": self.length_m,
            "edge_class": self.edge_class,
            "classes": np.array(self.classes, dtype=str),
            "geom_ptr": self.geom_ptr,
            "geom_lonlat": self.geom_lonlat,
            "dropped_nodes": np.array(self.dropped_nodes),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> RoadGraph:
        """Rebuild a graph written by :meth:`to_arrays`."""
        return cls(
            mode=str(arrays["mode"]),
            node_id=arrays["node_id"],
            lat=arrays["lat"],
            lon=arrays["lon"],
            indptr=arrays["indptr"],
            indices=arrays["indices"],
            time_s=arrays["time_s"],
            length_m=arrays["length_m"],
            edge_class=arrays["edge_class"],
            classes=tuple(str(c) for c in arrays["classes"]),
            geom_ptr=arrays["geom_ptr"],
            geom_lonlat=arrays["geom_lonlat"].reshape(-1, 2),
            dropped_nodes=int(arrays["dropped_nodes"]),
        )


# --------------------------------------------------------------------------- reading OSM


def _values(raw: object) -> list[str]:
    """Tag value(s) as a list of strings (osmnx merges values into lists when simplifying)."""
    if raw is None:
        return []
    if isinstance(raw, list | tuple | set):
        return [str(v) for v in raw]
    return [str(raw)]


def _tag(tags: Mapping[str, Any], key: str) -> set[str]:
    return {v.strip().lower() for raw in _values(tags.get(key)) for v in raw.split(";")}


def _allowed(tags: Mapping[str, Any], mode: str) -> bool:
    """Whether a way (or an osmnx edge, whose attributes are tags) belongs to ``mode``."""
    highways = _tag(tags, "highway")
    if not highways or "yes" in _tag(tags, "area"):
        return False
    access = _tag(tags, "access")
    if mode == "drive":
        motor = _tag(tags, "motor_vehicle") | _tag(tags, "motorcar") | _tag(tags, "vehicle")
        closed = ("no" in access or "private" in access) and not motor & _MOTOR_OK
        if "no" in motor or closed:
            return False
        if _tag(tags, "service") & _SERVICE_NO_DRIVE:
            return False
        return bool(highways & _DRIVE_CLASSES)
    # walk: a visiting nurse is an invited visitor, so access=private paths stay walkable
    foot = _tag(tags, "foot")
    if "no" in foot or ("no" in access and not foot & _FOOT_OK):
        return False
    if "yes" in _tag(tags, "motorroad"):
        return False
    if highways <= {"cycleway", "bridleway"} and not foot & _FOOT_OK:
        return False
    return bool(highways - _WALK_EXCLUDED)


_Way = tuple[int, list[tuple[int, float, float]], dict[str, str]]


def _iter_xml_ways(path: Path) -> Iterator[_Way]:
    """Highway ways of an OSM XML file with node coordinates; relations are ignored.

    Handles Overpass ``out geom`` output (``<bounds>`` and coordinates inside ways,
    ``<nd>`` inside relation members), which makes ``ox.graph_from_xml`` fail.
    """
    coords: dict[int, tuple[float, float]] = {}
    try:
        for _, elem in ET.iterparse(path, events=("end",)):
            tag = elem.tag
            if tag == "node":
                coords[int(elem.attrib["id"])] = (
                    float(elem.attrib["lat"]),
                    float(elem.attrib["lon"]),
                )
                elem.clear()
            elif tag == "way":
                tags = {t.get("k", ""): t.get("v", "") for t in elem.iter("tag")}
                if "highway" in tags:
                    refs: list[tuple[int, float, float]] = []
                    for nd in elem.iter("nd"):
                        ref = int(nd.attrib["ref"])
                        lat, lon = nd.get("lat"), nd.get("lon")
                        if lat is not None and lon is not None:
                            coords.setdefault(ref, (float(lat), float(lon)))
                        at = coords.get(ref)
                        refs.append((ref, at[0], at[1]) if at else (ref, math.nan, math.nan))
                    yield int(elem.attrib["id"]), refs, tags
                elem.clear()
            elif tag == "relation":
                elem.clear()
    except ET.ParseError as exc:
        raise NetworkError(f"{path.name}: not valid OSM XML ({exc})") from exc
    except (KeyError, TypeError, ValueError) as exc:
        raise NetworkError(f"{path.name}: malformed OSM element ({exc!r})") from exc


def _iter_pbf_ways(path: Path) -> Iterator[_Way]:
    """Highway ways of an ``.osm.pbf`` file (read with pyosmium) with node coordinates."""
    import osmium

    try:
        processor = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY)
        for way in processor.with_locations():
            if not isinstance(way, osmium.osm.Way):
                continue
            tags = {t.k: t.v for t in way.tags}
            if "highway" not in tags:
                continue
            refs = []
            for n in way.nodes:
                loc = n.location
                ok = loc.valid()
                refs.append((n.ref, loc.lat if ok else math.nan, loc.lon if ok else math.nan))
            yield way.id, refs, tags
    except RuntimeError as exc:
        raise NetworkError(f"{path.name}: cannot read PBF ({exc})") from exc


def _write_mode_xml(ways: Iterator[_Way], mode: str, target: Path) -> int:
    """Write the ``mode`` ways as clean OSM XML for ``ox.graph_from_xml``; return the count.

    Ways are split where a node has no coordinates; pieces get fresh negative ids so that
    osmnx (which keys ways by id) keeps them all.
    """
    nodes: dict[int, tuple[float, float]] = {}
    kept: list[tuple[int, list[int], dict[str, str]]] = []
    synthetic = -1
    for way_id, refs, tags in ways:
        if not _allowed(tags, mode):
            continue
        pieces: list[list[int]] = [[]]
        for ref, lat, lon in refs:
            if math.isnan(lat):
                pieces.append([])
                continue
            nodes[ref] = (lat, lon)
            pieces[-1].append(ref)
        first = True
        for piece in pieces:
            if len(piece) < 2:
                continue
            kept.append((way_id if first else synthetic, piece, tags))
            if not first:
                synthetic -= 1
            first = False
    with target.open("w", encoding="utf-8") as fh:
        fh.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="salpimi">\n'
        )
        for ref, (lat, lon) in nodes.items():
            fh.write(f'<node id="{ref}" lat="{lat!r}" lon="{lon!r}"/>\n')
        for way_id, piece, tags in kept:
            fh.write(f'<way id="{way_id}">')
            fh.writelines(f'<nd ref="{ref}"/>' for ref in piece)
            fh.writelines(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
            fh.write("</way>\n")
        fh.write("</osm>\n")
    return len(kept)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def _raw_graph(path: Path, mode: str, scratch: DiskCache) -> nx.MultiDiGraph:
    """Unsimplified osmnx graph of ``mode`` from an OSM XML, PBF or GraphML file."""
    suffix = _suffix(path)
    if suffix == ".graphml":
        try:
            G = ox.load_graphml(path)
        except Exception as exc:  # osmnx/networkx raise many types on bad GraphML
            raise NetworkError(f"{path.name}: cannot read GraphML ({exc})") from exc
        drop = [(u, v, k) for u, v, k, d in G.edges(keys=True, data=True) if not _allowed(d, mode)]
        G.remove_edges_from(drop)
        G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])
        if mode == "walk":
            _add_missing_reverse_edges(G)
        return G
    ways = _iter_pbf_ways(path) if suffix in (".osm.pbf", ".pbf") else _iter_xml_ways(path)
    xml = scratch.scratch_file(suffix=".osm")
    try:
        if _write_mode_xml(ways, mode, xml) == 0:
            raise NetworkError(f"{path.name}: no {mode} roads in the file")
        return ox.graph_from_xml(xml, bidirectional=mode == "walk", simplify=False, retain_all=True)
    finally:
        xml.unlink(missing_ok=True)


def _add_missing_reverse_edges(G: nx.MultiDiGraph) -> None:
    """Walkers ignore one-way rules: add ``v -> u`` wherever only ``u -> v`` exists."""
    missing = [(u, v, d) for u, v, d in G.edges(data=True) if not G.has_edge(v, u)]
    for u, v, d in missing:
        data = dict(d)
        geom = data.get("geometry")
        if geom is not None and hasattr(geom, "reverse"):
            data["geometry"] = geom.reverse()
        data["reversed"] = True
        G.add_edge(v, u, **data)


def _parse_maxspeed(raw: object) -> float | None:
    speeds = []
    for value in _values(raw):
        for part in value.split(";"):
            m = _MAXSPEED.fullmatch(part.strip().lower())
            if m:
                kph = float(m[1]) * (1.609344 if m[2] == "mph" else 1.0)
                if 0 < kph <= 200:
                    speeds.append(kph)
    return sum(speeds) / len(speeds) if speeds else None


def _edge_kph(data: Mapping[str, Any], mode: str, config: NetworkConfig) -> float:
    if mode == "walk":
        return float(config.walk_kph)
    if config.honour_maxspeed:
        tagged = _parse_maxspeed(data.get("maxspeed"))
        if tagged is not None:
            return tagged
    classes = _values(data.get("highway"))
    speeds = [config.drive_speeds_kph.get(c, config.drive_default_kph) for c in classes]
    return sum(speeds) / len(speeds) if speeds else float(config.drive_default_kph)


def _road_graph(G: nx.MultiDiGraph, mode: str, config: NetworkConfig) -> RoadGraph:
    """Travel times, simplification, largest SCC and CSR arrays from an osmnx graph."""
    for _, _, data in G.edges(data=True):
        data["travel_time"] = float(data.get("length", 0.0)) / (_edge_kph(data, mode, config) / 3.6)
    if not G.graph.get("simplified") and G.number_of_edges():
        G = ox.simplify_graph(G)
    nodes = list(G.nodes)
    if not nodes or not G.number_of_edges():
        raise NetworkError(f"no {mode} roads in the network")
    index = {n: i for i, n in enumerate(nodes)}
    lat = np.array([float(G.nodes[n]["y"]) for n in nodes])
    lon = np.array([float(G.nodes[n]["x"]) for n in nodes])
    us, vs, times, lengths, cls_ids, geoms = [], [], [], [], [], []
    classes: dict[str, int] = {}
    for u, v, data in G.edges(data=True):
        if u == v:
            continue
        us.append(index[u])
        vs.append(index[v])
        times.append(max(float(data["travel_time"]), 1e-3))
        lengths.append(float(data.get("length", 0.0)))
        hw = _values(data.get("highway")) or ["road"]
        cls_ids.append(classes.setdefault(hw[0], len(classes)))
        geom = data.get("geometry")
        geoms.append(np.asarray(geom.coords, dtype=float)[1:-1] if geom is not None else None)
    u_a, v_a = np.array(us, dtype=np.int64), np.array(vs, dtype=np.int64)
    t_a, l_a = np.array(times), np.array(lengths)
    # keep the largest strongly connected component
    n = len(nodes)
    adj = csr_matrix((np.ones(len(u_a)), (u_a, v_a)), shape=(n, n))
    _, labels = connected_components(adj, directed=True, connection="strong")
    big = int(np.argmax(np.bincount(labels)))
    keep = labels == big
    remap = np.full(n, -1, dtype=np.int64)
    remap[keep] = np.arange(int(keep.sum()))
    e_keep = keep[u_a] & keep[v_a]
    eidx = np.flatnonzero(e_keep)
    u_k, v_k = remap[u_a[eidx]], remap[v_a[eidx]]
    # parallel edges: sort by (u, v, time, length) and keep the first of each (u, v)
    order = np.lexsort((l_a[eidx], t_a[eidx], v_k, u_k))
    u_s, v_s = u_k[order], v_k[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (u_s[1:] != u_s[:-1]) | (v_s[1:] != v_s[:-1])
    chosen = eidx[order[first]]
    u_f, v_f = u_s[first], v_s[first]
    m = int(keep.sum())
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(u_f, minlength=m), out=indptr[1:])
    pieces = [geoms[e] if geoms[e] is not None else np.empty((0, 2)) for e in chosen]
    counts = np.array([len(p) for p in pieces], dtype=np.int64)
    geom_ptr = np.zeros(len(chosen) + 1, dtype=np.int64)
    np.cumsum(counts, out=geom_ptr[1:])
    geom = np.concatenate(pieces) if pieces else np.empty((0, 2))
    names = tuple(sorted(classes, key=classes.__getitem__))
    return RoadGraph(
        mode=mode,
        node_id=np.array([int(nodes[i]) for i in np.flatnonzero(keep)], dtype=np.int64),
        lat=lat[keep],
        lon=lon[keep],
        indptr=indptr,
        indices=v_f.astype(np.int32),
        time_s=t_a[chosen],
        length_m=l_a[chosen],
        edge_class=np.array([cls_ids[e] for e in chosen], dtype=np.int16),
        classes=names,
        geom_ptr=geom_ptr,
        geom_lonlat=geom.reshape(-1, 2),
        dropped_nodes=int(n - m),
    )


def fetch_place_graphml(place: str, target: Path) -> Path:
    """Download all streets of a place from OpenStreetMap (needs internet) into GraphML.

    Parameters
    ----------
    place
        A geocodable place name, e.g. ``"Gwanak-gu, Seoul, South Korea"``.
    target
        Where to write the unsimplified GraphML (both modes are derived from it).

    Returns
    -------
    pathlib.Path
        ``target``.

    Raises
    ------
    NetworkError
        With one readable line when offline, when the place is unknown, or on any
        download failure.
    """
    import requests

    extra = ["foot", "motor_vehicle", "motorcar", "vehicle", "motorroad"]
    saved = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = saved + [t for t in extra if t not in saved]
    try:
        G = ox.graph_from_place(place, network_type="all", simplify=False, retain_all=True)
    except requests.ConnectionError as exc:
        host = getattr(getattr(exc.request, "url", None), "split", lambda _: [""])("/")
        where = host[2] if len(host) > 2 else "OpenStreetMap"
        raise NetworkError(
            f"cannot download {place!r}: no internet connection (could not reach {where}); "
            "import a local .osm/.osm.pbf file with `network import` instead"
        ) from exc
    except (requests.RequestException, ValueError, TypeError, KeyError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise NetworkError(f"cannot download {place!r} from OpenStreetMap: {msg}") from exc
    finally:
        ox.settings.useful_tags_way = saved
    target.parent.mkdir(parents=True, exist_ok=True)
    ox.save_graphml(G, target)
    return target


# --------------------------------------------------------------------------- shortest paths


def _haversine_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> Any:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(lon2) - np.radians(lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


@dataclass(frozen=True, slots=True, kw_only=True)
class _Router:
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
    def of(cls, graph: RoadGraph, *, packed: bool = True) -> _Router:
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

    def rows(
        self, sources: np.ndarray, targets: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
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
        times, pred = dijkstra(
            self.time_csr, directed=True, indices=sources, return_predecessors=True
        )
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


# --------------------------------------------------------------------------- provider


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
        if _suffix(path) not in SUPPORTED_SUFFIXES:
            raise NetworkError(
                f"{path.name}: unsupported network file; expected {', '.join(SUPPORTED_SUFFIXES)}"
            )
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
            return _road_graph(_raw_graph(self.path, mode, self.cache), mode, self.config)
        except NetworkError as exc:
            if str(exc).startswith(self.path.name):
                raise
            raise NetworkError(f"{self.path.name}: {exc}") from exc

    def _router(self, mode: str) -> _Router:
        memo_key = f"router:{mode}"
        if memo_key not in self._memo:
            self._memo[memo_key] = _Router.of(self.graph(mode))
        router: _Router = self._memo[memo_key]
        return router

    def _tree(self, mode: str) -> BallTree:
        memo_key = f"tree:{mode}"
        if memo_key not in self._memo:
            g = self.graph(mode)
            self._memo[memo_key] = BallTree(
                np.radians(np.column_stack([g.lat, g.lon])), metric="haversine"
            )
        tree: BallTree = self._memo[memo_key]
        return tree

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
        pts = np.radians(np.array([[p.lat, p.lon] for p in locations], dtype=float))
        dist, idx = self._tree(mode).query(pts, k=1)
        return idx[:, 0].astype(np.int64), dist[:, 0] * EARTH_RADIUS_M

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
            reasons = {
                int(i): str(t) for i, t in zip(hit["reason_index"], hit["reason_text"], strict=True)
            }
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
        n = len(locations)
        duration = np.full((n, n), UNREACHABLE, dtype=np.int64)
        distance = np.full((n, n), UNREACHABLE, dtype=np.int64)
        np.fill_diagonal(duration, 0)
        np.fill_diagonal(distance, 0)
        if n == 0:
            return duration, distance, {}
        node, snap_m = self.snap(locations, mode=mode)
        ok = snap_m <= self.config.max_snap_m
        reasons = {int(i): self._reason(float(snap_m[i]), mode) for i in np.flatnonzero(~ok)}
        loc = np.flatnonzero(ok)
        if loc.size == 0:
            return duration, distance, reasons
        walk_ms = self.config.walk_kph / 3.6
        uniq, inv = np.unique(node[loc], return_inverse=True)
        inv = inv.reshape(-1)
        leg_m = snap_m[loc]
        leg_s = leg_m / walk_ms
        lat, lon = coords[loc, 0], coords[loc, 1]
        order = np.argsort(inv, kind="stable")
        starts = np.searchsorted(inv[order], np.arange(len(uniq) + 1))
        router = self._router(mode)
        everyone = loc.size == n  # then loc is arange(n): plain row assignment
        chunk = max(1, min(self.config.chunk, int(64e6 // max(1, graph.n_nodes * 40))))
        for a in range(0, len(uniq), chunk):
            b = min(a + chunk, len(uniq))
            t_u, d_u = router.rows(uniq[a:b], uniq)
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
                    direct = _haversine_m(lat[rows][ri], lon[rows][ri], lat[cj], lon[cj])
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
        return duration, distance, reasons

    # -- geometry -----------------------------------------------------------------------

    def _leg(self, a: Location, b: Location, mode: str) -> tuple[list[list[float]], float, float]:
        """Street-following coordinates, seconds and metres of one leg (unrounded)."""
        graph = self.graph(mode)
        (na, nb), (ma, mb) = self.snap([a, b], mode=mode)
        limit = self.config.max_snap_m
        for where, metres in ((a, ma), (b, mb)):
            if metres > limit:
                raise UnreachableLegError(
                    f"({where.lat:.6f}, {where.lon:.6f}) is {self._reason(float(metres), mode)}"
                )
        walk_ms = self.config.walk_kph / 3.6
        start, end = [round(a.lon, 7), round(a.lat, 7)], [round(b.lon, 7), round(b.lat, 7)]
        if na == nb:
            direct = float(_haversine_m(*(np.array(v) for v in (a.lat, a.lon, b.lat, b.lon))))
            return [start, end], direct / walk_ms, direct
        router = self._router(mode)
        path = router.path(int(na), int(nb))
        keys = router.keys
        coords = [start]
        seconds, metres = float(ma + mb) / walk_ms, float(ma + mb)

        def point(i: int) -> list[float]:
            return [round(float(graph.lon[i]), 7), round(float(graph.lat[i]), 7)]

        coords.append(point(path[0]))
        for u, v in itertools.pairwise(path):
            e = int(np.searchsorted(keys, u * graph.n_nodes + v))
            seconds += float(graph.time_s[e])
            metres += float(graph.length_m[e])
            interior = graph.geom_lonlat[graph.geom_ptr[e] : graph.geom_ptr[e + 1]]
            coords.extend([round(float(x), 7), round(float(y), 7)] for x, y in interior)
            coords.append(point(v))
        coords.append(end)
        dedup = [c for i, c in enumerate(coords) if i == 0 or c != coords[i - 1]]
        return dedup, seconds, metres

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
