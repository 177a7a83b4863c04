"""An API plan carries the day's upper bound on risk coverage and the plan's gap to it, as the plan file does."""

from __future__ import annotations

import apisupport
from apisupport import World, plan_day
from daysupport import assert_conforms

# Fixtures (apisupport.py; no conftest.py here, which would shadow tests/conftest.py).
backend, client, world = apisupport.backend, apisupport.client, apisupport.world


def test_a_plan_job_states_the_coverage_bound_and_gap(world: World) -> None:
    plan = plan_day(world)
    kpis = plan["kpis"]
    assert kpis["coverage_bound_method"] in ("assignment_mip", "assignment_lp", "selection")
    assert kpis["risk_covered"] <= kpis["coverage_bound"] <= kpis["risk_total"] + 1e-3
    gap = (kpis["coverage_bound"] - kpis["risk_covered"]) / kpis["coverage_bound"]
    assert abs(kpis["coverage_gap"] - gap) < 1e-5
    assert_conforms(plan, "plan")  # the bound's fields are in the plan file's schema
