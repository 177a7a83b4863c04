"""Travel times a user brings (from a commercial routing service, Valhalla or OSRM run elsewhere), as a provider."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..domain import Location, TravelTable
from .base import TravelMatrix

__all__ = ["MatrixProvider"]


@dataclass(frozen=True, slots=True)
class MatrixProvider:
    """Answers from a :class:`~planner.domain.TravelTable`: the rows and columns of the places asked for.

    Places are matched by their exact coordinates; a place the table lacks is a ``ValueError``
    that names no coordinates (the problem's parser already checks every place a route may touch).
    """

    table: TravelTable

    def matrix(self, locations: Sequence[Location], *, mode: str) -> TravelMatrix:
        if mode not in self.table.duration_s:
            raise ValueError(f"travel_matrix: has no {mode} matrix")
        rows = []
        for k, place in enumerate(locations):
            i = self.table.index_of(place)
            if i is None:
                raise ValueError(f"travel_matrix: place {k} of {len(locations)} asked for is not among its locations")
            rows.append(i)
        idx = np.array(rows, dtype=np.int64)
        durations = self.table.duration_s[mode][np.ix_(idx, idx)]
        distances = self.table.distance_m.get(mode)
        return TravelMatrix(
            duration_s=durations,
            distance_m=np.zeros_like(durations) if distances is None else distances[np.ix_(idx, idx)],
            mode=mode,
            source=self.table.source,
        )

