"""Small hand-checkable weeks near Gwanak-gu's health centre (Mon 2026-11-23 .. Fri 2026-11-27)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from daysupport import household, window, worker

from planner import (
    HaversineProvider,
    Holidays,
    HorizonProblem,
    HorizonResult,
    HorizonVisit,
    SolveParams,
    Visit,
    WorkerCalendar,
    evaluate_horizon,
)

MON = dt.date(2026, 11, 23)
FRI = dt.date(2026, 11, 27)
TRAVEL = HaversineProvider()
#: Deterministic and fast: each day's search stops after a few solutions (tiny days at their share of 3 s).
QUICK = SolveParams(time_limit_s=3.0, deterministic=True, solution_limit=40)


def day(i: int) -> dt.date:
    return MON + dt.timedelta(days=i)


def week(visits: Sequence[HorizonVisit], *, households: Sequence[object] | None = None, workers: int = 1,
         calendars: Sequence[WorkerCalendar] = (), holidays: Holidays | None = None,
         start: dt.date = MON, end: dt.date = FRI, **kw: object) -> HorizonProblem:
    hs = households if households is not None else sorted(
        {v.visit.household_id for v in visits}, key=lambda x: int(x[1:]))
    hh = [h if not isinstance(h, str) else household(int(h[1:]), dlat=0.001 * int(h[1:])) for h in hs]
    ws = [worker(i, max_visits=6) for i in range(workers)]
    return HorizonProblem(start=start, end=end, households=tuple(hh), workers=tuple(ws),  # type: ignore[arg-type]
                          visits=tuple(visits), calendars=tuple(calendars),
                          holidays=holidays or Holidays(), **kw)  # type: ignore[arg-type]


def hv(vid: str, hid: str, **kw: object) -> HorizonVisit:
    visit_kw = {k: kw.pop(k) for k in list(kw) if k in ("mandatory", "urgent", "required_worker_id", "time_windows",
                                                        "priority", "kind")}
    return HorizonVisit(visit=Visit(id=vid, household_id=hid, **visit_kw), **kw)  # type: ignore[arg-type]


def days_of(result: HorizonResult, request: str) -> list[dt.date]:
    """The days a request's visits are planned on, in order."""
    return sorted(d.date for d in result.days for r in d.plan.routes for s in r.stops
                  if s.visit_id == request or s.visit_id.startswith(request + "#"))


def assert_clean(problem: HorizonProblem, result: HorizonResult) -> None:
    ev = evaluate_horizon(problem, result.horizon_plan(), TRAVEL)
    assert ev.ok, [v.message for v in ev.all_violations()]


__all__ = ["FRI", "MON", "QUICK", "TRAVEL", "assert_clean", "day", "days_of", "hv", "week", "window"]
