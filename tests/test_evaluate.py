"""The evaluator catches every kind of broken rule in a hand-edited plan."""

from __future__ import annotations

import dataclasses

from daysupport import hm, household, problem, window, worker

from planner import HaversineProvider, Plan, SolveParams, Visit, evaluate, solve

TRAVEL = HaversineProvider()


def _solved():
    hs = [household(i, dlat=0.002 * i) for i in range(4)]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}", required_skills=frozenset({"nursing"})) for i in range(4)]
    vs[1] = Visit(id="v1", household_id="h1", time_windows=(window("10:00", "11:00"),))
    p = problem(hs, [worker(0, max_visits=4, max_work_s=8 * 3600), worker(1, skills=frozenset())], vs)
    r = solve(p, TRAVEL, SolveParams(time_limit_s=30, deterministic=True, solution_limit=20))
    assert evaluate(p, r.plan, TRAVEL).ok
    return p, r.plan


def _codes(p, plan) -> set[str]:
    return {v.code for v in evaluate(p, plan, TRAVEL).violations}


def _edit_route(plan: Plan, **changes) -> Plan:
    route = dataclasses.replace(plan.routes[0], **changes)
    return dataclasses.replace(plan, routes=(route, *plan.routes[1:]))


def test_each_rule_is_checked() -> None:
    p, plan = _solved()
    route = plan.routes[0]
    assert route.worker_id == "w0" and len(route.stops) == 4
    stops = list(route.stops)

    def with_stops(new) -> Plan:
        return _edit_route(plan, stops=tuple(new))

    # Time window broken: v1 moved to 16:00 with its travel still respected.
    i = next(k for k, s in enumerate(stops) if s.visit_id == "v1")
    late = [*stops[:i], *stops[i + 1:]]
    s1 = stops[i]
    late.append(dataclasses.replace(s1, start_s=hm("16:30"), end_s=hm("16:30") + (s1.end_s - s1.start_s)))
    assert "time_window" in _codes(p, _edit_route(plan, stops=tuple(late), return_s=hm("17:59")))
    # Service shortened.
    short = [dataclasses.replace(stops[0], end_s=stops[0].start_s + 60), *stops[1:]]
    assert "service_time" in _codes(p, with_stops(short))
    # Travel impossible: second stop starts when the first ends.
    tight = [stops[0], dataclasses.replace(stops[1], start_s=stops[0].end_s, end_s=stops[0].end_s + 2400), *stops[2:]]
    assert "travel" in _codes(p, with_stops(tight))
    # Shift end, break and working-time limit.
    assert "shift" in _codes(p, _edit_route(plan, return_s=hm("19:00")))
    assert "break" in _codes(p, _edit_route(plan, break_start_s=None, break_end_s=None))
    assert "break" in _codes(p, _edit_route(plan, break_start_s=hm("15:00"), break_end_s=hm("16:00")))
    # Qualification: give w1 (no nursing skill) the route.
    assert "qualification" in _codes(p, _edit_route(plan, worker_id="w1"))
    # Missing, unknown and duplicated visits.
    assert "missing_visit" in _codes(p, with_stops(stops[1:]))
    assert "unknown_visit" in _codes(p, with_stops([*stops, dataclasses.replace(stops[0], visit_id="zzz")]))
    assert "duplicate_visit" in _codes(p, with_stops([*stops, stops[0]]))
    assert "unknown_worker" in _codes(p, _edit_route(plan, worker_id="ghost"))


def test_max_visits_and_max_work_are_checked() -> None:
    p, plan = _solved()
    tight = dataclasses.replace(p, workers=(dataclasses.replace(p.workers[0], max_visits=2, max_work_s=3600),
                                            p.workers[1]))
    assert {"max_visits", "max_work"} <= _codes(tight, plan)


def test_plan_json_round_trip_keeps_evaluation() -> None:
    p, plan = _solved()
    again = Plan.from_json(plan.to_json())
    assert evaluate(p, again, TRAVEL).ok
    assert again.routes == plan.routes
