"""Travel-time plug point: the provider protocol and the integer matrix it returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from ..domain import Location

__all__ = ["UNREACHABLE", "Mode", "TravelMatrix", "TravelTimeProvider"]

Mode = Literal["walk", "drive"]
#: Seconds (and metres) used for a pair with no path. Large, but safe to add in int64.
UNREACHABLE = 1 << 30


@dataclass(frozen=True, slots=True, kw_only=True)
class TravelMatrix:
    """Directed travel times (s) and distances (m) between locations, as int64 arrays.

    ``duration_s[i, j]`` is the time from location ``i`` to ``j``; never symmetrised.
    Pairs without a path hold :data:`UNREACHABLE`.  ``unreachable_reason[i]`` optionally
    explains why location ``i`` cannot be reached at all (for example "312 m from the
    nearest road").
    """

    duration_s: np.ndarray
    distance_m: np.ndarray
    mode: str = "walk"
    source: str = "unknown"
    unreachable_reason: dict[int, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        d, m = self.duration_s, self.distance_m
        if d.ndim != 2 or d.shape[0] != d.shape[1]:
            raise ValueError(f"duration_s: expected a square matrix, got shape {d.shape}")
        if m.shape != d.shape:
            raise ValueError(f"distance_m: shape {m.shape} differs from duration_s {d.shape}")
        if d.size and int(d.min()) < 0:
            raise ValueError("duration_s: negative travel time")

    @property
    def size(self) -> int:
        return int(self.duration_s.shape[0])

    def reachable(self, i: int, j: int) -> bool:
        return bool(self.duration_s[i, j] < UNREACHABLE)


@runtime_checkable
class TravelTimeProvider(Protocol):
    """Anything that can produce a travel matrix for locations and a travel mode."""

    def matrix(self, locations: Sequence[Location], *, mode: str) -> TravelMatrix:
        """Return the directed matrix between ``locations`` for ``mode``."""
        ...
