"""Road-network travel times on real Seoul OSM extracts in ../shared (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from planner.domain import Location
from planner.travel.base import UNREACHABLE
from planner.travel.osm import OsmProvider

SHARED = Path(__file__).parents[1].parent / "shared"
SEOUL = SHARED / "osm" / "seoul"

pytestmark = [
    pytest.mark.shared,
    pytest.mark.skipif(
        not (SEOUL / "cauH.osm").is_file(),
        reason=f"real OSM extracts not found at {SEOUL} (../shared is optional; CI provides it)",
    ),
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("osm-cache")


def _random_points(provider: OsmProvider, n: int, *, seed: int) -> list[Location]:
    """``n`` random points inside the bounding box of the drive network's kept nodes."""
    s, w, north, e = provider.graph("drive").bbox
    rng = np.random.default_rng(seed)
    lats, lons = rng.uniform(s, north, n), rng.uniform(w, e, n)
    return [Location(lat=float(a), lon=float(b)) for a, b in zip(lats, lons, strict=True)]


@pytest.mark.parametrize("name", ["cauH.drive.osm", "cauH.osm"])
def test_real_extract_loads_and_keeps_the_strong_component(name: str, cache_dir: Path) -> None:
    provider = OsmProvider(path=SEOUL / name, cache_dir=cache_dir)
    g = provider.graph("drive")
    assert 100 <= g.n_nodes <= 400 and g.dropped_nodes > 0
    s, w, north, e = g.bbox
    assert 37.48 < s < north < 37.52 and 126.94 < w < e < 126.97  # Dongjak/Gwanak edge
    walk = provider.graph("walk")
    assert walk.n_nodes >= 100


@pytest.mark.parametrize("name", ["cauH.drive.osm", "cauH.osm"])
def test_real_matrix_is_asymmetric_finite_and_plausible(name: str, cache_dir: Path) -> None:
    provider = OsmProvider(path=SEOUL / name, cache_dir=cache_dir)
    points = _random_points(provider, 50, seed=7)
    m = provider.matrix(points, mode="drive")
    d = m.duration_s
    off = ~np.eye(len(points), dtype=bool)
    finite = (d < UNREACHABLE) & off
    assert finite.sum() >= 0.6 * off.sum()  # the corridor extract leaves some points far off
    for i in m.unreachable_reason:
        assert (d[i, off[i]] == UNREACHABLE).all()
    both = finite & finite.T
    asym = (d != d.T) & both
    assert asym.sum() >= 0.1 * both.sum()  # one-way streets (about 20 % here)
    assert d[finite].max() < 3600 and np.median(d[finite]) > 30
    km = m.distance_m[finite] / 1000
    assert km.max() < 15
    # the time-shortest path is never shorter than the straight line, and speed is sane
    kph = km / (d[finite] / 3600)
    assert kph.max() <= 80


def test_walk_is_symmetric_on_real_streets(cache_dir: Path) -> None:
    provider = OsmProvider(path=SEOUL / "cauH.osm", cache_dir=cache_dir)
    points = _random_points(provider, 30, seed=3)
    m = provider.matrix(points, mode="walk")
    finite = m.duration_s < UNREACHABLE
    # walking ignores one-way: equal up to rounding of the two directions
    assert np.abs(m.duration_s - m.duration_s.T)[finite & finite.T].max() <= 1


def test_packed_weights_match_the_predecessor_tree_on_real_streets(cache_dir: Path) -> None:
    from planner.travel.osm.router import Router

    g = OsmProvider(path=SEOUL / "cauH.osm", cache_dir=cache_dir).graph("drive")
    fast, tree = Router.of(g), Router.of(g, packed=False)
    assert fast.packed_csr is not None
    sources = np.arange(g.n_nodes)
    (t1, d1), (t2, d2) = fast.rows(sources), tree.rows(sources)
    assert np.abs(t1 - t2).max() < 0.05  # edge times rounded to whole milliseconds
    # equal times, but ties may pick another path: compare where the path is unique enough
    assert np.median(np.abs(d1 - d2)) < 0.05


@pytest.mark.parametrize("path", [SEOUL / "cauH.osm", SEOUL / "asanH.osm", SHARED / "osm" / "baltimore" / "baltimore.drive.osm"])
def test_kd_tree_snapping_matches_haversine_and_the_former_balltree(path: Path, cache_dir: Path) -> None:
    from planner.travel.osm.router import haversine_m

    if not path.is_file():
        pytest.skip(f"{path} not found")
    provider = OsmProvider(path=path, cache_dir=cache_dir)
    points = _random_points(provider, 400, seed=13)
    lat, lon = np.array([p.lat for p in points]), np.array([p.lon for p in points])
    for mode in ("drive", "walk"):
        g = provider.graph(mode)
        node, metres = provider.snap(points, mode=mode)
        every = haversine_m(lat[:, None], lon[:, None], g.lat[None, :], g.lon[None, :])
        assert np.abs(metres - every.min(axis=1)).max() < 1e-6
        assert np.array_equal(node, every.argmin(axis=1))  # real coordinates: no exact ties
        try:
            from sklearn.neighbors import BallTree
        except ImportError:  # scikit-learn (the former snapper) is no longer a dependency
            continue
        dist, idx = BallTree(np.radians(np.column_stack([g.lat, g.lon])), metric="haversine").query(
            np.radians(np.column_stack([lat, lon])), k=1
        )
        assert np.array_equal(node, idx[:, 0])
        assert np.abs(metres - dist[:, 0] * 6_371_009.0).max() < 1e-6
