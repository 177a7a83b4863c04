"""The great-circle provider: blocks of rows, the mirrored lower triangle and the shared distance array give the
same numbers as the haversine formula on the whole matrix at once."""

from __future__ import annotations

import numpy as np

from planner import HaversineProvider, Location
from planner.travel import haversine


def _formula(locs: list[Location], speed_kph: float, detour: float = 1.35) -> tuple[np.ndarray, np.ndarray]:
    lat = np.radians([p.lat for p in locs])
    lon = np.radians([p.lon for p in locs])
    a = (np.sin((lat[:, None] - lat[None, :]) / 2) ** 2
         + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin((lon[:, None] - lon[None, :]) / 2) ** 2)
    metres = 2 * haversine.EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))) * detour
    return np.rint(metres / (speed_kph / 3.6)).astype(np.int64), np.rint(metres).astype(np.int64)


def test_matrices_in_blocks_equal_the_formula_on_the_whole_matrix(monkeypatch) -> None:
    monkeypatch.setattr(haversine, "_BLOCK_ROWS", 7)  # several blocks and a ragged last one
    rng = np.random.default_rng(5)
    locs = [Location(lat=37.45 + 0.05 * float(rng.random()), lon=126.9 + 0.09 * float(rng.random()))
            for _ in range(40)]
    locs.append(locs[3])  # a repeated place
    provider = HaversineProvider()
    both = provider.matrices(locs, modes=("walk", "drive"))
    for mode in ("walk", "drive"):
        duration, distance = _formula(locs, provider.speeds_kph[mode])
        assert np.array_equal(both[mode].duration_s, duration)
        assert np.array_equal(both[mode].distance_m, distance)
        assert np.array_equal(provider.matrix(locs, mode=mode).duration_s, duration)
        assert both[mode].duration_s[3, 40] == 0 and both[mode].size == 41
    assert both["walk"].distance_m is both["drive"].distance_m  # one array for every mode
