"""Solve behaviour, always judged through the evaluator."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest
from daysupport import BASE, DAY, hm, household, problem, window, worker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner import (
    HaversineProvider,
    Location,
    Reason,
    RiskFactors,
    Role,
    SolveParams,
    TravelModeName,
    Visit,
    VisitKind,
    compile_instance,
    evaluate,
    solve,
)
from planner.schedule import schedule_route

TRAVEL = HaversineProvider()
#: Tiny days stop on a small work budget, not a fixed second each; the time limit is only a safety cap.
FAST = SolveParams(time_limit_s=30, deterministic=True, solution_limit=20)


def _ok(p, result):
    ev = evaluate(p, result.plan, TRAVEL)
    assert ev.ok, [v.message for v in ev.violations]
    return ev


def test_plans_every_visit_when_there_is_room_with_lunch_and_windows() -> None:
    hs = [household(i, dlat=0.002 * i, dlon=-0.001 * i) for i in range(6)]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}") for i in range(6)]
    vs[2] = Visit(id="v2", household_id="h2", time_windows=(window("14:00", "15:00"),))
    p = problem(hs, [worker(0), worker(1)], vs)
    r = solve(p, TRAVEL, FAST)
    _ok(p, r)
    assert r.plan.kpis.visits_assigned == 6
    stop = next(s for rt in r.plan.routes for s in rt.stops if s.visit_id == "v2")
    assert hm("14:00") <= stop.start_s <= hm("15:00")
    for rt in r.plan.routes:
        assert rt.break_start_s is not None and hm("12:00") <= rt.break_start_s <= hm("12:30")


def test_skills_languages_and_required_worker_are_hard_rules() -> None:
    hs = [household(0), household(1, languages=("zh",)), household(2)]
    ws = [worker(0), worker(1, skills=frozenset({"nursing", "dementia_care"}), languages=("ko", "zh"))]
    vs = [
        Visit(id="v0", household_id="h0", required_skills=frozenset({"dementia_care"})),
        Visit(id="v1", household_id="h1"),
        Visit(id="v2", household_id="h2", required_worker_id="w0"),
    ]
    p = problem(hs, ws, vs)
    r = solve(p, TRAVEL, FAST)
    _ok(p, r)
    where = {s.visit_id: rt.worker_id for rt in r.plan.routes for s in rt.stops}
    assert where == {"v0": "w1", "v1": "w1", "v2": "w0"}


def test_high_risk_wins_when_capacity_binds() -> None:
    risky = RiskFactors(sex="M", age_band="50-64", basic_livelihood=True, alcohol=True,
                        housing="goshiwon", social_contact="none")
    calm = RiskFactors(sex="F", age_band="<40", housing="apartment", social_contact="daily")
    hs = [household(i, dlat=0.001 * i, risk=risky if i < 2 else calm) for i in range(5)]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}") for i in range(5)]
    p = problem(hs, [worker(0, max_visits=2)], vs)
    r = solve(p, TRAVEL, FAST)
    _ok(p, r)
    assert {s.visit_id for rt in r.plan.routes for s in rt.stops} == {"v0", "v1"}
    assert {u.reason for u in r.plan.unassigned} == {Reason.OVER_CAPACITY}
    assert all("visit or load limit" in u.detail for u in r.plan.unassigned)


def test_mandatory_and_urgent_visits_beat_any_optional_risk() -> None:
    risky = RiskFactors(sex="M", age_band="50-64", basic_livelihood=True, alcohol=True,
                        housing="goshiwon", social_contact="none")
    hs = [household(i, dlat=0.001 * i, risk=risky, last_contact=dt.date(2026, 1, 1)) for i in range(4)]
    hs.append(household(4, dlat=0.02, risk=RiskFactors(sex="F", age_band="<40"), last_contact=DAY))
    hs.append(household(5, dlat=-0.02, risk=RiskFactors(sex="F", age_band="<40"), last_contact=DAY))
    vs = [Visit(id=f"v{i}", household_id=f"h{i}") for i in range(4)]
    vs += [Visit(id="v4", household_id="h4", mandatory=True), Visit(id="v5", household_id="h5", urgent=True)]
    p = problem(hs, [worker(0, max_visits=2)], vs)
    r = solve(p, TRAVEL, FAST)
    _ok(p, r)
    assert {s.visit_id for rt in r.plan.routes for s in rt.stops} == {"v4", "v5"}


def test_every_unassigned_visit_has_an_actionable_reason() -> None:
    hs = [household(0), household(1), household(2, availability=()), household(3, dlat=0.01)]
    ws = [worker(0, max_visits=1)]
    vs = [
        Visit(id="sign", household_id="h0", required_skills=frozenset({"sign_language"})),
        Visit(id="night", household_id="h1", time_windows=(window("20:00", "21:00"),)),
        Visit(id="a", household_id="h2", kind=VisitKind.ASSESSMENT),
        Visit(id="b", household_id="h3", mandatory=True),
    ]
    p = problem(hs, ws, vs)
    r = solve(p, TRAVEL, FAST)
    _ok(p, r)
    reasons = {u.visit_id: u for u in r.plan.unassigned}
    assert reasons["sign"].reason is Reason.NO_QUALIFIED_WORKER and "sign_language" in reasons["sign"].detail
    assert reasons["night"].reason is Reason.OUTSIDE_EVERY_SHIFT and "20:00-21:00" in reasons["night"].detail
    assert reasons["a"].reason is Reason.OVER_CAPACITY and "w0" in reasons["a"].detail
    assert "b" not in reasons, "the mandatory visit takes the only slot"


def test_mandatory_visit_that_cannot_fit_says_why() -> None:
    p = problem([household(0)], [worker(0, shift=window("09:00", "12:00"), break_window=None, break_s=0)],
                [Visit(id="m", household_id="h0", mandatory=True, time_windows=(window("15:00", "16:00"),))])
    r = solve(p, TRAVEL, FAST)
    _ok(p, r)
    (u,) = r.plan.unassigned
    assert u.mandatory and u.reason is Reason.OUTSIDE_EVERY_SHIFT
    assert u.detail.startswith("Mandatory visit could not be honoured")


def test_unreachable_household_becomes_unassigned_with_reason() -> None:
    import numpy as np

    from planner import UNREACHABLE, TravelMatrix

    class Island:
        def matrix(self, locations, *, mode):
            m = TRAVEL.matrix(locations, mode=mode)
            d, dist = m.duration_s.copy(), m.distance_m.copy()
            far = [i for i, p in enumerate(locations) if p.lat > 37.6]
            for i in far:
                d[i, :] = d[:, i] = UNREACHABLE
                dist[i, :] = dist[:, i] = UNREACHABLE
                d[i, i] = dist[i, i] = 0
            return TravelMatrix(duration_s=d, distance_m=dist, mode=mode, source="test",
                                unreachable_reason={i: "812 m from the nearest street" for i in far})

    hs = [household(0), household(1, dlat=0.2)]
    p = problem(hs, [worker(0)], [Visit(id="v0", household_id="h0"), Visit(id="v1", household_id="h1")])
    r = solve(p, Island(), FAST)
    assert not evaluate(p, r.plan, Island()).violations
    (u,) = r.plan.unassigned
    assert u.visit_id == "v1" and u.reason is Reason.UNREACHABLE and "812 m" in u.detail
    assert np  # used


def test_preferred_worker_is_kept_when_it_costs_little() -> None:
    hs = [household(i, dlat=0.001 * i, preferred_worker_id="w1") for i in range(3)]
    p = problem(hs, [worker(0), worker(1)], [Visit(id=f"v{i}", household_id=f"h{i}") for i in range(3)])
    r = solve(p, TRAVEL, FAST)
    _ok(p, r)
    assert {rt.worker_id for rt in r.plan.routes} == {"w1"}


def test_drive_mode_and_speed_factor_change_travel() -> None:
    hs = [household(0, dlat=0.02)]
    vs = [Visit(id="v0", household_id="h0")]
    walk = solve(problem(hs, [worker(0)], vs), TRAVEL, FAST).plan.routes[0].stops[0].travel_s
    drive = solve(problem(hs, [worker(0, travel_mode=TravelModeName.DRIVE)], vs), TRAVEL, FAST)
    fast_walker = solve(problem(hs, [worker(0, speed_factor=2.0)], vs), TRAVEL, FAST)
    assert drive.plan.routes[0].stops[0].travel_s < walk / 3
    assert abs(fast_walker.plan.routes[0].stops[0].travel_s - walk / 2) <= 1


def test_service_time_depends_on_kind_and_role() -> None:
    from planner import ServiceTimes

    hs = [household(0), household(1)]
    vs = [Visit(id="a", household_id="h0", kind=VisitKind.ASSESSMENT), Visit(id="r", household_id="h1")]
    st_ = ServiceTimes(by_kind_s={"assessment": 3600, "routine": 1800, "follow_up": 1200, "crisis": 2400},
                       by_kind_role_s={"routine": {"case_manager": 900}})
    from planner import Problem

    p = Problem(date=DAY, households=tuple(hs), workers=(worker(0, role=Role.CASE_MANAGER, skills=frozenset()),),
                visits=tuple(vs), service_times=st_)
    r = solve(p, TRAVEL, FAST)
    _ok(p, r)
    dur = {s.visit_id: s.end_s - s.start_s for s in r.plan.routes[0].stops}
    assert dur == {"a": 3600, "r": 900}


def test_max_working_time_is_respected() -> None:
    hs = [household(i, dlat=0.003 * i) for i in range(8)]
    p = problem(hs, [worker(0, max_work_s=3 * 3600)], [Visit(id=f"v{i}", household_id=f"h{i}") for i in range(8)])
    r = solve(p, TRAVEL, FAST)
    _ok(p, r)
    assert 0 < r.plan.kpis.visits_assigned < 8


def test_deterministic_mode_gives_the_same_plan() -> None:
    hs = [household(i, dlat=0.002 * (i % 5), dlon=0.002 * (i // 5)) for i in range(25)]
    p = problem(hs, [worker(0, max_visits=7), worker(1, max_visits=7)],
                [Visit(id=f"v{i}", household_id=f"h{i}") for i in range(25)])
    params = SolveParams(time_limit_s=30, deterministic=True, solution_limit=300, seed=3)
    a = solve(p, TRAVEL, params).plan.to_json()
    b = solve(p, TRAVEL, params).plan.to_json()
    assert a["routes"] == b["routes"] and a["unassigned"] == b["unassigned"]


def test_multiple_time_windows_are_honoured() -> None:
    hs = [household(0)]
    vs = [Visit(id="v", household_id="h0", time_windows=(window("08:00", "08:30"), window("16:00", "16:30")))]
    p = problem(hs, [worker(0)], vs)
    r = solve(p, TRAVEL, FAST)
    _ok(p, r)
    assert hm("16:00") <= r.plan.routes[0].stops[0].start_s <= hm("16:30")


# ---- properties ---------------------------------------------------------------------------

@st.composite
def small_problems(draw, max_visits: int = 6):
    n = draw(st.integers(1, max_visits))
    n_w = draw(st.integers(1, 2))
    hs, vs = [], []
    for i in range(n):
        dlat = draw(st.floats(-0.012, 0.012))
        dlon = draw(st.floats(-0.012, 0.012))
        risk = RiskFactors(
            sex=draw(st.sampled_from(["M", "F"])),
            age_band=draw(st.sampled_from(["40-49", "50-64", "75+"])),
            alcohol=draw(st.booleans()),
            housing=draw(st.sampled_from(["house", "goshiwon", "one_room"])),
            social_contact=draw(st.sampled_from(["none", "weekly"])),
        )
        last = DAY - dt.timedelta(days=draw(st.integers(1, 200)))
        hs.append(household(i, dlat=dlat, dlon=dlon, risk=risk, last_contact=last))
        wins = ()
        if draw(st.booleans()):
            start = draw(st.integers(9, 16))
            wins = (window(f"{start:02d}:00", f"{start + 1:02d}:30"),)
        skill = frozenset({"counselling"}) if draw(st.integers(0, 4)) == 0 else frozenset()
        vs.append(Visit(id=f"v{i}", household_id=f"h{i}", time_windows=wins, required_skills=skill,
                        duration_s=draw(st.sampled_from([1800, 2700, 3600]))))
    ws = []
    for w in range(n_w):
        start = draw(st.integers(9, 11))
        end = draw(st.integers(14, 18))
        skills = frozenset({"counselling"}) if draw(st.booleans()) else frozenset()
        brk = draw(st.booleans())
        ws.append(worker(w, shift=window(f"{start:02d}:00", f"{end:02d}:00"), skills=skills,
                         break_window=window("12:00", "13:30") if brk else None, break_s=1800 if brk else 0,
                         max_visits=draw(st.sampled_from([None, 2, 3])),
                         travel_mode=draw(st.sampled_from([TravelModeName.WALK, TravelModeName.DRIVE]))))
    return problem(hs, ws, vs)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems())
def test_random_small_problems_give_plans_with_zero_violations(p) -> None:
    r = solve(p, TRAVEL, FAST)
    _ok(p, r)
    assert len(r.plan.unassigned) + r.plan.kpis.visits_assigned == len(p.visits)


def _brute_force_best(p) -> float:
    inst = compile_instance(p, TRAVEL)
    n, n_w = inst.n_visits, inst.n_workers
    feasible: list[dict[frozenset[int], bool]] = []
    for w in range(n_w):
        cap = inst.worker(w).max_visits
        ok: dict[frozenset[int], bool] = {frozenset(): True}
        for k in range(1, n + 1):
            for subset in itertools.combinations(range(n), k):
                s = frozenset(subset)
                if (cap is not None and k > cap) or any(w not in inst.allowed[v] for v in s):
                    ok[s] = False
                    continue
                if not all(ok.get(s - {v}, False) for v in s):
                    ok[s] = False  # a feasible route stays feasible without one visit (earliest start)
                    continue
                ok[s] = any(schedule_route(inst, w, perm).ok for perm in itertools.permutations(subset))
        feasible.append(ok)
    best = 0.0
    subsets = [s for s, good in feasible[0].items() if good]
    for s0 in subsets:
        if n_w == 1:
            best = max(best, sum(inst.weight[v] for v in s0))
            continue
        for s1, good in feasible[1].items():
            if good and not (s0 & s1):
                best = max(best, sum(inst.weight[v] for v in s0 | s1))
    return float(best)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_problems(max_visits=6))
def test_risk_covered_equals_brute_force_optimum(p) -> None:
    r = solve(p, TRAVEL, FAST)
    _ok(p, r)
    optimum = _brute_force_best(p)
    # Coverage dominates travel: any gap must be below what the plan's travel is worth.
    slack = r.plan.kpis.travel_s / SolveParams().penalty_unit + 1e-6
    assert r.plan.kpis.risk_covered >= optimum - slack - 1e-3


def test_brute_force_reference_handles_an_infeasible_pair() -> None:
    hs = [household(0), household(1, dlat=0.05)]
    vs = [Visit(id="v0", household_id="h0", time_windows=(window("10:00", "10:05"),)),
          Visit(id="v1", household_id="h1", time_windows=(window("10:10", "10:15"),))]
    p = problem(hs, [worker(0)], vs)
    inst = compile_instance(p, TRAVEL)
    assert not schedule_route(inst, 0, (0, 1)).ok
    r = solve(p, TRAVEL, FAST)
    _ok(p, r)
    assert r.plan.kpis.visits_assigned == 1


@pytest.mark.parametrize("bad_lat", [91.0, -95.0])
def test_impossible_coordinates_are_refused(bad_lat: float) -> None:
    with pytest.raises(ValueError, match="lat"):
        Location(lat=bad_lat, lon=BASE.lon)


def test_load_capacity_is_a_hard_rule() -> None:
    hs = [household(i, dlat=0.001 * i) for i in range(4)]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}", load=2) for i in range(4)]
    p = problem(hs, [worker(0, capacity=5)], vs)
    r = solve(p, TRAVEL, FAST)
    _ok(p, r)
    assert r.plan.kpis.visits_assigned == 2


def test_departure_never_comes_after_the_first_arrival() -> None:
    hs = [household(0, dlat=0.001), household(1, dlat=0.002)]
    vs = [Visit(id="v0", household_id="h0", time_windows=(window("13:00", "13:30"),)),
          Visit(id="v1", household_id="h1", time_windows=(window("15:00", "15:30"),))]
    p = problem(hs, [worker(0, break_window=window("12:00", "13:00"))], vs)
    r = solve(p, TRAVEL, FAST)
    _ok(p, r)
    for rt in r.plan.routes:
        first = rt.stops[0]
        assert rt.depart_s + first.travel_s <= first.arrival_s + (3600 if rt.break_start_s is not None else 0)
        assert rt.depart_s <= first.arrival_s <= first.start_s
        for s in rt.stops:
            assert s.arrival_s <= s.start_s
