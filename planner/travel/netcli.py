"""``salpimi network`` commands (argparse only): import, fetch, list, describe and remove named road networks."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .networks import (
    NetworkRegistryError,
    check_name,
    default_name,
    describe,
    fetch_network,
    import_network,
    known_networks,
    network_meta,
    provider_for,
    remove_network,
)

__all__ = ["add_data_dir_option", "register"]


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
        raise NetworkRegistryError(f"{source}: no such file")
    name = check_name(args.name) if args.name is not None else default_name(source.name.split(".")[0])
    meta = import_network(source, name, force=args.force, data_dir=_data_dir(args))
    print(f"imported network {name!r} from {source.name}: {_summary(meta)}")
    return 0


def cmd_fetch(args: argparse.Namespace) -> int:
    """``network fetch PLACE [--name NAME]``: download a place's streets (needs internet)."""
    name = check_name(args.name) if args.name is not None else default_name(args.place.split(",")[0])
    meta = fetch_network(args.place, name, force=args.force, data_dir=_data_dir(args))
    print(f"fetched network {name!r} for {args.place!r}: {_summary(meta)}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    """``network remove NAME``: delete an imported network's folder."""
    remove_network(args.name, data_dir=_data_dir(args))
    print(f"removed network {args.name!r}")
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    """``network info NAME``: nodes, edges, bounding box, modes and file size."""
    provider = provider_for(args.name, data_dir=_data_dir(args))
    meta = network_meta(args.name, data_dir=_data_dir(args))
    size = provider.path.stat().st_size
    print(f"network {args.name}: {provider.path} ({size:,} bytes), from {meta.get('origin', '?')}")
    for mode, info in describe(provider).items():
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
