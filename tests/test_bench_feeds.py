"""bench/feeds.py runs end to end on a tiny budget: real server, today's plan, feeds, a short paced phase."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_feed_bench_runs_a_short_phase_and_writes_its_tables(tmp_path: Path) -> None:
    raw, out = tmp_path / "feeds.json", tmp_path / "feeds.md"
    r = subprocess.run(
        [sys.executable, "bench/feeds.py", "--clients", "4", "--solve", "off", "--duration", "1",
         "--raw", str(raw), "--out", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    run = json.loads(raw.read_text())["runs"]["sqlite"]
    (phase,) = run["phases"]
    assert phase["clients"] == 4 and phase["fetches"] > 0 and phase["errors"] == {}
    assert set(phase["statuses"]) <= {"200", "304"} and "200" in phase["statuses"]
    assert run["feeds"] > 1 and run["server_log_errors"] == 0 and run["tokens_in_server_log"] == 0
    assert "| paced | 4 | no |" in out.read_text()
    assert "/v1/feeds/" not in raw.read_text()  # the secrets stay out of the results


def test_feed_bench_refuses_bad_arguments_in_one_line() -> None:
    r = subprocess.run([sys.executable, "bench/feeds.py", "--clients", "0"], cwd=REPO, capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 2 and "--clients" in r.stderr and "Traceback" not in r.stderr
