"""The network registry as a library (no argparse): import, list, locate, describe and remove."""

from __future__ import annotations

from pathlib import Path

import pytest
from daysupport import REPO

from planner.travel.networks import (
    NetworkRegistryError,
    UnknownNetworkError,
    check_name,
    default_name,
    import_network,
    known_networks,
    network_meta,
    networks_dir,
    provider_for,
    remove_network,
)

TINY_OSM = REPO / "fixtures" / "osm" / "tiny.osm"


def test_registry_round_trip_in_an_explicit_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SALPIMI_CACHE_DIR", str(tmp_path / "cache"))
    data = tmp_path / "data"
    meta = import_network(TINY_OSM, "tiny", data_dir=data)
    assert meta["modes"]["drive"]["available"] and meta["origin"] == str(TINY_OSM.resolve())
    assert known_networks(data_dir=data) == ["tiny"]
    assert network_meta("tiny", data_dir=data)["sha256"] == meta["sha256"]
    provider = provider_for("tiny", data_dir=data)
    assert provider.path.parent == networks_dir(data) / "tiny" and provider.name == "tiny"
    with pytest.raises(NetworkRegistryError, match="already exists"):
        import_network(TINY_OSM, "tiny", data_dir=data)
    import_network(TINY_OSM, "tiny", force=True, data_dir=data)
    remove_network("tiny", data_dir=data)
    assert known_networks(data_dir=data) == [] and sorted(networks_dir(data).iterdir()) == []
    with pytest.raises(UnknownNetworkError, match="none yet"):
        provider_for("tiny", data_dir=data)


def test_names_are_safe_identifiers() -> None:
    assert check_name("gwanak-2026_v1") == "gwanak-2026_v1"
    for bad in ("", "..", ".hidden", "a/b", "gwanak gu", "관악", "x" * 65):
        with pytest.raises(NetworkRegistryError, match="network name"):
            check_name(bad)
    assert default_name("Gwanak-gu, Seoul") == "gwanak-gu-seoul"
    assert default_name("관악구") == "network"
    assert check_name(default_name("  ..Songpa.. ")) == "songpa"


def test_import_refuses_other_files_without_touching_the_registry(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello", encoding="utf-8")
    with pytest.raises(NetworkRegistryError, match=r"expected an \.osm"):
        import_network(notes, "notes", data_dir=tmp_path)
    with pytest.raises(NetworkRegistryError, match="no such file"):
        import_network(tmp_path / "missing.osm", "missing", data_dir=tmp_path)
    assert known_networks(data_dir=tmp_path) == []
