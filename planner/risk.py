"""Risk score, tier, visit cadence and the ageing skip penalty of a household.

The score adds points for the published loneliness-death risk factors (sex and age band,
basic-livelihood receipt, chronic illness, alcohol, disability, housing type, social contact,
recent crisis reports).  The score gives a tier -- ``urgent`` for crisis reports, then
``intensive``, ``regular`` and ``self_care`` like the health centre's visiting groups -- and the
tier a cadence in days.  The skip penalty is the value of visiting today: it grows every day
since the last contact, convexly once the cadence is exceeded, so a high-risk household left
unvisited rises in priority day by day.  The defaults are packaged with the planner
(``planner/risk_defaults.toml``); every number is an assumption to verify locally.  A server can
read its own TOML over them (:meth:`RiskModel.from_toml`) and a problem can carry its own cadences
and tier weights (``risk_model`` in the problem file, :meth:`RiskModel.with_settings`).  A visit or
household with a given ``priority`` skips the model altogether (see :func:`skip_penalty`).
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .domain import TIERS, Household, RiskFactors, RiskSettings, Visit

__all__ = ["TIERS", "RiskAssessment", "RiskModel", "assess", "skip_penalty"]

_DEFAULTS = "risk_defaults.toml"  # package data of ``planner``
_DEFAULT_TOML = Path(__file__).resolve().parent / _DEFAULTS


@functools.cache
def _packaged() -> dict[str, Any]:
    """The packaged defaults, read once (an installed wheel carries them; no fixtures needed)."""
    return tomllib.loads(_DEFAULT_TOML.read_text(encoding="utf-8"))


def _checked(config: dict[str, Any], origin: str) -> dict[str, Any]:
    for tier in TIERS:
        if config["cadence_days"].get(tier, 0) <= 0:
            raise ValueError(f"{origin}: cadence_days.{tier} must be a positive number of days")
        if config["weight"].get(tier, 0) <= 0:
            raise ValueError(f"{origin}: weight.{tier} must be positive")
    return config


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
    """Risk weights and cadences: the packaged defaults (``planner/risk_defaults.toml``), possibly
    overridden by a TOML file of the same shape and by a problem's own settings."""

    config: dict[str, Any]

    @classmethod
    def default(cls) -> RiskModel:
        """The packaged model."""
        return cls(config=copy.deepcopy(_packaged()))

    @classmethod
    def from_toml(cls, path: str | Path) -> RiskModel:
        """The packaged model with the sections of the TOML file at ``path`` laid over it."""
        with open(path, "rb") as fh:
            raw = tomllib.load(fh)
        merged = {k: {**v, **raw.get(k, {})} for k, v in copy.deepcopy(_packaged()).items()}
        return cls(config=_checked(merged, str(path)))

    def with_settings(self, settings: RiskSettings | None) -> RiskModel:
        """This model with a problem's own cadences and tier weights laid over it (itself when none)."""
        if settings is None or not (settings.cadence_days or settings.weight):
            return self
        config = {**self.config,
                  "cadence_days": {**self.config["cadence_days"], **settings.cadence_days},
                  "weight": {**self.config["weight"], **settings.weight}}
        return RiskModel(config=_checked(config, "risk_model"))

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


def skip_penalty(visit: Visit, household: Household, assessment: RiskAssessment) -> float:
    """What leaving ``visit`` out costs: its own ``priority``, else its household's, else the risk
    model's ageing penalty.  A given priority is used as it is, not aged: it states how pressing
    the visit is on the planning day, in the units of the model's penalty."""
    if visit.priority is not None:
        return float(visit.priority)
    if household.priority is not None:
        return float(household.priority)
    return assessment.penalty


def assess(household: Household, on: dt.date, model: RiskModel | None = None) -> RiskAssessment:
    """Assess ``household`` on day ``on`` with ``model`` (the bundled one by default)."""
    return (model or RiskModel.default()).assess(household, on)
