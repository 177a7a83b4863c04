"""A week of a nurse's calendar feed as a calendar app shows it: an HTML week view of the .ics, shot by headless Chromium.

Loads the Gwanak fixture into a temporary database, plans and publishes Monday to Friday of the fixture's week
(2026-11-23..27; the cadences give the visits of the days around the fixture's Tuesday), moves one of the nurse's
Wednesday visits to a case manager (a re-plan: it shows as cancelled), subscribes the nurse and reads her feed as a
phone would on Wednesday morning.  The page is drawn from the .ics alone (parsed with icalendar), with the detail
of one event as a phone shows it.  Needs Debian's ``chromium`` and ``fonts-nanum`` (apt-get install chromium
fonts-nanum).

    python bench/feeds_screenshot.py                 # writes docs/img/feed-week.png (and the .ics and .html beside /tmp)
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
FIXTURE = REPO / "fixtures" / "problems" / "gwanak.json"
SEOUL = ZoneInfo("Asia/Seoul")
WEEK = [dt.date(2026, 11, 23) + dt.timedelta(days=i) for i in range(5)]
NOW = dt.datetime(2026, 11, 25, 8, 30, tzinfo=SEOUL)  # Wednesday morning


def _publish_week(client: Any, headers: dict[str, str], team_id: str) -> dict[str, str]:
    plans = {}
    for day in WEEK:
        if day != dt.date(2026, 11, 24):  # the fixture's own day has its visits already
            r = client.post(f"/v1/teams/{team_id}/visit-requests/generate?date={day}", headers=headers)
            assert r.status_code in (200, 201), r.status_code
        r = client.post("/v1/plan-jobs", headers=headers,
                        json={"team_id": team_id, "date": day.isoformat(), "time_limit_s": 3})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        while (job := client.get(f"/v1/plan-jobs/{job_id}", headers=headers).json())["status"] in ("queued", "running"):
            time.sleep(0.2)
        assert job["status"] == "succeeded", job
        r = client.post(f"/v1/plans/{job['plan_id']}/publish?force=true", headers=headers)
        assert r.status_code == 200, r.text
        plans[day.isoformat()] = job["plan_id"]
    return plans


def _move_a_wednesday_visit(client: Any, headers: dict[str, str], plan_id: str, nurse: str) -> None:
    plan = client.get(f"/v1/plans/{plan_id}", headers=headers).json()
    edited = json.loads(json.dumps(plan))
    routes = {r["worker_id"]: r for r in edited["routes"]}
    stop = routes[nurse]["stops"].pop()
    other = next(r for w, r in routes.items() if w != nurse and r["stops"])
    other["stops"].append(stop)  # as the dispatcher dragged it; the calendar shows what was published
    r = client.post(f"/v1/plans/{plan_id}/versions", headers=headers, json=edited)
    assert r.status_code == 201, r.text
    r = client.post(f"/v1/plans/{r.json()['plan']['id']}/publish?force=true", headers=headers)
    assert r.status_code == 200, r.text


def make_feed(tmp: Path) -> bytes:
    """The nurse's calendar feed, as her phone reads it on Wednesday morning."""
    from fastapi.testclient import TestClient

    from api.config import Settings
    from api.db import session_scope
    from api.main import create_app
    from api.models import UserRole
    from api.services import loading, users
    from planner import RiskModel

    app = create_app(Settings(data_dir=tmp, secret_key=secrets.token_hex(16), public_base_url="https://salpimi.example"))
    with TestClient(app) as client:
        with session_scope(app.state.engine) as session:
            team, *_ = loading.load_problem_data(
                session, json.loads(FIXTURE.read_text(encoding="utf-8")), risk_model=RiskModel.default(),
                team_name="관악구 (screenshot)",
            )
            user, _ = users.ensure_user(session, username="screenshot-dispatcher", role=UserRole.DISPATCHER,
                                           password=secrets.token_urlsafe(12), team_id=team.id)
            _row, key = users.create_api_key(session, user, "screenshot")
            team_id = team.id
        headers = {"X-API-Key": key}
        workers = client.get(f"/v1/teams/{team_id}/workers?limit=100", headers=headers).json()["data"]
        nurse = next(w["id"] for w in workers if w["role"] == "visiting_nurse")
        plans = _publish_week(client, headers, team_id)
        _move_a_wednesday_visit(client, headers, plans["2026-11-25"], nurse)
        app.state.feed_cache.clock = lambda: NOW.astimezone(dt.UTC)
        url = client.post(f"/v1/workers/{nurse}/feed", headers=headers).json()["url"]
        r = client.get(url.removeprefix("https://salpimi.example"))
        assert r.status_code == 200, r.text
        return r.content


# ---- the week view --------------------------------------------------------------------------------------------

_START_H, _END_H, _PX_PER_H = 8, 18, 64


def week_html(body: bytes) -> str:
    import icalendar

    cal = icalendar.Calendar.from_ical(body)
    events = sorted(cal.walk("VEVENT"), key=lambda e: e.decoded("DTSTART"))
    days = "".join(f'<div class="day"><div class="dh">{d:%a %m/%d}</div>{_column(events, d)}</div>' for d in WEEK)
    hours = "".join(f'<div class="h" style="top:{(h - _START_H) * _PX_PER_H}px">{h:02d}:00</div>'
                    for h in range(_START_H, _END_H + 1))
    visit = next(e for e in events if str(e["STATUS"]) == "CANCELLED")
    start = visit.decoded("DTSTART").astimezone(SEOUL)
    detail = (f"<h3>{html.escape(str(visit['SUMMARY']))}</h3><p class='when'>{start:%a %m/%d %H:%M}–"
              f"{visit.decoded('DTEND').astimezone(SEOUL):%H:%M} · {html.escape(str(visit.get('LOCATION', '')))}</p>"
              f"<pre>{html.escape(str(visit['DESCRIPTION']))}</pre>"
              f"<p class='meta'>UID {html.escape(str(visit['UID']))} · SEQUENCE {visit['SEQUENCE']} · "
              f"STATUS {visit['STATUS']}</p>")
    return f"""<!doctype html><html lang="ko"><meta charset="utf-8"><style>
body {{ font-family: 'NanumGothic', 'NanumBarunGothic', sans-serif; margin: 16px; background: #f6f7f9; color: #222; }}
h1 {{ font-size: 20px; margin: 0 0 4px; }} .sub {{ color: #666; font-size: 13px; margin-bottom: 12px; }}
.wrap {{ display: flex; gap: 16px; }} .grid {{ display: flex; background: #fff; border: 1px solid #ddd; }}
.hours {{ position: relative; width: 48px; margin-top: 28px; height: {(_END_H - _START_H) * _PX_PER_H}px; }}
.h {{ position: absolute; font-size: 11px; color: #888; transform: translateY(-6px); }}
.day {{ width: 172px; border-left: 1px solid #eee; }} .dh {{ height: 28px; line-height: 28px; text-align: center;
 font-weight: bold; font-size: 13px; border-bottom: 1px solid #ddd; }}
.col {{ position: relative; height: {(_END_H - _START_H) * _PX_PER_H}px;
 background: repeating-linear-gradient(#fff 0 {_PX_PER_H - 1}px, #f0f0f0 {_PX_PER_H - 1}px {_PX_PER_H}px); }}
.ev {{ position: absolute; left: 3px; right: 3px; border-radius: 4px; padding: 1px 4px; font-size: 10.5px;
 overflow: hidden; background: #d7e8ff; border-left: 3px solid #2f6fd6; box-sizing: border-box; }}
.ev.brk {{ background: #eef3e6; border-left-color: #7aa33d; color: #4d6a22; }}
.ev.cx {{ background: #f1f1f1; border-left-color: #aaa; color: #888; text-decoration: line-through; }}
.tr {{ position: absolute; left: 10px; right: 10px; border-left: 2px dotted #9bb7e0; }}
.panel {{ width: 380px; background: #fff; border: 1px solid #ddd; padding: 12px 14px; font-size: 13px; }}
.panel h3 {{ font-size: 15px; margin: 0 0 6px; }} .panel pre {{ white-space: pre-wrap; font-family: inherit;
 background: #fafafa; padding: 8px; border: 1px solid #eee; }} .when {{ color: #555; }} .meta {{ color: #999;
 font-size: 11px; }}
</style><h1>{html.escape(str(cal['X-WR-CALNAME']))}</h1>
<div class="sub">Subscribed feed ({len(events)} events, REFRESH-INTERVAL {cal['REFRESH-INTERVAL'].to_ical().decode()}),
read on {NOW:%Y-%m-%d %H:%M} KST · drawn from the .ics alone: no names, addresses or health notes in it</div>
<div class="wrap"><div class="grid"><div class="hours">{hours}</div>{days}</div>
<div class="panel"><div class="sub">A cancelled visit, as a phone shows its details</div>{detail}</div></div></html>"""


def _column(events: list[Any], day: dt.date) -> str:
    out = []
    for e in events:
        start, end = e.decoded("DTSTART").astimezone(SEOUL), e.decoded("DTEND").astimezone(SEOUL)
        if start.date() != day:
            continue
        top = (start.hour + start.minute / 60 - _START_H) * _PX_PER_H
        height = max(14.0, (end - start).total_seconds() / 3600 * _PX_PER_H - 1)
        uid, status = str(e["UID"]), str(e["STATUS"])
        kind = "brk" if uid.startswith("break-") else ("cx" if status == "CANCELLED" else "")
        travel = e.get("X-APPLE-TRAVEL-DURATION")
        if travel is not None and not kind:
            minutes = int(str(travel.to_ical().decode()).removeprefix("PT").removesuffix("M") or 0)
            out.append(f'<div class="tr" style="top:{top - minutes / 60 * _PX_PER_H}px;'
                       f'height:{minutes / 60 * _PX_PER_H}px"></div>')
        out.append(f'<div class="ev {kind}" style="top:{top}px;height:{height}px">'
                   f"<b>{start:%H:%M}</b> {html.escape(str(e['SUMMARY']))}</div>")
    return f'<div class="col">{"".join(out)}</div>'


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "feed-week.png")
    args = ap.parse_args(argv)
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        print("feeds_screenshot.py: needs Debian's chromium (apt-get install chromium fonts-nanum)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="salpimi-shot-") as tmp:
        body = make_feed(Path(tmp))
    work = Path(tempfile.gettempdir())
    (work / "salpimi-feed-week.ics").write_bytes(body)
    page = work / "salpimi-feed-week.html"
    page.write_text(week_html(body), encoding="utf-8")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={args.out}", "--window-size=1420,770", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    print(f"{args.out} ({len(body):,} bytes of iCalendar; page {page})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
