"""The registry of named road networks in ``<data dir>/networks``: import, fetch, list, locate and remove."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..timeline import SEOUL
from .cache import file_digest

if TYPE_CHECKING:
    from .osm import NetworkConfig, OsmProvider

__all__ = [
    "NetworkRegistryError",
    "UnknownNetworkError",
    "check_name",
    "default_name",
    "describe",
    "fetch_network",
    "fetch_place_graphml",
    "import_network",
    "known_networks",
    "network_meta",
    "networks_dir",
    "provider_for",
    "remove_network",
]

# A safe identifier: it names one folder directly inside the networks folder, never "." or "..",
# never a hidden staging folder, never a path.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", re.ASCII)
_META = "network.json"
# What the OSM stage needs beyond the planner's own dependencies: the ``osm`` extra.
_OSM_EXTRA = frozenset({"osmnx", "osmium", "scipy", "networkx", "requests"})


class NetworkRegistryError(ValueError):
    """A registry operation cannot proceed; the message is one line for the user."""


class UnknownNetworkError(NetworkRegistryError):
    """No imported network has the requested name."""


def _osm() -> ModuleType:
    """The OSM stage (``planner.travel.osm``), loaded on first use so the planner runs without osmnx.

    Raises
    ------
    NetworkRegistryError
        One line naming the ``osm`` extra when osmnx or another of its packages is not installed.
    """
    try:
        from . import osm
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if missing not in _OSM_EXTRA:
            raise
        raise NetworkRegistryError(
            f"road networks need the osm extra: pip install 'salpimi[osm]' ({missing} is not installed)"
        ) from None
    return osm


def fetch_place_graphml(place: str, target: Path) -> Path:
    """Download all streets of ``place`` from OpenStreetMap (needs internet) into GraphML at ``target``."""
    path: Path = _osm().fetch_place_graphml(place, target)
    return path


def networks_dir(data_dir: Path | None = None) -> Path:
    """Return where named networks live.

    Parameters
    ----------
    data_dir
        The data directory the service also uses (database, keys); default
        ``$SALPIMI_DATA_DIR`` or ``./data``.

    Returns
    -------
    pathlib.Path
        ``<data_dir>/networks`` (not created here).
    """
    if data_dir is None:
        env = os.environ.get("SALPIMI_DATA_DIR")
        data_dir = Path(env).expanduser() if env else Path("data")
    return Path(data_dir) / "networks"


def known_networks(*, data_dir: Path | None = None) -> list[str]:
    """Return the names of imported networks, sorted."""
    root = networks_dir(data_dir)
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if _NAME.fullmatch(p.name) and not p.is_symlink() and (p / _META).is_file()
    )


def check_name(name: str) -> str:
    """Return ``name`` if it is a safe network name, else raise :class:`NetworkRegistryError`."""
    if not _NAME.fullmatch(name or ""):
        raise NetworkRegistryError(
            f"network name {name!r}: use 1-64 ASCII letters, digits, '_' or '-', starting with a letter or digit"
        )
    return name


def default_name(text: str) -> str:
    """Return a safe network name made from ``text`` (a file stem or a place), ``"network"`` if nothing is left."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", text.strip().lower()).strip("-_")
    return slug[:64].rstrip("-_") or "network"


def _folder(root: Path, name: str) -> Path:
    """The folder of network ``name``: a real directory (or nothing yet) directly inside ``root``."""
    folder = root / check_name(name)
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise NetworkRegistryError(f"{folder}: not a network folder (a link or a file); remove it by hand")
    if folder.resolve().parent != root.resolve():
        raise NetworkRegistryError(f"{folder}: outside {root}")
    return folder


def _set_aside(root: Path, folder: Path) -> Path:
    """Rename network ``folder`` to a hidden name inside ``root``, to be deleted by the caller.

    ``folder`` must be a real directory directly inside ``root`` holding a network; anything else
    is refused, so no operation can delete outside its own folder.  A crash after this leaves the
    whole network under a hidden name, never a half-deleted one under its own.
    """
    if (
        folder.is_symlink()
        or not folder.is_dir()
        or folder.resolve().parent != root.resolve()
        or not (folder / _META).is_file()
    ):
        raise NetworkRegistryError(f"{folder}: refusing to delete anything but a network folder in {root}")
    hidden = Path(tempfile.mkdtemp(prefix=f".{folder.name}.removing-", dir=root))
    hidden.rmdir()
    folder.rename(hidden)
    return hidden


def _unknown(name: str, data_dir: Path | None) -> UnknownNetworkError:
    known = known_networks(data_dir=data_dir)
    listing = ", ".join(known) if known else "none yet; use `salpimi network import FILE --name NAME`"
    return UnknownNetworkError(f"unknown network {name!r}; known networks: {listing}")


def network_meta(name: str, *, data_dir: Path | None = None) -> dict[str, Any]:
    """Return the ``network.json`` of network ``name`` (file, origin, digest, import time, modes).

    Raises
    ------
    UnknownNetworkError
        One line naming the known networks.
    """
    if name not in known_networks(data_dir=data_dir):
        raise _unknown(name, data_dir)
    meta: dict[str, Any] = json.loads((networks_dir(data_dir) / name / _META).read_text(encoding="utf-8"))
    return meta


def provider_for(
    name: str,
    *,
    data_dir: Path | None = None,
    config: NetworkConfig | None = None,
    cache_dir: Path | None = None,
) -> OsmProvider:
    """Return an :class:`OsmProvider` for a network imported under ``name``.

    Parameters
    ----------
    name
        The name given to ``network import`` or ``network fetch``.
    data_dir
        Base data directory (see :func:`networks_dir`).
    config
        Speeds and snapping settings; default :class:`NetworkConfig`.
    cache_dir
        Graph and matrix cache; default ``$SALPIMI_CACHE_DIR`` or ``~/.cache/salpimi``.

    Raises
    ------
    UnknownNetworkError
        One line naming the known networks.
    """
    meta = network_meta(name, data_dir=data_dir)
    osm = _osm()
    provider: OsmProvider = osm.OsmProvider(
        path=networks_dir(data_dir) / name / str(meta["file"]),
        name=name,
        config=config or osm.NetworkConfig(),
        cache_dir=cache_dir,
    )
    return provider


def describe(provider: OsmProvider) -> dict[str, Any]:
    """Build both mode graphs (validating the file) and summarise them by mode.

    Raises
    ------
    NetworkRegistryError
        If neither mode has any roads.
    """
    osm = _osm()
    modes: dict[str, Any] = {}
    for mode in osm.MODES:
        try:
            g = provider.graph(mode)
        except osm.NetworkError as exc:
            modes[mode] = {"available": False, "reason": str(exc)}
            continue
        modes[mode] = {
            "available": True,
            "nodes": g.n_nodes,
            "edges": g.n_edges,
            "dropped_nodes": g.dropped_nodes,
            "bbox": [round(v, 7) for v in g.bbox],
        }
    if not any(m["available"] for m in modes.values()):
        raise NetworkRegistryError(f"{provider.path.name}: no drivable or walkable roads found")
    return modes


def import_network(
    source: Path, name: str, *, force: bool = False, origin: str = "", data_dir: Path | None = None
) -> dict[str, Any]:
    """Copy the OSM file ``source`` in as network ``name`` and return its ``network.json``.

    The new network is built in a hidden staging folder inside the networks folder; only once
    it is complete is the old one (a network folder, nothing else) swapped out and deleted.

    Parameters
    ----------
    source
        An ``.osm``/``.xml``, ``.osm.pbf``/``.pbf`` or ``.graphml`` file.
    name
        A safe name (see :func:`check_name`).
    force
        Replace an existing network of that name.
    origin
        Where the file came from, kept in the metadata; default the resolved path of ``source``.
    data_dir
        Base data directory (see :func:`networks_dir`).

    Raises
    ------
    NetworkRegistryError
        Bad name or file kind, the name is taken (without ``force``), or the file has no roads.
    """
    source = Path(source)
    if not source.is_file():
        raise NetworkRegistryError(f"{source}: no such file")
    root = networks_dir(data_dir)
    folder = _folder(root, name)
    if folder.exists():
        if not force:
            raise NetworkRegistryError(f"network {name!r} already exists (add --force to replace it)")
        if not (folder / _META).is_file():
            raise NetworkRegistryError(f"{folder}: holds no imported network; remove it by hand")
    lower = source.name.lower()
    suffix = next((s for s in (".osm.pbf", ".graphml", ".osm", ".xml", ".pbf") if lower.endswith(s)), "")
    if not suffix:
        raise NetworkRegistryError(f"{source.name}: expected an .osm, .osm.pbf or .graphml file")
    osm = _osm()  # before any folder is made: refuse at once without the osm extra
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.importing-", dir=root))
    try:
        target = staging / f"source{suffix}"
        shutil.copyfile(source, target)
        modes = describe(osm.OsmProvider(path=target, name=name))
        meta = {
            "name": name,
            "file": target.name,
            "origin": origin or str(source.resolve()),
            "sha256": file_digest(target),
            "imported_at": dt.datetime.now(SEOUL).isoformat(timespec="seconds"),
            "modes": modes,
        }
        (staging / _META).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        folder = _folder(root, name)
        previous = _set_aside(root, folder) if folder.exists() else None
        try:
            staging.rename(folder)
        except OSError:
            if previous is not None:
                previous.rename(folder)
            raise
        if previous is not None:
            shutil.rmtree(previous)
    finally:
        if staging.is_dir() and not staging.is_symlink():
            shutil.rmtree(staging)
    return meta


def fetch_network(place: str, name: str, *, force: bool = False, data_dir: Path | None = None) -> dict[str, Any]:
    """Download a place's streets from OpenStreetMap (needs internet) as network ``name``.

    Returns its ``network.json``; raises :class:`NetworkRegistryError` as :func:`import_network`
    does and ``NetworkError`` (one line) when the download fails.
    """
    root = networks_dir(data_dir)
    if _folder(root, name).exists() and not force:
        raise NetworkRegistryError(f"network {name!r} already exists (add --force to replace it)")
    _osm()  # before any folder is made: refuse at once without the osm extra
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}.download-", dir=root))
    try:
        download = scratch / f"{name}.graphml"
        fetch_place_graphml(place, download)
        return import_network(download, name, force=force, origin=f"place:{place}", data_dir=data_dir)
    finally:
        shutil.rmtree(scratch)


def remove_network(name: str, *, data_dir: Path | None = None) -> None:
    """Delete the network imported as ``name`` (its own folder, nothing else).

    Raises
    ------
    UnknownNetworkError
        No network has that name (or the name is not a safe identifier).
    """
    root = networks_dir(data_dir)
    if name not in known_networks(data_dir=data_dir):
        raise _unknown(name, data_dir)
    shutil.rmtree(_set_aside(root, _folder(root, name)))
