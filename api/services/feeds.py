"""Calendar feeds: secret feed URLs (issue, rotate, revoke) and answering a calendar app's fetch."""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import hmac
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from .. import crud
from ..auditwriter import AUDIT_QUEUE
from ..errors import conflict, not_found
from ..ics import SEOUL, CalendarEvent, CalendarFeed, render_calendar
from ..models import AuditLog, FeedEvent, FeedKind, FeedToken, Team, User, Worker, now_utc
from ..security import Principal
from .access import require_manager, require_team_feed, require_worker_feed
from .audit import audit
from .feedevents import BREAK
from .registry import get_team

__all__ = [
    "CANCELLED_SHOWN",
    "DAYS_AHEAD",
    "DAYS_BACK",
    "FeedAnswer",
    "FeedCache",
    "create_team_feed",
    "create_worker_feed",
    "feed_urls",
    "list_team_feeds",
    "read_feed",
    "revoke_team_feed",
    "revoke_team_feeds",
    "revoke_worker_feed",
    "token_digest",
    "worker_feed",
]

#: The days a feed shows, around today in Seoul: the past week and four weeks ahead.
DAYS_BACK, DAYS_AHEAD = 7, 28
#: How long a cancelled visit stays in the old worker's feed (as ``STATUS:CANCELLED``).
CANCELLED_SHOWN = dt.timedelta(hours=48)
#: REFRESH-INTERVAL and X-PUBLISHED-TTL: how often clients that honour them fetch again.
REFRESH = dt.timedelta(hours=1)
#: ``secrets.token_urlsafe(32)``: 256 random bits as 43 URL-safe characters.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
_UID_DOMAIN = "salpimi"
_ATTEMPTS = 5

# ---- tokens and URLs -----------------------------------------------------------------------------


def token_digest(token: str) -> str:
    """What the database keeps of a feed token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def feed_urls(base_url: str, token: str) -> tuple[str, str]:
    """The feed's ``https://`` (or ``http://``) URL and its ``webcal://`` twin."""
    url = f"{base_url.rstrip('/')}/v1/feeds/{token}.ics"
    return url, "webcal://" + url.split("://", 1)[1]


def _issue(
    session: Session, *, team_id: str, kind: FeedKind, subject: str, worker_id: str | None,
    user_id: str | None, created_by: str, at: dt.datetime,
) -> tuple[FeedToken, str]:
    """Revoke the subject's live feed (its URL stops at once) and make a new one, atomically."""
    live = (col(FeedToken.team_id) == team_id, col(FeedToken.subject) == subject, col(FeedToken.revoked_at).is_(None))
    for _attempt in range(_ATTEMPTS):
        token = secrets.token_urlsafe(32)
        row = FeedToken(
            team_id=team_id, kind=kind, subject=subject, worker_id=worker_id, user_id=user_id,
            token_hash=token_digest(token), created_by=created_by, created_at=at,
        )
        try:
            with session.begin_nested():
                session.exec(sa.update(FeedToken).where(*live).values(revoked_at=at))
                crud.add(session, row)
        except IntegrityError:  # a concurrent rotation made one in between: revoke that one too
            continue
        return row, token
    raise conflict("the feed was being rotated by someone else; try again")


def _revoke(session: Session, *conditions: Any, at: dt.datetime) -> int:
    result = session.exec(
        sa.update(FeedToken).where(*conditions, col(FeedToken.revoked_at).is_(None)).values(revoked_at=at)
    )
    return int(result.rowcount or 0)


def _live(session: Session, team_id: str, subject: str) -> FeedToken | None:
    return session.exec(
        select(FeedToken).where(
            FeedToken.team_id == team_id, FeedToken.subject == subject, col(FeedToken.revoked_at).is_(None)
        )
    ).first()


# ---- managing feeds ------------------------------------------------------------------------------


def _worker_for_feed(session: Session, p: Principal, worker_id: str) -> Worker:
    """The worker herself, or a dispatcher of her team."""
    worker = crud.get(session, Worker, worker_id)
    if worker is None:
        raise not_found("worker", worker_id)
    require_worker_feed(p, worker)
    return worker


def _team_for_feed(session: Session, p: Principal, team_id: str) -> Team:
    """Team feeds are for the team's dispatchers and for managers."""
    team = get_team(session, team_id)
    require_team_feed(p, team_id)
    return team


def create_worker_feed(session: Session, p: Principal, worker_id: str) -> tuple[FeedToken, str]:
    """A new secret URL for the worker's feed; the previous one, if any, stops at once."""
    worker = _worker_for_feed(session, p, worker_id)
    if not worker.active:
        raise conflict(f"worker {worker.id} is deactivated")
    feed, token = _issue(
        session, team_id=worker.team_id, kind=FeedKind.WORKER, subject=worker.id, worker_id=worker.id,
        user_id=None, created_by=p.user_id, at=now_utc(),
    )
    audit(session, p, "rotate", "feed", feed.id, team_id=worker.team_id, detail=f"worker={worker.id}")
    return feed, token


def worker_feed(session: Session, p: Principal, worker_id: str) -> FeedToken:
    worker = _worker_for_feed(session, p, worker_id)
    feed = _live(session, worker.team_id, worker.id)
    if feed is None:
        raise not_found("calendar feed of worker", worker.id)
    return feed


def revoke_worker_feed(session: Session, p: Principal, worker_id: str) -> None:
    feed = worker_feed(session, p, worker_id)
    _revoke(session, col(FeedToken.id) == feed.id, at=now_utc())
    audit(session, p, "revoke", "feed", feed.id, team_id=feed.team_id, detail=f"worker={worker_id}")


def create_team_feed(session: Session, p: Principal, team_id: str) -> tuple[FeedToken, str]:
    """The caller's own URL of the team feed (every worker's visits); a previous one stops."""
    team = _team_for_feed(session, p, team_id)
    feed, token = _issue(
        session, team_id=team.id, kind=FeedKind.TEAM, subject=p.user_id, worker_id=None, user_id=p.user_id,
        created_by=p.user_id, at=now_utc(),
    )
    audit(session, p, "rotate", "feed", feed.id, team_id=team.id, detail="team feed")
    return feed, token


def revoke_team_feed(session: Session, p: Principal, team_id: str) -> None:
    team = _team_for_feed(session, p, team_id)
    feed = _live(session, team.id, p.user_id)
    if feed is None:
        raise not_found("your calendar feed of team", team.id)
    _revoke(session, col(FeedToken.id) == feed.id, at=now_utc())
    audit(session, p, "revoke", "feed", feed.id, team_id=team.id, detail="team feed")


def list_team_feeds(session: Session, p: Principal, team_id: str) -> list[FeedToken]:
    """The team's live feeds (never their secrets): dispatchers of the team and managers."""
    _team_for_feed(session, p, team_id)
    return list(session.exec(
        select(FeedToken)
        .where(FeedToken.team_id == team_id, col(FeedToken.revoked_at).is_(None))
        .order_by(col(FeedToken.created_at), col(FeedToken.id))
    ).all())


def revoke_team_feeds(session: Session, p: Principal, team_id: str) -> int:
    """A manager stops every feed of a team at once (a lost phone, a leak): workers' and team feeds."""
    require_manager(p)
    team = get_team(session, team_id)
    n = _revoke(session, col(FeedToken.team_id) == team.id, at=now_utc())
    audit(session, p, "revoke", "feed", None, team_id=team.id, detail=f"all feeds of the team: {n}")
    return n


# ---- answering a fetch -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RenderedFeed:
    body: bytes
    etag: str
    last_modified: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class FeedAnswer:
    """What to send: 200 with the body, or 304; both with the validators."""

    status: int
    body: bytes
    etag: str
    last_modified: dt.datetime


class FeedCache:
    """Rendered feeds by feed id, reused while the events they show are unchanged (LRU, bounded by
    ``size`` feeds and ``max_bytes`` of bodies).

    ``clock`` is the time fetches are answered at (tests set it; the server uses the real one).
    """

    def __init__(
        self, *, size: int = 4096, max_bytes: int = 64 * 1024 * 1024, clock: Callable[[], dt.datetime] = now_utc
    ) -> None:
        if size < 1 or max_bytes < 1:
            raise ValueError(f"size, max_bytes: expected at least 1, got {size}, {max_bytes}")
        self.size = size
        self.max_bytes = max_bytes
        self.clock = clock
        self._items: OrderedDict[str, tuple[Any, RenderedFeed]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def lookup(self, feed_id: str, key: Any) -> RenderedFeed | None:
        with self._lock:
            hit = self._items.get(feed_id)
            if hit is None or hit[0] != key:
                return None
            self._items.move_to_end(feed_id)
            return hit[1]

    def store(self, feed_id: str, key: Any, rendered: RenderedFeed) -> None:
        with self._lock:
            old = self._items.pop(feed_id, None)
            if old is not None:
                self._bytes -= len(old[1].body)
            self._items[feed_id] = (key, rendered)
            self._bytes += len(rendered.body)
            while len(self._items) > self.size or (self._bytes > self.max_bytes and len(self._items) > 1):
                _key, (_k, gone) = self._items.popitem(last=False)
                self._bytes -= len(gone.body)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Feed:
    id: str
    team_id: str
    kind: FeedKind
    worker_id: str | None
    user_id: str | None


# Built once: a fetch runs these two statements with its parameters (about 4x cheaper than building them).
_TOKENS: sa.Table = FeedToken.__table__  # type: ignore[attr-defined]
_WORKERS: sa.Table = Worker.__table__  # type: ignore[attr-defined]
_USERS: sa.Table = User.__table__  # type: ignore[attr-defined]
_EVENTS: sa.Table = FeedEvent.__table__  # type: ignore[attr-defined]
_FIND = (
    sa.select(
        _TOKENS.c.id, _TOKENS.c.team_id, _TOKENS.c.kind, _TOKENS.c.worker_id, _TOKENS.c.user_id, _TOKENS.c.token_hash,
        _WORKERS.c.active, _WORKERS.c.team_id, _USERS.c.active, _USERS.c.role, _USERS.c.team_id,
    )
    .select_from(
        _TOKENS.outerjoin(_WORKERS, _WORKERS.c.id == _TOKENS.c.worker_id)
        .outerjoin(_USERS, _USERS.c.id == _TOKENS.c.user_id)
    )
    .where(_TOKENS.c.token_hash == sa.bindparam("digest"), _TOKENS.c.revoked_at.is_(None))
)
_IN_WINDOW = (_EVENTS.c.date >= sa.bindparam("first"), _EVENTS.c.date <= sa.bindparam("last"))
_EVENT_COLUMNS = tuple(_EVENTS.c[name] for name in (
    "item_id", "worker_id", "date", "household_id", "dong", "visit_kind", "start", "end", "travel_s", "sequence",
    "cancelled", "created_at", "changed_at", "cancelled_at", "partner_roles",
))
_WORKER_EVENTS = sa.select(*_EVENT_COLUMNS).where(_EVENTS.c.worker_id == sa.bindparam("worker"), *_IN_WINDOW)
_TEAM_EVENTS = sa.select(*_EVENT_COLUMNS).where(
    _EVENTS.c.team_id == sa.bindparam("team"), _EVENTS.c.item_id != BREAK, *_IN_WINDOW
)


def _find_feed(session: Session, token: str) -> _Feed | None:
    """The live feed whose token this is, if its worker or owner may still see it (one indexed query)."""
    if not _TOKEN.fullmatch(token):
        return None
    digest = token_digest(token)
    row: Any = session.connection().execute(_FIND, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(str(row[5]), digest):
        return None
    feed_id, team_id, kind, worker_id, user_id, _h, w_active, w_team, u_active, u_role, u_team = row
    if kind == FeedKind.WORKER:
        if not (w_active and w_team == team_id):
            return None
    elif not (u_active and (u_role == "manager" or (u_role == "dispatcher" and u_team == team_id))):
        return None
    return _Feed(id=feed_id, team_id=team_id, kind=FeedKind(kind), worker_id=worker_id, user_id=user_id)


def _window(now: dt.datetime) -> tuple[dt.date, dt.date, dt.datetime]:
    """The first and last day shown, and the moment the window last moved (Seoul midnight)."""
    today = now.astimezone(SEOUL).date()
    midnight = dt.datetime.combine(today, dt.time(0), tzinfo=SEOUL).astimezone(dt.UTC)
    return today - dt.timedelta(days=DAYS_BACK), today + dt.timedelta(days=DAYS_AHEAD), midnight


def _events(session: Session, feed: _Feed, first: dt.date, last: dt.date) -> Sequence[Any]:
    """The window's event rows of the feed: by (worker, date) or (team, date), both indexed."""
    window = {"first": first, "last": last}
    if feed.kind == FeedKind.WORKER:
        return session.connection().execute(_WORKER_EVENTS, {"worker": feed.worker_id, **window}).all()
    return session.connection().execute(_TEAM_EVENTS, {"team": feed.team_id, **window}).all()


def _visible(rows: Iterable[Any], now: dt.datetime, *, one_per_visit: bool) -> tuple[list[Any], list[dt.datetime]]:
    """The rows a calendar shows now, and the moments hidden rows stopped showing.

    A cancelled row shows for ``CANCELLED_SHOWN`` after its cancellation.  In the team feed a
    visit shows once: its live row, else its latest cancellation.
    """
    shown, gone = [], []
    for r in rows:
        if r.cancelled and r.cancelled_at + CANCELLED_SHOWN <= now:
            gone.append(r.cancelled_at + CANCELLED_SHOWN)
        else:
            shown.append(r)
    if one_per_visit:
        best: dict[str, Any] = {}
        for r in shown:
            kept = best.get(r.item_id)
            rank = (r.cancelled, -r.sequence, r.worker_id)
            if kept is None or (kept.cancelled, -kept.sequence, kept.worker_id) > rank:
                best[r.item_id] = r
        shown = list(best.values())
    shown.sort(key=lambda r: (r.start, r.item_id != BREAK, r.item_id, r.worker_id))
    return shown, gone


def read_feed(
    session: Session, token: str, *, cache: FeedCache, base_url: str, if_none_match: str | None = None,
    if_modified_since: str | None = None,
) -> FeedAnswer | None:
    """Answer a calendar app's fetch of ``/v1/feeds/{token}.ics``; ``None`` for any token that is not
    a live feed's (unknown, revoked, malformed, or its worker or owner deactivated).

    Two indexed queries (the token; the feed's events in the window) and no plan is read.  The
    body is rendered once per state of those events and reused; the fetch is audited (feed,
    worker, time; never the token).
    """
    feed = _find_feed(session, token)
    if feed is None:
        return None
    now = cache.clock()
    first, last, midnight = _window(now)
    shown, gone = _visible(_events(session, feed, first, last), now, one_per_visit=feed.kind == FeedKind.TEAM)
    key = (first, base_url, tuple((tuple(r), r.cancelled) for r in shown))
    rendered = cache.lookup(feed.id, key)
    if rendered is None:
        body = render_calendar(_calendar(feed, shown, base_url))
        changed = max([midnight, *gone, *(r.changed_at for r in shown)])
        rendered = RenderedFeed(
            body=body, etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
            last_modified=changed.replace(microsecond=0),
        )
        cache.store(feed.id, key, rendered)
    fresh = _not_modified(rendered, if_none_match, if_modified_since)
    _audit_fetch(session, feed, len(shown), 304 if fresh else 200)
    return FeedAnswer(
        status=304 if fresh else 200, body=b"" if fresh else rendered.body, etag=rendered.etag,
        last_modified=rendered.last_modified,
    )


def _not_modified(rendered: RenderedFeed, if_none_match: str | None, if_modified_since: str | None) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match when sent (weak comparison), else If-Modified-Since."""
    if if_none_match is not None:
        tags = [t.strip() for t in if_none_match.split(",")]
        return "*" in tags or rendered.etag in (t.removeprefix("W/") for t in tags)
    if if_modified_since:
        try:
            since = email.utils.parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError, IndexError):
            return False
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        return rendered.last_modified <= since
    return False


def _audit_fetch(session: Session, feed: _Feed, events: int, status: int) -> None:
    """Written once the request has committed, by the background audit writer (like every read)."""
    who = f"worker={feed.worker_id}" if feed.kind == FeedKind.WORKER else f"team feed of {feed.user_id}"
    entry = AuditLog(
        actor_id=feed.user_id, actor_role="feed", action="read", resource="feed", resource_id=feed.id,
        team_id=feed.team_id, detail=f"{who} events={events} status={status}",
    )
    queue = session.info.get(AUDIT_QUEUE)
    if queue is not None:
        queue.append(entry)
    else:
        crud.insert_audit(session, entry)


# ---- what the calendar says (Korean, then English) ---------------------------------------------------

_KINDS = {
    "assessment": ("초기 평가 방문", "Assessment visit"),
    "routine": ("정기 방문", "Routine visit"),
    "follow_up": ("재방문", "Follow-up visit"),
    "crisis": ("위기 대응 방문", "Crisis visit"),
}
_ROLES = {
    "visiting_nurse": ("방문간호사", "visiting nurse"),
    "case_manager": ("통합사례관리사", "case manager"),
    "counsellor": ("상담사", "counsellor"),
    "mobile_unit": ("이동상담차량", "mobile unit"),
}
_NAMES = {
    FeedKind.WORKER: "살피미 방문 일정 · Salpimi visits",
    FeedKind.TEAM: "살피미 팀 방문 일정 · Salpimi team visits",
}
_ABOUT = (
    f"발행된 방문 계획: 지난 {DAYS_BACK}일부터 앞으로 {DAYS_AHEAD}일까지. 이름·주소·연락처·건강 정보는 담지 않습니다. "
    "당일 변경은 일정 링크에서 확인하세요 (구글 캘린더는 하루 1~3번만 새로 고칩니다).\n"
    f"Published visits from {DAYS_BACK} days back to {DAYS_AHEAD} days ahead. No names, addresses, phone numbers "
    "or health notes. Check same-day changes at the schedule link (Google Calendar refreshes only every 8-24 hours)."
)
_CANCELLED = (
    "취소됨: 다른 담당자에게 옮겨졌거나 계획에서 빠졌습니다.\n"
    "Cancelled: moved to another worker or left out of the plan."
)


def _calendar(feed: _Feed, rows: Sequence[Any], base_url: str) -> CalendarFeed:
    subject = feed.worker_id if feed.kind == FeedKind.WORKER else f"{feed.team_id}-{feed.user_id}"
    return CalendarFeed(
        uid=f"feed-{subject}@{_UID_DOMAIN}", name=_NAMES[feed.kind], description=_ABOUT, refresh=REFRESH,
        events=tuple(_event(r, base_url.rstrip("/"), team=feed.kind == FeedKind.TEAM) for r in rows),
    )


def _event(r: Any, base: str, *, team: bool) -> CalendarEvent:
    schedule = f"{base}/v1/workers/{r.worker_id}/schedule?date={r.date.isoformat()}"
    if r.item_id == BREAK:
        uid = f"{BREAK}-{r.worker_id}-{r.date:%Y%m%d}@{_UID_DOMAIN}"
        summary = "점심시간 · Lunch break"
        lines = [f"당일 변경 · Same-day changes: {schedule}"]
    else:
        # A joint visit is one event per worker (each with its own seat's time): one UID each.
        uid = f"{r.item_id}-{r.worker_id}@{_UID_DOMAIN}" if r.partner_roles else f"{r.item_id}@{_UID_DOMAIN}"
        kind_ko, kind_en = _KINDS.get(r.visit_kind, ("방문", "Visit"))
        summary = f"{r.dong} {kind_ko} · {kind_en}".strip()
        if r.partner_roles:
            summary += " · 동행 Joint"
        if team:
            summary += f" · {r.worker_id}"
        lines = [f"가구 코드 · Household code: {r.household_id}", f"방문 · Visit: {kind_ko} · {kind_en}"]
        if r.partner_roles:
            roles = [_ROLES.get(x, (x, x)) for x in r.partner_roles.split(",") if x]
            lines.append("동행 · Together with: " + ", ".join(f"{ko} · {en}" for ko, en in roles)
                         + " (같은 시각 시작 · starting at the same time)")
        if team:
            lines.append(f"담당 · Worker: {r.worker_id}")
        if r.travel_s >= 60:
            leave = (r.start - dt.timedelta(seconds=r.travel_s)).astimezone(SEOUL)
            minutes, at = r.travel_s // 60, f"{leave:%H:%M}"
            lines.append(f"이동 · Travel: {minutes}분 · {minutes} min, 늦어도 {at} 출발 · leave by {at}")
        lines += [
            f"가구 정보 (로그인) · Household details (sign in): {base}/v1/households/{r.household_id}/private",
            f"당일 변경 · Same-day changes: {schedule}",
        ]
    if r.cancelled:
        summary = f"[취소 Cancelled] {summary}"
        lines.insert(0, _CANCELLED)
    return CalendarEvent(
        uid=uid, start=r.start, end=r.end, stamp=r.changed_at, created=r.created_at, sequence=r.sequence,
        cancelled=r.cancelled, summary=summary, description="\n".join(lines), location=r.dong, url=schedule,
        travel_s=r.travel_s,
    )
