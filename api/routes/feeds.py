"""Calendar feeds: a field worker's or a team's published visits as a subscribed iCalendar at a secret URL."""

from __future__ import annotations

import email.utils

import anyio.to_thread
from fastapi import APIRouter, Request, Response, status
from sqlmodel import Session

from ..deps import PrincipalDep, SessionDep, SettingsDep, run_in_session
from ..errors import problem_response, problem_responses
from ..mappers import seoul
from ..models import FeedCreated, FeedPublic, FeedRevoked, FeedToken, Page
from ..services import feeds

router = APIRouter(tags=["feeds"])
_MANAGED = problem_responses(401, 403, 404, 422)
_FEED_PATH = "/v1/feeds/***.ics"  # error bodies and logs never repeat the token


def _public(feed: FeedToken) -> FeedPublic:
    return FeedPublic(
        id=feed.id, team_id=feed.team_id, kind=feed.kind, worker_id=feed.worker_id, user_id=feed.user_id,
        created_at=seoul(feed.created_at) or feed.created_at, revoked_at=seoul(feed.revoked_at),
    )


def _created(request: Request, settings: SettingsDep, feed: FeedToken, token: str) -> FeedCreated:
    url, webcal = feeds.feed_urls(_base_url(request, settings), token)
    return FeedCreated(**_public(feed).model_dump(), url=url, webcal_url=webcal)


def _base_url(request: Request, settings: SettingsDep) -> str:
    return settings.public_base_url or str(request.base_url).rstrip("/")


@router.post(
    "/workers/{worker_id}/feed", response_model=FeedCreated, status_code=status.HTTP_201_CREATED,
    summary="A new secret calendar URL for the worker (the worker or a dispatcher of her team); "
    "the previous URL stops at once",
    responses={**_MANAGED, **problem_responses(409)},
)
def rotate_worker_feed(
    worker_id: str, request: Request, session: SessionDep, settings: SettingsDep, p: PrincipalDep
) -> FeedCreated:
    feed, token = feeds.create_worker_feed(session, p, worker_id)
    return _created(request, settings, feed, token)


@router.get(
    "/workers/{worker_id}/feed", response_model=FeedPublic,
    summary="Whether the worker has a live calendar feed (its URL is shown only when made)", responses=_MANAGED,
)
def get_worker_feed(worker_id: str, session: SessionDep, p: PrincipalDep) -> FeedPublic:
    return _public(feeds.worker_feed(session, p, worker_id))


@router.delete(
    "/workers/{worker_id}/feed", status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop the worker's calendar feed", responses=_MANAGED,
)
def revoke_worker_feed(worker_id: str, session: SessionDep, p: PrincipalDep) -> Response:
    feeds.revoke_worker_feed(session, p, worker_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/teams/{team_id}/feed", response_model=FeedCreated, status_code=status.HTTP_201_CREATED,
    summary="Your own secret URL of the team's calendar (every worker's visits; dispatchers and managers); "
    "your previous one stops",
    responses={**_MANAGED, **problem_responses(409)},
)
def rotate_team_feed(
    team_id: str, request: Request, session: SessionDep, settings: SettingsDep, p: PrincipalDep
) -> FeedCreated:
    feed, token = feeds.create_team_feed(session, p, team_id)
    return _created(request, settings, feed, token)


@router.delete(
    "/teams/{team_id}/feed", status_code=status.HTTP_204_NO_CONTENT,
    summary="Stop your own team calendar feed", responses=_MANAGED,
)
def revoke_team_feed(team_id: str, session: SessionDep, p: PrincipalDep) -> Response:
    feeds.revoke_team_feed(session, p, team_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/teams/{team_id}/feeds", response_model=Page[FeedPublic],
    summary="The team's live calendar feeds, without their secrets (dispatchers of the team, managers)",
    responses=_MANAGED,
)
def list_team_feeds(team_id: str, session: SessionDep, p: PrincipalDep) -> Page[FeedPublic]:
    rows = feeds.list_team_feeds(session, p, team_id)
    return Page(data=[_public(f) for f in rows], count=len(rows))


@router.delete(
    "/teams/{team_id}/feeds", response_model=FeedRevoked,
    summary="Stop every calendar feed of the team at once (managers)", responses=_MANAGED,
)
def revoke_team_feeds(team_id: str, session: SessionDep, p: PrincipalDep) -> FeedRevoked:
    return FeedRevoked(revoked=feeds.revoke_team_feeds(session, p, team_id))


_ICS_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "the calendar (ETag, Last-Modified)",
        "content": {"text/calendar": {"schema": {"type": "string"}}},
    },
    304: {"description": "unchanged since the ETag in If-None-Match (or the time in If-Modified-Since)"},
    **problem_responses(404, 422),
}


async def _fetch(token: str, request: Request) -> Response:
    base = _base_url(request, request.app.state.settings)

    def work(session: Session) -> feeds.FeedAnswer | None:
        return feeds.read_feed(
            session, token, cache=request.app.state.feed_cache, base_url=base,
            if_none_match=request.headers.get("if-none-match"),
            if_modified_since=request.headers.get("if-modified-since"),
        )

    answer = await anyio.to_thread.run_sync(run_in_session, request, work)
    if answer is None:  # unknown, revoked and malformed tokens look the same
        return problem_response(
            request, 404, "no calendar feed at this address", instance=_FEED_PATH,
            headers={"Cache-Control": "no-store"},
        )
    headers = {
        "ETag": answer.etag,
        "Last-Modified": email.utils.format_datetime(answer.last_modified, usegmt=True),
        # Private: shared caches must not keep it; clients may, and revalidate every time.
        "Cache-Control": "private, no-cache",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }
    if answer.status == 304:
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = 'inline; filename="salpimi.ics"'
    return Response(answer.body, media_type="text/calendar; charset=utf-8", headers=headers)


@router.get(
    "/feeds/{token}.ics", response_class=Response, responses=_ICS_RESPONSES,
    summary="A calendar feed (iCalendar): the secret URL is the credential; no sign-in",
)
async def get_feed(token: str, request: Request) -> Response:
    return await _fetch(token, request)


@router.head("/feeds/{token}.ics", response_class=Response, include_in_schema=False)
async def head_feed(token: str, request: Request) -> Response:
    return await _fetch(token, request)
