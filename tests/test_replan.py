"""Mid-day re-planning: the rest of the day as a problem, frozen stops merged back, few changes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import BASE, DAY, hm, household, problem, window, worker

from planner import (
    HaversineProvider,
    Plan,
    Route,
    SolveParams,
    Stop,
    Visit,
    VisitKind,
    evaluate,
    solve,
)
from planner.replan import changes, freeze, merge, replan

TRAVEL = HaversineProvider()


def _day() -> tuple:
    """Two nurses, six routine visits (40 min) near the health centre; a hand-made plan."""
    households = [household(i, dlat=0.001 * i, dlon=0.001 * (i % 3)) for i in range(1, 7)]
    workers = [worker(1), worker(2)]
    visits = [Visit(id=f"v{i}", household_id=f"h{i}", required_skills=frozenset({"nursing"}))
              for i in range(1, 7)]
    p = problem(households, workers, visits)

    def stop(i: int, start: str) -> Stop:
        s = hm(start)
        return Stop(visit_id=f"v{i}", household_id=f"h{i}", arrival_s=s, start_s=s, end_s=s + 2400)

    plan = Plan(
        date=DAY,
        routes=(
            Route(worker_id="w1", depart_s=hm("09:00"), return_s=hm("15:00"),
                  stops=(stop(1, "09:10"), stop(2, "10:00"), stop(3, "13:10")),
                  break_start_s=hm("12:00"), break_end_s=hm("13:00")),
            Route(worker_id="w2", depart_s=hm("09:00"), return_s=hm("15:00"),
                  stops=(stop(4, "09:10"), stop(5, "10:00"), stop(6, "13:10")),
                  break_start_s=hm("12:00"), break_end_s=hm("13:00")),
        ),
    )
    return p, plan


def test_freeze_removes_finished_and_in_progress_visits() -> None:
    p, plan = _day()
    rest = freeze(p, plan, now_s=hm("10:15"), done={"v1", "v4"}, in_progress={"v2": hm("10:05")})
    assert {v.id for v in rest.visits} == {"v3", "v5", "v6"}
    assert {h.id for h in rest.households} == {"h3", "h5", "h6"}


def test_freeze_moves_each_worker_to_where_they_are_when_they_are_free() -> None:
    p, plan = _day()
    rest = freeze(p, plan, now_s=hm("10:15"), done={"v1", "v4"}, in_progress={"v2": hm("10:05")})
    w1, w2 = rest.workers_by_id()["w1"], rest.workers_by_id()["w2"]
    assert w1.start == p.household("h2").location  # at the visit under way
    assert w1.shift.start_s == hm("10:05") + 2400  # free when it ends (routine: 40 min)
    assert w1.end == BASE
    assert w2.start == p.household("h4").location  # last finished visit
    assert w2.shift.start_s == hm("10:15")  # free now
    assert w1.max_visits is None or w1.max_visits >= 0


def test_freeze_in_progress_without_a_start_time_uses_the_plan() -> None:
    p, plan = _day()
    rest = freeze(p, plan, now_s=hm("10:05"), in_progress={"v2"})
    assert rest.workers_by_id()["w1"].shift.start_s == hm("10:40")


def test_freeze_keeps_a_break_not_yet_taken_and_drops_one_taken() -> None:
    p, plan = _day()
    morning = freeze(p, plan, now_s=hm("10:15"), done={"v1"})
    assert morning.workers_by_id()["w1"].break_window == window("12:00", "13:30")
    assert morning.workers_by_id()["w1"].break_s == 3600
    afternoon = freeze(p, plan, now_s=hm("13:30"), done={"v1", "v2"})
    assert afternoon.workers_by_id()["w1"].break_window is None
    assert afternoon.workers_by_id()["w1"].break_s == 0


def test_freeze_during_the_break_starts_after_it() -> None:
    p, plan = _day()
    rest = freeze(p, plan, now_s=hm("12:20"), done={"v1", "v2"})
    w1 = rest.workers_by_id()["w1"]
    assert w1.shift.start_s == hm("13:00")
    assert w1.break_window is None


def test_freeze_removes_off_sick_workers_and_clears_references_to_them() -> None:
    p, plan = _day()
    p = replace(
        p,
        households=tuple(replace(h, preferred_worker_id="w2") if h.id == "h5" else h for h in p.households),
        visits=tuple(replace(v, required_worker_id="w2") if v.id == "v6" else v for v in p.visits),
    )
    rest = freeze(p, plan, now_s=hm("10:15"), done={"v4"}, off_sick={"w2"})
    assert [w.id for w in rest.workers] == ["w1"]
    assert rest.visits_by_id()["v6"].required_worker_id is None
    assert rest.household("h5").preferred_worker_id is None
    assert "v5" in rest.visits_by_id()  # back in the pool for someone else


def test_freeze_applies_delays_and_drops_workers_without_time_left() -> None:
    p, plan = _day()
    rest = freeze(p, plan, now_s=hm("10:15"), done={"v1"}, delayed_s={"w1": 1800})
    assert rest.workers_by_id()["w1"].shift.start_s == hm("10:45")
    late = freeze(p, plan, now_s=hm("17:50"), done={"v1"})
    assert late.workers == ()


def test_freeze_reduces_visit_caps_by_what_was_done() -> None:
    p, plan = _day()
    p = replace(p, workers=tuple(replace(w, max_visits=4) for w in p.workers))
    rest = freeze(p, plan, now_s=hm("10:45"), done={"v1", "v2"})
    assert rest.workers_by_id()["w1"].max_visits == 2
    assert rest.workers_by_id()["w2"].max_visits == 4


def test_merge_puts_frozen_stops_first_and_keeps_a_taken_break() -> None:
    _p, plan = _day()
    new = Plan(
        date=DAY,
        routes=(
            Route(worker_id="w1", depart_s=hm("13:30"), return_s=hm("16:00"),
                  stops=(Stop(visit_id="v5", household_id="h5", arrival_s=hm("13:40"),
                              start_s=hm("13:40"), end_s=hm("14:20")),)),
            Route(worker_id="w2", depart_s=hm("13:30"), return_s=hm("16:30"),
                  stops=(Stop(visit_id="v6", household_id="h6", arrival_s=hm("13:40"),
                              start_s=hm("13:40"), end_s=hm("14:20")),
                         Stop(visit_id="v3", household_id="h3", arrival_s=hm("14:30"),
                              start_s=hm("14:30"), end_s=hm("15:10")))),
        ),
    )
    merged = merge(plan, new, done={"v1", "v2", "v4"}, in_progress=(), now_s=hm("13:30"))
    w1, w2 = merged.route_of("w1"), merged.route_of("w2")
    assert [s.visit_id for s in w1.stops] == ["v1", "v2", "v5"]
    assert [s.visit_id for s in w2.stops] == ["v4", "v6", "v3"]
    assert w1.depart_s == hm("09:00")
    assert w1.break_start_s == hm("12:00")
    assert changes(plan, merged, ignore={"v1", "v2", "v4"}) == {"kept": 1, "moved": 2, "dropped": 0, "added": 0}


@pytest.fixture(scope="module")
def solved() -> tuple:
    """A real solve of a small day (one OR-Tools run shared by the tests below)."""
    households = [household(i, dlat=0.0015 * (i % 4), dlon=0.0015 * (i // 4)) for i in range(1, 9)]
    workers = [worker(1), worker(2)]
    visits = [Visit(id=f"v{i}", household_id=f"h{i}", required_skills=frozenset({"nursing"}))
              for i in range(1, 9)]
    p = problem(households, workers, visits)
    plan = solve(p, TRAVEL, SolveParams(time_limit_s=1, seed=0)).plan
    assert evaluate(p, plan, TRAVEL).ok
    return p, plan


def _first_two_done(plan: Plan) -> tuple[set[str], dict[str, int], int]:
    done, in_progress, now = set(), {}, hm("09:00")
    for r in plan.routes:
        if len(r.stops) >= 2:
            done.add(r.stops[0].visit_id)
            in_progress[r.stops[1].visit_id] = r.stops[1].start_s
            now = max(now, r.stops[1].start_s + 600)
    return done, in_progress, now


def test_replan_keeps_frozen_stops_and_passes_the_evaluator(solved: tuple) -> None:
    p, plan = solved
    done, in_progress, now = _first_two_done(plan)
    out = replan(p, plan, TRAVEL, SolveParams(time_limit_s=1), now_s=now, done=done,
                 in_progress=in_progress)
    ev = evaluate(p, out.plan, TRAVEL)
    assert ev.ok, ev.violations
    for r in plan.routes:
        merged = out.plan.route_of(r.worker_id)
        frozen = [s for s in r.stops if s.visit_id in done or s.visit_id in in_progress]
        assert list(merged.stops[: len(frozen)]) == frozen
        for s in merged.stops[len(frozen):]:
            assert s.start_s >= now
    assert out.plan.assigned_visit_ids() | {u.visit_id for u in out.plan.unassigned} == {
        v.id for v in p.visits
    }


def test_replan_with_nothing_new_changes_little(solved: tuple) -> None:
    p, plan = solved
    done, in_progress, now = _first_two_done(plan)
    out = replan(p, plan, TRAVEL, SolveParams(time_limit_s=1), now_s=now, done=done,
                 in_progress=in_progress)
    assert out.changes["moved"] <= 1
    assert out.changes["dropped"] == 0


def test_replan_hands_an_off_sick_workers_visits_to_others(solved: tuple) -> None:
    p, plan = solved
    sick = next(r for r in plan.routes if len(r.stops) >= 2)
    done = {sick.stops[0].visit_id}
    now = sick.stops[0].end_s + 60
    out = replan(p, plan, TRAVEL, SolveParams(time_limit_s=1), now_s=now, done=done,
                 off_sick={sick.worker_id})
    route = out.plan.route_of(sick.worker_id)
    assert [s.visit_id for s in route.stops] == [sick.stops[0].visit_id]
    others = {s.visit_id for r in out.plan.routes if r.worker_id != sick.worker_id for s in r.stops}
    assert others & {s.visit_id for s in sick.stops[1:]}
    left = [v for v in evaluate(p, out.plan, TRAVEL).violations
            if not (v.worker_id == sick.worker_id and v.code == "break")]  # went home before lunch
    assert not left, left


def test_replan_inserts_an_urgent_visit(solved: tuple) -> None:
    p, plan = solved
    done, in_progress, now = _first_two_done(plan)
    urgent = Visit(id="crisis", household_id="h8", kind=VisitKind.CRISIS, urgent=True, mandatory=True,
                   required_skills=frozenset({"nursing"}))
    p2 = replace(p, visits=(*p.visits, urgent))
    out = replan(p2, plan, TRAVEL, SolveParams(time_limit_s=1), now_s=now, done=done,
                 in_progress=in_progress)
    assert "crisis" in out.plan.assigned_visit_ids()
    assert evaluate(p2, out.plan, TRAVEL).ok


def test_replan_passes_the_current_plan_to_the_solver_as_previous() -> None:
    p, plan = _day()
    seen = {}

    def fake_solve(rest, travel, params, *, previous, progress, should_stop):  # type: ignore[no-untyped-def]
        seen["previous"] = previous
        seen["rest"] = rest

        class R:
            plan = Plan(date=DAY, routes=())
            stopped_early = False

        return R()

    replan(p, plan, TRAVEL, now_s=hm("10:15"), done={"v1"}, solve_fn=fake_solve)
    prev = seen["previous"]
    assert {s.visit_id for r in prev.routes for s in r.stops} == {"v2", "v3", "v4", "v5", "v6"}
    assert {v.id for v in seen["rest"].visits} == {"v2", "v3", "v4", "v5", "v6"}
