"""Problem files, the CLI, and bad input: one clear line and exit code 2, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from daysupport import REPO

from planner import load_problem, problem_from_json, problem_to_json
from planner.cli import main

TINY = REPO / "fixtures" / "problems" / "tiny.json"


def _tiny() -> dict:
    return json.loads(TINY.read_text(encoding="utf-8"))


def test_problem_round_trips_through_json() -> None:
    p = load_problem(TINY)
    again = problem_from_json(json.loads(json.dumps(problem_to_json(p))))
    assert again == p


def _mutations() -> list[tuple[str, object, str]]:
    out: list[tuple[str, object, str]] = []

    def m(name: str, fn, expect: str) -> None:
        data = _tiny()
        fn(data)
        out.append((name, data, expect))

    m("unknown household", lambda d: d["visits"][0].update(household_id="nope"), "not a known household")
    m("duplicate visit id", lambda d: d["visits"].append(dict(d["visits"][0])), "appears twice")
    m("duplicate worker id", lambda d: d["workers"].append(dict(d["workers"][0])), "appears twice")
    m("window end before start", lambda d: d["visits"][0].update(time_windows=[["15:00", "14:00"]]), "not after")
    m("negative duration", lambda d: d["visits"][0].update(duration_s=-60), "duration_s")
    m("impossible latitude", lambda d: d["households"][0]["location"].update(lat=123.0), "lat")
    m("impossible longitude", lambda d: d["households"][0]["location"].update(lon="east"), "lon")
    m("unknown date", lambda d: d.update(date="2026-02-30"), "not a date")
    m("bad time", lambda d: d["workers"][0].update(shift=["9am", "18:00"]), "HH:MM")
    m("unknown role", lambda d: d["workers"][0].update(role="wizard"), "role")
    m("unknown field", lambda d: d["visits"][0].update(colour="red"), "unknown field")
    m("unknown preferred worker", lambda d: d["households"][0].update(preferred_worker_id="ghost"), "ghost")
    m("not a list", lambda d: d.update(visits={"a": 1}), "expected a list")
    return out


@pytest.mark.parametrize(("name", "data", "expect"), _mutations(), ids=[x[0] for x in _mutations()])
def test_bad_problem_gets_one_line_and_exit_2(tmp_path: Path, capsys, name: str, data: object, expect: str) -> None:
    f = tmp_path / "p.json"
    f.write_text(json.dumps(data), encoding="utf-8")
    code = main(["plan", str(f), "--time-limit", "1", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and expect in err[0] and "Traceback" not in err[0], err


@pytest.mark.parametrize(
    ("content", "expect"),
    [("{not json", "malformed JSON"), ("", "malformed JSON"), (b"\xff\xfe", "UTF-8")],
)
def test_malformed_files(tmp_path: Path, capsys, content: object, expect: str) -> None:
    f = tmp_path / "p.json"
    if isinstance(content, bytes):
        f.write_bytes(content)
    else:
        f.write_text(str(content), encoding="utf-8")
    assert main(["plan", str(f)]) == 2
    assert expect in capsys.readouterr().err


def test_missing_file_and_bad_arguments(capsys) -> None:
    assert main(["plan", "/nonexistent/p.json"]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["plan", str(TINY), "--date", "2026-13-01"])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a date" in err[0]
    with pytest.raises(SystemExit) as exc:
        main(["plan", str(TINY), "--time-limit", "-3"])
    assert exc.value.code == 2


def test_plan_then_check_round_trip(tmp_path: Path, capsys) -> None:
    out = tmp_path / "plan.json"
    assert main(["plan", str(TINY), "--date", "2026-11-24", "--deterministic", "--solution-limit", "20", "--time-limit", "30", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "Covered" in text and "lunch break" in text
    plan = json.loads(out.read_text(encoding="utf-8"))
    stop = plan["routes"][0]["stops"][0]
    assert {"visit_id", "household_id", "arrival", "start", "end"} <= set(stop)
    assert stop["start"].endswith("+09:00")
    assert {"risk_weighted_coverage", "visits_by_tier", "travel_s", "utilisation"} <= set(plan["kpis"])
    assert main(["check", str(TINY), str(out)]) == 0
    assert "OK: no violations" in capsys.readouterr().out


def test_check_finds_a_hand_edit_that_breaks_rules(tmp_path: Path, capsys) -> None:
    out = tmp_path / "plan.json"
    assert main(["plan", str(TINY), "--date", "2026-11-24", "--deterministic", "--solution-limit", "20", "--time-limit", "30", "--out", str(out), "--quiet"]) == 0
    plan = json.loads(out.read_text(encoding="utf-8"))
    route = plan["routes"][0]
    # Move the first visit to 05:00, before the shift, and plan another one twice.
    route["stops"][0]["start"] = "2026-11-24T05:00:00+09:00"
    route["stops"].append(dict(route["stops"][-1]))
    out.write_text(json.dumps(plan), encoding="utf-8")
    capsys.readouterr()
    assert main(["check", str(TINY), str(out)]) == 1
    text = capsys.readouterr().out
    assert "[duplicate_visit]" in text and "[travel]" in text


def test_check_rejects_a_malformed_plan_in_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "plan.json"
    bad.write_text(json.dumps({"date": "2026-11-24", "routes": [{"worker_id": "x", "stops": [{"start": 5}]}]}))
    assert main(["check", str(TINY), str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "stops[0]" in err[0]


def test_schema_is_valid_json_schema() -> None:
    out = subprocess.run([sys.executable, "-m", "planner", "schema"], capture_output=True, text=True, check=True)
    schema = json.loads(out.stdout)
    assert schema["title"] == "Salpimi planning problem"
    assert {"households", "workers", "visits"} <= set(schema["properties"])


def test_console_script_runs_without_traceback_on_bad_input(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text("[1, 2", encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "planner", "plan", str(f)], capture_output=True, text=True)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_plan_hands_the_pace_of_its_start_up_to_the_solve(tmp_path: Path, monkeypatch, capsys) -> None:
    """On the clock ``plan`` tells the solve how slow this machine ran its start-up (wall since the process started
    over its CPU time), as a job's worker does, so that the post-pass reserve grows on a busy machine."""
    import planner.cli as cli

    seen: list[float | None] = []

    def recording(problem, travel, params, **kw):
        seen.append(kw.get("known_pace"))
        return solve(problem, travel, params, **kw)

    solve = cli.solve
    monkeypatch.setattr(cli, "solve", recording)
    monkeypatch.setattr(cli.time, "process_time", lambda: 0.5)
    monkeypatch.setattr(cli, "_process_age_s", lambda: 2.0)  # 2 s of wall for 0.5 s of CPU: pace 4
    assert main(["plan", str(TINY), "--date", "2026-11-24", "--time-limit", "4", "--quiet"]) == 0
    assert seen == [4.0]
    assert main(["plan", str(TINY), "--date", "2026-11-24", "--deterministic", "--solution-limit", "5", "--quiet"]) == 0
    assert seen[-1] is None
    capsys.readouterr()
