"""Road-network travel times on the hand-written fixtures/osm/tiny.osm (no network access)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from planner.domain import Location
from planner.travel.base import UNREACHABLE, TravelTimeProvider
from planner.travel.netcli import cmd_fetch, register
from planner.travel.networks import UnknownNetworkError, provider_for
from planner.travel.osm import (
    DEFAULT_DRIVE_SPEEDS_KPH,
    NetworkConfig,
    NetworkError,
    OsmProvider,
    UnreachableLegError,
    reading,
)
from planner.travel.osm import provider as provider_module
from planner.travel.osm.router import Router, Snapper, haversine_m
from planner.travel.osm.tags import parse_maxspeed

TINY = Path(__file__).parents[1] / "fixtures" / "osm" / "tiny.osm"

# Node coordinates of tiny.osm (see fixtures/osm/README.md for the map).
NODE = {
    1: (37.4797986, 126.9500000),
    2: (37.4797986, 126.9511332),
    3: (37.4797986, 126.9522664),
    5: (37.4788993, 126.9500000),
    6: (37.4788993, 126.9511332),
    7: (37.4788993, 126.9522664),
    8: (37.4788993, 126.9533996),
    10: (37.4780000, 126.9511332),
    11: (37.4780000, 126.9522664),
    13: (37.4771007, 126.9511332),
    31: (37.4788993, 126.9579324),
}
FAR = Location(lat=37.4699063, lon=126.9516998)  # ~800 m south of every street


def at(node: int) -> Location:
    lat, lon = NODE[node]
    return Location(lat=lat, lon=lon)


@pytest.fixture
def provider(tmp_path: Path) -> OsmProvider:
    return OsmProvider(path=TINY, cache_dir=tmp_path / "cache")


def test_raw_overpass_xml_breaks_osmnx_but_loads_here(provider: OsmProvider) -> None:
    ox = pytest.importorskip("osmnx")
    with pytest.raises(KeyError, match="nodes"):
        ox.graph_from_xml(TINY)
    assert provider.graph("drive").n_nodes > 0


def test_provider_satisfies_the_protocol(provider: OsmProvider) -> None:
    assert isinstance(provider, TravelTimeProvider)


def test_speeds_follow_highway_class_and_maxspeed(provider: OsmProvider) -> None:
    g = provider.graph("drive")
    t, m, cls = g.edge(2, 6)  # 100 m residential at 30 km/h
    assert (round(t), round(m), cls) == (12, 100, "residential")
    t, m, cls = g.edge(2, 3)  # 100 m secondary at 50 km/h = 7.2 s
    assert cls == "secondary" and t == pytest.approx(7.2, abs=0.01)
    t, _, _ = g.edge(10, 11)  # residential tagged maxspeed=20: the tag wins
    assert round(t) == 18


def test_speed_table_is_configurable(tmp_path: Path) -> None:
    speeds = dict(DEFAULT_DRIVE_SPEEDS_KPH, residential=60.0)
    cfg = NetworkConfig(drive_speeds_kph=speeds, honour_maxspeed=False)
    g = OsmProvider(path=TINY, cache_dir=tmp_path, config=cfg).graph("drive")
    assert round(g.edge(2, 6)[0]) == 6
    assert round(g.edge(10, 11)[0]) == 6  # maxspeed ignored on request


def test_maxspeed_tags_parse_as_before_not_as_osmnx() -> None:
    # osmnx's add_edge_speeds differs on each of these (1.60934 km/mi, drops "50;30", keeps 0 and 250)
    assert parse_maxspeed("30 mph") == pytest.approx(48.28032, abs=1e-9)
    assert parse_maxspeed("50;30") == 40.0 and parse_maxspeed(["50", "30 km/h"]) == 40.0
    assert parse_maxspeed("0") is None and parse_maxspeed("250") is None
    assert parse_maxspeed("signals") is None and parse_maxspeed(None) is None


def test_one_way_streets_make_drive_times_asymmetric(provider: OsmProvider) -> None:
    m = provider.matrix([at(2), at(6)], mode="drive")
    assert m.duration_s[0, 1] == 12 and m.distance_m[0, 1] == 100  # down the one-way street
    # back up: round the block, 100 m residential + 100 m residential + 100 m secondary
    assert m.duration_s[1, 0] == 31 and m.distance_m[1, 0] == 300
    assert m.source.startswith("osm:tiny (drive")


def test_oneway_minus_one_is_travelled_against_the_drawing(provider: OsmProvider) -> None:
    # way 108 is drawn 3 -> 7 -> 11 with oneway=-1, so only 11 -> 7 -> 3 is allowed
    m = provider.matrix([at(7), at(3)], mode="drive")
    assert m.duration_s[0, 1] == 12
    assert m.duration_s[1, 0] > 12


def test_walking_ignores_one_way(provider: OsmProvider) -> None:
    m = provider.matrix([at(2), at(6)], mode="walk")
    assert m.duration_s[0, 1] == m.duration_s[1, 0] == 90  # 100 m at 4 km/h
    assert m.distance_m[0, 1] == m.distance_m[1, 0] == 100


def test_modes_filter_highway_classes(provider: OsmProvider) -> None:
    drive, walk = provider.graph("drive"), provider.graph("walk")
    assert not {"footway", "steps"} & set(drive.classes)
    assert {"footway", "steps"} <= set(walk.classes)
    assert {"motorway", "motorway_link"} & set(drive.classes)
    assert not {"motorway", "motorway_link"} & set(walk.classes)
    assert 13 in walk.node_id and 13 not in drive.node_id  # footway dead end


def test_island_is_dropped_and_its_household_snaps_to_the_main_network(
    provider: OsmProvider,
) -> None:
    for mode in ("drive", "walk"):
        g = provider.graph(mode)
        assert 31 not in g.node_id and 32 not in g.node_id
        assert g.dropped_nodes == 2
        node, metres = provider.snap([at(31)], mode=mode)
        assert g.node_id[node[0]] == 8
        assert metres[0] == pytest.approx(400, abs=1)
    m = provider.matrix([at(31), at(8)], mode="drive")
    assert m.duration_s[0, 1] == 360  # 400 m at walking speed
    assert m.duration_s[1, 0] == 360


def test_snap_legs_walk_at_both_ends(provider: OsmProvider) -> None:
    # 13 is a footway end: by car it is 100 m (walked) from node 10
    m = provider.matrix([at(13), at(6)], mode="drive")
    # walk 100 m (90 s) to node 10, then 10 -> 6 has no direct way up the one-way street
    g = provider.graph("drive")
    assert 13 not in g.node_id
    assert m.duration_s[0, 1] > 90
    # the two end-to-end legs are reported in metres too
    assert m.distance_m[0, 1] >= 100 + 100


def test_far_household_is_unreachable_with_a_reason(provider: OsmProvider) -> None:
    locs = [at(2), FAR, at(6)]
    for mode, what in (("walk", "walkable street"), ("drive", "drivable road")):
        m = provider.matrix(locs, mode=mode)
        assert set(m.unreachable_reason) == {1}
        reason = m.unreachable_reason[1]
        assert what in reason and "(limit 500 m)" in reason
        assert int(reason.split(" m ")[0]) > 500
        assert (m.duration_s[1, [0, 2]] == UNREACHABLE).all()
        assert (m.duration_s[[0, 2], 1] == UNREACHABLE).all()
        assert m.duration_s[1, 1] == 0
        assert m.reachable(0, 2) and not m.reachable(0, 1)


def test_snap_limit_is_configurable(tmp_path: Path) -> None:
    cfg = NetworkConfig(max_snap_m=1000)
    m = OsmProvider(path=TINY, cache_dir=tmp_path, config=cfg).matrix([at(2), FAR], mode="walk")
    assert not m.unreachable_reason and m.reachable(0, 1)


def test_colocated_households_walk_straight_across(provider: OsmProvider) -> None:
    a = Location(lat=37.47895, lon=126.95115)
    b = Location(lat=37.47895, lon=126.95125)
    m = provider.matrix([a, b, a], mode="drive")
    assert m.duration_s[0, 2] == 0 and m.distance_m[0, 2] == 0
    assert 0 < m.distance_m[0, 1] < 20


def test_matrix_matches_networkx_dijkstra(provider: OsmProvider) -> None:
    g = provider.graph("drive")
    graph = nx.DiGraph()
    for u in range(g.n_nodes):
        for e in range(int(g.indptr[u]), int(g.indptr[u + 1])):
            graph.add_edge(u, int(g.indices[e]), t=float(g.time_s[e]), m=float(g.length_m[e]))
    locs = [Location(lat=float(la), lon=float(lo)) for la, lo in zip(g.lat, g.lon, strict=True)]
    mat = provider.matrix(locs, mode="drive")
    for s in range(g.n_nodes):
        times = nx.single_source_dijkstra_path_length(graph, s, weight="t")
        for v, t in times.items():
            assert mat.duration_s[s, v] == round(t)
    asym = (mat.duration_s != mat.duration_s.T).sum()
    assert asym > 0


def test_kd_tree_snapping_finds_the_haversine_nearest_node(provider: OsmProvider) -> None:
    rng = np.random.default_rng(5)
    for mode in ("drive", "walk"):
        g = provider.graph(mode)
        s, w, n, e = g.bbox
        lat = np.concatenate([rng.uniform(s - 0.01, n + 0.01, 400), g.lat])
        lon = np.concatenate([rng.uniform(w - 0.01, e + 0.01, 400), g.lon])
        node, metres = Snapper.of(g).nearest(lat, lon)
        every = haversine_m(lat[:, None], lon[:, None], g.lat[None, :], g.lon[None, :])
        best = every.min(axis=1)
        assert np.abs(metres - best).max() < 1e-6
        assert np.abs(every[np.arange(len(lat)), node] - best).max() < 1e-6  # ties may pick either node
        assert (node[400:] == np.arange(g.n_nodes)).all() and (metres[400:] < 1e-6).all()


def test_kd_tree_snapping_matches_the_former_balltree(provider: OsmProvider) -> None:
    neighbors = pytest.importorskip("sklearn.neighbors", reason="scikit-learn (the former snapper) not installed")
    rng = np.random.default_rng(9)
    g = provider.graph("walk")
    s, w, n, e = g.bbox
    pts = np.column_stack([rng.uniform(s - 0.01, n + 0.01, 400), rng.uniform(w - 0.01, e + 0.01, 400)])
    dist, idx = neighbors.BallTree(np.radians(np.column_stack([g.lat, g.lon])), metric="haversine").query(
        np.radians(pts), k=1
    )
    node, metres = provider.snap([Location(lat=a, lon=b) for a, b in pts], mode="walk")
    assert np.array_equal(node, idx[:, 0])
    assert np.abs(metres - dist[:, 0] * 6_371_009.0).max() < 1e-6


def test_packed_weights_and_predecessor_tree_agree(provider: OsmProvider) -> None:
    for mode in ("drive", "walk"):
        g = provider.graph(mode)
        fast, tree = Router.of(g), Router.of(g, packed=False)
        assert fast.packed_csr is not None and tree.packed_csr is None
        sources = np.arange(g.n_nodes)
        (t1, d1), (t2, d2) = fast.rows(sources), tree.rows(sources)
        assert np.allclose(t1, t2, atol=0.01) and np.allclose(d1, d2, atol=0.05)  # ms, cm rounding
        assert np.array_equal(fast.rows(sources[:3], sources[::2])[0], t1[:3, ::2])


def test_graphs_and_matrices_are_cached_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"build": 0, "matrix": 0}
    build, compute = provider_module.build_road_graph, OsmProvider._compute_matrix

    def counting_build(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["build"] += 1
        return build(*args, **kwargs)

    def counting_compute(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["matrix"] += 1
        return compute(self, *args, **kwargs)

    monkeypatch.setattr(provider_module, "build_road_graph", counting_build)
    monkeypatch.setattr(OsmProvider, "_compute_matrix", counting_compute)
    locs = [at(2), at(6), FAR]
    first = OsmProvider(path=TINY, cache_dir=tmp_path).matrix(locs, mode="drive")
    assert calls == {"build": 1, "matrix": 1}
    again = OsmProvider(path=TINY, cache_dir=tmp_path)  # fresh instance, same disk cache
    second = again.matrix(locs, mode="drive")
    assert calls == {"build": 1, "matrix": 1}
    assert np.array_equal(first.duration_s, second.duration_s)
    assert second.unreachable_reason == first.unreachable_reason
    again.matrix([at(6), at(2)], mode="drive")  # new locations: graph cached, matrix not
    assert calls == {"build": 1, "matrix": 2}
    OsmProvider(path=TINY, cache_dir=tmp_path).graph("walk")  # another mode: another graph
    assert calls["build"] == 2
    slow = NetworkConfig(walk_kph=3.0)  # other speed settings: another graph
    OsmProvider(path=TINY, cache_dir=tmp_path, config=slow).graph("walk")
    OsmProvider(path=TINY, cache_dir=tmp_path, config=slow).graph("walk")
    assert calls["build"] == 3


def test_cache_dir_defaults_to_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALPIMI_CACHE_DIR", str(tmp_path / "envcache"))
    OsmProvider(path=TINY).graph("walk")
    assert list((tmp_path / "envcache").glob("graph-*.npz"))


def test_leg_geometry_follows_the_streets(provider: OsmProvider) -> None:
    a = Location(lat=37.47985, lon=126.95113)  # a few metres north of node 2
    line = provider.leg_geometry(a, at(6), mode="drive")
    assert line["type"] == "LineString"
    coords = line["coordinates"]
    assert coords[0] == [126.95113, 37.47985]
    assert [126.9511332, 37.4797986] in coords  # node 2 (snapped)
    assert coords[-1] == [126.9511332, 37.4788993]
    back = provider.leg_geometry(at(6), at(2), mode="drive")["coordinates"]
    assert len(back) > 2  # goes round the block, through the interior of the streets
    assert [126.95, 37.4797986] in back or [126.9522664, 37.4797986] in back


def test_route_geojson_has_one_feature_per_leg(provider: OsmProvider) -> None:
    fc = provider.route_geojson([at(2), at(6), FAR, at(2)], mode="walk")
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == 3
    first, second, _ = fc["features"]
    assert first["properties"]["duration_s"] == 90
    assert first["geometry"]["type"] == "LineString"
    assert second["geometry"] is None
    assert "walkable street" in second["properties"]["unreachable_reason"]
    json.dumps(fc)
    with pytest.raises(UnreachableLegError):
        provider.leg_geometry(at(2), FAR, mode="walk")


def test_bad_mode_and_bad_files_raise_value_errors(provider: OsmProvider, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mode"):
        provider.matrix([at(2)], mode="fly")
    with pytest.raises(NetworkError, match="no such network file"):
        OsmProvider(path=tmp_path / "missing.osm")
    bad = tmp_path / "bad.osm"
    bad.write_text("<osm><node id='1' lat='x'", encoding="utf-8")
    with pytest.raises(NetworkError, match=r"bad\.osm"):
        OsmProvider(path=bad, cache_dir=tmp_path).graph("drive")
    empty = tmp_path / "empty.osm"
    empty.write_text("<osm version='0.6'></osm>", encoding="utf-8")
    with pytest.raises(NetworkError, match="no drive roads"):
        OsmProvider(path=empty, cache_dir=tmp_path).graph("drive")


def test_empty_and_single_location_matrices(provider: OsmProvider) -> None:
    assert provider.matrix([], mode="walk").size == 0
    one = provider.matrix([at(5)], mode="walk")
    assert one.duration_s.tolist() == [[0]]


def test_pbf_and_graphml_sources_agree_with_xml(tmp_path: Path) -> None:
    osmium = pytest.importorskip("osmium")
    ox = pytest.importorskip("osmnx")
    xml = OsmProvider(path=TINY, cache_dir=tmp_path)
    # PBF: convert the cleaned XML (osmium cannot parse Overpass geometry) and read it back
    clean = tmp_path / "clean.osm"
    reading.write_mode_xml(reading.iter_xml_ways(TINY), "walk", clean)
    pbf = tmp_path / "tiny.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(clean)):
            writer.add(obj)
    walk_pbf = OsmProvider(path=pbf, cache_dir=tmp_path).graph("walk")
    assert sorted(walk_pbf.node_id) == sorted(xml.graph("walk").node_id)
    # GraphML: an unsimplified, drive-only osmnx graph saved to disk
    drive_xml = tmp_path / "drive.osm"
    reading.write_mode_xml(reading.iter_xml_ways(TINY), "drive", drive_xml)
    graphml = tmp_path / "tiny.graphml"
    ox.save_graphml(ox.graph_from_xml(drive_xml, simplify=False, retain_all=True), graphml)
    from_graphml = OsmProvider(path=graphml, cache_dir=tmp_path)
    locs = [at(2), at(6), at(10)]
    assert np.array_equal(
        from_graphml.matrix(locs, mode="drive").duration_s,
        xml.matrix(locs, mode="drive").duration_s,
    )
    walk = from_graphml.matrix([at(2), at(6)], mode="walk")  # reverse edges added for walking
    assert walk.duration_s[0, 1] == walk.duration_s[1, 0] == 90


# --------------------------------------------------------------------------- network CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="salpimi")
    register(parser.add_subparsers(dest="command"))
    return parser


def _run(*argv: str) -> int:
    args = _parser().parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def data_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SALPIMI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SALPIMI_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def test_network_import_info_and_provider_for(
    data_dirs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("network", "import", str(TINY), "--name", "tiny") == 0
    assert "imported network 'tiny'" in capsys.readouterr().out
    assert _run("network", "info", "tiny") == 0
    out = capsys.readouterr().out
    assert "drive:" in out and "walk:" in out and "bytes" in out and "bbox lat" in out
    provider = provider_for("tiny")
    m = provider.matrix([at(2), at(6)], mode="drive")
    assert m.source.startswith("osm:tiny") and m.duration_s[0, 1] == 12
    assert _run("network", "list") == 0
    assert capsys.readouterr().out.split() == ["tiny"]
    assert _run("network", "import", str(TINY), "--name", "tiny") == 2
    assert "already exists" in capsys.readouterr().err


def test_unknown_network_lists_the_known_ones(
    data_dirs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _run("network", "import", str(TINY), "--name", "gwanak-test")
    capsys.readouterr()
    with pytest.raises(UnknownNetworkError, match="known networks: gwanak-test"):
        provider_for("seoul")
    assert _run("network", "info", "seoul") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gwanak-test" in err


def test_network_import_rejects_bad_input_in_one_line(
    data_dirs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run("network", "import", str(data_dirs / "nope.osm"), "--name", "x") == 2
    assert _run("network", "import", str(TINY), "--name", "bad name!") == 2
    text = data_dirs / "notes.txt"
    text.write_text("hello", encoding="utf-8")
    assert _run("network", "import", str(text), "--name", "notes") == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 3 and all(line.startswith("salpimi network: ") for line in err)


def test_network_fetch_offline_says_so_in_one_line(
    data_dirs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    requests = pytest.importorskip("requests")

    def offline(*args: object, **kwargs: object) -> None:
        raise requests.ConnectionError("Failed to resolve 'nominatim.openstreetmap.org'")

    monkeypatch.setattr(reading.ox, "graph_from_place", offline)
    args = _parser().parse_args(["network", "fetch", "Gwanak-gu, Seoul, South Korea"])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no internet connection" in err
    assert args.func is not cmd_fetch  # the guarded wrapper, never a traceback
