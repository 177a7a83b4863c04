"""Text views of a horizon plan for the terminal: the week (worker x day) and the visits left out."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TextIO

from .result import HorizonKpis, HorizonSummary, HorizonUnassigned

__all__ = ["print_kpis", "print_left_out", "print_week"]

_STATUS = {"leave": "leave", "holiday": "holiday", "off": "off"}


def print_week(summary: HorizonSummary, dates: Sequence[dt.date], holidays: dict[dt.date, str], out: TextIO) -> None:
    """One row per worker, one column per day: visits and working hours, or why the worker is not working."""
    cells: dict[tuple[str, dt.date], str] = {}
    workers: list[str] = []
    for x in summary.loads:
        if x.worker_id not in workers:
            workers.append(x.worker_id)
        if x.status == "working":
            cells[(x.worker_id, x.date)] = f"{x.visits} {x.work_s / 3600:.1f}h" if x.visits else "-"
        else:
            cells[(x.worker_id, x.date)] = _STATUS.get(x.status, x.status)
    width = max([len(w) for w in workers] + [6])
    head = " ".join(f"{d:%a %m-%d}".rjust(10) for d in dates)
    print(f"\n{'worker'.ljust(width)} {head}   total", file=out)
    for wid in workers:
        row = " ".join(cells.get((wid, d), "").rjust(10) for d in dates)
        total = sum(x.visits for x in summary.loads if x.worker_id == wid)
        print(f"{wid.ljust(width)} {row}   {total:5d}", file=out)
    per_day = " ".join(str(sum(x.visits for x in summary.loads if x.date == d)).rjust(10) for d in dates)
    print(f"{'visits'.ljust(width)} {per_day}   {sum(x.visits for x in summary.loads):5d}", file=out)
    for d, name in holidays.items():
        print(f"  {d:%a %Y-%m-%d}: {name}", file=out)


def print_left_out(unassigned: Sequence[HorizonUnassigned], out: TextIO) -> None:
    if not unassigned:
        return
    print(f"\nPlanned on no day ({len(unassigned)}):", file=out)
    for u in unassigned:
        flag = " MANDATORY" if u.mandatory else (" URGENT" if u.urgent else "")
        print(f"  {u.visit_id:<16} {u.household_id:<12} {u.reason}{flag}: {u.detail}", file=out)


def print_kpis(k: HorizonKpis, out: TextIO) -> None:
    within = (f"{k.intensive_within_cadence}/{k.intensive_due} intensive households falling due visited by their "
              f"due day; {k.overdue_visited_first_day}/{k.overdue_at_start} households already overdue visited on "
              "their first possible day")
    print(
        f"\nPlanned {k.visits_planned}/{k.visits_total} visits over {k.working_days} working day(s); risk covered "
        f"{k.risk_covered:,.1f} of {k.risk_total:,.1f}; ageing past due dates {k.ageing:,.2f}; {within}; "
        f"daily visits per worker spread {k.daily_visit_spread:.2f} (most - fewest); travel {k.travel_s // 60} min.",
        file=out,
    )
    if k.mandatory_left_out or k.urgent_left_out:
        print(f"Left out: {k.mandatory_left_out} mandatory, {k.urgent_left_out} urgent.", file=out)
