"""What the horizon planner knows before choosing days: working days, who may visit whom when, and risk ageing."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..domain import Location, Worker
from ..instance import Instance, compile_instance
from ..risk import RiskModel
from ..travel.base import UNREACHABLE, TravelMatrix, TravelTimeProvider
from .model import HorizonProblem, HorizonReason, HorizonVisit

__all__ = ["Context", "MemoTravel", "TaskInfo", "prepare"]

class MemoTravel:
    """A travel provider that computes each (locations, mode) matrix once (the days share their places)."""

    def __init__(self, inner: TravelTimeProvider) -> None:
        self.inner = inner
        self._memo: dict[tuple[tuple[tuple[float, float], ...], str], TravelMatrix] = {}

    def matrix(self, locations: Sequence[Location], *, mode: str) -> TravelMatrix:
        key = (tuple((p.lat, p.lon) for p in locations), mode)
        got = self._memo.get(key)
        if got is None:
            got = self._memo[key] = self.inner.matrix(locations, mode=mode)
        return got


@dataclass(slots=True, kw_only=True)
class TaskInfo:
    """One visit request over the horizon: where it may go and what leaving it out costs."""

    index: int
    visit: HorizonVisit
    household_index: int
    options: dict[int, tuple[int, ...]]  # working day index -> global worker indices that may make it then
    service_s: dict[tuple[int, int], int]  # (day, worker) -> service seconds
    blocked: tuple[HorizonReason, str] | None  # why no day at all is possible
    must: bool  # mandatory or urgent: as early as feasible, never left out while it fits
    flat: float | None  # a given priority (not aged): the cost per missing visit per day
    base: float  # the risk model's skip penalty at one cadence
    cadence: int
    tier: str
    last_day: int | None  # calendar index of the last contact (negative: before the horizon); None: never
    preferred: int  # global worker index or -1
    earliest_k: tuple[int, ...]  # the earliest day each occurrence could have (mandatory lateness)
    days: tuple[int, ...] = ()  # the days it may have, sorted

    @property
    def count(self) -> int:
        return self.visit.count


@dataclass(slots=True, kw_only=True)
class Context:
    problem: HorizonProblem
    dates: tuple[dt.date, ...]
    holidays: dict[dt.date, str]
    work_days: tuple[int, ...]
    day_workers: dict[int, tuple[Worker, ...]]  # day index -> that day's workers (day shifts)
    day_worker_index: dict[int, tuple[int, ...]]  # day index -> global index of each of that day's workers
    avail_s: dict[tuple[int, int], int]  # (worker, day) -> working seconds available
    max_visits: dict[tuple[int, int], int]
    tasks: tuple[TaskInfo, ...]
    task_loc: np.ndarray  # location index per task
    start_loc: np.ndarray  # per worker
    end_loc: np.ndarray
    tables: tuple[np.ndarray, ...]  # per worker travel seconds between locations (speed factor applied)
    model: RiskModel
    travel: MemoTravel
    never_x: float  # the risk model's "cadences overdue" of a household never contacted
    cadence_step: float = 1.0  # base penalties a visit costs once for coming after a due date it could have met
    margin_days: int = 0  # calendar days before the due date a visit is booked when the plan has room
    margin_step: float = 0.0  # base penalties a visit costs once for coming inside that margin

    def penalty(self, t: int, day: int, last: int | None) -> float:
        """Request ``t``'s skip penalty on calendar day ``day`` (index; ``n_days`` = the day after the
        horizon) with the last contact on day ``last`` (``None``: never contacted)."""
        info = self.tasks[t]
        if last is None:  # as the risk model counts it on the first day, ageing from there
            last = -round(self.never_x * info.cadence)
        return info.base * self.model.ageing((day - last) / info.cadence)

    def due_day(self, t: int, last: int | None) -> int:
        """The last day request ``t`` may have on or before its household's due date (contact ``last`` +
        cadence), else the first one after it; a household never contacted is due from long before."""
        info = self.tasks[t]
        if last is None:
            return -(10**6)
        due = last + info.cadence
        if due >= len(self.dates):
            return due  # not due within the horizon
        before = [d for d in info.days if d <= due]
        return before[-1] if before else next((d for d in info.days if d >= due), due)

    def late(self, t: int, day: int, last: int | None, ref: int) -> float:
        """What a visit on ``day`` costs for coming after the household's due date: the ageing of its skip
        penalty past the due date and past ``ref`` (the earliest day it could have had), plus, when it could
        have been on time (a day it may have on or before its due date, and on or after ``ref``),
        ``cadence_step`` x its base penalty once for breaking the cadence.  Waiting within the cadence is
        free; a household never contacted is overdue from the first day."""
        info = self.tasks[t]
        due = self.due_day(t, last)
        since = max(ref, due)
        if day <= since:
            return 0.0
        # The cadence is broken only where keeping it was possible: a day it may have lies on or before the
        # due date (a household already overdue when the horizon starts only ages).
        on_time = last is not None and due >= ref and due <= last + info.cadence
        if last is None:
            last = -round(self.never_x * info.cadence)
        step = self.cadence_step * info.base if on_time else 0.0
        return step + self.penalty(t, day, last) - self.penalty(t, since, last)

    def risk_parts(self, t: int, days: Sequence[int]) -> tuple[float, float]:
        """(left out, ageing) of request ``t`` with visits on ``days`` (sorted calendar indices).

        Each visit left out costs its skip penalty at the end of the horizon plus the ageing it accrued over
        the horizon past its due date; each visit made costs the ageing it accrued past its due date until
        its day (see :meth:`late`).  A given priority (not aged) costs that much per visit left out."""
        info = self.tasks[t]
        missing = info.count - len(days)
        if info.flat is not None:
            return info.flat * missing, 0.0
        ageing, last = 0.0, info.last_day
        refs = info.earliest_k
        for j, d in enumerate(days):
            ageing += self.late(t, d, last, refs[j] if j < len(refs) else d)
            last = d
        left = 0.0
        if missing > 0:
            end = len(self.dates)
            ref = refs[len(days)] if len(days) < len(refs) else end
            left = missing * (self.penalty(t, end, last) + self.late(t, end, last, ref))
        return left, ageing

    def margin_cost(self, t: int, days: Sequence[int]) -> float:
        """What the visits of request ``t`` on ``days`` (sorted calendar indices) cost for coming too close
        to their household's due date: ``margin_step`` x its base penalty per visit after its *safe day*, the
        last day it may have on or before (due date - ``margin_days``) and on or after the earliest day it
        could have had.  A visit booked by then leaves a day or more for a follow-up if nobody answers; a
        household with no such day (already overdue, or no day it may have that early) pays nothing.  The
        margin is at most a third of the cadence (an urgent daily cadence has none); a given priority and a
        mandatory or urgent visit (always as early as feasible) have none either.  Not a risk: the plan's
        figures leave it out."""
        info = self.tasks[t]
        m = min(self.margin_days, info.cadence // 3)
        if m <= 0 or self.margin_step <= 0 or info.flat is not None or info.must or info.last_day is None:
            return 0.0
        cost, last, refs = 0.0, info.last_day, info.earliest_k
        for j, d in enumerate(days):
            ref = refs[j] if j < len(refs) else d
            target = last + info.cadence - m
            safe = next((x for x in reversed(info.days) if x <= target), None)
            if safe is not None and safe >= ref and d > safe:
                cost += self.margin_step * info.base
            last = d
        return cost

    def risk_cost(self, t: int, days: Sequence[int]) -> float:
        """Left out plus ageing (:meth:`risk_parts`)."""
        left, ageing = self.risk_parts(t, days)
        return left + ageing

    def travel_s(self, w: int, a: int, b: int) -> int:
        return int(self.tables[w][a, b])


def prepare(problem: HorizonProblem, travel: TravelTimeProvider, *, risk_model: RiskModel | None = None,
            cadence_step: float = 1.0, margin_days: int = 0, margin_step: float = 0.0) -> Context:
    """Compile each working day once and work out, per request, the days and workers it may have
    (``margin_days``/``margin_step``: see :meth:`Context.margin_cost`; 0, no margin, unless asked)."""
    memo = travel if isinstance(travel, MemoTravel) else MemoTravel(travel)
    model = (risk_model or RiskModel.default()).with_settings(problem.risk_model)
    dates = problem.dates()
    holidays = problem.holiday_names()
    windex = {w.id: i for i, w in enumerate(problem.workers)}
    hindex = {h.id: i for i, h in enumerate(problem.households)}
    day_workers: dict[int, tuple[Worker, ...]] = {}
    insts: dict[int, Instance] = {}
    for d, day in enumerate(dates):
        ws = problem.workers_on(day, holidays=holidays)
        if ws:
            day_workers[d] = ws
            insts[d] = compile_instance(problem.template(day, workers=ws), memo, risk_model=model)
    work_days = tuple(sorted(day_workers))
    day_worker_index = {d: tuple(windex[w.id] for w in ws) for d, ws in day_workers.items()}
    avail: dict[tuple[int, int], int] = {}
    maxv: dict[tuple[int, int], int] = {}
    for d, ws in day_workers.items():
        for w in ws:
            a = w.shift.length_s - w.break_s
            if w.max_work_s is not None:
                a = min(a, w.max_work_s)
            avail[(windex[w.id], d)] = max(0, a)
            maxv[(windex[w.id], d)] = w.max_visits if w.max_visits is not None else 1000

    # Global places: each household, then each worker's start and end; one table per worker.
    places: dict[tuple[float, float], int] = {}
    locs: list[Location] = []

    def loc(p: Location) -> int:
        key = (p.lat, p.lon)
        if key not in places:
            places[key] = len(locs)
            locs.append(p)
        return places[key]

    hh_loc = [loc(h.location) for h in problem.households]
    start_loc = np.array([loc(w.start) for w in problem.workers], dtype=np.int64)
    end_loc = np.array([loc(w.end) for w in problem.workers], dtype=np.int64)
    modes = sorted({w.travel_mode.value for w in problem.workers}) or ["walk"]
    mats = {m: memo.matrix(locs, mode=m).duration_s for m in modes}
    table_cache: dict[tuple[str, float], np.ndarray] = {}
    tables = []
    for w in problem.workers:
        key = (w.travel_mode.value, float(w.speed_factor))
        if key not in table_cache:
            base_t = mats[key[0]]
            scaled = base_t if key[1] == 1.0 else np.rint(base_t / key[1]).astype(np.int64)
            if key[1] != 1.0:
                scaled[base_t >= UNREACHABLE] = UNREACHABLE
            table_cache[key] = scaled
        tables.append(table_cache[key])

    tasks = []
    for t, hv in enumerate(problem.visits):
        h = problem.households[hindex[hv.visit.household_id]]
        tasks.append(_task(t, hv, h, hindex[h.id], problem, dates, insts, day_workers, windex, tables,
                           hh_loc, start_loc, end_loc, model))
    return Context(
        problem=problem, dates=dates, holidays=holidays, work_days=work_days, day_workers=day_workers,
        day_worker_index=day_worker_index, avail_s=avail, max_visits=maxv, tasks=tuple(tasks),
        task_loc=np.array([hh_loc[tk.household_index] for tk in tasks], dtype=np.int64),
        start_loc=start_loc, end_loc=end_loc, tables=tuple(tables), model=model, travel=memo,
        never_x=float(model.config["penalty"]["never_contacted_x"]), cadence_step=cadence_step,
        margin_days=int(margin_days), margin_step=float(margin_step),
    )


def _task(t: int, hv: HorizonVisit, h: object, hi: int, problem: HorizonProblem, dates: tuple[dt.date, ...],
          insts: dict[int, Instance], day_workers: dict[int, tuple[Worker, ...]], windex: dict[str, int],
          tables: list[np.ndarray], hh_loc: list[int], start_loc: np.ndarray, end_loc: np.ndarray,
          model: RiskModel) -> TaskInfo:
    from ..domain import Household

    assert isinstance(h, Household)
    visit = hv.visit
    options: dict[int, tuple[int, ...]] = {}
    service: dict[tuple[int, int], int] = {}
    pattern_days = {(day - problem.start).days for p in hv.day_patterns for day in p}
    qualified_somewhere = False
    home_somewhere = False
    blocked_text = ""
    shift_fail = unreachable = False
    for d, inst in insts.items():
        day = dates[d]
        if (hv.earliest is not None and day < hv.earliest) or (hv.latest is not None and day > hv.latest):
            continue
        if hv.day_patterns and d not in pattern_days:
            continue
        allowed = inst.allowed[t]
        if allowed:
            qualified_somewhere = True
        else:
            blocked_text = blocked_text or inst.block[t]
        windows = inst.windows[t]
        if windows:
            home_somewhere = True
        if not (allowed and windows):
            continue
        ok = []
        for lw in sorted(allowed):
            w = day_workers[d][lw]
            gw = windex[w.id]
            svc = int(inst.service_s[t, lw])
            there = int(tables[gw][start_loc[gw], hh_loc[hi]])
            back = int(tables[gw][hh_loc[hi], end_loc[gw]])
            if there >= UNREACHABLE or back >= UNREACHABLE:
                unreachable = True
                continue
            lo, hi_s = w.shift.start_s + there, w.shift.end_s - svc - back
            if any(max(a, lo) <= min(b, hi_s) for a, b in windows):
                ok.append(gw)
                service[(d, gw)] = svc
            else:
                shift_fail = True
        if ok:
            options[d] = tuple(ok)
    blocked: tuple[HorizonReason, str] | None = None
    if not options:
        blocked = _why_blocked(hv, problem, dates, insts, qualified_somewhere, home_somewhere, blocked_text,
                               shift_fail)
        if unreachable and blocked[0] == HorizonReason.NOT_AVAILABLE and home_somewhere:
            blocked = (HorizonReason.UNREACHABLE, "No qualified worker can reach the household and come back.")
    must = visit.mandatory or visit.urgent
    flat = visit.priority if visit.priority is not None else h.priority
    risk = model.assess(h, problem.start)
    cadence = risk.cadence_days
    base = model.assess(dataclasses.replace(h, last_contact=problem.start - dt.timedelta(days=cadence)),
                        problem.start).penalty
    last_day = None if h.last_contact is None else (h.last_contact - problem.start).days
    preferred = windex.get(h.preferred_worker_id or "", -1)
    days_sorted = sorted(options)
    earliest: list[int] = []
    for _ in range(hv.count):
        prev = earliest[-1] + hv.min_spacing_days if earliest else -(10**6)
        nxt = next((d for d in days_sorted if d >= prev), days_sorted[-1] if days_sorted else 0)
        earliest.append(nxt)
    return TaskInfo(
        index=t, visit=hv, household_index=hi, options=options, service_s=service, blocked=blocked, must=must,
        flat=float(flat) if flat is not None else None, base=float(base), cadence=cadence, tier=risk.tier,
        last_day=last_day, preferred=preferred, earliest_k=tuple(earliest), days=tuple(days_sorted),
    )


def _why_blocked(hv: HorizonVisit, problem: HorizonProblem, dates: tuple[dt.date, ...],
                 insts: dict[int, Instance], qualified: bool, home: bool, block: str,
                 shift_fail: bool) -> tuple[HorizonReason, str]:
    span = f"{problem.start}..{problem.end}"
    if not insts:
        return HorizonReason.NO_WORKING_DAY, f"Nobody works on any day of {span} (holidays, weekends or leave)."
    in_dates = [d for d, day in enumerate(dates) if d in insts
                and (hv.earliest is None or day >= hv.earliest) and (hv.latest is None or day <= hv.latest)]
    if not in_dates:
        return (HorizonReason.NO_WORKING_DAY,
                f"No working day lies within its dates ({hv.earliest or problem.start}..{hv.latest or problem.end}).")
    if not qualified:
        who = [w.id for w in problem.workers if _qualifies(hv, w, problem)]
        if hv.visit.required_worker_id is not None and who:
            name = hv.visit.required_worker_id
            return (HorizonReason.NO_WORKING_DAY,
                    f"Only worker {name} may make it, and {name} does not work on any day of {span} "
                    "(leave, holidays or days off).")
        if who:
            shown = ", ".join(who[:4]) + (f" and {len(who) - 4} more" if len(who) > 4 else "")
            return (HorizonReason.NO_WORKING_DAY,
                    f"The workers who may make it ({shown}) are off on every working day of {span}.")
        return HorizonReason.NO_QUALIFIED_WORKER, f"No worker may make this visit: {block or 'nobody qualifies'}."
    if not home:
        return (HorizonReason.NOT_AVAILABLE,
                f"The household is not available on any working day of {span} within the visit's time windows.")
    if shift_fail:
        return (HorizonReason.OUTSIDE_EVERY_SHIFT,
                "Its time windows cannot be met within the shift of any qualified worker on any working day "
                "(including travel).")
    return (HorizonReason.NOT_AVAILABLE,
            f"No working day of {span} has both a qualified worker at work and the household at home.")


def _qualifies(hv: HorizonVisit, w: Worker, problem: HorizonProblem) -> bool:
    v = hv.visit
    h = next(x for x in problem.households if x.id == v.household_id)
    return ((v.required_worker_id is None or w.id == v.required_worker_id) and w.id not in v.forbidden_worker_ids
            and (not v.allowed_roles or w.role in v.allowed_roles) and v.required_skills <= w.skills
            and bool(set(w.languages) & set(h.languages)))
