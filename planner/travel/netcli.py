"""``salpimi network`` commands: import, fetch, list, describe and remove named road networks."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..timeline import SEOUL
from .cache import file_digest
from .osm import MODES, NetworkConfig, NetworkError, OsmProvider, fetch_place_graphml

__all__ = [
    "NetworkCommandError",
    "UnknownNetworkError",
    "add_data_dir_option",
    "known_networks",
    "networks_dir",
    "provider_for",
    "register",
    "remove_network",
]

# A safe identifier: it names one folder directly inside the networks folder, never "." or "..",
# never a hidden staging folder, never a path.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", re.ASCII)
_META = "network.json"


class NetworkCommandError(ValueError):
    """A network command cannot proceed; the message is one line for the user."""


class UnknownNetworkError(NetworkCommandError):
    """No imported network has the requested name."""


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


def _check_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise NetworkCommandError(
            f"network name {name!r}: use 1-64 ASCII letters, digits, '_' or '-', starting with a letter or digit"
        )
    return name


def _folder(root: Path, name: str) -> Path:
    """The folder of network ``name``: a real directory (or nothing yet) directly inside ``root``."""
    folder = root / _check_name(name)
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise NetworkCommandError(f"{folder}: not a network folder (a link or a file); remove it by hand")
    if folder.resolve().parent != root.resolve():
        raise NetworkCommandError(f"{folder}: outside {root}")
    return folder


def _set_aside(root: Path, folder: Path) -> Path:
    """Rename network ``folder`` to a hidden name inside ``root``, to be deleted by the caller.

    ``folder`` must be a real directory directly inside ``root`` holding a network; anything else
    is refused, so no command can delete outside its own folder.  A crash after this leaves the
    whole network under a hidden name, never a half-deleted one under its own.
    """
    if (
        folder.is_symlink()
        or not folder.is_dir()
        or folder.resolve().parent != root.resolve()
        or not (folder / _META).is_file()
    ):
        raise NetworkCommandError(f"{folder}: refusing to delete anything but a network folder in {root}")
    hidden = Path(tempfile.mkdtemp(prefix=f".{folder.name}.removing-", dir=root))
    hidden.rmdir()
    folder.rename(hidden)
    return hidden


def _source_file(folder: Path) -> Path:
    meta = json.loads((folder / _META).read_text(encoding="utf-8"))
    return folder / str(meta["file"])


def _unknown(name: str, data_dir: Path | None) -> UnknownNetworkError:
    known = known_networks(data_dir=data_dir)
    listing = ", ".join(known) if known else "none yet; use `salpimi network import FILE --name NAME`"
    return UnknownNetworkError(f"unknown network {name!r}; known networks: {listing}")


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
    folder = networks_dir(data_dir) / name
    if name not in known_networks(data_dir=data_dir):
        raise _unknown(name, data_dir)
    return OsmProvider(
        path=_source_file(folder), name=name, config=config or NetworkConfig(), cache_dir=cache_dir
    )


def _describe(provider: OsmProvider) -> dict[str, Any]:
    """Build both mode graphs (validating the file) and summarise them."""
    modes: dict[str, Any] = {}
    for mode in MODES:
        try:
            g = provider.graph(mode)
        except NetworkError as exc:
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
        raise NetworkCommandError(f"{provider.path.name}: no drivable or walkable roads found")
    return modes


def _install(
    source: Path, name: str, *, force: bool, origin: str, data_dir: Path | None = None
) -> dict[str, Any]:
    """Copy ``source`` in as network ``name``; replace an existing one only with ``force``.

    The new network is built in a hidden staging folder inside the networks folder; only once
    it is complete is the old one (a network folder, nothing else) swapped out and deleted.
    """
    root = networks_dir(data_dir)
    folder = _folder(root, name)
    if folder.exists():
        if not force:
            raise NetworkCommandError(f"network {name!r} already exists (add --force to replace it)")
        if not (folder / _META).is_file():
            raise NetworkCommandError(f"{folder}: holds no imported network; remove it by hand")
    lower = source.name.lower()
    suffix = next(
        (s for s in (".osm.pbf", ".graphml", ".osm", ".xml", ".pbf") if lower.endswith(s)), ""
    )
    if not suffix:
        raise NetworkCommandError(f"{source.name}: expected an .osm, .osm.pbf or .graphml file")
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}.importing-", dir=root))
    try:
        target = staging / f"source{suffix}"
        shutil.copyfile(source, target)
        modes = _describe(OsmProvider(path=target, name=name))
        meta = {
            "name": name,
            "file": target.name,
            "origin": origin,
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


def _summary(meta: dict[str, Any]) -> str:
    parts = []
    for mode, info in meta["modes"].items():
        if info["available"]:
            parts.append(f"{mode} {info['nodes']} nodes/{info['edges']} edges")
        else:
            parts.append(f"{mode} unavailable")
    return ", ".join(parts)


def _data_dir(args: argparse.Namespace) -> Path | None:
    value = getattr(args, "data_dir", None)
    return Path(value) if value else None


def cmd_import(args: argparse.Namespace) -> int:
    """``network import FILE --name NAME [--force]``: copy a local OSM file in as a network."""
    source = Path(args.file)
    if not source.is_file():
        raise NetworkCommandError(f"{source}: no such file")
    name = _check_name(args.name) if args.name is not None else _default_name(source.name.split(".")[0])
    meta = _install(
        source, name, force=args.force, origin=str(source.resolve()), data_dir=_data_dir(args)
    )
    print(f"imported network {name!r} from {source.name}: {_summary(meta)}")
    return 0


def _default_name(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", text.strip().lower()).strip("-_")
    return slug[:64].rstrip("-_") or "network"


def cmd_fetch(args: argparse.Namespace) -> int:
    """``network fetch PLACE [--name NAME]``: download a place's streets (needs internet)."""
    name = _check_name(args.name) if args.name is not None else _default_name(args.place.split(",")[0])
    root = networks_dir(_data_dir(args))
    if _folder(root, name).exists() and not args.force:
        raise NetworkCommandError(f"network {name!r} already exists (add --force to replace it)")
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}.download-", dir=root))
    try:
        download = scratch / f"{name}.graphml"
        fetch_place_graphml(args.place, download)
        meta = _install(
            download, name, force=args.force, origin=f"place:{args.place}", data_dir=_data_dir(args)
        )
    finally:
        shutil.rmtree(scratch)
    print(f"fetched network {name!r} for {args.place!r}: {_summary(meta)}")
    return 0


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


def cmd_remove(args: argparse.Namespace) -> int:
    """``network remove NAME``: delete an imported network's folder."""
    remove_network(args.name, data_dir=_data_dir(args))
    print(f"removed network {args.name!r}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """``network info NAME``: nodes, edges, bounding box, modes and file size."""
    provider = provider_for(args.name, data_dir=_data_dir(args))
    folder = provider.path.parent
    meta = json.loads((folder / _META).read_text(encoding="utf-8"))
    size = provider.path.stat().st_size
    print(f"network {args.name}: {provider.path} ({size:,} bytes), from {meta.get('origin', '?')}")
    for mode, info in _describe(provider).items():
        if not info["available"]:
            print(f"  {mode}: unavailable ({info['reason']})")
            continue
        s, w, n, e = info["bbox"]
        print(
            f"  {mode}: {info['nodes']:,} nodes, {info['edges']:,} edges in the largest strongly "
            f"connected component ({info['dropped_nodes']:,} nodes dropped); "
            f"bbox lat {s:.5f}..{n:.5f}, lon {w:.5f}..{e:.5f}"
        )
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    """``network list``: the imported networks, one per line."""
    names = known_networks(data_dir=_data_dir(args))
    if not names:
        print("no networks yet; use `salpimi network import FILE --name NAME`")
    for name in names:
        print(name)
    return 0


def _guarded(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn expected failures into one line on stderr and exit status 2."""

    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except (ValueError, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            print(f"salpimi network: {first}", file=sys.stderr)
            return 2

    run.__name__ = fn.__name__
    run.__doc__ = fn.__doc__
    return run


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``network import|fetch|info|list|remove`` to an argparse subparsers object.

    Each leaf parser sets ``func`` to a handler ``fn(args) -> int`` that prints one
    line to stderr and returns 2 on bad input (never a traceback).

    Parameters
    ----------
    subparsers
        The object returned by ``ArgumentParser.add_subparsers()``.

    Returns
    -------
    argparse.ArgumentParser
        The ``network`` parser.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "network", help="import, download and inspect road networks (OpenStreetMap)"
    )
    sub = parser.add_subparsers(dest="network_command", metavar="COMMAND", required=True)

    names = "1-64 ASCII letters, digits, '_' or '-'"

    p = sub.add_parser("import", help="import a local .osm, .osm.pbf or .graphml file")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--name", help=f"network name, {names} (default: from the file name)")
    p.add_argument("--force", action="store_true", help="replace an existing network of that name")
    p.set_defaults(func=_guarded(cmd_import))

    p = sub.add_parser("fetch", help="download a place's streets from OpenStreetMap (internet)")
    p.add_argument("place", metavar="PLACE", help='e.g. "Gwanak-gu, Seoul, South Korea"')
    p.add_argument("--name", help=f"network name, {names} (default: from the place)")
    p.add_argument("--force", action="store_true", help="replace an existing network of that name")
    p.set_defaults(func=_guarded(cmd_fetch))

    p = sub.add_parser("info", help="nodes, edges, bounding box, modes and file size")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=_guarded(cmd_info))

    p = sub.add_parser("list", help="list imported networks")
    p.set_defaults(func=_guarded(cmd_list))

    p = sub.add_parser("remove", help="delete an imported network (its own folder only)")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(func=_guarded(cmd_remove))

    for leaf in sub.choices.values():
        add_data_dir_option(leaf)
    return parser


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    """``--data-dir``: where networks live (``<data dir>/networks``), as for ``salpimi serve``."""
    parser.add_argument(
        "--data-dir",
        help="data directory; networks live in its networks/ folder (default $SALPIMI_DATA_DIR or ./data)",
    )
