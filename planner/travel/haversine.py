"""Great-circle travel estimates with a detour factor and per-mode speeds (no road network)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..domain import Location
from .base import TravelMatrix

__all__ = ["DEFAULT_SPEEDS_KPH", "HaversineProvider"]

EARTH_RADIUS_M = 6_371_008.8
#: Door-to-door average speeds (assumptions): walking on Gwanak's hills; urban driving
#: including parking under Seoul's 50/30 km/h policy.
DEFAULT_SPEEDS_KPH: Mapping[str, float] = {"walk": 4.0, "drive": 22.0}


@dataclass(frozen=True, slots=True, kw_only=True)
class HaversineProvider:
    """Straight-line distance times ``detour`` at a per-mode speed; symmetric by nature."""

    detour: float = 1.35
    speeds_kph: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SPEEDS_KPH))

    def matrix(self, locations: Sequence[Location], *, mode: str) -> TravelMatrix:
        if mode not in self.speeds_kph:
            raise ValueError(f"mode: {mode!r} is not one of {', '.join(self.speeds_kph)}")
        lat = np.radians(np.array([p.lat for p in locations], dtype=float))
        lon = np.radians(np.array([p.lon for p in locations], dtype=float))
        dlat = lat[:, None] - lat[None, :]
        dlon = lon[:, None] - lon[None, :]
        a = np.sin(dlat / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlon / 2) ** 2
        metres = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))) * self.detour
        speed_ms = self.speeds_kph[mode] / 3.6
        return TravelMatrix(
            duration_s=np.rint(metres / speed_ms).astype(np.int64),
            distance_m=np.rint(metres).astype(np.int64),
            mode=mode,
            source=f"haversine x{self.detour:g}",
        )
