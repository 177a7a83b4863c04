"""Calendar feed test support: a hand-made two-day plan with fixed ids and times, rendered by the service.

Everything that reaches a feed is fixed here (ids, publication times, the fetch clock), so the same data
give the same bytes on SQLite and PostgreSQL: the golden files in ``tests/golden/feeds/``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from api.models import (
    FeedKind,
    FeedToken,
    Household,
    HouseholdPrivate,
    Plan,
    Team,
    User,
    VisitRequest,
    Worker,
)
from api.services import feeds, plans

BASE = "https://salpimi.example"
DAY1, DAY2 = dt.date(2026, 11, 24), dt.date(2026, 11, 25)
UTC = dt.UTC
CREATED = dt.datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
PUBLISHED_1 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # 18:00 in Seoul the evening before
PUBLISHED_2 = dt.datetime(2026, 11, 24, 4, 30, tzinfo=UTC)  # the 13:30 re-plan
BEFORE = dt.datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a fetch between the two
NOW = dt.datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 14:00 in Seoul, after the re-plan

TEAM = "tm_golden00000001"
NURSE, CM = "wk_golden0000nurse", "wk_golden00000cm1"
DISPATCHER = "us_golden000disp1"
TOKENS = {"nurse": "N" * 43, "cm": "C" * 43, "team": "T" * 43}
HOUSEHOLDS = {  # id: (dong, label, contact, address, health notes)
    "hh_golden00000001": ("신림동", "홍길동 할머니", "010-1234-5678", "서울 관악구 신림로 12, 반지하", "당뇨; 고혈압\\낙상 위험"),
    "hh_golden00000002": ("행운동", "김철수 님", "02-880-1234", "서울 관악구 행운길 3-1 (고시원 204호)", "알코올 의존, 우울"),
    "hh_golden00000003": ("청룡동", "이영희 어르신", "010-9876-5432", "서울 관악구 청룡로 77", "치매 초기, 보호자 없음"),
    "hh_golden00000004": ("난곡동", "박민수 씨", "010-5555-0000", "서울 관악구 난곡로 5, 옥탑방", "위기 신고: 가스 체납 3개월"),
    "hh_golden00000005": ("서원동", "최순자 할머니", "010-2222-3333", "서울 관악구 서원길 9", "거동 불편, 휠체어"),
    "hh_golden00000006": ("은천동", "정대호 님", "010-7777-8888", "서울 관악구 은천로 41", "만성 폐질환"),
}
WORKER_NAMES = {NURSE: "한간호 주무관", CM: "오사례 주무관"}
VISITS = {  # id: (household, kind, day)
    "vr_golden00000001": ("hh_golden00000001", "routine", DAY1),
    "vr_golden00000002": ("hh_golden00000002", "assessment", DAY1),
    "vr_golden00000003": ("hh_golden00000003", "follow_up", DAY1),
    "vr_golden00000004": ("hh_golden00000004", "crisis", DAY1),
    "vr_golden00000005": ("hh_golden00000005", "routine", DAY1),
    "vr_golden00000007": ("hh_golden00000006", "routine", DAY2),
    "vr_golden00000008": ("hh_golden00000001", "follow_up", DAY2),
}
MOVED, DROPPED = "vr_golden00000002", "vr_golden00000005"  # by the re-plan: nurse -> case manager; left out
UNTOUCHED = ("vr_golden00000001", "vr_golden00000003", "vr_golden00000004")


def _t(day: dt.date, hhmm: str) -> str:
    return f"{day.isoformat()}T{hhmm}:00+09:00"


def _stop(visit: str, day: dt.date, start: str, end: str, travel_s: int) -> dict[str, Any]:
    return {"visit_id": visit, "household_id": VISITS[visit][0], "arrival": _t(day, start), "start": _t(day, start),
            "end": _t(day, end), "travel_s": travel_s, "travel_m": travel_s}


def _route(worker: str, day: dt.date, stops: list[dict[str, Any]], lunch: bool) -> dict[str, Any]:
    return {"worker_id": worker, "departure": _t(day, "09:00"), "return": _t(day, "17:00"),
            "travel_s": sum(s["travel_s"] for s in stops), "travel_m": 0,
            "break": {"start": _t(day, "12:00"), "end": _t(day, "13:00")} if lunch else None, "stops": stops}


def plan_day1_v1() -> dict[str, Any]:
    return {"date": DAY1.isoformat(), "routes": [
        _route(NURSE, DAY1, [_stop("vr_golden00000001", DAY1, "09:30", "10:10", 600),
                             _stop("vr_golden00000002", DAY1, "14:00", "15:00", 480)], lunch=True),
        _route(CM, DAY1, [_stop("vr_golden00000003", DAY1, "09:15", "09:45", 300),
                          _stop("vr_golden00000004", DAY1, "10:30", "11:15", 900),
                          _stop("vr_golden00000005", DAY1, "13:30", "14:10", 420)], lunch=False),
    ], "unassigned": []}


def plan_day1_v2() -> dict[str, Any]:
    """The 13:30 re-plan: the assessment moves to the case manager (later), the last routine visit is left out."""
    return {"date": DAY1.isoformat(), "routes": [
        _route(NURSE, DAY1, [_stop("vr_golden00000001", DAY1, "09:30", "10:10", 600)], lunch=True),
        _route(CM, DAY1, [_stop("vr_golden00000003", DAY1, "09:15", "09:45", 300),
                          _stop("vr_golden00000004", DAY1, "10:30", "11:15", 900),
                          _stop("vr_golden00000002", DAY1, "14:30", "15:30", 840)], lunch=False),
    ], "unassigned": [{"visit_id": DROPPED, "household_id": VISITS[DROPPED][0], "reason": "over_capacity",
                       "detail": "All qualified workers are fully booked.", "mandatory": False, "urgent": False}]}


def plan_day2_v1() -> dict[str, Any]:
    return {"date": DAY2.isoformat(), "routes": [
        _route(NURSE, DAY2, [_stop("vr_golden00000007", DAY2, "10:00", "10:40", 720)], lunch=True),
        _route(CM, DAY2, [_stop("vr_golden00000008", DAY2, "09:30", "10:00", 360)], lunch=False),
    ], "unassigned": []}


@dataclass
class Golden:
    """The golden team in one database, and each feed as it read before and after the re-plan."""

    engine: sa.Engine
    before: dict[str, bytes] = field(default_factory=dict)
    after: dict[str, bytes] = field(default_factory=dict)


def render(engine: sa.Engine, who: str, now: dt.datetime) -> feeds.FeedAnswer:
    with Session(engine) as session:
        answer = feeds.read_feed(session, TOKENS[who], cache=feeds.FeedCache(clock=lambda: now), base_url=BASE)
        session.commit()
    assert answer is not None and answer.status == 200
    return answer


def _publish(session: Session, data: dict[str, Any], day: dt.date, version: int, at: dt.datetime) -> None:
    plan = Plan(id=f"pl_golden{day:%m%d}v{version}", team_id=TEAM, date=day, version=version, data=data,
                problem={}, kpis={}, created_at=at)
    session.add(plan)
    session.flush()
    plans.publish_plan(session, plan, at=at)


def build_golden(engine: sa.Engine) -> Golden:
    """The golden team (once per database), its plans published at fixed times, and its feeds."""
    golden = Golden(engine=engine)
    with Session(engine) as session:
        if session.get(Team, TEAM) is None:
            session.add(Team(id=TEAM, name="관악구 방문건강팀 (golden)", district="Gwanak-gu", created_at=CREATED))
            session.flush()
            for wid, role in ((NURSE, "visiting_nurse"), (CM, "case_manager")):
                session.add(Worker(id=wid, team_id=TEAM, ref=f"ref-{wid}", name=WORKER_NAMES[wid], role=role,
                                   start_lat=37.4784, start_lon=126.9516, created_at=CREATED, updated_at=CREATED))
            session.add(User(id=DISPATCHER, username="golden-dispatcher", role="dispatcher", team_id=TEAM,
                             password_hash="unused", created_at=CREATED))
            for i, (hid, (dong, label, contact, address, notes)) in enumerate(HOUSEHOLDS.items()):
                session.add(Household(id=hid, team_id=TEAM, ref=f"ref-{hid}", dong=dong, lat=37.47 + i / 1000,
                                      lon=126.95 + i / 1000, created_at=CREATED, updated_at=CREATED))
                session.flush()
                session.add(HouseholdPrivate(household_id=hid, label=label, contact=contact, address=address,
                                             health_notes=notes, updated_at=CREATED))
            for vid, (hid, kind, day) in VISITS.items():
                session.add(VisitRequest(id=vid, team_id=TEAM, household_id=hid, kind=kind, date=day,
                                         created_at=CREATED, updated_at=CREATED))
            for name, (kind, subject) in {"nurse": (FeedKind.WORKER, NURSE), "cm": (FeedKind.WORKER, CM),
                                          "team": (FeedKind.TEAM, DISPATCHER)}.items():
                session.add(FeedToken(
                    id=f"fd_golden_{name}", team_id=TEAM, kind=kind, subject=subject,
                    worker_id=subject if kind == FeedKind.WORKER else None,
                    user_id=subject if kind == FeedKind.TEAM else None,
                    token_hash=feeds.token_digest(TOKENS[name]), created_at=CREATED,
                ))
            _publish(session, plan_day1_v1(), DAY1, 1, PUBLISHED_1)
            _publish(session, plan_day2_v1(), DAY2, 1, PUBLISHED_1 + dt.timedelta(minutes=5))
            session.commit()
            golden.before = {who: render(engine, who, BEFORE).body for who in TOKENS}
            _publish(session, plan_day1_v2(), DAY1, 2, PUBLISHED_2)
            session.commit()
        else:  # built by an earlier test module on this database
            golden.before = {}
    golden.after = {who: render(engine, who, NOW).body for who in TOKENS}
    return golden


# ---- reading feeds back ------------------------------------------------------------------------------

_HANGUL = re.compile(r"[\uac00-\ud7a3]")


def unfolded(body: bytes) -> list[str]:
    """The content lines of an iCalendar body, unfolded (RFC 5545 3.1)."""
    return body.decode("utf-8").replace("\r\n ", "").replace("\r\n\t", "").split("\r\n")[:-1]


def has_hangul(text: str) -> bool:
    return bool(_HANGUL.search(text))
