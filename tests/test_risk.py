"""Risk score, tiers, cadence and the ageing skip penalty."""

import datetime as dt
import itertools

from planner import Household, Location, RiskFactors, RiskModel

MODEL = RiskModel.default()
LOC = Location(lat=37.47, lon=126.95)


def _h(last: dt.date | None = dt.date(2026, 1, 1), **risk: object) -> Household:
    return Household(id="h", location=LOC, risk=RiskFactors(**risk), last_contact=last)  # type: ignore[arg-type]


def test_penalty_rises_every_day_and_convexly_once_overdue() -> None:
    h = _h(sex="M", age_band="50-64", basic_livelihood=True, alcohol=True, housing="goshiwon",
           social_contact="none")
    a = MODEL.assess(h, dt.date(2026, 1, 2))
    assert a.tier == "intensive"
    values = [MODEL.assess(h, dt.date(2026, 1, 1) + dt.timedelta(days=d)).penalty for d in range(1, 60)]
    assert all(b > a for a, b in itertools.pairwise(values)), "must rise every day"
    cadence = a.cadence_days
    steps = [b - a for a, b in itertools.pairwise(values[cadence:])]
    assert all(s2 > s1 for s1, s2 in itertools.pairwise(steps)), "convex past the cadence"


def test_tiers_follow_factors_and_crisis_reports_are_urgent() -> None:
    low = _h(sex="F", age_band="<40", housing="apartment", social_contact="daily")
    high = _h(sex="M", age_band="50-64", basic_livelihood=True, chronic_illness=True, alcohol=True,
              housing="banjiha", social_contact="none")
    crisis = _h(sex="F", age_band="<40", housing="apartment", social_contact="daily", crisis_report=True)
    assert MODEL.assess(low, dt.date(2026, 2, 1)).tier == "self_care"
    assert MODEL.assess(high, dt.date(2026, 2, 1)).tier == "intensive"
    assert MODEL.assess(crisis, dt.date(2026, 2, 1)).tier == "urgent"
    on = dt.date(2026, 1, 20)
    assert MODEL.assess(high, on).penalty > MODEL.assess(low, on).penalty


def test_overdue_high_risk_outranks_fresh_high_risk_and_never_contacted_counts_as_overdue() -> None:
    kwargs = dict(sex="M", age_band="50-64", basic_livelihood=True, alcohol=True, social_contact="none")
    fresh = _h(last=dt.date(2026, 3, 1), **kwargs)
    stale = _h(last=dt.date(2026, 1, 1), **kwargs)
    never = _h(last=None, **kwargs)
    on = dt.date(2026, 3, 2)
    assert MODEL.assess(stale, on).penalty > MODEL.assess(fresh, on).penalty
    assert MODEL.assess(never, on).days_overdue > 0
    assert MODEL.assess(never, on).penalty > MODEL.assess(fresh, on).penalty


def test_bundled_toml_marks_every_number_as_an_assumption() -> None:
    from planner.risk import _DEFAULT_TOML

    text = _DEFAULT_TOML.read_text(encoding="utf-8")
    assert "ASSUMPTION" in text or "assumption" in text
    assert RiskModel.from_toml(_DEFAULT_TOML).config["cadence_days"]["intensive"] > 0
