"""The optional tile URL: with it the map's style carries the raster source and the page's policy lets that one
origin in (tiles answered by the test, never the network); without it nothing leaves the machine (the other
modules check every request they make)."""

from __future__ import annotations

import struct
import urllib.request
import zlib
from typing import Any

import pytest
from websupport import Server, non_local, open_page

pytestmark = pytest.mark.timeout(300)

TILES = "https://tiles.example.test/{z}/{x}/{y}.png"
#: Read by the server fixture: served with a tile URL.
SERVER_ENV = {"SALPIMI_TILE_URL": TILES, "SALPIMI_TILE_ATTRIBUTION": "test tiles"}


def _png(size: int = 256) -> bytes:
    """A plain light-grey PNG tile."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xdd\xdd\xdd" * size for _ in range(size))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_with_a_tile_url_the_map_draws_tiles_from_that_origin_only(browser: Any, server: Server) -> None:
    with urllib.request.urlopen(server.base + "/", timeout=10) as res:
        csp = {d.split()[0]: d.split()[1:] for d in res.headers["Content-Security-Policy"].split("; ")}
    assert "https://tiles.example.test" in csp["img-src"] and "https://tiles.example.test" in csp["connect-src"]
    assert csp["script-src"] == ["'self'"]  # the tile origin is let in for images and fetches, nothing else
    tile = _png()
    visit = None
    served: list[str] = []

    def answer(route: Any) -> None:
        served.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=tile, headers={"Access-Control-Allow-Origin": "*"})

    visit = open_page(browser, server, "dispatcher", routes={"https://tiles.example.test/**": answer})
    try:
        page = visit.page
        style = page.evaluate("() => document.getElementById('map').salpimiMap.getStyle()")
        assert style["sources"]["tiles"]["type"] == "raster" and style["sources"]["tiles"]["tiles"] == [TILES]
        assert any(layer["id"] == "tiles" and layer["type"] == "raster" for layer in style["layers"])
        page.wait_for_function("() => document.getElementById('map').salpimiMap.areTilesLoaded()")
        assert served, "the map asked the tile server for tiles"
        assert set(non_local(visit.urls)) == set(served)  # nothing else left the machine
        assert visit.problems == [], visit.problems  # the policy refused nothing
    finally:
        visit.close()
