"""The page on PostgreSQL: the same server with its data in PostgreSQL; a dispatcher plans and publishes, the nurse
then sees her day."""

from __future__ import annotations

from typing import Any

import pytest
from websupport import PHONE, Server, open_page

pytestmark = pytest.mark.timeout(300)

#: Read by the server fixture.
SERVER_DATABASE = "postgresql"


def test_plan_publish_and_the_nurse_day_on_postgresql(browser: Any, server: Server) -> None:
    dispatcher = open_page(browser, server, "dispatcher")
    try:
        page = dispatcher.page
        page.locator("details.search summary").click()
        page.get_by_label("결정적 모드(작업량으로 멈춤)").check()
        page.get_by_label("작업량(해 개수)").fill("30")
        page.get_by_label("시간 제한(초)").fill("120")
        page.get_by_role("button", name="계획 세우기").click()
        page.wait_for_selector("#status[data-kind='ok']:has-text('완료: 버전 1')", timeout=180_000)
        dispatcher.settle()
        page.get_by_role("button", name="게시", exact=True).click()
        page.wait_for_selector("#status[data-kind='ok']:has-text('게시했습니다')")
        dispatcher.settle()
        plan = server.api("GET", f"/v1/plans/{page.locator('body').get_attribute('data-ready')}")
        assert plan["published"] and page.locator(".stop-marker").count() == sum(len(r["stops"]) for r in plan["routes"])
        assert dispatcher.problems == [], dispatcher.problems
    finally:
        dispatcher.close()
    nurse = open_page(browser, server, "nurse", viewport=PHONE)
    try:
        me = server.api("GET", "/v1/users/me", user="nurse")
        route = next(r for r in plan["routes"] if r["worker_id"] == me["worker_id"])
        assert nurse.page.locator(".seg.visit").count() == len(route["stops"])
        assert nurse.problems == [], nurse.problems
    finally:
        nurse.close()
