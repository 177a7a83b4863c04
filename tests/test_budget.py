"""The one time budget (Deadline): what is left, shares for stages, reserves, expiry; checked on a fake clock."""

from __future__ import annotations

import pytest

from planner import SolveParams
from planner.solvers import budget as budget_module
from planner.solvers.budget import Deadline


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    c = _Clock()
    monkeypatch.setattr(budget_module.time, "monotonic", c)
    return c


def test_a_budget_counts_down_and_expires(clock: _Clock) -> None:
    d = Deadline.start(10.0)
    assert not d.deterministic and d.work is None
    clock.now += 4
    assert d.elapsed() == 4 and d.remaining() == 6 and not d.expired()
    clock.now += 7
    assert d.remaining() == 0 and d.remaining(floor=0.2) == 0.2 and d.expired()


def test_split_gives_a_stage_its_share_of_what_is_left(clock: _Clock) -> None:
    d = Deadline.start(10.0, work=50)
    clock.now += 2
    stage = d.split(0.5)
    assert stage.cap_s == 4 and stage.work == 50 and stage.started == clock.now
    clock.now += 4
    assert stage.expired() and d.remaining() == 4  # the next stage gets the rest
    assert d.split(1.0, floor=5.0).cap_s == 5.0
    with pytest.raises(ValueError, match="fraction"):
        d.split(0.0)


def test_reserve_keeps_time_for_what_runs_afterwards(clock: _Clock) -> None:
    d = Deadline.start(10.0)
    clock.now += 1
    search = d.reserve(3.0, floor=1.0)
    assert search.cap_s == 6.0 and search.ends_at == d.ends_at - 3.0
    clock.now += 8
    assert d.reserve(3.0, floor=1.0).cap_s == 1.0  # however late, the search keeps its floor


def test_the_work_budget_comes_from_the_deterministic_mode_only() -> None:
    assert Deadline.of(SolveParams(time_limit_s=5, solution_limit=7)).work is None
    d = Deadline.of(SolveParams(time_limit_s=5, deterministic=True, solution_limit=7))
    assert d.work == 7 and d.deterministic and d.cap_s == 5
    with pytest.raises(ValueError, match="work"):
        Deadline(cap_s=1.0, started=0.0, work=0)
    with pytest.raises(ValueError, match="cap_s"):
        Deadline(cap_s=-1.0, started=0.0)


def test_solve_params_name_their_engine() -> None:
    assert SolveParams().solver == "auto"
    with pytest.raises(ValueError, match="solver: 'fastest' is not one of auto, race, ortools, pyvrp, vroom"):
        SolveParams(solver="fastest")
