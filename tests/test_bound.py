"""The upper bound on risk coverage: never below what any feasible plan covers, and not trivially loose."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re

import pytest
from daysupport import DAY, household, problem, window, worker
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner import (
    HaversineProvider,
    Plan,
    RiskFactors,
    Role,
    Seat,
    SolveParams,
    TravelModeName,
    Visit,
    compile_instance,
    evaluate,
    problem_to_json,
    solve,
)
from planner.bound import BOUND_METHODS, CoverageBound, coverage_bound, selection_bound
from planner.cli import main
from planner.plan import Reason, Route, Stop, Unassigned
from planner.schedule import schedule_route

TRAVEL = HaversineProvider()
FAST = SolveParams(time_limit_s=30, deterministic=True, solution_limit=20)


@st.composite
def small_days(draw, max_visits: int = 7):
    """Up to 7 visits and 2 workers: windows (one or two), skills, short shifts, lunch, visit, work and load
    limits."""
    n = draw(st.integers(1, max_visits))
    n_w = draw(st.integers(1, 2))
    hs, vs = [], []
    for i in range(n):
        # Some households share a place (0 s between them), the others lie up to ~2.5 km apart.
        same = i > 0 and draw(st.integers(0, 5)) == 0
        dlat = 0.0 if same else draw(st.floats(-0.015, 0.015))
        dlon = 0.0 if same else draw(st.floats(-0.015, 0.015))
        risk = RiskFactors(
            sex=draw(st.sampled_from(["M", "F"])),
            age_band=draw(st.sampled_from(["40-49", "50-64", "75+"])),
            alcohol=draw(st.booleans()),
            housing=draw(st.sampled_from(["house", "goshiwon", "one_room"])),
            social_contact=draw(st.sampled_from(["none", "weekly"])),
        )
        last = DAY - dt.timedelta(days=draw(st.integers(1, 200)))
        hs.append(household(i, dlat=dlat, dlon=dlon, risk=risk, last_contact=last))
        wins: tuple = ()
        kind = draw(st.integers(0, 3))
        if kind == 1:
            start = draw(st.integers(9, 16))
            wins = (window(f"{start:02d}:00", f"{start:02d}:45"),)
        elif kind == 2:
            a, b = sorted(draw(st.lists(st.integers(9, 16), min_size=2, max_size=2, unique=True)))
            wins = (window(f"{a:02d}:00", f"{a:02d}:20"), window(f"{b:02d}:00", f"{b:02d}:20"))
        skill = frozenset({"counselling"}) if draw(st.integers(0, 4)) == 0 else frozenset()
        vs.append(Visit(id=f"v{i}", household_id=f"h{i}", time_windows=wins, required_skills=skill,
                        duration_s=draw(st.sampled_from([1800, 2700, 3600, 5400])), load=draw(st.integers(0, 2))))
    ws = []
    for w in range(n_w):
        start = draw(st.integers(9, 12))
        end = draw(st.integers(max(start + 3, 13), 17))
        brk = draw(st.booleans()) and end >= 14  # the lunch window must lie inside the shift
        ws.append(worker(w, shift=window(f"{start:02d}:00", f"{end:02d}:00"),
                         skills=frozenset({"counselling"}) if draw(st.booleans()) else frozenset(),
                         break_window=window("12:00", "13:30") if brk else None, break_s=1800 if brk else 0,
                         max_visits=draw(st.sampled_from([None, 2, 3])),
                         max_work_s=draw(st.sampled_from([None, 3 * 3600, 4 * 3600])),
                         capacity=draw(st.sampled_from([None, None, 2, 3])),
                         travel_mode=draw(st.sampled_from([TravelModeName.WALK, TravelModeName.DRIVE]))))
    return problem(hs, ws, vs)


def _route(inst, w, order, timing) -> Route:
    worker_ = inst.worker(w)
    stops = tuple(Stop(visit_id=inst.visit(v).id, household_id=inst.visit(v).household_id,
                       arrival_s=timing.arrivals[k], start_s=timing.starts[k], end_s=timing.ends[k])
                  for k, v in enumerate(order))
    brk = timing.break_start_s
    return Route(worker_id=worker_.id, depart_s=timing.depart_s, return_s=timing.return_s, stops=stops,
                 break_start_s=brk, break_end_s=None if brk is None else brk + worker_.break_s)


def _brute_force(p):
    """The most risk any plan covers: every subset of visits per worker, every order, timed by the scheduler;
    the best combination is then built into a plan the evaluator must accept (the judge).  The scheduler may miss
    a feasible timing now and then, which can only make this optimum smaller, never larger."""
    inst = compile_instance(p, TRAVEL)
    n, n_w = inst.n_visits, inst.n_workers
    routes: list[dict[frozenset[int], tuple]] = []
    for w in range(n_w):
        cap, capacity = inst.worker(w).max_visits, inst.worker(w).capacity
        ok: dict[frozenset[int], tuple] = {frozenset(): ((), None)}
        for k in range(1, n + 1):
            if cap is not None and k > cap:
                break
            for subset in itertools.combinations(range(n), k):
                s = frozenset(subset)
                if any(w not in inst.allowed[v] for v in s) or not all(s - {v} in ok for v in s):
                    continue  # a feasible route stays feasible without one of its visits
                if capacity is not None and sum(inst.visit(v).load for v in s) > capacity:
                    continue
                for perm in itertools.permutations(subset):
                    t = schedule_route(inst, w, perm)
                    if t.ok:
                        ok[s] = (perm, t)
                        break
        routes.append(ok)
    best, choice = 0.0, [frozenset()] * n_w
    for combo in itertools.product(*(list(r) for r in routes)):
        if sum(len(s) for s in combo) != len(frozenset().union(*combo)):
            continue
        value = float(sum(inst.weight[v] for s in combo for v in s))
        if value > best:
            best, choice = value, list(combo)
    served = frozenset().union(*choice)
    plan = Plan(date=p.date, routes=tuple(_route(inst, w, *routes[w][s]) for w, s in enumerate(choice) if s),
                unassigned=tuple(Unassigned(visit_id=inst.visit(v).id, household_id=inst.visit(v).household_id,
                                            reason=Reason.OVER_CAPACITY, detail="")
                                 for v in range(n) if v not in served))
    ev = evaluate(p, plan, TRAVEL)
    assert ev.ok, [v.message for v in ev.violations]
    assert ev.kpis.risk_covered == pytest.approx(best, abs=1e-3)
    return inst, best


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_days())
def test_no_plan_covers_more_than_the_bound(p) -> None:
    inst, optimum = _brute_force(p)
    for deterministic in (True, False):
        b = coverage_bound(inst, time_limit_s=10, deterministic=deterministic)
        assert b.method in BOUND_METHODS
        assert round(optimum, 3) <= b.value, (optimum, b)  # risk_covered as the KPIs state it
    assert round(optimum, 3) <= selection_bound(inst).value
    # Out of time at once: the cheapest fallback (service times only, no travel, no windows) still holds.
    hurried = coverage_bound(inst, time_limit_s=0.0)
    assert hurried.method == "selection" and round(optimum, 3) <= hurried.value


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_days(max_visits=5))
def test_the_exact_relaxation_is_at_least_as_tight_as_the_selection_bound(p) -> None:
    inst = compile_instance(p, TRAVEL)
    b = coverage_bound(inst, deterministic=True)
    assert b.value <= selection_bound(inst).value + 1e-9
    assert b.value <= float(inst.weight.sum()) + 1e-3


def test_the_bound_equals_the_total_when_everything_fits() -> None:
    hs = [household(i, dlat=0.001 * i) for i in range(4)]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}", duration_s=1800) for i in range(4)]
    p = problem(hs, [worker(0)], vs)
    r = solve(p, TRAVEL, FAST)
    k = r.plan.kpis
    assert k.visits_assigned == 4
    assert k.coverage_bound == pytest.approx(k.risk_total, abs=2e-3)
    assert k.coverage_gap == 0.0 and k.coverage_bound_method in BOUND_METHODS


def test_a_full_day_is_bounded_by_what_fits_not_by_the_total() -> None:
    """One worker, 3 hours, six one-hour visits of different weight: at most two fit with travel, and the bound
    (the assignment relaxation) sits at the two heaviest, far below the total."""
    hs = [household(i, dlat=0.002 * (i + 1), priority=float(10 * (i + 1))) for i in range(6)]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}", duration_s=3600, priority=float(10 * (i + 1))) for i in range(6)]
    p = problem(hs, [worker(0, shift=window("09:00", "12:00"), break_window=None, break_s=0)], vs)
    inst = compile_instance(p, TRAVEL)
    b = coverage_bound(inst, deterministic=True)
    assert b.method == "assignment_mip"
    assert b.value == pytest.approx(60 + 50, abs=1e-3)
    r = solve(p, TRAVEL, FAST)
    assert r.plan.kpis.risk_covered == pytest.approx(110, abs=1e-3)
    assert r.plan.kpis.coverage_gap == 0.0


def test_a_visit_no_shift_can_meet_adds_nothing() -> None:
    hs = [household(0), household(1, dlat=0.001)]
    vs = [Visit(id="v0", household_id="h0", duration_s=1800),
          Visit(id="late", household_id="h1", duration_s=1800, time_windows=(window("19:00", "20:00"),))]
    inst = compile_instance(problem(hs, [worker(0)], vs), TRAVEL)
    for b in (coverage_bound(inst, deterministic=True), selection_bound(inst)):
        assert b.value == pytest.approx(float(inst.weight[0]), abs=1e-3)


def test_a_joint_visit_takes_two_workers() -> None:
    """A two-seat visit cannot be made by one worker, and fills two workers' time when there are two."""
    hs = [household(0), household(1, dlat=0.002)]
    crew = (Seat(role=Role.VISITING_NURSE), Seat(role=Role.VISITING_NURSE))
    vs = [Visit(id="joint", household_id="h0", duration_s=3600, crew=crew, priority=100.0),
          Visit(id="solo", household_id="h1", duration_s=3600, priority=1.0)]
    short = dict(shift=window("09:00", "10:30"), break_window=None, break_s=0)
    alone = compile_instance(problem(hs, [worker(0, **short)], vs), TRAVEL)
    assert coverage_bound(alone, deterministic=True).value == pytest.approx(1.0, abs=1e-3)
    pair = compile_instance(problem(hs, [worker(0, **short), worker(1, **short)], vs), TRAVEL)
    # Either the joint visit (both workers' whole time) or the solo one, not both.
    assert coverage_bound(pair, deterministic=True).value == pytest.approx(100.0, abs=1e-3)


def test_the_bound_reaches_the_plan_file_and_reads_back() -> None:
    hs = [household(i, dlat=0.001 * i) for i in range(3)]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}", duration_s=1800) for i in range(3)]
    r = solve(problem(hs, [worker(0)], vs), TRAVEL, FAST)
    data = r.plan.to_json()
    assert {"coverage_bound", "coverage_gap", "coverage_bound_method"} <= set(data["kpis"])
    assert Plan.from_json(data).kpis == r.plan.kpis


def test_the_bound_is_rejected_when_malformed() -> None:
    with pytest.raises(ValueError, match="method"):
        CoverageBound(value=1.0, method="guess")
    with pytest.raises(ValueError, match="value"):
        CoverageBound(value=float("nan"), method="selection")


def _full_day():
    hs = [household(i, dlat=0.002 * (i + 1)) for i in range(6)]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}", duration_s=3600, priority=float(10 * (i + 1))) for i in range(6)]
    return problem(hs, [worker(0, shift=window("09:00", "12:00"), break_window=None, break_s=0)], vs)


def test_the_cli_table_and_check_state_the_bound(tmp_path, capsys) -> None:
    src = tmp_path / "day.json"
    src.write_text(json.dumps(problem_to_json(_full_day())), encoding="utf-8")
    out = tmp_path / "plan.json"
    assert main(["plan", str(src), "--deterministic", "--solution-limit", "20", "--time-limit", "30",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    kpis = json.loads(out.read_text(encoding="utf-8"))["kpis"]
    assert kpis["coverage_bound"] == pytest.approx(110.0, abs=1e-3) and kpis["coverage_bound_method"] == "assignment_mip"
    assert re.search(r"Risk covered 110\.0 of at most 110\.0 \(gap 0\.000 %; bound: assignment_mip\)", text), text
    assert main(["check", str(src), str(out)]) == 0
    assert "of at most 110.0 (gap 0.000 %" in capsys.readouterr().out


def test_a_plan_below_the_bound_shows_its_gap(tmp_path, capsys) -> None:
    """A hand-made plan with only the lightest visit: checked, it states how much more a plan could cover."""
    p = _full_day()
    inst = compile_instance(p, TRAVEL)
    t = schedule_route(inst, 0, (0,))
    plan = Plan(date=p.date, routes=(_route(inst, 0, (0,), t),),
                unassigned=tuple(Unassigned(visit_id=f"v{i}", household_id=f"h{i}", reason=Reason.OVER_CAPACITY,
                                            detail="") for i in range(1, 6)))
    ev = evaluate(p, plan, TRAVEL, bound_s=5)
    assert ev.ok and ev.kpis.risk_covered == pytest.approx(10.0)
    assert ev.kpis.coverage_bound == pytest.approx(110.0, abs=1e-3)
    assert ev.kpis.coverage_gap == pytest.approx(100 / 110, abs=1e-5)
    assert evaluate(p, plan, TRAVEL).kpis.coverage_bound is None  # only when asked for


def _large_day(n_visits: int = 4000, n_workers: int = 300):
    """A city-sized day: ``n_visits`` one-hour visits at distinct places, ``n_workers`` nurses walking."""
    hs = [household(i, dlat=0.0001 * (i % 97), dlon=0.0001 * (i // 97)) for i in range(n_visits)]
    vs = [Visit(id=f"v{i}", household_id=f"h{i}", duration_s=3600) for i in range(n_visits)]
    return compile_instance(problem(hs, [worker(w) for w in range(n_workers)], vs), TRAVEL)


def test_a_large_day_gets_its_bound_within_its_share(monkeypatch) -> None:
    """Issue 16: on 4,000 visits and 300 workers, finding every visit's cheapest legs (a scan of the 16-million-cell
    travel table and of every pair) would not fit a 10 s budget's share (0.5 s) on a loaded machine: the day's
    size alone picks the bound with qualification and service only (not one table row is read), which stays a
    bound (at least the one with legs), is the same on every call, and takes its share at most."""
    from planner import bound as bound_mod

    inst = _large_day()
    share = 0.5
    assert bound_mod._legs_estimate_s(inst) > bound_mod._LEGS_SHARE * share
    with_legs = coverage_bound(inst, time_limit_s=60.0, deterministic=True, lp_pairs=0)
    assert with_legs.method == "selection"

    def no_scan(*args, **kwargs):
        raise AssertionError("the travel table was scanned")

    monkeypatch.setattr(bound_mod, "_cheapest_between", no_scan)
    first = coverage_bound(inst, time_limit_s=share, deterministic=True)
    again = coverage_bound(inst, time_limit_s=share, deterministic=True)
    clocked = coverage_bound(inst, time_limit_s=share)
    assert first.method == "selection" and first.value == again.value == clocked.value
    assert with_legs.value <= first.value <= float(inst.weight.sum()) + 1e-3
    # Generous slack for a shared machine: before the fix this day took about 2 s of its 0.5 s.
    assert max(first.elapsed_s, again.elapsed_s, clocked.elapsed_s) <= share + 0.25
