"""The dispatcher page in a real browser against the real API server (Gwanak demo, SQLite): a dispatcher
plans, publishes, moves a visit, records an outcome and re-plans; a nurse sees only her own day."""

from __future__ import annotations

import re
import time
import urllib.error
from typing import Any

import pytest
from websupport import PHONE, Server, Visit, non_local, open_page, save_screenshot

pytestmark = pytest.mark.timeout(600)

#: The plan and re-plan jobs stop on a small deterministic work budget, not the clock.
SOLUTION_LIMIT = "30"


@pytest.fixture(scope="module")
def dispatcher(browser: Any, server: Server) -> Any:
    visit = open_page(browser, server, "dispatcher")
    yield visit
    visit.close()


def _no_problems(visit: Visit) -> None:
    assert visit.problems == [], visit.problems
    assert non_local(visit.urls) == [], "without a tile URL no request leaves the machine"


def _search_budget(page: Any) -> None:
    page.locator("details.search summary").click()
    page.get_by_label("결정적 모드(작업량으로 멈춤)").check()
    page.get_by_label("작업량(해 개수)").fill(SOLUTION_LIMIT)
    page.get_by_label("시간 제한(초)").fill("120")  # only a safety cap in the deterministic mode
    page.locator("details.search summary").click()


def _wait_status(visit: Visit, text: str, timeout_ms: int = 60_000) -> None:
    """Wait until the status line reports success with ``text``, then until the page has drawn."""
    visit.page.wait_for_selector(f"#status[data-kind='ok']:has-text('{text}')", timeout=timeout_ms)
    visit.settle()


def _wait_job(visit: Visit, version: int) -> None:
    _wait_status(visit, f"완료: 버전 {version}", timeout_ms=180_000)


def _current_plan(server: Server, page: Any) -> dict[str, Any]:
    plan_id = page.locator("body").get_attribute("data-ready")
    assert plan_id and plan_id.startswith("pl_")
    return server.api("GET", f"/v1/plans/{plan_id}")


def test_dispatcher_plans_and_sees_routes_and_unassigned_reasons(dispatcher: Visit, server: Server) -> None:
    page = dispatcher.page
    assert "계획 세우기" in page.locator("#status").inner_text()  # no plan yet for the day
    _search_budget(page)
    page.get_by_role("button", name="계획 세우기").click()
    _wait_job(dispatcher, 1)
    # live progress came over server-sent events with a short-lived stream token, never the sign-in token
    assert any(re.search(r"/v1/plan-jobs/pj_\w+/events\?token=", u) for u in dispatcher.urls)
    bearer = page.evaluate("sessionStorage.getItem('salpimi.token')")
    assert bearer and not any(bearer in u for u in dispatcher.urls)
    plan = _current_plan(server, page)
    routes = [r for r in plan["routes"] if r["stops"]]
    stops = sum(len(r["stops"]) for r in routes)
    # the map: one numbered button per planned stop, one ring per unassigned visit, a legend line per route
    assert page.locator(".maplibregl-marker.stop-marker").count() == stops
    assert page.locator(".maplibregl-marker.unassigned-marker").count() == len(plan["unassigned"])
    assert page.locator(".legend-routes li").count() == len(routes)
    drawn = page.evaluate("""() => {
        const m = document.getElementById('map').salpimiMap;
        const ids = (layer) => new Set(m.queryRenderedFeatures({layers: [layer]})
            .map((f) => f.properties.worker_id || f.properties.id));
        return {legs: ids('legs').size, households: ids('households').size,
                dongs: m.queryRenderedFeatures({layers: ['dongs']}).map((f) => f.properties.name)};
    }""")
    # Hangul dong names drawn on the map from the local font: no glyph server, nothing fetched for them
    assert any(name.endswith("동") for name in drawn["dongs"])
    assert not any("glyph" in u or ".pbf" in u for u in dispatcher.urls)
    assert drawn["legs"] == len(routes)  # every route's legs drawn in its colour
    assert drawn["households"] > 100  # the team's households, coloured by risk tier
    first = routes[0]
    marker = page.locator(f".stop-marker[data-visit-id='{first['stops'][0]['visit_id']}']")
    assert marker.inner_text() == "1"
    # the timeline: a row per worker, a visit block per stop
    assert page.locator(".tl-row[data-worker-id]").count() == len(server.api(
        "GET", f"/v1/teams/{server.team_id}/workers?limit=1000")["data"])
    assert page.locator(".seg.visit").count() == stops
    assert page.locator(".seg.break").count() >= 1 and page.locator(".seg.travel").count() >= stops
    # KPIs as the API states them
    k = plan["kpis"]
    assert page.locator("[data-kpi='kpi_assigned'] dd").inner_text() == f"{k['visits_assigned']}/{k['visits_total']}"
    # unassigned visits with their reasons (in words) and the planner's sentence
    assert plan["unassigned"], "the demo day leaves visits out"
    items = page.locator("#unassigned-list > li")
    assert items.count() == len(plan["unassigned"])
    names = {w["id"]: w["name"] for w in server.api("GET", f"/v1/teams/{server.team_id}/workers?limit=1000")["data"]}
    for u in plan["unassigned"][:5]:
        item = page.locator(f"#unassigned-list > li[data-visit-id='{u['visit_id']}']")
        assert item.locator(".reason").inner_text().strip()
        # the planner's sentence, with worker names for the ids
        assert item.locator(".detail").inner_text() == re.sub(r"\bwk_[0-9a-z]+", lambda m: names[m.group()], u["detail"])
    # where each could fit: the API's cheapest insertions, each with minutes added (and what it would displace)
    fits = {f["visit_id"]: f for f in server.api("GET", f"/v1/plans/{plan['id']}/fits")["data"]}
    for u in plan["unassigned"][:5]:
        lines = page.locator(f"#unassigned-list > li[data-visit-id='{u['visit_id']}'] .fits li")
        options = fits[u["visit_id"]]["options"]
        assert lines.count() == max(1, len(options))
        for line, option in zip(lines.all(), options, strict=False):
            assert f"{round(option['added_s'] / 60)}분" in line.inner_text()
    # a stop's details: clicking its number on the map
    marker.click()
    details = page.locator("#details")
    assert details.locator("h2").inner_text().startswith("1번 방문")
    assert first["stops"][0]["start"][11:16] in details.inner_text()
    save_screenshot(page, "web-map")
    page.locator("#timeline-title").evaluate("(e) => e.scrollIntoView()")
    save_screenshot(page, "web-timeline")
    page.locator("#unassigned-title").evaluate("(e) => e.scrollIntoView()")
    save_screenshot(page, "web-unassigned")
    page.locator("#app").evaluate("(e) => window.scrollTo(0, 0)")
    _no_problems(dispatcher)


def test_dispatcher_publishes(dispatcher: Visit, server: Server) -> None:
    page = dispatcher.page
    page.get_by_role("button", name="게시", exact=True).click()
    _wait_status(dispatcher, "게시했습니다")
    plan = _current_plan(server, page)
    assert plan["published"] is True
    _no_problems(dispatcher)


def test_dispatcher_sees_private_details_on_click(dispatcher: Visit, server: Server) -> None:
    page = dispatcher.page
    plan = _current_plan(server, page)
    stop = next(r for r in plan["routes"] if r["stops"])["stops"][0]
    page.locator(f".seg.visit[data-visit-id='{stop['visit_id']}']").click()
    audit = f"/v1/audit?resource=household_private&resource_id={stop['household_id']}"
    before = server.api("GET", audit, user="manager")["count"]
    page.get_by_role("button", name="개인정보 보기(기록됨)").click()
    page.wait_for_selector("#details .private dl")
    assert server.api("GET", audit, user="manager")["count"] == before + 1  # the page's read is audited
    private = server.api("GET", f"/v1/households/{stop['household_id']}/private")
    assert private["label"] in page.locator("#details .private").inner_text()
    _no_problems(dispatcher)


def _a_move_that_can_be_timed(
    server: Server, plan: dict[str, Any], *, first: bool = False, skip: tuple[str, ...] = ()
) -> tuple[str, str, int, dict[str, Any]]:
    """A visit, a worker and a position the API can time (it answers 422 for one it cannot)."""
    routes = [r for r in plan["routes"] if r["stops"] and r["worker_id"] not in skip]
    for src in routes:
        for dst in routes:
            if dst is src:
                continue
            for pos in range(1 if first else len(dst["stops"]) + 1):
                body = {"visit_id": src["stops"][-1]["visit_id"], "worker_id": dst["worker_id"], "position": pos,
                        "displace_visit_id": None}
                try:
                    verdict = server.api("POST", f"/v1/plans/{plan['id']}/moves/check", body=body)
                except urllib.error.HTTPError as exc:
                    assert exc.code == 422
                    continue
                return body["visit_id"], dst["worker_id"], pos, verdict
    raise AssertionError("no visit of the demo day can be moved to another worker")


def test_dispatcher_moves_a_visit_and_sees_the_verdict_before_saving(dispatcher: Visit, server: Server) -> None:
    page = dispatcher.page
    plan = _current_plan(server, page)
    visit_id, worker_id, pos, expected = _a_move_that_can_be_timed(server, plan)
    page.locator(f".seg.visit[data-visit-id='{visit_id}']").click()
    page.get_by_label("옮길 담당자").select_option(worker_id)
    page.get_by_label("순서", exact=True).fill(str(pos + 1))
    page.get_by_role("button", name="검토", exact=True).click()
    verdict = page.locator("#verdict [data-verdict]")
    verdict.wait_for()
    assert verdict.get_attribute("data-verdict") == ("ok" if expected["ok"] else "violations")
    assert len(expected["violations"]) == page.locator("#verdict li").count()
    assert _current_plan(server, page)["published"] is True  # nothing stored by the check
    page.get_by_role("button", name="새 버전으로 저장").click()
    _wait_status(dispatcher, f"버전 {plan['version'] + 1}(으)로 저장했습니다")
    edited = _current_plan(server, page)
    assert edited["version"] == plan["version"] + 1 and edited["published"] is False
    moved = next(r for r in edited["routes"] if r["worker_id"] == worker_id)
    assert moved["stops"][pos]["visit_id"] == visit_id
    # what changed between the versions is shown
    assert visit_id in page.locator("#changes").inner_text()
    _no_problems(dispatcher)


def test_dragging_a_visit_to_another_row_checks_the_move(dispatcher: Visit, server: Server) -> None:
    page = dispatcher.page
    plan = _current_plan(server, page)
    moved_before = tuple(r["worker_id"] for r in plan["routes"][:2])
    visit_id, worker_id, _pos, expected = _a_move_that_can_be_timed(server, plan, first=True, skip=moved_before)
    target = page.locator(f".tl-row[data-worker-id='{worker_id}'] .tl-track")
    # dropped at the row's left end: before the worker's first visit
    page.locator(f".seg.visit[data-visit-id='{visit_id}']").drag_to(target, target_position={"x": 1, "y": 8})
    verdict = page.locator("#verdict [data-verdict]")
    verdict.wait_for()
    assert page.get_by_label("옮길 담당자").input_value() == worker_id
    assert page.get_by_label("순서", exact=True).input_value() == "1"
    assert verdict.get_attribute("data-verdict") == ("ok" if expected["ok"] else "violations")
    _no_problems(dispatcher)


def test_where_it_could_fit_checks_that_move(dispatcher: Visit, server: Server) -> None:
    page = dispatcher.page
    plan = _current_plan(server, page)
    fits = server.api("GET", f"/v1/plans/{plan['id']}/fits")["data"]
    fit = next(f for f in fits if f["options"])
    option = fit["options"][0]
    item = page.locator(f"#unassigned-list > li[data-visit-id='{fit['visit_id']}']")
    item.locator(".fits button").first.click()
    verdict = page.locator("#verdict [data-verdict]")
    verdict.wait_for()
    expected = server.api("POST", f"/v1/plans/{plan['id']}/moves/check", body={
        "visit_id": fit["visit_id"], "worker_id": option["worker_id"], "position": option["position"],
        "displace_visit_id": (option["displaces"] or {}).get("visit_id")})
    assert verdict.get_attribute("data-verdict") == ("ok" if expected["ok"] else "violations")
    assert page.get_by_label("옮길 담당자").input_value() == option["worker_id"]
    assert page.locator("#details h2").inner_text().startswith("미배정")
    _no_problems(dispatcher)


def test_dispatcher_records_an_outcome(dispatcher: Visit, server: Server) -> None:
    page = dispatcher.page
    published = server.api("GET", f"/v1/teams/{server.team_id}/plans?date={server.day}&published=true")["data"]
    page.get_by_label("버전", exact=True).select_option(published[0]["id"])
    page.wait_for_selector(f"body[data-ready='{published[0]['id']}']", state="attached")
    plan = _current_plan(server, page)
    assert plan["published"]
    stop = next(r for r in plan["routes"] if r["stops"])["stops"][0]
    page.locator(f".seg.visit[data-visit-id='{stop['visit_id']}']").click()
    page.get_by_label("결과", exact=True).select_option("done")
    page.get_by_role("button", name="기록", exact=True).click()
    _wait_status(dispatcher, "기록했습니다")
    outcomes = server.api("GET", f"/v1/plans/{plan['id']}/outcomes")["data"]
    assert [(o["kind"], o["visit_id"]) for o in outcomes] == [("done", stop["visit_id"])]
    assert page.locator(f".seg.visit.st-done[data-visit-id='{stop['visit_id']}']").count() == 1
    _no_problems(dispatcher)


def test_dispatcher_replans_mid_day_and_sees_what_changed(dispatcher: Visit, server: Server) -> None:
    page = dispatcher.page
    before = _current_plan(server, page)
    page.get_by_label("재계획 시각").fill("13:30")
    page.get_by_role("button", name="남은 일정 재계획").click()
    newest = max(v["version"] for v in server.api("GET", f"/v1/teams/{server.team_id}/plans?date={server.day}")["data"])
    _wait_job(dispatcher, newest + 1)
    after = _current_plan(server, page)
    assert after["kind"] == "replan" and after["base_plan_id"] == before["id"]
    assert page.locator("#changes").is_visible()
    assert f"버전 {before['version']} → 버전 {after['version']}" in page.locator("#changes").inner_text()
    done = [s for r in after["routes"] for s in r["stops"] if s["status"] == "done"]
    assert len(done) == 1  # the visit reported done stays as it happened
    page.locator("#changes").evaluate("(e) => e.scrollIntoView()")
    save_screenshot(page, "web-changes")
    page.locator("#app").evaluate("(e) => window.scrollTo(0, 0)")
    _no_problems(dispatcher)


def test_compare_an_unpublished_version_with_the_published_one(dispatcher: Visit, server: Server) -> None:
    page = dispatcher.page
    versions = server.api("GET", f"/v1/teams/{server.team_id}/plans?date={server.day}")["data"]
    published = next(v for v in versions if v["published"])
    edit = next(v for v in versions if v["kind"] == "edit")
    page.get_by_label("버전", exact=True).select_option(edit["id"])
    page.wait_for_selector(f"body[data-ready='{edit['id']}']", state="attached")
    page.get_by_role("button", name="게시본과 비교").click()
    diff = server.api("GET", f"/v1/plans/{edit['id']}/diff?against={published['id']}")
    heading = f"버전 {diff['from']['version']} → 버전 {diff['to']['version']}"
    page.wait_for_selector(f"#changes:has-text('{heading}')")
    changes = page.locator("#changes")
    for moved in diff["moved"]:
        assert moved["visit_id"] in changes.inner_text()
    _no_problems(dispatcher)


def test_nurse_sees_only_her_own_day_read_only_on_a_phone(browser: Any, server: Server) -> None:
    nurse = open_page(browser, server, "nurse", viewport=PHONE)
    try:
        page = nurse.page
        me = server.api("GET", "/v1/users/me", user="nurse")
        schedule = server.api("GET", f"/v1/workers/{me['worker_id']}/schedule?date={server.day}", user="nurse")
        rows = page.locator(".tl-row[data-worker-id]")
        assert rows.count() == 1 and rows.first.get_attribute("data-worker-id") == me["worker_id"]
        assert page.locator(".seg.visit").count() == len(schedule["stops"])
        assert page.locator(".stop-marker").count() == len(schedule["stops"])
        for name in ("계획 세우기", "게시", "남은 일정 재계획"):
            assert page.get_by_role("button", name=name, exact=True).count() == 0
        assert page.locator("#team").is_hidden() and page.locator("#unassigned").is_hidden()
        page.locator(".seg.visit").first.click()
        assert page.locator("#details form").count() == 0  # read-only: no move, no outcome
        save_screenshot(page, "web-phone-nurse", full_page=True)
        _no_problems(nurse)
    finally:
        nurse.close()


def _a_finished_scenario_run(server: Server) -> dict[str, Any]:
    """One week of Osan-si, one seed, the planner on a one-solution budget: a sweep of a few seconds."""
    scenario = server.api("POST", "/v1/scenarios", user="manager", body={
        "name": "web-test", "description": "one week", "base": "osan", "start": "2026-11-30", "weeks": 1,
        "seeds": 1, "warmup_weeks": 0, "planner": {"solver": "ortools", "solution_limit": 1}})
    run = server.api("POST", f"/v1/scenarios/{scenario['id']}/runs", user="manager", body={"seeds": 1})
    for _ in range(240):
        run = server.api("GET", f"/v1/scenario-runs/{run['id']}", user="manager")
        if run["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.5)
    assert run["status"] == "succeeded", run
    return run


def test_manager_reads_every_team_without_actions(browser: Any, server: Server) -> None:
    run = _a_finished_scenario_run(server)
    manager = open_page(browser, server, "manager")
    try:
        page = manager.page
        # the scenario runs' charts (issue 14's API), fetched with the manager's sign-in
        charts = page.locator("#scenarios img.chart")
        charts.nth(len(run["charts"]) - 1).wait_for()
        assert charts.count() == len(run["charts"])
        for i in range(charts.count()):
            assert charts.nth(i).evaluate("(img) => img.decode().then(() => img.naturalWidth)") > 100
        page.locator("#scenarios").evaluate("(e) => e.scrollIntoView()")
        save_screenshot(page, "web-manager-scenarios")
        page.locator("#app").evaluate("(e) => window.scrollTo(0, 0)")
        teams = server.api("GET", "/v1/teams", user="manager")["data"]
        assert page.locator("#team option").count() == len(teams)
        assert page.get_by_role("button", name="계획 세우기").count() == 0
        assert page.locator(".seg.visit").count() > 0
        page.locator(".seg.visit").first.click()
        assert page.locator("#details form").count() == 0
        assert page.get_by_role("button", name="개인정보 보기(기록됨)").count() == 0
        _no_problems(manager)
    finally:
        manager.close()


def _contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """WCAG 2 contrast ratio of two sRGB colours (0-255)."""
    def lum(c: tuple[float, ...]) -> float:
        ch = [v / 255 for v in c[:3]]
        lin = [v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4 for v in ch]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _rgb(css: str) -> tuple[float, ...]:
    return tuple(float(v) for v in re.findall(r"[\d.]+", css)[:3])


def test_accessibility_basics(dispatcher: Visit, server: Server) -> None:
    page = dispatcher.page
    # every control has a name a screen reader can say
    unnamed = page.evaluate("""() => [...document.querySelectorAll('input, select, textarea, button')]
        .filter((e) => e.offsetParent !== null)
        .filter((e) => !((e.labels && [...e.labels].some((l) => l.textContent.trim()))
                         || (e.getAttribute('aria-label') || '').trim()
                         || (e.tagName === 'BUTTON' && e.textContent.trim())))
        .map((e) => e.outerHTML.slice(0, 80))""")
    assert unnamed == []
    # the actions are reachable with the keyboard, in a short tab walk from the language switch
    page.locator("#lang").focus()
    reached = set()
    for _ in range(25):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id"))
    assert {"btn-plan", "btn-publish", "btn-compare", "btn-replan", "replan-now"} <= reached
    # a visit in the timeline opens with Enter
    seg = page.locator(".seg.visit").nth(3)
    seg.focus()
    page.keyboard.press("Enter")
    assert page.locator("#details h2").inner_text() == seg.get_attribute("aria-label").split(" · ", 2)[1] + \
        " · " + seg.get_attribute("aria-label").split(" · ", 1)[0]
    # route colours: lines stand out from the map (3:1), stop numbers are readable (4.5:1)
    ground = _rgb(page.locator("#map .maplibregl-canvas-container").evaluate(
        "() => getComputedStyle(document.getElementById('map')).backgroundColor"))
    swatches = page.locator(".legend-routes .route-swatch")
    assert swatches.count() >= 10
    for i in range(swatches.count()):
        colour = _rgb(swatches.nth(i).evaluate("(e) => getComputedStyle(e).backgroundColor"))
        assert _contrast(colour, ground) >= 3.0, colour
    markers = page.locator(".stop-marker")
    for i in range(0, markers.count(), 7):
        fg, bg = markers.nth(i).evaluate("(e) => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
        assert _contrast(_rgb(fg), _rgb(bg)) >= 4.5, (fg, bg)
    for i in range(page.locator(".legend-tiers .dot").count()):
        colour = _rgb(page.locator(".legend-tiers .dot").nth(i).evaluate("(e) => getComputedStyle(e).backgroundColor"))
        assert _contrast(colour, ground) >= 3.0, colour
    _no_problems(dispatcher)


def test_english_switch(dispatcher: Visit, server: Server) -> None:
    page = dispatcher.page
    page.get_by_label("언어").select_option("en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("button", name="Plan the day").is_visible()
    assert page.locator("#timeline-title").inner_text() == "Timeline"
    assert page.locator("[data-kpi='kpi_assigned'] dt").inner_text() == "Assigned"
    page.get_by_label("Language").select_option("ko")
    assert page.get_by_role("button", name="계획 세우기").is_visible()
    _no_problems(dispatcher)
