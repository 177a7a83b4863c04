"""The one time budget (Deadline): what is left, shares for stages, reserves, expiry; checked on a fake clock."""

from __future__ import annotations

from typing import Any

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


def _forty_visits() -> Any:
    """Two workers and 40 optional half-hour visits in a line."""
    from daysupport import household, problem, worker

    from planner import Visit

    return problem([household(i, dlat=0.001 * i) for i in range(40)], [worker(0), worker(1)],
                   [Visit(id=f"v{i}", household_id=f"h{i}", duration_s=1800) for i in range(40)])


class _RecordingSolver:
    """Plans nothing and records when each search was told to end."""

    name = "ortools"

    def __init__(self) -> None:
        self.ends: list[float] = []

    def solve(self, inst: Any, params: Any, *, deadline: Deadline, **_: Any) -> Any:
        from planner.solvers.base import RawSolution

        self.ends.append(deadline.ends_at)
        return RawSolution(routes=((),) * inst.n_workers, objective=0, solver="recording")


def test_pace_is_wall_over_cpu_time_at_least_one() -> None:
    assert budget_module.pace(3.0, 1.5) == 2.0  # another job shared the core half the time
    assert budget_module.pace(1.0, 1.2) == 1.0  # never faster than the CPU
    assert budget_module.pace(5.0, 0.001) == 1.0  # too short a stretch to tell
    assert budget_module.pace(100.0, 1.0) == 10.0


def test_the_reserve_for_the_post_passes_grows_with_the_pace_the_call_runs_at(monkeypatch: pytest.MonkeyPatch) -> None:
    """When compiling the day took more wall time than CPU time (other jobs on the cores), the post-passes are
    expected to as well: the search ends that much earlier, and the whole call still ends within its budget."""
    import importlib
    import time

    from planner import HaversineProvider, solve

    solve_module = importlib.import_module("planner.solve")
    p = _forty_visits()
    recording = _RecordingSolver()
    seen = recording.ends

    real = solve_module.compile_instance

    def compile_on_a_busy_machine(*args, **kwargs):
        cpu = time.process_time()
        while time.process_time() - cpu < 0.05:  # 50 ms of CPU ...
            pass
        time.sleep(0.35)  # ... in 0.4 s of wall time: pace 8
        return real(*args, **kwargs)

    ends = []
    for busy in (False, True):
        if busy:
            monkeypatch.setattr(solve_module, "compile_instance", compile_on_a_busy_machine)
        budget = Deadline.start(4.0)
        t0 = time.perf_counter()
        solve(p, HaversineProvider(), SolveParams(time_limit_s=4.0), solver=recording)
        assert time.perf_counter() - t0 <= 4.0 * 1.02 + 0.5
        ends.append(budget.ends_at - seen[-1])  # seconds kept after the search
    quiet, busy_kept = ends
    # 40 optional visits: (0.05 + 40 x 0.0005) s = 0.07 s at pace 1, about 8 times that at pace 8.
    assert 0.05 < quiet < 0.2
    assert busy_kept > 3 * quiet and busy_kept > 0.3


def test_a_pace_the_caller_measured_counts_when_compiling_is_too_short_to_tell() -> None:
    """A job's worker knows its pace from its start-up; compiling a small day (milliseconds) cannot tell it."""
    from planner import HaversineProvider, solve

    p = _forty_visits()
    recording = _RecordingSolver()
    seen = recording.ends

    kept = []
    for known in (None, 8.0):
        budget = Deadline.start(4.0)
        solve(p, HaversineProvider(), SolveParams(time_limit_s=4.0), solver=recording, known_pace=known)
        kept.append(budget.ends_at - seen[-1])  # seconds kept after the search
    alone, told = kept
    # 40 optional visits: 0.07 s at pace 1, eight times that at pace 8
    assert 0.05 < alone < 0.2
    assert told > 4 * alone and told > 0.4
