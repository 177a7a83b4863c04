"""Dependencies point inward: planner never imports the web or database layers; ortools stays in one adapter."""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from daysupport import REPO

FORBIDDEN = {"api", "fastapi", "sqlmodel", "sqlalchemy", "icalendar", "starlette", "pydantic"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_planner_imports_no_web_or_database_code() -> None:
    for path in (REPO / "planner").rglob("*.py"):
        bad = _imports(path) & FORBIDDEN
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_ortools_is_imported_by_its_adapters_only() -> None:
    users = {p.relative_to(REPO).as_posix() for p in (REPO / "planner").rglob("*.py") if "ortools" in _imports(p)}
    assert users == {"planner/solvers/ortools_routing.py", "planner/solvers/ortools_linear.py"}


def test_osmnx_stays_in_the_osm_provider() -> None:
    users = {p.relative_to(REPO).as_posix() for p in REPO.rglob("*.py")
             if ".venv" not in p.parts and "bench" not in p.parts and "tests" not in p.parts
             and "osmnx" in _imports(p)}
    assert users and all(u.startswith("planner/travel/osm/") for u in users), users


def test_import_linter_contracts_hold() -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(exe)], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr



_DYNAMIC_IMPORTERS = {"importlib", "runpy", "pkgutil"}
_API_MODULE = re.compile(r"(?<![\w./-])api(?:\.\w+)+|^api$")  # "api.cli", "api"; not a URL's "/api.json"


def _dynamic_imports(path: Path) -> list[str]:
    """Where ``path`` imports a module by name at run time, or names a module of ``api`` in a string."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(n.split(".")[0] in _DYNAMIC_IMPORTERS for n in names):
                found.append(f"{where} imports {names}")
        elif isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in {"__import__", "import_module", "exec", "eval"}:
                found.append(f"{where} uses {name}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            named = _API_MODULE.search(node.value)
            if named:
                found.append(f"{where} names {named.group()!r}")
    return found


def test_planner_has_no_dynamic_import_and_names_no_api_module() -> None:
    found = [f"{p.parent.relative_to(REPO)}/{f}" for p in sorted((REPO / "planner").rglob("*.py"))
             for f in _dynamic_imports(p)]
    assert not found, found


def test_the_scan_sees_what_it_forbids(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text('import importlib\nm = importlib.import_module("api.cli")\nn = __import__("api")\n'
                     'o = "see https://example.org/api.json and rapi.cli"\n')
    found = _dynamic_imports(probe)
    assert sorted(found) == ["probe.py:1 imports ['importlib']", "probe.py:2 names 'api.cli'",
                             "probe.py:2 uses import_module", "probe.py:3 names 'api'", "probe.py:3 uses __import__"]


def test_salpimi_is_composed_by_the_api_and_the_planner_runs_alone() -> None:
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert scripts["salpimi"] == "api.cli:main"
    from api import cli as api_cli
    from planner import cli as planner_cli

    def commands(parser: argparse.ArgumentParser) -> set[str]:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        return set(sub.choices)

    planner_commands = {"plan", "check", "schema", "network", "scenarios"}
    assert commands(planner_cli.build_parser()) == planner_commands
    assert commands(planner_cli.build_parser(api_cli.register)) == planner_commands | {"serve", "db", "load", "user"}
