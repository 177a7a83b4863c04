"""bench/load.py runs end to end on a tiny budget: real server, plan, a short phase, both tables written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_load_bench_runs_a_short_phase_and_writes_its_tables(tmp_path: Path) -> None:
    raw, out = tmp_path / "load.json", tmp_path / "load.md"
    r = subprocess.run(
        [sys.executable, "bench/load.py", "--clients", "3", "--phases", "plans", "--solve", "off",
         "--duration", "1", "--raw", str(raw), "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    run = json.loads(raw.read_text())["runs"]["sqlite"]
    (phase,) = run["phases"]
    assert phase["clients"] == 3 and phase["requests"] > 0 and phase["errors"] == {}
    assert set(phase["statuses"]) == {"200"} and phase["recovery_s"] is not None
    assert run["server_log_errors"] == 0
    assert "| plans | 3 | no |" in out.read_text()


def test_load_bench_refuses_bad_arguments_in_one_line() -> None:
    r = subprocess.run([sys.executable, "bench/load.py", "--phases", "nonesuch"], cwd=REPO, capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 2 and "nonesuch" in r.stderr and "Traceback" not in r.stderr
