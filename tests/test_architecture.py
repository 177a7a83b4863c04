"""Dependencies point inward: planner never imports the web or database layers; ortools stays in one adapter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import REPO

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


def test_ortools_is_imported_by_one_adapter_only() -> None:
    users = {p.relative_to(REPO).as_posix() for p in (REPO / "planner").rglob("*.py") if "ortools" in _imports(p)}
    assert users == {"planner/solvers/ortools_routing.py"}


def test_osmnx_stays_in_the_osm_provider() -> None:
    users = {p.relative_to(REPO).as_posix() for p in REPO.rglob("*.py")
             if ".venv" not in p.parts and "bench" not in p.parts and "tests" not in p.parts
             and "osmnx" in _imports(p)}
    assert users and all(u.startswith("planner/travel/osm/") for u in users), users


def test_import_linter_contracts_hold() -> None:
    exe = Path(sys.executable).with_name("lint-imports")
    out = subprocess.run([str(exe)], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
