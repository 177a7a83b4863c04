"""Scenario charts: PNG and SVG of the three charts from result dicts, the same bytes for the same results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from planner.scenarios.charts import write_charts


def _band(mean: float, spread: float = 0.05) -> dict[str, float]:
    return {"mean": mean, "min": max(0.0, mean - spread), "max": min(1.0, mean + spread)}


def _aggregate(name: str, level: float, policy: str = "salpimi") -> dict[str, Any]:
    return {
        "scenario": name, "policy": policy, "seeds": [0, 1], "runs": 2, "warmup_weeks": 1,
        "kpis": {f"within_cadence.{t}": _band(level - d) for t, d in (("intensive", 0), ("regular", 0.1))},
        "weekly": [{"week": k, "from": f"2026-11-{2 + 7 * (k - 1):02d}",
                    "within_cadence.intensive": _band(level - 0.02 * (k % 2)),
                    "within_cadence.regular": _band(level - 0.1)} for k in range(1, 5)],
        "overdue_days": {"intensive": [0, 0, 1, 2, 5], "regular": [0, 3, 9], "self_care": []},
    }


def _min_staff() -> dict[str, Any]:
    return {"role": "visiting_nurse", "target": "within_cadence.intensive >= 0.95", "answer": 4, "met_at_hi": True,
            "evaluated": [{"count": c, "value": v, "met": v >= 0.95, "aggregate": _aggregate("osan", v)}
                          for c, v in ((2, 0.7), (4, 0.96), (6, 0.99))]}


def test_every_chart_is_written_as_png_and_svg(tmp_path: Path) -> None:
    paths = write_charts([_aggregate("base", 0.9), _aggregate("nurse on leave", 0.8),
                          _aggregate("base", 0.7, policy="manual")], tmp_path, min_staff=_min_staff())
    assert sorted(p.name for p in paths) == sorted(f"{s}.{e}" for s in ("coverage_vs_staff", "overdue_days",
                                                                       "weekly_coverage") for e in ("png", "svg"))
    for p in paths:
        data = p.read_bytes()
        assert len(data) > 5000
        assert data.startswith(b"\x89PNG") if p.suffix == ".png" else b"<svg" in data[:2000]


def test_the_same_results_give_the_same_files(tmp_path: Path) -> None:
    a = write_charts([_aggregate("base", 0.9)], tmp_path / "a", min_staff=_min_staff())
    b = write_charts([_aggregate("base", 0.9)], tmp_path / "b", min_staff=_min_staff())
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_only_the_charts_the_results_allow(tmp_path: Path) -> None:
    assert write_charts([], tmp_path) == []
    only_staff = write_charts([], tmp_path / "s", min_staff=_min_staff())
    assert {p.stem for p in only_staff} == {"coverage_vs_staff"}
