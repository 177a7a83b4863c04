"""The simulated district: households and their open visit requests, the scenario's workers, seeded random streams.

Every random draw comes from NumPy ``Generator(PCG64)`` streams seeded with ``SeedSequence([seed, purpose, ...])``
and only as uniform doubles (``Generator.random``), which NumPy keeps stable across versions and machines; Poisson
counts and weighted choices are derived from those uniforms here.  Draws that do not depend on the plans (urgent
reports, new households, risk changes) come from streams keyed by week or day, and a visit's answer from a stream
keyed by household and date, so two scenarios or policies run on the same seed meet the same events.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..domain import Household, Location, RiskSettings, Role, ServiceTimes, TimeWindow, Visit, VisitKind, Worker
from ..formats.horizon import horizon_from_json, is_horizon_json
from ..horizon.model import Holidays, HorizonProblem, HorizonVisit, WorkerCalendar, day_worker
from ..risk import RiskModel
from ..timeline import parse_hhmm
from .spec import Spec

__all__ = ["Household", "HouseholdState", "Report", "Request", "Streams", "World"]

# Stream purposes (never renumber: results depend on them).
_ANSWER, _REPORTS, _ARRIVALS, _RISK, _OVERRUN = 1, 2, 3, 4, 5
#: Crisis reports come in between 08:00 and 20:00 (assumption: utility workers, landlords and police report by day).
REPORT_FROM_S, REPORT_TO_S = 8 * 3600, 20 * 3600
#: A report that comes in during a working day before this time is inserted into that day's routes (mid-day
#: re-plan); later ones go to the next working day's plan.
MIDDAY_UNTIL_S = 16 * 3600
#: Which households crisis reports concern, by tier of their own risk score (assumption: the riskier more often).
REPORT_WEIGHT = {"intensive": 4.0, "regular": 2.0, "self_care": 1.0}
_SOCIAL = ("none", "rare", "monthly", "weekly", "daily")
_JITTER_DEG = 0.0015  # about 150 m: where a new household lives around the household it is drawn like


class Streams:
    """Seeded uniform streams, one per purpose and key."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def rng(self, purpose: int, *key: int) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, purpose, *key])))

    @staticmethod
    def poisson(u: float, lam: float) -> int:
        """The Poisson(``lam``) count whose CDF first reaches ``u`` (inversion)."""
        if lam <= 0:
            return 0
        k, p = 0, math.exp(-lam)
        s = p
        while u > s and k < 10_000:
            k += 1
            p *= lam / k
            s += p
        return k

    @staticmethod
    def pick(u: float, weights: list[float]) -> int:
        """The index a uniform ``u`` selects with probability proportional to ``weights``."""
        total = sum(weights)
        acc = 0.0
        for i, w in enumerate(weights):
            acc += w
            if u * total < acc:
                return i
        return len(weights) - 1


@dataclass(slots=True, kw_only=True)
class Request:
    """An open visit request (the API's visit request): routine or assessment when due, a crisis report's visit,
    or the follow-up a no-answer creates."""

    id: str
    household_id: str
    kind: VisitKind
    skills: frozenset[str]
    earliest: dt.date
    mandatory: bool = False
    urgent: bool = False
    report: int | None = None  # index of the crisis report it serves


@dataclass(slots=True, kw_only=True)
class Report:
    """A crisis report: when it came in and when (if) a visit answered at the door."""

    household_id: str
    day: dt.date
    at_s: int
    served: tuple[dt.date, int] | None = None
    initial: bool = False  # open before the simulation starts (the base problem's crisis reports)

    def hours_to_serve(self) -> float | None:
        if self.served is None:
            return None
        day, s = self.served
        return ((day - self.day).days * 86400 + s - self.at_s) / 3600


@dataclass(slots=True, kw_only=True)
class HouseholdState:
    index: int
    household: Household
    skills: frozenset[str]
    windows: tuple[TimeWindow, ...]
    arrived: dt.date
    requests: list[Request] = field(default_factory=list)
    crisis: int | None = None  # open crisis report


def _profile_skills(h: Household, tier: str) -> frozenset[str]:
    """Skills a household's visits need when the base problem has no visit for it (the fixtures' rule, without
    the random part): nursing for the chronically ill at intensive risk or 65+, mental health for alcohol,
    otherwise case management."""
    r = h.risk
    if r.chronic_illness and (tier == "intensive" or r.age_band in ("65-74", "75+")):
        return frozenset({"nursing"})
    if r.alcohol and tier != "self_care":
        return frozenset({"mental_health"})
    return frozenset({"case_management"})


class World:
    """The district as the simulation changes it, day by day."""

    def __init__(self, spec: Spec, seed: int) -> None:
        self.spec = spec
        self.streams = Streams(seed)
        raw = dict(spec.base)
        if is_horizon_json(raw):
            base = horizon_from_json(raw)
        else:
            base = horizon_from_json(raw, start=spec.start, end=spec.start)
        self.service_times: ServiceTimes = base.service_times
        settings = base.risk_model or RiskSettings()
        self.risk_settings = RiskSettings(cadence_days={**settings.cadence_days, **spec.cadence_days},
                                          weight=dict(settings.weight))
        self.model = RiskModel.default().with_settings(self.risk_settings)
        # The planner may plan with cadences shortened by a safety margin (a no-answer on the due day then still
        # has a day or two); the KPIs keep the real cadences.
        margin = spec.margin_days
        self.plan_settings = self.risk_settings if not margin else RiskSettings(
            cadence_days={t: max(1, int(c) - margin) for t, c in self.model.config["cadence_days"].items()},
            weight=dict(settings.weight))
        self.workers = _workers(spec, base)
        self.weekly = {c.worker_id: c.weekly for c in base.calendars if c.weekly}
        self.leave: dict[str, set[dt.date]] = {}
        for wid, a, b in spec.leave:
            self.leave.setdefault(wid, set()).update(a + dt.timedelta(days=i) for i in range((b - a).days + 1))
        worker_ids = {w.id for w in self.workers}
        self.households: dict[str, HouseholdState] = {}
        self.by_index: list[HouseholdState] = []
        profiles: dict[str, Visit] = {}
        for hv in base.visits:
            profiles.setdefault(hv.visit.household_id, hv.visit)
        for h in base.households:
            if h.preferred_worker_id is not None and h.preferred_worker_id not in worker_ids:
                h = dataclasses.replace(h, preferred_worker_id=None)
            h = dataclasses.replace(h, priority=None)
            v = profiles.get(h.id)
            if v is not None and v.kind != VisitKind.CRISIS and v.required_skills:
                skills, windows = v.required_skills, v.time_windows
            else:
                skills, windows = _profile_skills(h, self.own_tier(h)), ()
            self._add(h, skills, windows, spec.start)
        self.dongs = _dongs_of(base.households, self.workers, spec)
        self.base_count = {t: sum(1 for s in self.by_index if self.own_tier(s.household) == t)
                           for t in ("intensive", "regular", "self_care")}
        self.reports: list[Report] = []
        self.n_requests = 0
        self.version = 0  # bumped whenever a request opens that no plan has seen
        self.arrivals_due = {t: 0.0 for t in self.base_count}
        for st in self.by_index:  # the base caseload's crisis reports are open reports from the start
            if st.household.risk.crisis_report:
                self.reports.append(Report(household_id=st.household.id, day=spec.start, at_s=0, initial=True))
                st.crisis = len(self.reports) - 1

    # ---- households --------------------------------------------------------------------------

    def _add(self, h: Household, skills: frozenset[str], windows: tuple[TimeWindow, ...], day: dt.date) -> None:
        st = HouseholdState(index=len(self.by_index), household=h, skills=skills, windows=windows, arrived=day)
        self.households[h.id] = st
        self.by_index.append(st)

    def own_tier(self, h: Household) -> str:
        """The household's tier by its risk score alone (a crisis report aside): what the KPIs count it in."""
        risk = h.risk if not h.risk.crisis_report else dataclasses.replace(h.risk, crisis_report=False)
        return self.model.tier(risk)

    def cadence(self, tier: str) -> int:
        return int(self.model.config["cadence_days"][tier])

    def overdue_days(self, st: HouseholdState, day: dt.date) -> tuple[str, int]:
        """(own tier, days past its cadence on ``day``); a household never seen counts from its arrival."""
        tier = self.own_tier(st.household)
        ref = st.household.last_contact or st.arrived
        return tier, max(0, (day - ref).days - self.cadence(tier))

    # ---- requests ----------------------------------------------------------------------------

    def open_request(self, st: HouseholdState, *, kind: VisitKind, earliest: dt.date, skills: frozenset[str],
                     mandatory: bool = False, urgent: bool = False, report: int | None = None) -> Request:
        self.n_requests += 1
        req = Request(id=f"r{self.n_requests:06d}", household_id=st.household.id, kind=kind, skills=skills,
                      earliest=earliest, mandatory=mandatory, urgent=urgent, report=report)
        st.requests.append(req)
        self.version += 1
        return req

    def open_requests(self) -> list[Request]:
        return [r for st in self.by_index for r in st.requests]

    def request_routine(self, monday: dt.date) -> None:
        """Every household due by the week's end plus the look-ahead and without an open request gets one."""
        horizon_end = monday + dt.timedelta(days=6 + self.spec.look_ahead_days)
        for st in self.by_index:
            if st.requests:
                continue
            h = st.household
            tier = self.model.tier(h.risk)
            if h.last_contact is not None and (horizon_end - h.last_contact).days < self.cadence(tier):
                continue
            if st.crisis is not None:
                self.open_request(st, kind=VisitKind.CRISIS, earliest=monday, skills=frozenset({"case_management"}),
                                  urgent=True, report=st.crisis)
                continue
            kind = VisitKind.ASSESSMENT if h.last_contact is None else VisitKind.ROUTINE
            self.open_request(st, kind=kind, earliest=monday, skills=st.skills)

    # ---- events ------------------------------------------------------------------------------

    def week_events(self, week: int, monday: dt.date) -> None:
        """New households (the inflow and the growth of each tier) and risk changes, at the week's start."""
        spec = self.spec
        if week > 0 and spec.risk_change_per_week > 0:
            rng = self.streams.rng(_RISK, week)
            for st in list(self.by_index):
                u, v = rng.random(), rng.random()
                if u < spec.risk_change_per_week:
                    self._change_risk(st, v)
        rng = self.streams.rng(_ARRIVALS, week)
        n_any = Streams.poisson(rng.random(), spec.new_households_per_week) if week > 0 else 0
        picks: list[str | None] = [None] * n_any
        for tier in ("intensive", "regular", "self_care"):
            share = spec.growth.get(tier, 0.0)
            if share > 0 and week > 0:
                self.arrivals_due[tier] += share * self.base_count[tier] / max(1, spec.weeks - 1)
                n = int(self.arrivals_due[tier] + 1e-9)
                self.arrivals_due[tier] -= n
                picks.extend([tier] * n)
        for pick in picks:
            pool = [st for st in self.by_index if pick is None or self.own_tier(st.household) == pick]
            if not pool:
                continue
            like = pool[min(len(pool) - 1, int(rng.random() * len(pool)))]
            self._arrive(like, monday, rng.random(), rng.random())

    def _arrive(self, like: HouseholdState, day: dt.date, u: float, v: float) -> None:
        h = like.household
        loc = Location(lat=round(h.location.lat + (2 * u - 1) * _JITTER_DEG, 6),
                       lon=round(h.location.lon + (2 * v - 1) * _JITTER_DEG, 6))
        new = dataclasses.replace(h, id=f"sim-h{len(self.by_index) + 1:05d}", location=loc, last_contact=None,
                                  preferred_worker_id=None, risk=dataclasses.replace(h.risk, crisis_report=False))
        self._add(new, like.skills, like.windows, day)

    def _change_risk(self, st: HouseholdState, u: float) -> None:
        """One step of social contact, worse or better with equal chance (a seeded change of risk)."""
        r = st.household.risk
        i = _SOCIAL.index(r.social_contact)
        j = max(0, i - 1) if u < 0.5 else min(len(_SOCIAL) - 1, i + 1)
        if j != i:
            st.household = dataclasses.replace(st.household, risk=dataclasses.replace(r, social_contact=_SOCIAL[j]))

    def reports_on(self, day: dt.date) -> list[tuple[int, HouseholdState]]:
        """The crisis reports of ``day`` (time, household), drawn whatever the plans; a household already under
        an open report is not reported again."""
        rng = self.streams.rng(_REPORTS, day.toordinal())
        n = Streams.poisson(rng.random(), self.spec.urgent_reports_per_week / 7)
        out = []
        for _ in range(n):
            at = REPORT_FROM_S + int(rng.random() * (REPORT_TO_S - REPORT_FROM_S)) // 60 * 60
            weights = [REPORT_WEIGHT[self.own_tier(st.household)] for st in self.by_index]
            st = self.by_index[Streams.pick(rng.random(), weights)]
            out.append((at, st))
        out.sort(key=lambda x: (x[0], x[1].index))
        return out

    def register_report(self, st: HouseholdState, day: dt.date, at_s: int, *,
                        keep: Iterable[str] = ()) -> Request | None:
        """Open a crisis report and its urgent visit request; the household's other open requests not in ``keep``
        (today's plan) are closed: the crisis visit serves them."""
        if st.crisis is not None:
            return None
        self.reports.append(Report(household_id=st.household.id, day=day, at_s=at_s))
        st.crisis = len(self.reports) - 1
        st.household = dataclasses.replace(st.household,
                                           risk=dataclasses.replace(st.household.risk, crisis_report=True))
        kept = set(keep)
        st.requests = [r for r in st.requests if r.id in kept or r.report is not None]
        return self.open_request(st, kind=VisitKind.CRISIS, earliest=day, skills=frozenset({"case_management"}),
                                 urgent=True, report=st.crisis)

    def answer(self, st: HouseholdState, day: dt.date) -> bool:
        """Whether the household answers the door on ``day`` (the same draw in every scenario and policy)."""
        return bool(self.streams.rng(_ANSWER, st.index, day.toordinal()).random() >= self.spec.no_answer)

    def not_made(self) -> None:
        """A planned visit was not made (its worker's day ran out before it): its request stays open, and the
        plans that had it must see it again (the week planner re-plans the rest of the week)."""
        self.version += 1

    def overrun(self, st: HouseholdState, day: dt.date) -> float:
        """How many times its planned duration a visit to ``st`` on ``day`` takes: 1, or with probability
        ``rates.visit_overrun`` 1 + U(0, 2 x ``rates.overrun_extra``) (mean 1 + overrun_extra).  Keyed by household
        and date, so every scenario and policy meets the same overruns, and a higher rate overruns a superset of
        the visits by the same factors."""
        if self.spec.visit_overrun <= 0.0:
            return 1.0
        rng = self.streams.rng(_OVERRUN, st.index, day.toordinal())
        if rng.random() >= self.spec.visit_overrun:
            return 1.0
        return 1.0 + 2.0 * self.spec.overrun_extra * float(rng.random())

    def visited(self, req: Request, day: dt.date, start_s: int, answered: bool) -> Request | None:
        """Record a visit made for ``req``: an answer closes every open request of the household, updates its last
        contact and serves its crisis report; no answer closes ``req`` and opens a mandatory, urgent follow-up for
        the next day, as the API does.  Returns the follow-up, if any."""
        st = self.households[req.household_id]
        if answered:
            st.household = dataclasses.replace(st.household, last_contact=day)
            st.requests = []
            if st.crisis is not None:
                self.reports[st.crisis].served = (day, start_s)
                st.crisis = None
                st.household = dataclasses.replace(st.household,
                                                   risk=dataclasses.replace(st.household.risk, crisis_report=False))
            return None
        st.requests = [r for r in st.requests if r.id != req.id]
        return self.open_request(st, kind=VisitKind.FOLLOW_UP, earliest=day + dt.timedelta(days=1),
                                 skills=req.skills, mandatory=True, urgent=True, report=req.report)

    def request(self, request_id: str) -> Request | None:
        for st in self.by_index:
            for r in st.requests:
                if r.id == request_id:
                    return r
        return None

    # ---- problems ----------------------------------------------------------------------------

    def holidays(self) -> Holidays:
        return Holidays(calendar="KR", add=frozenset(self.spec.closing_days))

    def calendars(self, start: dt.date, end: dt.date) -> tuple[WorkerCalendar, ...]:
        out = []
        for w in self.workers:
            leave = frozenset(d for d in self.leave.get(w.id, ()) if start <= d <= end)
            weekly = self.weekly.get(w.id, {})
            if leave or weekly:
                out.append(WorkerCalendar(worker_id=w.id, weekly=weekly, leave=leave))
        return tuple(out)

    def horizon_problem(self, start: dt.date, end: dt.date, requests: list[Request] | None = None
                        ) -> HorizonProblem:
        """The open requests that may happen in ``start``..``end`` as a horizon problem of the current state."""
        reqs = [r for r in (self.open_requests() if requests is None else requests) if r.earliest <= end]
        used: dict[str, Household] = {}
        visits = []
        for r in reqs:
            st = self.households[r.household_id]
            used[st.household.id] = st.household
            windows = st.windows if r.kind in (VisitKind.ROUTINE, VisitKind.FOLLOW_UP) else ()
            visit = Visit(id=r.id, household_id=r.household_id, kind=r.kind, required_skills=r.skills,
                          time_windows=windows, mandatory=r.mandatory, urgent=r.urgent)
            visits.append(HorizonVisit(visit=visit, earliest=r.earliest if r.earliest > start else None))
        return HorizonProblem(
            start=start, end=end, households=tuple(used.values()), workers=tuple(self.workers),
            visits=tuple(visits), calendars=self.calendars(start, end), holidays=self.holidays(),
            name=self.spec.name, service_times=self.service_times, risk_model=self.plan_settings,
        )

    def working(self, problem: HorizonProblem, day: dt.date) -> tuple[Worker, ...]:
        return problem.workers_on(day, holidays=problem.holiday_names())

    def staff(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for w in self.workers:
            out[w.role.value] = out.get(w.role.value, 0) + 1
        return dict(sorted(out.items()))


def _workers(spec: Spec, base: HorizonProblem) -> list[Worker]:
    """The base workers with the scenario's changes: removals, additions, head counts, shifts, visit limits."""
    by_id = {w.id: w for w in base.workers}
    workers = [w for w in base.workers if w.id not in spec.remove_workers]
    for a in spec.add_workers:
        src = by_id[a.like]
        w = dataclasses.replace(src, id=a.id, name="")
        if a.skills is not None:
            w = dataclasses.replace(w, skills=frozenset(a.skills))
        if a.travel_mode is not None:
            w = dataclasses.replace(w, travel_mode=type(src.travel_mode)(a.travel_mode))
        if a.shift is not None:
            w = day_worker(w, _window(a.shift))
        workers.append(w)
    for role, n in spec.staff.items():
        have = [w for w in workers if w.role.value == role]
        if n < len(have):
            drop = {w.id for w in have[n:]}
            workers = [w for w in workers if w.id not in drop]
        else:
            ids = {w.id for w in workers}
            k = 0
            originals = list(have)
            while originals and len(have) < n:
                src = originals[k % len(originals)]
                k += 1
                new_id = f"{src.id}-extra{k}"
                while new_id in ids:
                    k += 1
                    new_id = f"{src.id}-extra{k}"
                clone = dataclasses.replace(src, id=new_id, name="")
                ids.add(new_id)
                workers.append(clone)
                have.append(clone)
    out = []
    for w in workers:
        shift = spec.shifts.get(w.id, spec.shifts.get(w.role.value))
        if shift is not None:
            w = day_worker(w, _window(shift))
        limit = spec.max_visits.get(w.id, spec.max_visits.get(w.role.value))
        if limit is not None:
            w = dataclasses.replace(w, max_visits=limit)
        out.append(w)
    return out


def _window(shift: tuple[str, str]) -> TimeWindow:
    return TimeWindow(start_s=parse_hhmm(shift[0]), end_s=parse_hhmm(shift[1]))


def _dongs_of(households: Iterable[Household], workers: list[Worker], spec: Spec) -> dict[str, frozenset[str]]:
    """Each worker's own dongs (manual practice): the dongs of the households that prefer it in the base problem;
    a copy (``<id>-extra<k>`` or ``like``) covers its original's; a worker with none covers the whole district."""
    seen: dict[str, set[str]] = {}
    for h in households:
        if h.preferred_worker_id is not None and h.dong:
            seen.setdefault(h.preferred_worker_id, set()).add(h.dong)
    like = {a.id: a.like for a in spec.add_workers}
    out: dict[str, frozenset[str]] = {}
    for w in workers:
        origin = like.get(w.id, w.id.split("-extra")[0] if "-extra" in w.id else w.id)
        out[w.id] = frozenset(seen.get(origin, ()))
    return out


def role_order(role: Role) -> int:
    return tuple(Role).index(role)


def json_ready(value: Any) -> Any:
    """Dates as ISO strings, tuples as lists, mappings with string keys (for results)."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return value
