"""Without WebGL the page says so, draws the plan with Leaflet instead, and the timeline and actions still work."""

from __future__ import annotations

from typing import Any

import pytest
from websupport import Server, open_page, save_screenshot

pytestmark = pytest.mark.timeout(300)

#: Read by the browser fixture: this module's Chromium has no WebGL at all.
CHROMIUM_EXTRA_ARGS = ["--disable-webgl", "--disable-3d-apis"]


def test_without_webgl_the_page_falls_back_to_leaflet(browser: Any, server: Server) -> None:
    plan_job = server.api("POST", "/v1/plan-jobs", body={
        "team_id": server.team_id, "date": server.day, "time_limit_s": 120, "deterministic": True,
        "solution_limit": 30, "publish": True})
    visit = open_page(browser, server, "dispatcher")
    try:
        page = visit.page
        assert page.evaluate("!!document.createElement('canvas').getContext('webgl')") is False
        note = page.locator("#map-message")
        assert note.is_visible() and "WebGL" in note.inner_text()
        page.get_by_role("button", name="계획 세우기").is_visible()
        # the job planned above; the page shows the published plan once it is there
        for _ in range(120):
            job = server.api("GET", f"/v1/plan-jobs/{plan_job['id']}")
            if job["status"] in ("succeeded", "failed", "cancelled"):
                break
            page.wait_for_timeout(500)
        assert job["status"] == "succeeded"
        page.get_by_label("날짜").fill(server.day)
        page.get_by_label("날짜").dispatch_event("change")
        page.wait_for_selector(f"body[data-ready='{job['plan_id']}']", state="attached", timeout=60_000)
        plan = server.api("GET", f"/v1/plans/{job['plan_id']}")
        stops = sum(len(r["stops"]) for r in plan["routes"])
        assert page.locator(".leaflet-container").count() == 1
        assert page.locator(".leaflet-marker-icon .stop-marker").count() == stops
        assert page.locator(".seg.visit").count() == stops
        page.locator(".stop-marker").first.click()
        assert page.locator("#details h2").inner_text().startswith("1번 방문")
        save_screenshot(page, "web-leaflet-fallback")
        assert visit.problems == [], visit.problems
    finally:
        visit.close()
