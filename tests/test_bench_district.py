"""The busy-day tables of ``bench/district.py``: who is ahead per day, the walls apart, the neighbour's effect."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import district  # noqa: E402


def _row(day: str, solver: str, risk: float, travel_h: float, wall: float, seconds: float = 10.0) -> dict:
    return dict(day=day, solver=solver, seconds=seconds, visits=250, risk_covered=risk, intensive="1/1", assigned=9,
                travel_s=travel_h * 3600, violations=0, wall_s=wall, load=9.0)


ROWS = [_row("busy:600:1", "auto", 100.0, 10.0, 10.1), _row("busy:600:1", "vroom", 99.0, 11.0, 13.0),
        _row("busy:600:1", "ortools", 90.0, 20.0, 12.0), _row("busy:800:1", "auto", 200.0, 12.0, 10.0),
        _row("busy:800:1", "vroom", 201.0, 10.0, 11.0), _row("busy:800:1", "ortools", 150.0, 30.0, 10.0)]


def test_busy_summary_counts_days_ahead_and_keeps_auto_walls_apart_from_the_peers() -> None:
    text = district.render_busy(ROWS)
    summary = text.split("## Summary")[1]
    # Ahead on one day of two; mean gap (+1 - 1) / 2 = 0; travel (10/11 - 1 + 12/10 - 1) / 2 = +5.5 %; both days
    # within one unit of VROOM's coverage, travel no more than VROOM's on one.
    assert "| 10 s | auto | 2 | 1/2 | +0.000 | +5.5 % | 1/2, +5.5 % | +0.1 s | +3.0 s |" in summary
    # The race forced on both cores (race2) gets its own line, its walls apart from auto's and the peers'.
    forced = district.render_busy([*ROWS, _row("busy:600:1", "race2", 101.0, 9.9, 10.2)]).split("## Summary")[1]
    assert "| 10 s | race2 | 1 | 1/1 | +2.000 | -10.0 % | 0/0, +0.0 % | +0.2 s | +3.0 s |" in forced  # 2 units ahead
    assert "| 10 s | auto | 2 | 1/2 | +0.000 | +5.5 % | 1/2, +5.5 % | +0.1 s | +3.0 s |" in forced
    # Rows sorted by day size then solver: 600 before 800 (not as strings), auto first.
    body = text.split("## Summary")[0]
    assert body.index("busy:600:1 | 250 | 10 s | auto") < body.index("busy:600:1 | 250 | 10 s | vroom") < body.index(
        "busy:800:1 | 250 | 10 s | auto")


def test_neighbour_table_gives_each_solvers_change_against_the_quiet_row() -> None:
    loud = [_row("busy:600:1", "auto", 98.0, 10.0, 10.0), _row("busy:600:1", "vroom", 95.0, 12.1, 14.0)]
    text = district.render_neighbour(loud, ROWS)
    assert "| auto | 10 s | 1 | -2.000 | +0.0 % |" in text
    assert "| vroom | 10 s | 1 | -4.000 | +10.0 % |" in text


def test_bundled_days_are_the_fixture_day_and_generated_days_of_each_district() -> None:
    rows = [_row("district:osan:0", "auto", 50.0, 5.0, 10.0), _row("district:osan:0", "vroom", 49.5, 5.5, 1.0)]
    text = district.render_busy(rows, bundled=True)
    assert text.startswith("# District benchmark: bundled-size days")
    assert "| 10 s | auto | 1 | 1/1 | +0.500 | -9.1 % | 1/1, -9.1 % |" in text
    fixture, drawn = district.district_day("osan", 0), district.district_day("osan", 2)
    assert fixture == district.load_problem(REPO / "fixtures" / "problems" / "osan.json")
    assert len(drawn.workers) == len(fixture.workers) and drawn.households != fixture.households
