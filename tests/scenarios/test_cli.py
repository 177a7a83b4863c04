"""``salpimi scenarios run|compare|min-staff`` end to end on the constructed district (worker processes, a store)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_minstaff import START, _base

ROOT = Path(__file__).resolve().parents[2]


def _salpimi(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "planner", "scenarios", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def _spec(tmp_path: Path) -> Path:
    (tmp_path / "base.json").write_text(json.dumps(_base(), ensure_ascii=False), encoding="utf-8")
    spec = tmp_path / "one-nurse.toml"
    spec.write_text(f"""
name = "one-nurse"
base = "base.json"
start = {START.isoformat()}
weeks = 3
warmup_weeks = 1
seeds = 2
[cadence_days]
intensive = 7
[rates]
no_answer = 0.0
urgent_reports_per_week = 0.0
risk_change_per_week = 0.0
[demand]
new_households_per_week = 0.0
look_ahead_days = 0
""", encoding="utf-8")
    return spec


def test_run_stores_results_resumes_and_compares(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    store = tmp_path / "runs.jsonl"
    first = _salpimi("run", str(spec), "--policy", "salpimi,manual", "--workers", "1", "--store", str(store),
                     "--out", "a.json", "--quiet", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "one-nurse · salpimi" in first.stdout and "one-nurse · manual" in first.stdout
    assert "intensive within cadence" in first.stdout
    saved = json.loads((tmp_path / "a.json").read_text(encoding="utf-8"))
    assert [a["policy"] for a in saved["aggregates"]] == ["salpimi", "manual"]
    assert len(saved["results"]) == 4 and saved["aggregates"][0]["seeds"] == [0, 1]
    assert len(store.read_text(encoding="utf-8").splitlines()) == 4
    again = _salpimi("run", str(spec), "--policy", "salpimi,manual", "--workers", "1", "--store", str(store),
                     "--resume", "--out", "b.json", "--quiet", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "b.json").read_text(encoding="utf-8"))["aggregates"] == saved["aggregates"]
    assert len(store.read_text(encoding="utf-8").splitlines()) == 4  # nothing ran twice
    both = _salpimi("compare", "a.json", "b.json", "--quiet", cwd=tmp_path)
    assert both.returncode == 0, both.stderr
    assert both.stdout.splitlines()[0].count("one-nurse · salpimi") == 2


def test_min_staff_command(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    out = _salpimi("min-staff", str(spec), "--role", "visiting_nurse", "--target", "within_cadence.intensive >= 80%",
                   "--range", "1:3", "--seeds", "1", "--workers", "1", "--out", "m.json", "--quiet", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "minimum visiting_nurse: 2" in out.stdout
    data = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert data["answer"] == 2 and [e["count"] for e in data["evaluated"]] == [3, 1, 2]
