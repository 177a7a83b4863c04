"""Sweeps: the same real tasks give the same results on the local pool and on Dask; crashes are retried once
and reported; finished runs are stored as they end and a resumed sweep does not redo them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from planner.sweep import ATTEMPTS, ResultStore, SweepProgress, run_tasks, task_key
from planner.sweep.tasks import echo, fail, solve_day

REPO = Path(__file__).resolve().parents[2]
TINY = json.loads((REPO / "fixtures/problems/tiny.json").read_text())
# Bounded in time: each test's work is a few tiny runs (a Dask local cluster starts in about 2 s); the bound
# only catches a hang, the work budgets decide what each run does.
pytestmark = pytest.mark.timeout(300)


def _day_tasks(n: int) -> list[dict[str, Any]]:
    # OR-Tools alone on a small deterministic work budget: a real plan, the same on any machine.
    return [{"problem": TINY, "seed": s, "solution_limit": 20, "solver": "ortools"} for s in range(n)]


@pytest.fixture(scope="module")
def local_days() -> Any:
    return run_tasks(_day_tasks(3), engine="local", fn=solve_day, workers=2)


def test_local_pool_plans_every_task(local_days: Any) -> None:
    assert local_days.ok and local_days.engine == "local"
    for out in local_days.results:
        assert out["kpis"]["visits_total"] == len(TINY["visits"])
        planned = [v for stops in out["routes"].values() for v in stops]
        assert sorted(planned + out["unassigned"]) == sorted(v["id"] for v in TINY["visits"])


def test_dask_gives_the_same_results_as_the_local_pool(local_days: Any) -> None:
    on_dask = run_tasks(_day_tasks(3), engine="dask", fn=solve_day, workers=2)
    assert on_dask.ok and on_dask.engine == "dask"
    assert on_dask.results == local_days.results


def test_a_task_that_raises_is_tried_twice_then_reported_with_its_reason() -> None:
    swept = run_tasks([{"how": "raise"}, {"how": "fine", "n": 1}], fn=fail, workers=2)
    failed, fine = swept.outcomes
    assert failed.status == "failed" and failed.attempts == ATTEMPTS
    assert failed.error is not None and failed.error.startswith("RuntimeError: this task always fails")
    assert fine.status == "ok" and fine.result == {"how": "fine", "n": 1} and fine.attempts == 1


def test_a_dead_worker_process_costs_one_retry_and_never_the_task(tmp_path: Path) -> None:
    tasks = [{"how": "die_once", "marker": str(tmp_path / "m")}, {"how": "die"}, {"how": "fine"}]
    swept = run_tasks(tasks, fn=fail, workers=2)
    again, dead, fine = swept.outcomes
    assert again.status == "ok" and again.attempts == 2
    assert dead.status == "failed" and dead.attempts == ATTEMPTS and "exited with code 3" in (dead.error or "")
    assert fine.status == "ok"


def test_on_dask_a_dead_worker_is_retried_once_then_reported(tmp_path: Path) -> None:
    tasks = [{"how": "die_once", "marker": str(tmp_path / "m")}, {"how": "die"}, {"how": "raise"}]
    swept = run_tasks(tasks, engine="dask", fn=fail, workers=2)
    again, dead, raised = swept.outcomes
    assert again.status == "ok" and again.attempts == 2
    assert dead.status == "failed" and dead.attempts == ATTEMPTS and "KilledWorker" in (dead.error or "")
    assert raised.status == "failed" and "RuntimeError" in (raised.error or "")


def test_an_interrupted_sweep_resumes_without_redoing_finished_runs(tmp_path: Path) -> None:
    path = tmp_path / "runs.jsonl"
    tasks = [{"value": i} for i in range(6)]
    seen: list[SweepProgress] = []

    def stop_after_two() -> bool:
        return bool(seen) and seen[-1].done >= 2

    first = run_tasks(tasks, fn=echo, workers=1, store=path, progress=seen.append, should_stop=stop_after_two)
    assert first.stopped
    done_first = [o.key for o in first.outcomes if o.status == "ok"]
    assert 2 <= len(done_first) < len(tasks)
    assert {o.status for o in first.outcomes} == {"ok", "cancelled"}
    with path.open("a") as f:
        f.write('{"key": "torn wr')  # a write cut short by the interruption
    second = run_tasks(tasks, fn=echo, workers=2, store=path)
    assert second.ok and [o.result["value"] for o in second.outcomes] == list(range(6))
    assert {o.key for o in second.outcomes if o.from_store} == set(done_first)
    assert all(o.attempts == 1 for o in second.outcomes if not o.from_store)
    assert len(ResultStore(path)) == len(tasks)


def test_progress_counts_down_to_nothing_left() -> None:
    seen: list[SweepProgress] = []
    run_tasks([{"value": i} for i in range(4)], fn=echo, workers=2, progress=seen.append)
    assert seen[0].done == 0 and seen[0].left == 4
    assert max(p.running for p in seen) == 2
    last = seen[-1]
    assert (last.total, last.done, last.running, last.left, last.failed) == (4, 4, 0, 0, 0)
    assert last.eta_s == 0.0
    assert all(p.eta_s is not None for p in seen if p.done)


def test_equal_tasks_run_once_and_keys_ignore_key_order() -> None:
    assert task_key({"a": 1, "b": [1, 2]}) == task_key({"b": [1, 2], "a": 1})
    assert task_key({"a": 1}) != task_key({"a": 1}, fn_name="other")
    swept = run_tasks([{"value": 1}, {"value": 1}], fn=echo, workers=2)
    assert swept.outcomes[0] == swept.outcomes[1]
    with pytest.raises(TypeError):
        task_key({"a": object()})


def test_on_dask_a_dying_task_never_takes_an_innocent_one_with_it() -> None:
    # Each worker process holds one task at a time, so a death is charged to the task that died only.
    tasks = [{"how": "die", "n": i} for i in range(2)] + [{"how": "fine", "n": i} for i in range(4)]
    swept = run_tasks(tasks, engine="dask", fn=fail, workers=2)
    assert [o.status for o in swept.outcomes] == ["failed"] * 2 + ["ok"] * 4
    assert [o.attempts for o in swept.outcomes[2:]] == [1] * 4
