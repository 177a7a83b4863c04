"""The robustness margin of the day choice: a household whose cadence is about to expire is booked a couple of
days before its due date when the week has room (a no-answer then leaves a day for the follow-up within the
cadence), and still on its due date when capacity is tight."""

from __future__ import annotations

import datetime as dt

import pytest
from daysupport import household, worker
from weeks import MON, QUICK, TRAVEL, assert_clean, day, days_of, hv

from planner import HorizonParams, HorizonProblem, Household, RiskFactors, plan_horizon
from planner.horizon.assign import Assignment
from planner.horizon.context import prepare

#: Score 13: the intensive tier (10-day cadence) of the packaged risk model.
INTENSIVE = RiskFactors(basic_livelihood=True, alcohol=True, housing="goshiwon", social_contact="none")
THU = day(3)


def _due_thursday() -> Household:
    return household(1, risk=INTENSIVE, last_contact=THU - dt.timedelta(days=10))


def _roomy_week() -> HorizonProblem:
    # One nurse, Monday to Friday, room for six visits a day. Monday and Tuesday already carry two visits
    # each that may happen only then (a given priority: not aged), so spreading the work evenly alone would
    # put h1 on Wednesday or Thursday, its due day.
    fixed = [hv(f"f{i}", f"h{i}", priority=50.0, latest=day((i - 2) // 2)) for i in range(2, 6)]
    households = [_due_thursday(), *(household(i, dlat=0.001 * i) for i in range(2, 6))]
    return HorizonProblem(start=MON, end=day(4), households=tuple(households), workers=(worker(0, max_visits=6),),
                          visits=(hv("v1", "h1"), *fixed))


def test_a_household_due_thursday_is_booked_by_tuesday_when_the_week_has_room() -> None:
    p = _roomy_week()
    r = plan_horizon(p, TRAVEL, QUICK)
    assert_clean(p, r)
    assert days_of(r, "v1")[0] <= day(1)  # two days before its due date
    for i in range(2, 6):
        assert days_of(r, f"f{i}") == [day((i - 2) // 2)]
    assert r.summary.kpis.intensive_within_cadence == 1


def test_without_the_margin_it_waits_for_the_emptier_days() -> None:
    # The same week with margin_days=0 (the day choice before the margin): free to wait within the cadence,
    # h1 goes to a day after Tuesday. This is what the margin changes.
    p = _roomy_week()
    r = plan_horizon(p, TRAVEL, QUICK, horizon=HorizonParams(margin_days=0))
    assert_clean(p, r)
    assert day(2) <= days_of(r, "v1")[0] <= THU


def test_under_tight_capacity_it_still_gets_its_due_day() -> None:
    # One visit a day. h2, h3 and h4 fall due on Monday, Tuesday and Wednesday; h1 on Thursday. Booking h1
    # two days early would push a household past its due date: the cadence kept beats the margin, so every
    # household gets its due day (h4 and h1 without their margin) and nobody is overdue.
    hs = [_due_thursday(), *(household(i, dlat=0.001 * i, risk=INTENSIVE,
                                       last_contact=day(i - 2) - dt.timedelta(days=10)) for i in (2, 3, 4))]
    visits = [hv(f"v{i}", f"h{i}") for i in (1, 2, 3, 4)]
    p = HorizonProblem(start=MON, end=day(4), households=tuple(hs), workers=(worker(0, max_visits=1),),
                       visits=tuple(visits))
    r = plan_horizon(p, TRAVEL, QUICK)
    assert_clean(p, r)
    assert [days_of(r, f"v{i}") for i in (2, 3, 4, 1)] == [[day(0)], [day(1)], [day(2)], [THU]]
    k = r.summary.kpis
    assert (k.intensive_within_cadence, k.intensive_due) == (4, 4)


def test_the_margin_cost_counts_only_where_an_earlier_day_was_open() -> None:
    p = _roomy_week()
    ctx = prepare(p, TRAVEL, margin_days=2, margin_step=0.5)
    t = next(i for i, info in enumerate(ctx.tasks) if info.visit.id == "v1")
    base = ctx.tasks[t].base
    assert [ctx.margin_cost(t, [d]) for d in range(5)] == [0.0, 0.0, 0.5 * base, 0.5 * base, 0.5 * base]
    # Not a risk: the plan's figures are the same with and without it.
    plain = prepare(p, TRAVEL)
    assert ctx.risk_parts(t, [3]) == plain.risk_parts(t, [3])
    assert plain.margin_cost(t, [3]) == 0.0
    # A household already overdue when the week starts has no safe day left: no margin cost.
    late = HorizonProblem(start=MON, end=day(4), households=(household(1, risk=INTENSIVE,
                                                                       last_contact=MON - dt.timedelta(days=12)),),
                          workers=(worker(0),), visits=(hv("v1", "h1"),))
    ctx2 = prepare(late, TRAVEL, margin_days=2, margin_step=0.5)
    assert ctx2.margin_cost(0, [4]) == 0.0
    # The day choice charges it (and only the day choice: a Wednesday visit costs the step more).
    a = Assignment(ctx, HorizonParams())
    assert a._task_cost(t, [(2, 0)]) - a._task_cost(t, [(1, 0)]) == pytest.approx(0.5 * base)


@pytest.mark.parametrize("bad", [-1, 1.5])
def test_margin_days_must_be_a_whole_number(bad: float) -> None:
    with pytest.raises(ValueError, match="margin_days"):
        HorizonParams(margin_days=bad)  # type: ignore[arg-type]
