"""A planner-only install (no `api` or `osm` extra) plans, checks and lists; the rest refuse in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from daysupport import REPO, household, problem, window, worker

from planner import Visit, problem_to_json

# Run ``salpimi`` (api.cli:main, the installed entry point) with the extras' packages made unimportable.
_WITHOUT_EXTRAS = """
import sys

BLOCKED = {"fastapi", "starlette", "sqlmodel", "sqlalchemy", "pydantic", "pydantic_settings", "uvicorn", "alembic", "psycopg", "jwt",
           "multipart", "python_multipart", "sse_starlette", "icalendar", "anyio",
           "osmnx", "osmium", "scipy", "networkx", "geopandas", "shapely", "requests"}


class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Blocker())
from api.cli import main

sys.exit(main(sys.argv[1:]))
"""


def _salpimi(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(cwd),
           "SALPIMI_DATA_DIR": str(cwd / "data"), "SALPIMI_CACHE_DIR": str(cwd / "cache")}
    return subprocess.run([sys.executable, "-c", _WITHOUT_EXTRAS, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300, check=False)


def _tiny_problem(folder: Path) -> Path:
    p = problem(
        [household(1, dlat=0.003), household(2, dlon=0.004)],
        [worker(1)],
        [Visit(id=f"v{i}", household_id=f"h{i}", time_windows=(window("09:00", "17:00"),)) for i in (1, 2)],
    )
    path = folder / "tiny.json"
    path.write_text(json.dumps(problem_to_json(p)), encoding="utf-8")
    return path


def test_planner_commands_run_without_the_extras(tmp_path: Path) -> None:
    tiny = _tiny_problem(tmp_path)
    plan = tmp_path / "plan.json"
    r = _salpimi("plan", str(tiny), "--deterministic", "--solution-limit", "20", "--time-limit", "30", "--quiet", "--out", str(plan), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Covered 2/2 visits" in r.stdout
    r = _salpimi("check", str(tiny), str(plan), cwd=tmp_path)
    assert r.returncode == 0 and "OK: no violations." in r.stdout, r.stdout + r.stderr
    r = _salpimi("schema", cwd=tmp_path)
    assert r.returncode == 0 and json.loads(r.stdout)["type"] == "object"
    r = _salpimi("network", "list", cwd=tmp_path)
    assert r.returncode == 0 and "no networks yet" in r.stdout, r.stderr


def test_service_and_network_commands_name_the_missing_extra(tmp_path: Path) -> None:
    for args, extra in (
        (("serve",), "api"),
        (("db", "upgrade"), "api"),
        (("user", "add", "someone", "--role", "manager"), "api"),
        (("network", "import", str(REPO / "fixtures" / "osm" / "tiny.osm"), "--name", "tiny"), "osm"),
    ):
        r = _salpimi(*args, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and f"pip install 'salpimi[{extra}]'" in lines[0], (args, r.stderr)
        assert "Traceback" not in r.stderr
    assert not (tmp_path / "data").exists(), "a refused command left folders behind"
