"""What the dispatcher web page needs to know before signing in: tiles, road network, languages, links."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from pydantic import BaseModel

from ..deps import SettingsDep

router = APIRouter(tags=["web page"])


class WebLinks(BaseModel):
    scenarios: str | None = None


class WebConfig(BaseModel):
    tile_url: str | None
    tile_attribution: str | None
    network: str | None
    languages: list[str]
    default_language: str
    links: WebLinks


@router.get("/web/config", response_model=WebConfig,
            summary="The web page's settings (no sign-in needed; nothing personal): optional tile URL, "
            "road network name, languages, links to optional parts of the API")
def web_config(request: Request, settings: SettingsDep) -> WebConfig:
    paths = {r.path for r in request.app.routes if isinstance(r, APIRoute) and "GET" in (r.methods or set())}
    scenarios = "/v1/scenarios" if "/v1/scenarios" in paths else None  # issue 14's list, when it is there
    return WebConfig(
        tile_url=settings.tile_url, tile_attribution=settings.tile_attribution, network=settings.network,
        languages=["ko", "en"], default_language="ko", links=WebLinks(scenarios=scenarios),
    )
