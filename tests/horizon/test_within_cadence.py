"""Keeping intensive households within their cadence when every worker-day is booked: the day choice swaps a
visit falling due with one that loses less by waiting, and moves a visit with its follow-up into full days."""

from __future__ import annotations

import datetime as dt

from daysupport import household, worker
from weeks import MON, QUICK, TRAVEL, assert_clean, day, days_of, hv

from planner import (
    FollowUp,
    Holidays,
    HorizonParams,
    HorizonProblem,
    HorizonVisit,
    Household,
    RiskFactors,
    plan_horizon,
)
from planner.horizon.assign import Assignment
from planner.horizon.context import prepare

#: Score 13: the intensive tier (10-day cadence) of the packaged risk model.
INTENSIVE = RiskFactors(basic_livelihood=True, alcohol=True, housing="goshiwon", social_contact="none")


def _one_slot_a_day(households: list[Household], visits: list[HorizonVisit],
                    holidays: Holidays | None = None) -> HorizonProblem:
    """One nurse making at most one home visit a day, Monday to Friday."""
    return HorizonProblem(start=MON, end=day(4), households=tuple(households), workers=(worker(0, max_visits=1),),
                          visits=tuple(visits), holidays=holidays or Holidays())


def test_a_household_falling_due_on_monday_takes_monday_from_one_already_overdue() -> None:
    # h1 falls due on Monday (seen 10 days before); h2 was already 4 days overdue when the week began. One
    # slot a day: h1 on Monday keeps its cadence; h2 waiting a day costs one more day of ageing.
    due = household(1, risk=INTENSIVE, last_contact=MON - dt.timedelta(days=10))
    overdue = household(2, dlat=0.001, risk=INTENSIVE, last_contact=MON - dt.timedelta(days=14))
    p = _one_slot_a_day([due, overdue], [hv("v1", "h1"), hv("v2", "h2")])
    r = plan_horizon(p, TRAVEL, QUICK)
    assert_clean(p, r)
    assert days_of(r, "v1") == [MON]
    assert days_of(r, "v2") == [day(1)]
    k = r.summary.kpis
    assert (k.intensive_within_cadence, k.intensive_due) == (1, 1)


def test_the_swap_is_what_puts_it_there_when_the_overdue_household_is_placed_first() -> None:
    # The construction places the household with more to lose first (the overdue one, on Monday); only the
    # swap move brings the household falling due forward.
    due = household(1, risk=INTENSIVE, last_contact=MON - dt.timedelta(days=10))
    overdue = household(2, dlat=0.001, risk=INTENSIVE, last_contact=MON - dt.timedelta(days=14))
    p = _one_slot_a_day([due, overdue], [hv("v1", "h1"), hv("v2", "h2")])
    ctx = prepare(p, TRAVEL)
    plain = Assignment(ctx, HorizonParams(swaps=False))
    plain.construct()
    plain.search(deadline=None, max_evaluations=10_000)
    with_swaps = Assignment(ctx, HorizonParams())
    with_swaps.construct()
    assert plain.day == with_swaps.day  # the same construction
    with_swaps.search(deadline=None, max_evaluations=10_000)
    first = {ctx.tasks[plain.occ_task[o]].visit.id: (plain.day[o], with_swaps.day[o]) for o in range(2)}
    assert first == {"v1": (1, 0), "v2": (0, 1)}
    assert with_swaps.total() < plain.total()


def test_a_visit_and_its_follow_up_move_together_into_full_days_to_keep_the_cadence() -> None:
    # h1 falls due on Tuesday and needs a follow-up exactly two days after its visit; Thursday is a holiday,
    # so only Monday + Wednesday keeps the cadence. Two visits with a given priority (not aged: they may
    # wait at no cost) are placed first and fill Monday and Tuesday.
    h1 = household(1, risk=INTENSIVE, last_contact=MON - dt.timedelta(days=9))
    others = [household(i, dlat=0.001 * i) for i in (2, 3)]
    visits = [hv("b2", "h2", priority=10_000.0), hv("b3", "h3", priority=10_000.0), hv("first", "h1"),
              hv("again", "h1", after=FollowUp(visit_id="first", days=2))]
    p = _one_slot_a_day([h1, *others], visits, holidays=Holidays(calendar="none", add=frozenset({day(3)})))
    r = plan_horizon(p, TRAVEL, QUICK)
    assert_clean(p, r)
    assert days_of(r, "first") == [MON]
    assert days_of(r, "again") == [day(2)]
    assert r.summary.kpis.visits_planned == 4
    assert r.summary.kpis.intensive_within_cadence == 1


def test_a_household_overdue_before_the_week_is_not_charged_for_breaking_its_cadence() -> None:
    # Only ageing counts for it: no step for a cadence it could not keep.
    overdue = household(1, risk=INTENSIVE, last_contact=MON - dt.timedelta(days=14))
    p = _one_slot_a_day([overdue], [hv("v1", "h1")])
    ctx = prepare(p, TRAVEL)
    base = ctx.tasks[0].base
    one_day = ctx.late(0, 1, ctx.tasks[0].last_day, 0)
    assert 0 < one_day < 0.5 * base
    due = household(1, risk=INTENSIVE, last_contact=MON - dt.timedelta(days=10))
    ctx2 = prepare(_one_slot_a_day([due], [hv("v1", "h1")]), TRAVEL)
    assert ctx2.late(0, 1, ctx2.tasks[0].last_day, 0) > ctx2.tasks[0].base  # the cadence broken: a step
