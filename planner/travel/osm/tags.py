"""OSM tags to travel: which ways each mode may use, and the speed and travel time of every edge."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import networkx as nx

__all__ = [
    "DEFAULT_DRIVE_SPEEDS_KPH",
    "MODES",
    "NetworkConfig",
    "add_travel_times",
    "edge_kph",
    "parse_maxspeed",
    "tag_values",
    "way_allowed",
]

#: Travel modes a road network is built for.
MODES = ("drive", "walk")
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
_KM_PER_MILE = 1.609344


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

    drive_speeds_kph: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_DRIVE_SPEEDS_KPH))
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


def tag_values(raw: object) -> list[str]:
    """Return tag value(s) as a list of strings (osmnx merges values into lists when simplifying)."""
    if raw is None:
        return []
    if isinstance(raw, list | tuple | set):
        return [str(v) for v in raw]
    return [str(raw)]


def _tag(tags: Mapping[str, Any], key: str) -> set[str]:
    return {v.strip().lower() for raw in tag_values(tags.get(key)) for v in raw.split(";")}


def way_allowed(tags: Mapping[str, Any], mode: str) -> bool:
    """Return whether a way (or an osmnx edge, whose attributes are tags) belongs to ``mode``."""
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


def parse_maxspeed(raw: object) -> float | None:
    """Return the mean of the parseable ``maxspeed`` values in km/h (mph converted), or ``None``.

    Values are split on ``;``; each must be a number with an optional unit and lie in (0, 200] km/h.
    """
    speeds = []
    for value in tag_values(raw):
        for part in value.split(";"):
            m = _MAXSPEED.fullmatch(part.strip().lower())
            if m:
                kph = float(m[1]) * (_KM_PER_MILE if m[2] == "mph" else 1.0)
                if 0 < kph <= 200:
                    speeds.append(kph)
    return sum(speeds) / len(speeds) if speeds else None


def edge_kph(data: Mapping[str, Any], mode: str, config: NetworkConfig) -> float:
    """Return the free-flow speed (km/h) of an osmnx edge for ``mode``."""
    if mode == "walk":
        return float(config.walk_kph)
    if config.honour_maxspeed:
        tagged = parse_maxspeed(data.get("maxspeed"))
        if tagged is not None:
            return tagged
    classes = tag_values(data.get("highway"))
    speeds = [config.drive_speeds_kph.get(c, config.drive_default_kph) for c in classes]
    return sum(speeds) / len(speeds) if speeds else float(config.drive_default_kph)


def add_travel_times(G: nx.MultiDiGraph, mode: str, config: NetworkConfig) -> None:
    """Set ``travel_time`` (seconds) on every edge of an unsimplified osmnx graph, in place.

    osmnx's ``add_edge_speeds`` is not used: it would convert mph with 1.60934, skip ``;``-separated values,
    accept ``maxspeed=0`` and impute classes missing from the table from other edges' tags.
    """
    for _, _, data in G.edges(data=True):
        data["travel_time"] = float(data.get("length", 0.0)) / (edge_kph(data, mode, config) / 3.6)
