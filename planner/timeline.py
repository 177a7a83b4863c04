"""The only place where calendar datetimes and the planner's integer seconds meet."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

__all__ = ["SEOUL", "WEEKDAYS", "DayClock", "format_hhmm", "parse_date", "parse_hhmm"]

SEOUL = ZoneInfo("Asia/Seoul")
DAY_S = 24 * 3600
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"[0-9]{2}:[0-9]{2}")


def parse_hhmm(text: object, *, field: str = "time") -> int:
    """Parse ``"HH:MM"`` (two digits each; ``"24:00"`` allowed) into seconds after midnight.

    Raises
    ------
    ValueError
        Naming ``field`` and the offending value.
    """
    if not isinstance(text, str) or not _HHMM.fullmatch(text):
        raise ValueError(f"{field}: expected 'HH:MM', got {text!r}")
    hours, minutes = int(text[:2]), int(text[3:])
    if minutes >= 60 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"{field}: {text!r} is not a time of day")
    return hours * 3600 + minutes * 60


def format_hhmm(seconds: int) -> str:
    """Format seconds after midnight as ``HH:MM``."""
    seconds = seconds
    return f"{seconds // 3600:02d}:{(seconds % 3600) // 60:02d}"


def parse_date(text: str, *, field: str = "date") -> dt.date:
    """Parse an ISO ``YYYY-MM-DD`` date, naming ``field`` on error."""
    try:
        return dt.date.fromisoformat(str(text))
    except ValueError:
        raise ValueError(f"{field}: {text!r} is not a date (expected YYYY-MM-DD)") from None


@dataclass(frozen=True, slots=True)
class DayClock:
    """Converts between a planning day's integer seconds and aware datetimes.

    Seconds count from local midnight of ``date`` in ``tz`` (Asia/Seoul has no DST,
    but the conversion goes through the zone so any zone stays correct).
    """

    date: dt.date
    tz: ZoneInfo = SEOUL

    @property
    def midnight(self) -> dt.datetime:
        return dt.datetime.combine(self.date, dt.time(0), tzinfo=self.tz)

    @property
    def weekday(self) -> str:
        return WEEKDAYS[self.date.weekday()]

    def to_datetime(self, seconds: int) -> dt.datetime:
        return self.midnight + dt.timedelta(seconds=int(seconds))

    def to_iso(self, seconds: int) -> str:
        return self.to_datetime(seconds).isoformat()

    def to_seconds(self, moment: dt.datetime | str, *, field: str = "time") -> int:
        """Seconds since the day's midnight for an aware datetime or ISO 8601 string."""
        if isinstance(moment, str):
            try:
                moment = dt.datetime.fromisoformat(moment)
            except ValueError:
                raise ValueError(f"{field}: {moment!r} is not an ISO 8601 datetime") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.tz)
        delta = moment - self.midnight
        return round(delta.total_seconds())
