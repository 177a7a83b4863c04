"""The bundled fixtures load, are reproducible from the seeded generator and look as documented."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planner.io import load_problem
from planner.risk import RiskModel

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # ``fixtures`` is a data package, not installed
    sys.path.insert(0, str(ROOT))

from fixtures.generate import PLANNING_DATE, generate  # noqa: E402

FIXTURES = ROOT / "fixtures"
PROBLEMS = ("gwanak", "osan", "tiny")
DISTRICTS = ("gwanak", "osan")
# Common Korean surnames; a 2-4 syllable all-Hangul string starting with one looks like a name.
SURNAMES = set(
    "김이박최정강조윤장임한오서신권황안송류전홍고문양손배백허유남심노하곽성차주우구민진나엄"
    "채원천방공현함변염여추도소석선설마길연위표명기반왕금옥육인맹제모탁국어은편용예경봉사부"
    "가복태목형피두감음빈동온호범좌"
)
WORKER_NAME = re.compile(r"(간호사|사례관리사|상담사|이동상담차량) [A-Z0-9]+")


def _load_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fixtures")
    generate(out)
    return out


@pytest.mark.parametrize("key", PROBLEMS)
def test_every_problem_file_loads(key: str) -> None:
    problem = load_problem(FIXTURES / "problems" / f"{key}.json", date=PLANNING_DATE)
    assert problem.date == PLANNING_DATE
    assert problem.households and problem.workers and problem.visits


def test_generator_is_deterministic(generated: Path, tmp_path: Path) -> None:
    second = generate(tmp_path)
    for path in second:
        rel = path.relative_to(tmp_path)
        assert path.read_bytes() == (generated / rel).read_bytes(), rel


def test_committed_files_equal_generator_output(generated: Path) -> None:
    for sub, keys in (("districts", DISTRICTS), ("problems", PROBLEMS)):
        for key in keys:
            rel = Path(sub) / f"{key}.json"
            assert (FIXTURES / rel).read_bytes() == (generated / rel).read_bytes(), (
                f"{rel} is stale: run `python -m fixtures.generate`"
            )


@pytest.mark.parametrize(("key", "n_households", "visits"), [
    ("gwanak", 400, (150, 200)),
    ("osan", 200, (70, 100)),
])
def test_caseload_distributions_are_as_documented(
    key: str, n_households: int, visits: tuple[int, int]
) -> None:
    problem = load_problem(FIXTURES / "problems" / f"{key}.json", date=PLANNING_DATE)
    model = RiskModel.default()
    hs = problem.households
    assert len(hs) == n_households
    assert visits[0] <= len(problem.visits) <= visits[1]
    tiers = [model.tier(h.risk) for h in hs]
    share = {t: tiers.count(t) / len(hs) for t in ("urgent", "intensive", "regular", "self_care")}
    assert 0.02 <= share["urgent"] <= 0.03
    assert 0.10 <= share["intensive"] <= 0.15
    assert 0.30 <= share["regular"] <= 0.40
    assert 0.45 <= share["self_care"] <= 0.55
    male = sum(h.risk.sex == "M" for h in hs) / len(hs)
    assert 0.65 <= male <= 0.85  # thinned from the 81.7 % death profile
    high = [h for h, t in zip(hs, tiers, strict=True) if t in ("urgent", "intensive")]
    assert sum(h.risk.sex == "M" for h in high) / len(high) >= 0.85
    housing = {h.risk.housing for h in hs}
    assert {"house", "apartment", "one_room", "banjiha"} <= housing
    by_id = problem.households_by_id()
    crisis = [v for v in problem.visits if v.kind == "crisis"]
    assert crisis and all(v.urgent and not v.mandatory for v in crisis)
    assert all(by_id[v.household_id].risk.crisis_report for v in crisis)
    assessments = [v for v in problem.visits if v.kind == "assessment"]
    assert assessments and all(by_id[v.household_id].last_contact is None for v in assessments)
    overdue = [model.assess(by_id[v.household_id], PLANNING_DATE).days_overdue > 0
               for v in problem.visits]
    assert any(overdue) and not all(overdue)
    workers = problem.workers_by_id()
    for h in hs:
        if h.preferred_worker_id is not None:
            assert h.preferred_worker_id in workers


@pytest.mark.parametrize("key", PROBLEMS)
def test_every_required_skill_is_held_by_some_worker(key: str) -> None:
    path = FIXTURES / "problems" / f"{key}.json"
    problem = load_problem(path, date=PLANNING_DATE)
    hard = {c["visit_id"] for c in _load_json(path).get("meta", {}).get("hard_cases", [])}
    held = set().union(*(w.skills for w in problem.workers))
    for v in problem.visits:
        if v.id not in hard:
            assert v.required_skills <= held, v.id


def test_gwanak_has_documented_hard_cases() -> None:
    raw = _load_json(FIXTURES / "problems" / "gwanak.json")
    problem = load_problem(FIXTURES / "problems" / "gwanak.json", date=PLANNING_DATE)
    cases = {c["expected"]: c["visit_id"] for c in raw["meta"]["hard_cases"]}
    assert set(cases) == {"no_qualified_worker", "outside_every_shift", "not_available_today"}
    visits = problem.visits_by_id()
    held = set().union(*(w.skills for w in problem.workers))
    assert not visits[cases["no_qualified_worker"]].required_skills <= held
    late = visits[cases["outside_every_shift"]].time_windows[0]
    assert all(late.start_s >= w.shift.end_s for w in problem.workers)
    away = problem.household(visits[cases["not_available_today"]].household_id)
    assert away.windows_on("tue") == ()


@pytest.mark.parametrize("key", PROBLEMS)
def test_no_personal_names(key: str) -> None:
    raw = _load_json(FIXTURES / "problems" / f"{key}.json")
    for h in raw["households"]:
        assert "name" not in h
        assert re.fullmatch(r"(관악|오산|tiny)-\d{1,4}", h["label"]), h["label"]
    for w in raw["workers"]:
        assert WORKER_NAME.fullmatch(w["name"]), w["name"]
    for text in _strings(raw):
        if re.fullmatch(r"[가-힣]{2,4}", text) and not text.endswith(("동", "구", "시")):
            assert text[0] not in SURNAMES, f"{text!r} looks like a personal name"


@pytest.mark.parametrize("key", DISTRICTS)
def test_district_files_place_every_dong_inside_the_bounding_box(key: str) -> None:
    d = _load_json(FIXTURES / "districts" / f"{key}.json")
    box = d["bbox"]
    points = [d["health_centre"]]
    points += [p for g in d["dongs"] for p in (g["centroid"], g["community_centre"])]
    for p in points:
        assert box["lat_min"] <= p["lat"] <= box["lat_max"]
        assert box["lon_min"] <= p["lon"] <= box["lon_max"]
    assert len(d["dongs"]) == {"gwanak": 21, "osan": 8}[key]
    covered = sorted(g for team in d["nurse_teams"].values() for g in team)
    assert covered == sorted(g["name"] for g in d["dongs"])
