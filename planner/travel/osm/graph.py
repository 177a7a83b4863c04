"""The road graph: an osmnx graph simplified, cut to its largest strongly connected component, as CSR arrays."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import networkx as nx
import numpy as np
import osmnx as ox
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from .errors import NetworkError
from .tags import NetworkConfig, add_travel_times, tag_values

__all__ = ["RoadGraph", "build_road_graph"]


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


def build_road_graph(G: nx.MultiDiGraph, mode: str, config: NetworkConfig) -> RoadGraph:
    """Return the :class:`RoadGraph` of an unsimplified osmnx graph of ``mode``.

    Edge travel times are set before ``ox.simplify_graph`` (which sums them along merged edges);
    self-loops are dropped, only the largest strongly connected component is kept, and of parallel
    edges the fastest (then shortest) one.  A merged edge's class is the alphabetically first of its
    classes, so graphs do not depend on string hashing.

    Raises
    ------
    NetworkError
        If the graph has no edges.
    """
    add_travel_times(G, mode, config)
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
        hw = min(tag_values(data.get("highway")), default="road")  # merged edges list classes in set order
        cls_ids.append(classes.setdefault(hw, len(classes)))
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
