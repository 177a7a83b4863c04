"""iCalendar rendering of a calendar feed (icalendar 7): events in Asia/Seoul, byte-stable, folded safely."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import icalendar

__all__ = ["SEOUL", "CalendarEvent", "CalendarFeed", "duration_text", "fold_line", "render_calendar", "seoul_timezone"]

SEOUL = ZoneInfo("Asia/Seoul")
PRODID = "-//Salpimi//Salpimi calendar feed 1.0//KO"
#: RFC 5545 section 3.1: physical lines of at most 75 octets, line break excluded.
LINE_OCTETS = 75


class _Text(icalendar.vText):
    """TEXT escaped exactly as RFC 5545 3.3.11 says: icalendar 7.3's own escaping also turns a
    literal backslash-N into a line break."""

    def to_ical(self) -> bytes:
        text = str(self).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
        return text.replace("\r\n", "\\n").replace("\n", "\\n").encode("utf-8")


def _aware(value: dt.datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: expected an aware datetime, got a naive one")


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarEvent:
    """One VEVENT.  ``stamp`` is DTSTAMP and LAST-MODIFIED: when the event last changed."""

    uid: str
    start: dt.datetime
    end: dt.datetime
    stamp: dt.datetime
    created: dt.datetime
    sequence: int
    cancelled: bool
    summary: str
    description: str = ""
    location: str = ""
    url: str = ""
    travel_s: int = 0

    def __post_init__(self) -> None:
        if not self.uid or any(c in self.uid for c in "\r\n"):
            raise ValueError(f"uid: expected one line of text, got {self.uid!r}")
        for name in ("start", "end", "stamp", "created"):
            _aware(getattr(self, name), name)
        if self.end < self.start:
            raise ValueError(f"end: {self.end.isoformat()} is before start {self.start.isoformat()}")
        if self.sequence < 0:
            raise ValueError(f"sequence: expected 0 or more, got {self.sequence}")
        if self.travel_s < 0:
            raise ValueError(f"travel_s: expected 0 or more, got {self.travel_s}")


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarFeed:
    """A subscribed calendar (METHOD:PUBLISH): its name, how often clients should refresh, its events."""

    uid: str
    name: str
    description: str
    refresh: dt.timedelta
    events: tuple[CalendarEvent, ...]

    def __post_init__(self) -> None:
        if self.refresh <= dt.timedelta(0) or self.refresh.microseconds:
            raise ValueError(f"refresh: expected whole seconds above zero, got {self.refresh}")


def duration_text(value: dt.timedelta) -> str:
    """An RFC 5545 duration in hours, minutes and seconds: ``PT1H``, ``PT12M``, ``PT1H30M``."""
    seconds = int(value.total_seconds())
    if seconds <= 0:
        raise ValueError(f"duration: expected a positive duration, got {value}")
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return "PT" + "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)


def fold_line(line: str, limit: int = LINE_OCTETS) -> list[str]:
    """``line`` as physical lines of at most ``limit`` UTF-8 octets (continuations start with a space).

    Never splits a character's UTF-8 bytes, a backslash escape (``\\,``, ``\\n``, ``\\\\``) or an
    RFC 6868 parameter escape (``^n``): some parsers mis-read either when split across a fold.
    """
    units: list[str] = []
    i = 0
    while i < len(line):
        step = 2 if line[i] in "\\^" and i + 1 < len(line) else 1
        units.append(line[i : i + step])
        i += step
    out: list[str] = []
    current, size = "", 0
    for unit in units:
        octets = len(unit.encode("utf-8"))
        room = limit - (1 if out else 0)  # a continuation line begins with one space
        if current and size + octets > room:
            out.append(current)
            current, size = "", 0
        current += unit
        size += octets
    out.append(current)
    return [out[0]] + [" " + rest for rest in out[1:]]


def seoul_timezone() -> icalendar.Timezone:
    """Asia/Seoul as a VTIMEZONE, written out (KST, +09:00, no daylight saving since 1988) so the
    bytes do not depend on the machine's tz database."""
    tz = icalendar.Timezone()
    tz.add("TZID", "Asia/Seoul")
    standard = icalendar.TimezoneStandard()
    standard.add("DTSTART", dt.datetime(1970, 1, 1))
    standard.add("TZOFFSETFROM", dt.timedelta(hours=9))
    standard.add("TZOFFSETTO", dt.timedelta(hours=9))
    standard.add("TZNAME", "KST")
    tz.add_component(standard)
    return tz


def _event(e: CalendarEvent) -> icalendar.Event:
    event = icalendar.Event.new(
        uid=e.uid,
        stamp=e.stamp.astimezone(dt.UTC),
        created=e.created.astimezone(dt.UTC),
        last_modified=e.stamp.astimezone(dt.UTC),
        sequence=e.sequence,
        start=e.start.astimezone(SEOUL),
        end=e.end.astimezone(SEOUL),
        url=e.url or None,
        status=icalendar.STATUS.CANCELLED if e.cancelled else icalendar.STATUS.CONFIRMED,
        transparency=icalendar.TRANSP.TRANSPARENT if e.cancelled else icalendar.TRANSP.OPAQUE,
    )
    event.add("SUMMARY", _Text(e.summary))
    if e.description:
        event.add("DESCRIPTION", _Text(e.description))
    if e.location:
        event.add("LOCATION", _Text(e.location))
    if e.travel_s >= 60:
        # Apple Calendar draws this as a travel block before the event; others ignore it.
        event.add("X-APPLE-TRAVEL-DURATION", dt.timedelta(minutes=e.travel_s // 60), parameters={"VALUE": "DURATION"})
    return event


def render_calendar(feed: CalendarFeed) -> bytes:
    """The feed as iCalendar bytes (CRLF lines, folded at 75 octets); the same feed gives the same bytes."""
    cal = icalendar.Calendar.new(
        prodid=PRODID,
        version="2.0",
        calscale="GREGORIAN",
        method="PUBLISH",
        uid=feed.uid,
    )
    # Not Calendar.new(name=, description=): icalendar 7.3 writes NAME and the X-WR-* copies as raw
    # text, unescaped (a newline fails, a comma is not escaped).
    cal.add("NAME", _Text(feed.name))
    cal.add("X-WR-CALNAME", _Text(feed.name))
    cal.add("DESCRIPTION", _Text(feed.description))
    cal.add("X-WR-CALDESC", _Text(feed.description))
    # RFC 7986 wants VALUE=DURATION on REFRESH-INTERVAL; X-PUBLISHED-TTL is the older spelling
    # Outlook and Apple read, written as the text ``PT1H``.
    cal.add("REFRESH-INTERVAL", feed.refresh, parameters={"VALUE": "DURATION"})
    cal.add("X-PUBLISHED-TTL", duration_text(feed.refresh))
    cal.add("X-WR-TIMEZONE", "Asia/Seoul")
    cal.add_component(seoul_timezone())
    for event in feed.events:
        cal.add_component(_event(event))
    lines = []
    for line in cal.content_lines():
        if line:
            lines.extend(fold_line(str(line)))
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")
