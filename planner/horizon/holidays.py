"""Korean public holidays 2025-2028 as data, and the set of holidays a planning horizon uses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from types import MappingProxyType

__all__ = ["KR_HOLIDAYS", "KR_YEARS", "holidays_between"]

#: The years the built-in table covers; a horizon outside them gets no built-in holiday (give them in the
#: problem's ``holidays.add``).
KR_YEARS = (2025, 2028)

# Source: 관공서의 공휴일에 관한 규정 and 공휴일에 관한 법률 (substitute holidays for Seollal and Chuseok on a
# Sunday or another holiday; for Children's Day on a weekend or another holiday; since 2021 for 삼일절, 광복절,
# 개천절 and 한글날, since 2023 for 부처님오신날 and 성탄절; 노동절 and 제헌절 public holidays from 2026), lunar
# dates (설날, 부처님오신날, 추석) from KASI's calendar in Korean time (2027's 설날 is 7 February in Korea, the 6th
# in China), elections and 2025-01-27 as designated.  Cross-checked date by date against python-holidays 0.109
# (South Korea).  Temporary holidays designated later are not here: add them in the problem.
_TABLE = """
2025-01-01 신정
2025-01-27 임시공휴일
2025-01-28 설날 전날
2025-01-29 설날
2025-01-30 설날 다음날
2025-03-01 삼일절
2025-03-03 대체공휴일 (삼일절)
2025-05-05 어린이날, 부처님오신날
2025-05-06 대체공휴일 (어린이날, 부처님오신날)
2025-06-03 제21대 대통령선거일
2025-06-06 현충일
2025-08-15 광복절
2025-10-03 개천절
2025-10-05 추석 전날
2025-10-06 추석
2025-10-07 추석 다음날
2025-10-08 대체공휴일 (추석)
2025-10-09 한글날
2025-12-25 성탄절
2026-01-01 신정
2026-02-16 설날 전날
2026-02-17 설날
2026-02-18 설날 다음날
2026-03-01 삼일절
2026-03-02 대체공휴일 (삼일절)
2026-05-01 노동절
2026-05-05 어린이날
2026-05-24 부처님오신날
2026-05-25 대체공휴일 (부처님오신날)
2026-06-03 제9회 전국동시지방선거일
2026-06-06 현충일
2026-07-17 제헌절
2026-08-15 광복절
2026-08-17 대체공휴일 (광복절)
2026-09-24 추석 전날
2026-09-25 추석
2026-09-26 추석 다음날
2026-10-03 개천절
2026-10-05 대체공휴일 (개천절)
2026-10-09 한글날
2026-12-25 성탄절
2027-01-01 신정
2027-02-06 설날 전날
2027-02-07 설날
2027-02-08 설날 다음날
2027-02-09 대체공휴일 (설날)
2027-03-01 삼일절
2027-05-01 노동절
2027-05-03 대체공휴일 (노동절)
2027-05-05 어린이날
2027-05-13 부처님오신날
2027-06-06 현충일
2027-07-17 제헌절
2027-07-19 대체공휴일 (제헌절)
2027-08-15 광복절
2027-08-16 대체공휴일 (광복절)
2027-09-14 추석 전날
2027-09-15 추석
2027-09-16 추석 다음날
2027-10-03 개천절
2027-10-04 대체공휴일 (개천절)
2027-10-09 한글날
2027-10-11 대체공휴일 (한글날)
2027-12-25 성탄절
2027-12-27 대체공휴일 (성탄절)
2028-01-01 신정
2028-01-26 설날 전날
2028-01-27 설날
2028-01-28 설날 다음날
2028-03-01 삼일절
2028-04-12 제23대 국회의원선거일
2028-05-01 노동절
2028-05-02 부처님오신날
2028-05-05 어린이날
2028-06-06 현충일
2028-07-17 제헌절
2028-08-15 광복절
2028-10-02 추석 전날
2028-10-03 추석, 개천절
2028-10-04 추석 다음날
2028-10-05 대체공휴일 (추석)
2028-10-09 한글날
2028-12-25 성탄절
"""


def _parse(table: str) -> Mapping[dt.date, str]:
    out: dict[dt.date, str] = {}
    for line in table.strip().splitlines():
        day, name = line.split(" ", 1)
        out[dt.date.fromisoformat(day)] = name
    return MappingProxyType(out)


#: Korean public holidays (date -> name), 2025-2028.
KR_HOLIDAYS: Mapping[dt.date, str] = _parse(_TABLE)


def holidays_between(start: dt.date, end: dt.date, *, calendar: str = "KR", add: Iterable[dt.date] = (),
                     remove: Iterable[dt.date] = ()) -> dict[dt.date, str]:
    """Holidays from ``start`` to ``end`` (inclusive): the built-in ``calendar`` (``"KR"`` or ``"none"``),
    plus ``add`` (named "holiday (given)"), less ``remove`` (a built-in holiday worked as usual)."""
    if calendar not in ("KR", "none"):
        raise ValueError(f"holidays.calendar: {calendar!r} is not one of KR, none")
    out = {d: n for d, n in KR_HOLIDAYS.items() if start <= d <= end} if calendar == "KR" else {}
    for d in add:
        if start <= d <= end:
            out.setdefault(d, "holiday (given)")
    for d in remove:
        out.pop(d, None)
    return dict(sorted(out.items()))
