"""Scenario specs: every bad key gets one clear line naming it (CLI: exit 2), and a spec round-trips as plain data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from planner.scenarios.spec import SpecError, load_spec, parse_spec, read_spec_text

ROOT = Path(__file__).resolve().parents[2]
OSAN = ROOT / "fixtures" / "problems" / "osan.json"
GOOD = f"""
name = "t"
base = "{OSAN.as_posix()}"
start = 2026-11-30
weeks = 2
"""


def _write(tmp_path: Path, extra: str, *, base: str = GOOD) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(base + extra, encoding="utf-8")
    return p


@pytest.mark.parametrize(("extra", "key", "words"), [
    ("[rates]\nno_answer = 1.5\n", "rates.no_answer", "1.5 is not a share"),
    ("[rates]\nno_anwser = 0.1\n", "rates.no_anwser", "unknown key"),
    ("colour = 1\n", "colour", "unknown key"),
    ("seeds = 0\n", "seeds", "0 is not in 1..1000"),
    ("warmup_weeks = 2\n", "warmup_weeks", "leave none"),
    ("[staff]\nnurse = 3\n", "staff.nurse", "unknown key"),
    ("[staff]\nvisiting_nurse = -1\n", "staff.visiting_nurse", "-1 is not in 0..200"),
    ("[staff]\nvisiting_nurse = 'four'\n", "staff.visiting_nurse", "expected a whole number"),
    ("[[leave]]\nworker = 'nobody'\nfrom = 2026-12-01\nto = 2026-12-04\n", "leave[0].worker", "not a worker"),
    ("[[leave]]\nworker = 'os-nurse-a'\nfrom = 2026-12-04\nto = 2026-12-01\n", "leave[0].to", "is before from"),
    ("[shifts]\nvisiting_nurse = ['18:00', '09:00']\n", "shifts.visiting_nurse", "ends (09:00) before"),
    ("[shifts]\nvisiting_nurse = ['9am', '18:00']\n", "shifts.visiting_nurse", "expected 'HH:MM'"),
    ("[[workers.add]]\nid = 'x'\nlike = 'ghost'\n", "workers.add[0].like", "not a worker of the base"),
    ("[[workers.add]]\nid = 'os-nurse-a'\nlike = 'os-nurse-a'\n", "workers.add[0].id", "already a worker"),
    ("[workers]\nremove = ['ghost']\n", "workers.remove[0]", "not a worker of the base"),
    ("[demand]\ngrowth = { urgent = 0.5 }\n", "demand.growth.urgent", "unknown key"),
    ("[cadence_days]\nintensive = 0\n", "cadence_days.intensive", "0 is not in 1..3650"),
    ("[planner]\nsolver = 'magic'\n", "planner.solver", "is not one of"),
    ("closing_days = [2030-01-01]\n", "closing_days[0]", "outside the horizon"),
])
def test_bad_key_is_named_in_one_line(tmp_path: Path, extra: str, key: str, words: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(_write(tmp_path, extra))
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"spec s.toml: {key}: ")
    assert words in message
    assert err.value.key == key


@pytest.mark.parametrize(("text", "key", "words"), [
    ('name = "t"\nstart = 2026-11-30\n', "base", "missing"),
    (f'name = "t"\nbase = "{OSAN.as_posix()}"\nstart = 2026-12-01\n', "start", "is a Tuesday"),
    (f'name = "t"\nbase = "{OSAN.as_posix()}"\nstart = "soon"\n', "start", "expected a date"),
    ('name = "t"\nbase = "missing.json"\nstart = 2026-11-30\n', "base", "no such file"),
    (f'base = "{OSAN.as_posix()}"\nstart = 2026-11-30\n', "name", "missing"),
])
def test_missing_or_bad_required_keys(tmp_path: Path, text: str, key: str, words: str) -> None:
    p = tmp_path / "s.toml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(SpecError) as err:
        load_spec(p)
    assert f": {key}: " in str(err.value) and words in str(err.value) and "\n" not in str(err.value)


def test_broken_toml_is_one_line(tmp_path: Path) -> None:
    p = tmp_path / "s.toml"
    p.write_text('name = "t\nweeks = 2\n', encoding="utf-8")
    with pytest.raises(SpecError) as err:
        load_spec(p)
    assert str(err.value).startswith("spec s.toml: not valid TOML") and "\n" not in str(err.value)


def test_a_json_spec_naming_a_key_twice_is_refused() -> None:
    # TOML refuses a repeated key itself; JSON (a spec sent to the API) kept the last value without a word.
    text = (f'{{"name": "t", "base": "{OSAN.as_posix()}", "start": "2026-11-30", '
            '"staff": {"visiting_nurse": 3, "visiting_nurse": 30}}')
    assert read_spec_text(text.replace('3, "visiting_nurse": 30', "30"), fmt="json")["staff"] == {"visiting_nurse": 30}
    with pytest.raises(SpecError) as err:
        read_spec_text(text, fmt="json")
    assert err.value.key == "staff.visiting_nurse" and "duplicate key" in str(err.value)
    assert "\n" not in str(err.value) and "30" not in str(err.value)


def test_spec_round_trips_as_plain_json(tmp_path: Path) -> None:
    extra = """
[staff]
visiting_nurse = 4
[[workers.add]]
id = "os-nurse-x"
like = "os-nurse-a"
shift = ["09:00", "16:00"]
[[leave]]
worker = "os-nurse-b"
from = 2026-12-07
to = 2026-12-11
[shifts]
case_manager = ["10:00", "18:00"]
[demand]
growth = { intensive = 0.5 }
[cadence_days]
intensive = 7
"""
    spec = load_spec(_write(tmp_path, extra))
    data = json.loads(json.dumps(spec.to_dict()))
    again = parse_spec(data)
    assert again == spec
    assert again.to_dict() == spec.to_dict()


def test_cli_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    p = _write(tmp_path, "[rates]\nno_answer = 1.5\n")
    out = subprocess.run([sys.executable, "-m", "planner", "scenarios", "run", str(p), "--quiet"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "salpimi: spec s.toml: rates.no_answer: 1.5 is not a share in 0..0.9"]
    bad = subprocess.run([sys.executable, "-m", "planner", "scenarios", "min-staff", str(_write(tmp_path, "")),
                          "--role", "visiting_nurse", "--target", "coverage >= 0.9", "--quiet"],
                         capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "target: 'coverage' is not a KPI" in bad.stderr


@pytest.mark.parametrize("path", sorted((ROOT / "fixtures" / "scenarios").glob("*.toml")), ids=lambda p: p.name)
def test_bundled_specs_load(path: Path) -> None:
    spec = load_spec(path)
    assert spec.start.weekday() == 0 and spec.base.get("workers")


@pytest.mark.parametrize(("extra", "words"), [
    ("a" + ".b" * 20_000 + " = 1\n", "line 6: a key with more than 64 dotted parts"),  # ~1.6 GB for tomllib
    ("[t" + ".b" * 70 + "]\n", "line 6: a key with more than 64 dotted parts"),
    ("a = " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 16 deep"),
    ("description = 'x" + "y" * 70_000 + "'\n", "more than a scenario spec's 65536"),
    ('description = "a\\u0000b"\n', "description: contains a NUL character"),
    ("closing_days = [" + ", ".join(["2026-12-01"] * 401) + "]\n", "closing_days: 401 entries, more than 400"),
])
def test_hostile_spec_text_is_one_line_before_it_costs_anything(tmp_path: Path, extra: str, words: str) -> None:
    with pytest.raises(SpecError) as err:
        load_spec(_write(tmp_path, extra))
    assert words in str(err.value) and "\n" not in str(err.value)


def test_dots_inside_strings_and_comments_are_not_key_parts(tmp_path: Path) -> None:
    dots = "." * 200
    spec = load_spec(_write(tmp_path, f'description = "{dots}"  # {dots}\n'))
    assert spec.description == dots
    spec = load_spec(_write(tmp_path, f'description = """\n{dots}\n"""\n'))
    assert spec.description == dots + "\n"
