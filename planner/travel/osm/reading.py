"""Reading OSM XML, PBF and GraphML into unsimplified osmnx graphs of one mode, with Overpass fix-ups."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from xml.sax.saxutils import quoteattr

import networkx as nx
import osmnx as ox

from ..cache import DiskCache
from .errors import NetworkError
from .tags import way_allowed

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Way",
    "fetch_place_graphml",
    "file_suffix",
    "iter_pbf_ways",
    "iter_xml_ways",
    "raw_graph",
    "write_mode_xml",
]

#: File kinds a network can be built from.
SUPPORTED_SUFFIXES = (".osm", ".xml", ".osm.pbf", ".pbf", ".graphml")

#: ``(way id, [(node id, lat, lon)], tags)``; a node without coordinates has NaN lat/lon.
Way = tuple[int, list[tuple[int, float, float]], dict[str, str]]


def iter_xml_ways(path: Path) -> Iterator[Way]:
    """Yield the highway ways of an OSM XML file with node coordinates; relations are ignored.

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


def iter_pbf_ways(path: Path) -> Iterator[Way]:
    """Yield the highway ways of an ``.osm.pbf`` file (read with pyosmium) with node coordinates."""
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


def write_mode_xml(ways: Iterator[Way], mode: str, target: Path) -> int:
    """Write the ``mode`` ways as clean OSM XML for ``ox.graph_from_xml``; return the count.

    Ways are split where a node has no coordinates; pieces get fresh negative ids so that
    osmnx (which keys ways by id) keeps them all.
    """
    nodes: dict[int, tuple[float, float]] = {}
    kept: list[tuple[int, list[int], dict[str, str]]] = []
    synthetic = -1
    for way_id, refs, tags in ways:
        if not way_allowed(tags, mode):
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
        fh.write('<?xml version="1.0" encoding="UTF-8"?>\n<osm version="0.6" generator="salpimi">\n')
        for ref, (lat, lon) in nodes.items():
            fh.write(f'<node id="{ref}" lat="{lat!r}" lon="{lon!r}"/>\n')
        for way_id, piece, tags in kept:
            fh.write(f'<way id="{way_id}">')
            fh.writelines(f'<nd ref="{ref}"/>' for ref in piece)
            fh.writelines(f"<tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items())
            fh.write("</way>\n")
        fh.write("</osm>\n")
    return len(kept)


def file_suffix(path: Path) -> str:
    """Return the longest supported suffix ``path`` ends with, else its last suffix (lower case)."""
    name = path.name.lower()
    for suffix in sorted(SUPPORTED_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def raw_graph(path: Path, mode: str, scratch: DiskCache) -> nx.MultiDiGraph:
    """Return the unsimplified osmnx graph of ``mode`` from an OSM XML, PBF or GraphML file.

    XML and PBF ways are filtered and rewritten as clean XML in ``scratch`` (deleted afterwards);
    GraphML edges of other modes are removed.
    """
    suffix = file_suffix(path)
    if suffix == ".graphml":
        try:
            G = ox.load_graphml(path)
        except Exception as exc:  # osmnx/networkx raise many types on bad GraphML
            raise NetworkError(f"{path.name}: cannot read GraphML ({exc})") from exc
        drop = [(u, v, k) for u, v, k, d in G.edges(keys=True, data=True) if not way_allowed(d, mode)]
        G.remove_edges_from(drop)
        G.remove_nodes_from([n for n in list(G.nodes) if G.degree(n) == 0])
        if mode == "walk":
            _add_missing_reverse_edges(G)
        return G
    ways = iter_pbf_ways(path) if suffix in (".osm.pbf", ".pbf") else iter_xml_ways(path)
    xml = scratch.scratch_file(suffix=".osm")
    try:
        if write_mode_xml(ways, mode, xml) == 0:
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
