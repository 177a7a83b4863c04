"""The benchmark scripts run end to end on tiny budgets and write their tables (numbers are not judged here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


def test_district_bench_compares_and_scales(tmp_path: Path) -> None:
    out = tmp_path / "district.md"
    out.write_text("old tables\n\n## Notes\n\nkept by hand\n")
    r = _run("bench/district.py", "--time-limit", "1", "--solvers", "race,vroom,ortools", "--sizes", "50",
             "--scaling-budgets", "1", "--scaling-solvers", "race,vroom", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    text = out.read_text()
    compare = [line for line in text.splitlines() if line.startswith(("| race |", "| vroom |", "| ortools |"))]
    assert len(compare) == 3
    for line in compare:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[7] == "0", line  # violations: every plan passes the evaluator
    scaling = [line for line in text.splitlines() if line.startswith("| 50 |")]
    assert len(scaling) == 2 and all("| 1 s |" in line for line in scaling)
    assert text.rstrip().endswith("kept by hand") and "old tables" not in text


def test_solomon_bench_refuses_unknown_solvers() -> None:
    r = _run("bench/solomon.py", "--solvers", "salpimi,nonesuch")
    assert r.returncode == 2 and "nonesuch" in r.stderr and "Traceback" not in r.stderr


def test_solomon_bench_runs_one_instance(tmp_path: Path, shared_dir: Path) -> None:
    if not (shared_dir / "benchmarks" / "solomon").is_dir():
        pytest.skip("../shared/benchmarks/solomon is absent")
    out, raw = tmp_path / "s.md", tmp_path / "s.jsonl"
    r = _run("bench/solomon.py", "--time-limit", "1", "--instances", "C101", "--solvers", "salpimi,vroom",
             "--out", str(out), "--raw", str(raw))
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| salpimi | 1/1 |" in out.read_text() and "| vroom | 1/1 |" in out.read_text()
    assert len(raw.read_text().splitlines()) == 2
    # Resuming reuses the rows instead of solving again.
    again = _run("bench/solomon.py", "--time-limit", "1", "--instances", "C101", "--solvers", "salpimi,vroom",
                 "--out", str(out), "--raw", str(raw), "--resume")
    assert again.returncode == 0 and len(raw.read_text().splitlines()) == 2


def test_bigday_bench_writes_rows_and_resumes(tmp_path: Path) -> None:
    raw, out = tmp_path / "bigday.jsonl", tmp_path / "bigday.md"
    args = ("bench/bigday.py", "--sizes", "150", "--budgets", "1", "--solvers", "auto,vroom", "--raw", str(raw),
            "--out", str(out))
    r = _run(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [line for line in out.read_text().splitlines() if line.startswith("| 150 |")]
    assert len(rows) == 2 and all(line.split("|")[9].strip() == "0" for line in rows), rows  # no violations
    assert len(raw.read_text().splitlines()) == 2
    again = _run(*args)  # every row already there: nothing is run again
    assert again.returncode == 0 and len(raw.read_text().splitlines()) == 2
