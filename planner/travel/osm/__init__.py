"""Road-network travel times and street geometry from OpenStreetMap (the only osmnx importer), by stage."""

from .errors import NetworkError as NetworkError
from .errors import UnreachableLegError as UnreachableLegError
from .graph import RoadGraph as RoadGraph
from .provider import OsmProvider as OsmProvider
from .reading import SUPPORTED_SUFFIXES as SUPPORTED_SUFFIXES
from .reading import fetch_place_graphml as fetch_place_graphml
from .tags import DEFAULT_DRIVE_SPEEDS_KPH as DEFAULT_DRIVE_SPEEDS_KPH
from .tags import MODES as MODES
from .tags import NetworkConfig as NetworkConfig

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
