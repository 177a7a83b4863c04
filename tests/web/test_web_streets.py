"""With a road network the map's base layer is its streets (from the road graph, no tiles)."""

from __future__ import annotations

from typing import Any

import pytest
from websupport import Server, open_page

pytestmark = pytest.mark.timeout(300)

#: Read by the server fixture: imported as the server's road network (hand-made streets in Gwanak-gu).
SERVER_NETWORK = "fixtures/osm/tiny.osm"


def test_the_map_draws_the_streets_of_the_road_network(browser: Any, server: Server) -> None:
    streets = server.api("GET", f"/v1/teams/{server.team_id}/streets")
    assert streets["features"], "the tiny network lies inside the Gwanak demo's area"
    visit = open_page(browser, server, "dispatcher")
    try:
        page = visit.page
        assert page.locator("#map").get_attribute("data-streets") == str(len(streets["features"]))
        drawn = page.evaluate("""() => document.getElementById('map').salpimiMap
            .queryRenderedFeatures({layers: ['streets']}).length""")
        assert drawn > 0  # street lines on screen, drawn by MapLibre from the road graph
        assert visit.problems == [], visit.problems
    finally:
        visit.close()
