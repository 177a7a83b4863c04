"""Risk score, tier, visit cadence and the ageing skip penalty of a household.

The score adds points for the published loneliness-death risk factors (sex and age band,
basic-livelihood receipt, chronic illness, alcohol, disability, housing type, social contact,
recent crisis reports).  The score gives a tier -- ``urgent`` for crisis reports, then
``intensive``, ``regular`` and ``self_care`` like the health centre's visiting groups -- and the
tier a cadence in days.  The skip penalty is the value of visiting today: it grows every day
since the last contact, convexly once the cadence is exceeded, so a high-risk household left
unvisited rises in priority day by day.  All numbers live in ``fixtures/risk.toml`` and are
assumptions to verify locally.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .domain import Household, RiskFactors

__all__ = ["TIERS", "RiskAssessment", "RiskModel", "assess"]

TIERS = ("urgent", "intensive", "regular", "self_care")
_DEFAULT_TOML = Path(__file__).resolve().parent.parent / "fixtures" / "risk.toml"

_BUILTIN: dict[str, Any] = {
    "score": {
        "male": 1, "male_50_64": 2, "age_65_74": 1, "age_75_plus": 2, "basic_livelihood": 2,
        "chronic_illness": 1, "alcohol": 2, "disability": 1,
        "housing": {"house": 0, "apartment": 0, "one_room": 1, "goshiwon": 3, "banjiha": 2,
                    "motel": 3, "rooftop": 2},
        "social_contact": {"none": 3, "rare": 2, "monthly": 1, "weekly": 0, "daily": -1},
        "crisis_report": 6,
    },
    "tiers": {"intensive": 8, "regular": 4},
    "cadence_days": {"urgent": 1, "intensive": 10, "regular": 45, "self_care": 180},
    "weight": {"urgent": 200.0, "intensive": 40.0, "regular": 8.0, "self_care": 1.0},
    "penalty": {"score_divisor": 10.0, "floor": 0.1, "linear": 1.0, "quadratic": 2.0,
                "never_contacted_x": 2.0, "max_x": 12.0},
}


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskAssessment:
    """A household's risk on one day."""

    score: int
    tier: str
    cadence_days: int
    days_since_contact: int | None
    days_overdue: int
    penalty: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskModel:
    """Risk weights and cadences, read from TOML (see ``fixtures/risk.toml``)."""

    config: dict[str, Any]

    @classmethod
    def default(cls) -> RiskModel:
        """The bundled model; falls back to built-in numbers if the TOML is not shipped."""
        if _DEFAULT_TOML.is_file():
            return cls.from_toml(_DEFAULT_TOML)
        return cls(config=_BUILTIN)

    @classmethod
    def from_toml(cls, path: str | Path) -> RiskModel:
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
        merged = {k: {**v, **raw.get(k, {})} for k, v in _BUILTIN.items()}
        for tier in TIERS:
            if merged["cadence_days"].get(tier, 0) <= 0:
                raise ValueError(f"{path}: cadence_days.{tier} must be a positive number of days")
            if merged["weight"].get(tier, 0) <= 0:
                raise ValueError(f"{path}: weight.{tier} must be positive")
        return cls(config=merged)

    def score(self, f: RiskFactors) -> int:
        s = self.config["score"]
        points = 0
        if f.sex == "M":
            points += s["male"]
            if f.age_band == "50-64":
                points += s["male_50_64"]
        if f.age_band == "65-74":
            points += s["age_65_74"]
        elif f.age_band == "75+":
            points += s["age_75_plus"]
        for flag in ("basic_livelihood", "chronic_illness", "alcohol", "disability"):
            if getattr(f, flag):
                points += s[flag]
        points += s["housing"].get(f.housing, 0)
        points += s["social_contact"].get(f.social_contact, 0)
        if f.crisis_report:
            points += s["crisis_report"]
        return int(points)

    def tier(self, f: RiskFactors, score: int | None = None) -> str:
        if f.crisis_report:
            return "urgent"
        score = self.score(f) if score is None else score
        t = self.config["tiers"]
        if score >= t["intensive"]:
            return "intensive"
        if score >= t["regular"]:
            return "regular"
        return "self_care"

    def ageing(self, x: float) -> float:
        """The convex ageing curve of the skip penalty, ``x`` in cadences since contact."""
        p = self.config["penalty"]
        x = min(max(x, 0.0), p["max_x"])
        if x <= 1.0:
            return max(p["floor"], x)
        over = x - 1.0
        return 1.0 + p["linear"] * over + p["quadratic"] * over * over

    def assess(self, household: Household, on: dt.date) -> RiskAssessment:
        score = self.score(household.risk)
        tier = self.tier(household.risk, score)
        cadence = int(self.config["cadence_days"][tier])
        if household.last_contact is None:
            days = None
            x = float(self.config["penalty"]["never_contacted_x"])
            overdue = round((x - 1) * cadence)
        else:
            days = max(0, (on - household.last_contact).days)
            x = days / cadence
            overdue = max(0, days - cadence)
        weight = float(self.config["weight"][tier])
        penalty = weight * (1.0 + max(score, 0) / self.config["penalty"]["score_divisor"]) * self.ageing(x)
        return RiskAssessment(
            score=score, tier=tier, cadence_days=cadence, days_since_contact=days,
            days_overdue=overdue, penalty=penalty,
        )


def assess(household: Household, on: dt.date, model: RiskModel | None = None) -> RiskAssessment:
    """Assess ``household`` on day ``on`` with ``model`` (the bundled one by default)."""
    return (model or RiskModel.default()).assess(household, on)
