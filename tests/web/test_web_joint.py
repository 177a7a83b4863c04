"""Joint visits on the page: the hand-made joint day (fixtures/problems/joint.json, with a visit nobody can crew and
a follower of it) loaded into a team; the dispatcher sees linked halves, partners, order rules and joint reasons,
and a move of one half gets the evaluator's verdict; the nurse on a joint visit sees her partner's role only."""

from __future__ import annotations

import json
import re
import time
import urllib.error
from typing import Any

import pytest
from websupport import PHONE, REPO, Server, Visit, add_user, non_local, open_page, save_screenshot

pytestmark = pytest.mark.timeout(300)


def _joint_day() -> dict[str, Any]:
    """The fixture's day, plus a visit needing two counsellors (the team has one) and a visit that must follow it:
    the planner leaves both out with joint reasons."""
    problem = json.loads((REPO / "fixtures" / "problems" / "joint.json").read_text(encoding="utf-8"))
    problem["visits"] += [
        {"id": "j-v8", "household_id": "j-h6", "crew": [{"role": "counsellor"}, {"role": "counsellor"}]},
        {"id": "j-v9", "household_id": "j-h2", "allowed_roles": ["case_manager"]},
    ]
    problem["precedences"].append({"first": "j-v8", "then": "j-v9", "min_gap_s": 0})
    return problem


class Joint:
    def __init__(self, server: Server) -> None:
        problem = _joint_day()
        assert problem["date"] == server.day
        loaded = server.api("POST", "/v1/teams/load?name=joint-web", user="manager", body=problem)
        self.team_id: str = loaded["team"]["id"]
        add_user(server, "jdisp", "dispatcher", team_id=self.team_id)
        self.workers = {w["ref"]: w for w in server.api(
            "GET", f"/v1/teams/{self.team_id}/workers?limit=100", user="jdisp")["data"]}
        self.names = {w["id"]: w["name"] for w in self.workers.values()}
        job = server.api("POST", "/v1/plan-jobs", user="jdisp", body={
            "team_id": self.team_id, "date": server.day, "time_limit_s": 60, "deterministic": True,
            "solution_limit": 5})
        for _ in range(240):
            job = server.api("GET", f"/v1/plan-jobs/{job['id']}", user="jdisp")
            if job["status"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.25)
        assert job["status"] == "succeeded", job
        server.api("POST", f"/v1/plans/{job['plan_id']}/publish", user="jdisp")
        self.plan: dict[str, Any] = server.api("GET", f"/v1/plans/{job['plan_id']}", user="jdisp")
        households = {h["id"]: h["ref"] for h in server.api(
            "GET", f"/v1/teams/{self.team_id}/households?limit=100", user="jdisp")["data"]}
        requests = server.api("GET", f"/v1/teams/{self.team_id}/visit-requests?date={server.day}&limit=100",
                              user="jdisp")["data"]
        #: fixture visit id -> request id (j-h3 has two: the nurse's first, the counsellor's after it)
        self.visit: dict[str, str] = {}
        for r in requests:
            ref = households[r["household_id"]]
            if ref == "j-h3":
                self.visit["j-v4" if r.get("allowed_roles") else "j-v3"] = r["id"]
            elif ref == "j-h6":
                self.visit["j-v8" if r["crew"] else "j-v7"] = r["id"]
            elif ref == "j-h2":
                self.visit["j-v2" if r["crew"] else "j-v9"] = r["id"]
            else:
                self.visit[{"j-h1": "j-v1", "j-h4": "j-v5", "j-h5": "j-v6"}[ref]] = r["id"]
        self.joint = sorted({s["visit_id"] for r in self.plan["routes"] for s in r["stops"] if s.get("crew")})
        v1 = self.visit["j-v1"]
        self.v1_halves = {r["worker_id"]: s for r in self.plan["routes"] for s in r["stops"] if s["visit_id"] == v1}
        self.nurse = next(w for w in self.v1_halves if self.names[w].startswith("간호사"))
        self.partner = next(w for w in self.v1_halves if w != self.nurse)
        add_user(server, "jnurse", "field_worker", team_id=self.team_id, worker_id=self.nurse)
        #: the nurse on the precedence's first visit (j-v3), and her user
        self.v3_nurse = next(r["worker_id"] for r in self.plan["routes"] for s in r["stops"]
                             if s["visit_id"] == self.visit["j-v3"])
        self.v3_user = "jnurse"
        if self.v3_nurse != self.nurse:
            self.v3_user = "jnurse3"
            add_user(server, "jnurse3", "field_worker", team_id=self.team_id, worker_id=self.v3_nurse)


@pytest.fixture(scope="module")
def joint(server: Server) -> Joint:
    return Joint(server)


@pytest.fixture(scope="module")
def dispatcher(browser: Any, server: Server, joint: Joint) -> Any:
    visit = open_page(browser, server, "jdisp")
    yield visit
    visit.close()


def _no_problems(visit: Visit) -> None:
    assert visit.problems == [], visit.problems
    assert non_local(visit.urls) == [], "no request leaves the machine without a tile URL"


def test_dispatcher_sees_the_halves_of_each_joint_visit_linked(dispatcher: Visit, joint: Joint) -> None:
    page = dispatcher.page
    assert page.locator("body").get_attribute("data-ready") == joint.plan["id"]
    assert len(joint.joint) == 3, joint.plan  # j-v1, j-v2, j-v6: all planned, each for two workers
    for vid in joint.joint:
        markers = page.locator(f".stop-marker.joint[data-joint='{vid}']")
        blocks = page.locator(f".seg.visit.joint[data-joint='{vid}']")
        assert markers.count() == 2 and blocks.count() == 2
        # two rows, one outline colour, a "2" badge on each half
        rows = {blocks.nth(i).get_attribute("data-worker-id") for i in range(2)}
        assert len(rows) == 2
        outlines = {blocks.nth(i).evaluate("(e) => getComputedStyle(e).outlineColor") for i in range(2)}
        links = {markers.nth(i).evaluate("(e) => getComputedStyle(e).getPropertyValue('--link')") for i in range(2)}
        assert len(outlines) == 1 and len(links) == 1
        assert page.locator(f".seg.visit.joint[data-joint='{vid}'] .joint-badge").count() == 2
        assert page.locator(f".stop-marker.joint[data-joint='{vid}'] .joint-badge").count() == 2
        # the two markers stand side by side, not on top of each other
        boxes = [markers.nth(i).bounding_box() for i in range(2)]
        assert abs(boxes[0]["x"] - boxes[1]["x"]) >= 20
    # hovering one half lights up the other, on the map and in the timeline
    v1 = joint.visit["j-v1"]
    page.locator(f".seg.visit[data-joint='{v1}'][data-worker-id='{joint.nurse}']").hover()
    assert page.locator(f"[data-joint='{v1}'].linked").count() == 4
    page.locator("#timeline-title").hover()
    assert page.locator(f"[data-joint='{v1}'].linked").count() == 0
    # one-worker visits carry no mark
    single = next(s for r in joint.plan["routes"] for s in r["stops"] if not s.get("crew"))
    assert page.locator(f".seg.visit[data-visit-id='{single['visit_id']}']").get_attribute("data-joint") is None
    _no_problems(dispatcher)


def test_the_visit_panel_names_the_partner_and_the_order_rules(dispatcher: Visit, joint: Joint) -> None:
    page = dispatcher.page
    v1 = joint.visit["j-v1"]
    page.locator(f".seg.visit[data-visit-id='{v1}'][data-worker-id='{joint.nurse}']").click()
    details = page.locator("#details")
    assert details.locator("h2").inner_text().endswith(joint.names[joint.nurse])
    partner = joint.workers[next(k for k, w in joint.workers.items() if w["id"] == joint.partner)]
    assert f"{partner['name']} (사례관리사)" in details.inner_text()
    # both halves are selected together
    assert page.locator(f".seg.visit.selected[data-visit-id='{v1}']").count() == 2
    # the precedence shows on both of its visits, with the gap as planned
    for vid, word in ((joint.visit["j-v3"], "먼저"), (joint.visit["j-v4"], "다음")):
        page.locator(f".seg.visit[data-visit-id='{vid}']").click()
        rule = details.locator(".precedences li").first
        assert word in rule.inner_text() and "30–120분" in rule.inner_text() and "계획:" in rule.inner_text()
    _no_problems(dispatcher)


def test_unassigned_joint_visits_give_their_reasons_in_korean_and_english(dispatcher: Visit, joint: Joint) -> None:
    page = dispatcher.page
    left = {u["visit_id"]: u for u in joint.plan["unassigned"]}
    v8, v9 = joint.visit["j-v8"], joint.visit["j-v9"]
    assert left[v8]["reason"] == "no_qualified_worker" and left[v9]["reason"] == "partner_left_out"
    item8 = page.locator(f"#unassigned-list > li[data-visit-id='{v8}']")
    item9 = page.locator(f"#unassigned-list > li[data-visit-id='{v9}']")
    assert item8.locator(".joint-badge").count() == 1
    assert "두 명이 필요하지만 한 명만 자격 있음" in item8.inner_text()
    assert joint.names[joint.workers["j-couns"]["id"]] in item8.locator(".detail").inner_text()  # names, not ids
    assert item9.locator(".reason").inner_text() == "선행 방문 빠짐"
    assert "따라야 할 방문이 오늘 계획되지 않음" in item9.inner_text()
    assert "vr_" not in item9.inner_text() and "j-h6" in item9.locator(".detail").inner_text()  # its household
    assert item9.locator(".fits li").inner_text() == "넣을 곳이 없습니다."  # not before its first is planned
    page.locator("#unassigned-title").evaluate("(e) => e.scrollIntoView()")
    page.get_by_label("언어").select_option("en")
    assert "needs two workers, only one qualifies" in item8.inner_text()
    assert item9.locator(".reason").inner_text() == "partner left out"
    page.get_by_label("Language").select_option("ko")
    page.locator("#app").evaluate("(e) => window.scrollTo(0, 0)")
    _no_problems(dispatcher)


def _breaking_move(server: Server, joint: Joint) -> dict[str, Any]:
    """A place for the nurse's half of j-v1 where the pair cannot start together (the API's verdict says so)."""
    v1 = joint.visit["j-v1"]
    for route in joint.plan["routes"]:
        if route["worker_id"] == joint.partner:
            continue
        for pos in range(len(route["stops"]) + 1):
            body = {"visit_id": v1, "worker_id": route["worker_id"], "position": pos, "from_worker_id": joint.nurse}
            try:
                verdict = server.api("POST", f"/v1/plans/{joint.plan['id']}/moves/check", user="jdisp", body=body)
            except urllib.error.HTTPError as exc:  # 422: it cannot be timed there at all
                assert exc.code == 422
                continue
            if "crew_not_synchronised" in {v["code"] for v in verdict["violations"]}:
                return body
    raise AssertionError("no hand move of the nurse's half splits the pair")


def test_moving_one_half_gets_the_verdict_before_saving(dispatcher: Visit, server: Server, joint: Joint) -> None:
    page = dispatcher.page
    v1 = joint.visit["j-v1"]
    other = next(w["id"] for k, w in joint.workers.items() if k.startswith("j-nurse") and w["id"] != joint.nurse)
    page.locator(f".seg.visit[data-visit-id='{v1}'][data-worker-id='{joint.nurse}']").click()
    assert page.locator("#details .joint-hint").is_visible()
    # to the other nurse: both halves re-timed together, no violation
    page.get_by_label("옮길 담당자").select_option(other)
    page.get_by_label("순서", exact=True).fill("")
    page.get_by_role("button", name="검토", exact=True).click()
    verdict = page.locator("#verdict [data-verdict]")
    verdict.wait_for()
    assert verdict.get_attribute("data-verdict") == "ok"
    assert page.locator("#move-save").is_enabled()
    # somewhere the pair cannot start together: the evaluator's words, and no saving
    breaking = _breaking_move(server, joint)
    page.get_by_label("옮길 담당자").select_option(breaking["worker_id"])
    page.get_by_label("순서", exact=True).fill(str(breaking["position"] + 1))
    page.get_by_role("button", name="검토", exact=True).click()
    page.locator("#verdict li[data-code='crew_not_synchronised']").first.wait_for()
    assert "두 사람이 같은 시각에 시작하지 않음" in page.locator("#verdict").inner_text()
    assert page.locator("#verdict [data-verdict-note='crew-broken']").is_visible()
    assert page.locator("#move-save").is_disabled()
    page.set_viewport_size({"width": 1366, "height": 960})  # map, panel, timeline and the unassigned list at once
    page.locator("#app").evaluate("(e) => window.scrollTo(0, 0)")
    page.locator("#details").evaluate("(e) => { e.scrollTop = e.scrollHeight; }")  # the panel shows the verdict
    save_screenshot(page, "web-joint")
    page.set_viewport_size({"width": 1366, "height": 768})
    _no_problems(dispatcher)


def test_the_nurse_sees_her_half_and_only_her_partners_role(browser: Any, server: Server, joint: Joint) -> None:
    nurse = open_page(browser, server, "jnurse", viewport=PHONE)
    try:
        page = nurse.page
        v1 = joint.visit["j-v1"]
        rows = page.locator(".tl-row[data-worker-id]")
        assert rows.count() == 1 and rows.first.get_attribute("data-worker-id") == joint.nurse
        half = page.locator(f".seg.visit.joint[data-visit-id='{v1}']")
        assert half.count() == 1 and page.locator(f".stop-marker.joint[data-joint='{v1}']").count() == 1
        half.click()
        facts = page.locator("#details .facts").inner_text()
        assert "함께 가는 담당자" in facts and "사례관리사" in facts
        partner_name = joint.names[joint.partner]
        assert partner_name not in page.content()  # the page was never told
        # nor does the API tell her: her schedule names roles only, the partner's record is closed to her
        schedule = server.api("GET", f"/v1/workers/{joint.nurse}/schedule?date={server.day}", user="jnurse")
        assert partner_name not in json.dumps(schedule, ensure_ascii=False) and joint.partner not in json.dumps(schedule)
        assert next(s for s in schedule["stops"] if s["visit_id"] == v1)["with_roles"] == ["case_manager"]
        # her published days, as the API lists them
        days = server.api("GET", f"/v1/workers/{joint.nurse}/published-days?date_from=2026-09-01&date_to=2027-01-31",
                          user="jnurse")["data"]
        options = page.locator("#my-days option")
        assert [options.nth(i).get_attribute("value") for i in range(options.count())] == [d["date"] for d in days]
        assert page.locator("#my-days").input_value() == server.day and page.locator("#date").is_hidden()
        assert re.search(r"\d+곳", options.first.inner_text())
        _no_problems(nurse)
    finally:
        nurse.close()


def test_dragging_one_half_onto_another_row_checks_that_seat_move(dispatcher: Visit, joint: Joint) -> None:
    page = dispatcher.page
    v1 = joint.visit["j-v1"]
    other = next(w["id"] for k, w in joint.workers.items() if k.startswith("j-nurse") and w["id"] != joint.nurse)
    target = page.locator(f".tl-row[data-worker-id='{other}'] .tl-track")
    page.locator(f".seg.visit[data-visit-id='{v1}'][data-worker-id='{joint.nurse}']").drag_to(
        target, target_position={"x": 1, "y": 8})
    verdict = page.locator("#verdict [data-verdict]")
    verdict.wait_for()
    # the dragged half is the one that moves (the page sends its worker as from_worker_id): a clean verdict
    assert page.get_by_label("옮길 담당자").input_value() == other
    assert verdict.get_attribute("data-verdict") == "ok" and page.locator("#move-save").is_enabled()
    assert page.locator("#details h2").inner_text().endswith(joint.names[joint.nurse])
    _no_problems(dispatcher)


def test_a_nurse_sees_her_order_rule_with_the_other_workers_role_only(browser: Any, server: Server, joint: Joint) -> None:
    nurse = open_page(browser, server, joint.v3_user, viewport=PHONE)
    try:
        page = nurse.page
        page.locator(f".seg.visit[data-visit-id='{joint.visit['j-v3']}']").click()
        rule = page.locator("#details .precedences li")
        assert rule.count() == 1
        text = rule.inner_text()
        assert "상담사의 방문보다 먼저" in text and "30–120분" in text and "계획:" in text, text
        assert joint.names[joint.workers["j-couns"]["id"]] not in page.content()
        _no_problems(nurse)
    finally:
        nurse.close()
