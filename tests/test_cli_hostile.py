"""Hostile problem and plan files: one escaped line and exit code 2, never a traceback; sizes bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from daysupport import REPO

from planner.cli import main
from planner.io import LIMITS, RANGES, problem_from_json, problem_json_schema

TINY = REPO / "fixtures" / "problems" / "tiny.json"


def _tiny() -> dict[str, Any]:
    return json.loads(TINY.read_text(encoding="utf-8"))


def _run(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, list[str]]:
    code = main(args)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def _plan(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str) -> tuple[int, list[str]]:
    f = tmp_path / "p.json"
    f.write_text(text, encoding="utf-8")
    return _run(capsys, ["plan", str(f), "--deterministic", "--solution-limit", "20", "--time-limit", "30", "--quiet"])


def _edit(fn: Callable[[dict[str, Any]], None]) -> str:
    data = _tiny()
    fn(data)
    return json.dumps(data, allow_nan=True)


RAW_TEXTS = {
    "deep nesting": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "nesting in a field": ('{"visits": ' + "[" * 5000 + "]" * 5000 + "}", "nested too deeply"),
    "NaN literal": (_edit(lambda d: d["workers"][0].update(speed_factor=float("nan"))), "NaN"),
    "Infinity literal": (_edit(lambda d: d["workers"][0].update(max_work_s=float("inf"))), "Infinity"),
    "float overflow": (_edit(lambda d: d["workers"][0].update(max_work_s=1.0)).replace("1.0", "1e999"), "too large"),
    "5,000-digit integer": (_edit(lambda d: d["visits"][0].update(load=7)).replace('"load": 7', '"load": ' + "9" * 5000),
                            "unusable number"),
}


@pytest.mark.parametrize("name", list(RAW_TEXTS))
def test_pathological_json_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    text, expect = RAW_TEXTS[name]
    code, err = _plan(tmp_path, capsys, text)
    assert code == 2
    assert len(err) == 1 and expect in err[0], err


OUT_OF_RANGE = {
    "max_work_s 1e30": (lambda d: d["workers"][0].update(max_work_s=1e30), "max_work_s: must lie in 1..86400"),
    "service time 1e15": (lambda d: d.update(service_times={"routine": 1e15}), "service_times.routine"),
    "by-role service time": (lambda d: d.update(service_times={"by_role": {"routine": {"case_manager": 10**15}}}),
                             "case_manager: must lie in"),
    "visit duration 13 h": (lambda d: d["visits"][0].update(duration_s=13 * 3600), "duration_s: must lie in 1..43200"),
    "break 5 h": (lambda d: d["workers"][0].update(**{"break": {"window": ["09:00", "18:00"], "duration_s": 5 * 3600}}),
                  "break.duration_s"),
    "max_visits 1e6": (lambda d: d["workers"][0].update(max_visits=10**6), "max_visits: must lie in 0..100"),
    "capacity 1e12": (lambda d: d["workers"][0].update(capacity=10**12), "capacity"),
    "load 1e12": (lambda d: d["visits"][0].update(load=10**12), "load"),
    "speed factor 0": (lambda d: d["workers"][0].update(speed_factor=0), "speed_factor"),
    "fractional load": (lambda d: d["visits"][0].update(load=1.5), "expected an integer"),
    "year 3000": (lambda d: d.update(date="3000-01-01"), "lies outside"),
    "control character in an id": (lambda d: d["visits"][0].update(id="v\x1b[31mred"), "control character"),
    "NUL in a name": (lambda d: d["workers"][0].update(name="kim\x00"), "control character"),
    "right-to-left override in a dong": (lambda d: d["households"][0].update(dong="\u202eevil"), "control character"),
    "id of 1,000 characters": (lambda d: d["visits"][0].update(id="v" * 1000), "longer than 128"),
    "empty language": (lambda d: d["households"][0].update(languages=[""]), "non-empty string"),
    "17 time windows": (lambda d: d["visits"][0].update(time_windows=[[f"{h:02d}:00", f"{h:02d}:30"] for h in range(6, 23)]),
                        "exceed the limit of 16"),
    "unknown key in a location": (lambda d: d["households"][0]["location"].update(alt=3), "unknown field"),
}


@pytest.mark.parametrize("name", list(OUT_OF_RANGE))
def test_out_of_range_values_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    fn, expect = OUT_OF_RANGE[name]
    code, err = _plan(tmp_path, capsys, _edit(fn))
    assert code == 2
    assert len(err) == 1 and expect in err[0], err
    assert all(ch.isprintable() for ch in err[0]), err  # control characters are escaped


def test_a_huge_invalid_value_is_not_echoed_in_full(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = "Kim Minsu 010-1234-5678 " * 40_000
    code, err = _plan(tmp_path, capsys, _edit(lambda d: d["workers"][0].update(role=secret)))
    assert code == 2 and len(err) == 1
    assert len(err[0]) < 300 and secret not in err[0]


def test_above_the_size_limit_the_problem_is_refused_before_solving(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    n = LIMITS["visits"] + 1
    data = _tiny()
    data["visits"] = [{"id": f"v{i}", "household_id": data["households"][0]["id"]} for i in range(n)]
    code, err = _plan(tmp_path, capsys, json.dumps(data))
    assert code == 2
    assert len(err) == 1 and f"{n} visits exceed the limit of {LIMITS['visits']:,}" in err[0], err


def test_at_the_size_limit_the_problem_is_accepted() -> None:
    data = _tiny()
    data["visits"] = [{"id": f"v{i}", "household_id": data["households"][0]["id"]} for i in range(LIMITS["visits"])]
    assert len(problem_from_json(data).visits) == LIMITS["visits"]


def _named_twice(text: str, key: str, first: str, second: str) -> str:
    """``text`` with the first ``"key": first`` written as ``"key": first, "key": second``."""
    old = f'"{key}": {first}'
    assert old in text
    return text.replace(old, f'{old}, "{key}": {second}', 1)


def test_a_key_named_twice_is_one_line_exit_2_naming_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Before, JSON kept the last value without a word: the second name planned under "Lee Secret".
    text = _named_twice(json.dumps(_tiny()), "name", json.dumps(_tiny()["workers"][1]["name"]), '"Lee Secret"')
    code, err = _plan(tmp_path, capsys, text)
    assert code == 2 and len(err) == 1, err
    assert "duplicate key workers[1].name" in err[0] and "Secret" not in err[0], err
    # the top level too, and the plan file of `check`
    code, err = _plan(tmp_path, capsys, _named_twice(json.dumps(_tiny()), "date", '"2026-11-24"', '"2026-11-25"'))
    assert code == 2 and len(err) == 1 and "duplicate key date" in err[0], err
    main(["plan", str(TINY), "--deterministic", "--solution-limit", "20", "--quiet", "--out",
          str(tmp_path / "plan.json")])
    capsys.readouterr()
    plan = (tmp_path / "plan.json").read_text(encoding="utf-8")
    (tmp_path / "plan.json").write_text(_named_twice(plan, "worker_id", '"t-nurse"', '"t-other"'), encoding="utf-8")
    code, err = _run(capsys, ["check", str(TINY), str(tmp_path / "plan.json")])
    assert code == 2 and len(err) == 1 and "duplicate key routes[0].worker_id" in err[0], err


def test_a_plan_with_absurd_numbers_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = {"date": "2026-11-24", "routes": [{"worker_id": "t-nurse", "travel_s": 1e300, "stops": []}]}
    (tmp_path / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    code, err = _run(capsys, ["check", str(TINY), str(tmp_path / "plan.json")])
    assert code == 2 and len(err) == 1 and "travel_s" in err[0], err
    plan = {"date": "2026-11-24", "routes": [{"worker_id": "t-nurse", "departure": "0001-01-01T00:00:00+14:00",
                                              "stops": []}]}
    (tmp_path / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    code, err = _run(capsys, ["check", str(TINY), str(tmp_path / "plan.json")])
    assert code == 2 and len(err) == 1 and "departure" in err[0], err


@pytest.mark.parametrize("seed", ["99999999999999999999", "²", "-1"])
def test_absurd_seeds_are_usage_errors(capsys: pytest.CaptureFixture[str], seed: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["plan", str(TINY), "--seed", seed])
    assert exc.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_schema_into_a_closed_pipe_exits_quietly() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `salpimi schema | head` once head has gone
    try:
        proc = subprocess.run([sys.executable, "-m", "planner", "schema"], stdout=write_end,
                              stderr=subprocess.PIPE, cwd=REPO, timeout=60)
    finally:
        os.close(write_end)
    assert proc.returncode == 141
    assert proc.stderr == b""


def test_the_schema_carries_every_range_and_size_limit() -> None:
    schema = problem_json_schema()
    props = schema["properties"]
    worker = props["workers"]["items"]["properties"]
    visit = props["visits"]["items"]["properties"]
    for key in ("max_visits", "max_work_s", "capacity"):
        assert worker[key]["maximum"] == RANGES[key].maximum and worker[key]["minimum"] == RANGES[key].minimum
    assert worker["speed_factor"]["minimum"] == RANGES["speed_factor"].minimum
    assert worker["break"]["properties"]["duration_s"]["maximum"] == RANGES["break_s"].maximum
    assert visit["duration_s"]["maximum"] == RANGES["service_s"].maximum
    assert visit["load"]["maximum"] == RANGES["load"].maximum
    assert props["service_times"]["properties"]["routine"]["maximum"] == RANGES["service_s"].maximum
    assert props["households"]["items"]["properties"]["location"]["properties"]["lat"]["maximum"] == 90
    for key in ("visits", "workers", "households"):
        assert props[key]["maxItems"] == LIMITS[key]
    assert visit["time_windows"]["maxItems"] == LIMITS["windows"]
