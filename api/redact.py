"""Keeps personal data out of logs and error bodies: one log-record hook, exception summaries, value scrubbing."""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

__all__ = [
    "describe_exception", "install_log_redaction", "redact_feed_tokens", "redact_record", "safe_traceback",
    "scrub_values",
]

_MAX_MESSAGE = 300
_GOT = re.compile(r",?\s*\bgot\b.*$", re.DOTALL)
_QUOTED = re.compile(r"'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"")
_DECIMAL = re.compile(r"(?<![\w.])-?\d+\.\d+(?:[eE][+-]?\d+)?")
_LONG = re.compile(r"\S{65,}")
# SQLite names only the schema in its constraint messages; anything else it says is not repeated.
_SQLITE_SAFE = re.compile(r"^(UNIQUE|NOT NULL|FOREIGN KEY|CHECK) constraint failed(: [\w.,\s]{0,200})?$")
_HOOKED = "_salpimi_redacting"
# A calendar feed's URL is its credential: ``/v1/feeds/<token>.ics`` is logged as ``/v1/feeds/***``.
_FEED_TOKEN = re.compile(r"(/v1/feeds/)[^/\s?#\"']+")
# A job-events token travels as ``?token=`` (browsers' EventSource cannot send headers): logged as ``token=***``.
_QUERY_TOKEN = re.compile(r"([?&]token=)[^&\s#\"']+")


_OUR_ID = re.compile(r"[a-z]{1,8}_[0-9a-f]{16}")


def shown_id(value: object) -> str:
    """An id as an error message may show it: one of ours (``hh_3f9a0c1d2e4b5a6c``) as it is, anything else
    as ``(not an id)``, so a name or phone number typed into an id field is never echoed back or logged."""
    text = str(value)
    return text if _OUR_ID.fullmatch(text) else "(not an id)"


# Path segments a problem's ``instance`` (and a log line) repeats as they are: our ids, the literal words of the
# app's routes (``plan-jobs``, ``v1``; registered by create_app), dates, the page's file names and a redacted
# feed token; anything else a client put in the path (a name or phone number typed where an id goes) is ``-``.
_PATH_KEPT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}|\*{3}(?:\.ics)?"
                        r"|[A-Za-z0-9_.-]{1,80}\.(?:js|css|map|png|svg|ico|woff2?|ttf|pbf)")
_route_words: set[str] = set()


def know_route_words(paths: Iterable[str]) -> None:
    """Register the literal segments of the app's route paths (``/v1/plan-jobs/{job_id}``: v1, plan-jobs)."""
    _route_words.update(p for path in paths for p in path.split("/") if p and "{" not in p)


def shown_path(path: object) -> str:
    """A request path as a problem or a log line may show it: each segment that is not one of our ids, a word
    of a route or a date is ``-``, so a name, phone number or token in the path is never echoed back."""
    text, mark, _query = redact_feed_tokens(str(path)[:300]).partition("?")
    shown = "/".join(p if (not p or p in _route_words or _OUR_ID.fullmatch(p) or _PATH_KEPT.fullmatch(p)) else "-"
                     for p in text.split("/"))
    return shown + "?…" if mark else shown


def scrub_values(message: str) -> str:
    """``message`` without the input values it quotes: the field path and the rule stay.

    Parser messages name the field and then the offending value (``lat: expected a number,
    got '...'``); the value may be a name, phone number or coordinate.  Drops ``got ...``
    tails, quoted strings, decimal numbers (coordinates) and over-long tokens, and caps the
    length.
    """
    text = _GOT.sub("", message.replace("\r", " ").replace("\n", " "))
    text = _QUOTED.sub("'…'", text)
    text = _DECIMAL.sub("…", text)
    text = _LONG.sub("…", text)
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 1] + "…"
    return text.strip()


def _db_detail(exc: BaseException) -> str:
    """Constraint, table and column names of a database driver error, never its values."""
    orig = getattr(exc, "orig", None) or exc
    parts = []
    diag = getattr(orig, "diag", None)  # psycopg
    if diag is not None:
        for label in ("sqlstate", "constraint_name", "table_name", "column_name"):
            value = getattr(diag, label, None) if label != "sqlstate" else getattr(orig, "sqlstate", None)
            if value:
                parts.append(f"{label.removesuffix('_name')}={value}")
    elif type(orig).__module__ == "sqlite3":
        first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
        if _SQLITE_SAFE.match(first):
            parts.append(first)
    return ", ".join(parts)


def describe_exception(exc: BaseException) -> str:
    """The exception's class (and the driver's, with constraint names, for database errors).

    Exception messages are never repeated: a driver's message can hold the failing row
    (PostgreSQL's ``Failing row contains (...)``) and SQLAlchemy's the statement parameters.
    """
    name = type(exc).__name__
    orig = getattr(exc, "orig", None)
    if isinstance(orig, BaseException):
        name += f" ({type(orig).__module__.split('.')[0]}.{type(orig).__name__})"
    detail = _db_detail(exc)
    return f"{name}: {detail}" if detail else name


_CAUSE = "The above exception was the direct cause of the following exception:"
_CONTEXT = "During handling of the above exception, another exception occurred:"


def _chain(exc: BaseException) -> list[tuple[BaseException, str]]:
    """``exc`` and its causes, newest first, each with how it relates to its cause."""
    out: list[tuple[BaseException, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(out) < 10:
        seen.add(id(current))
        if current.__cause__ is not None:
            nxt, link = current.__cause__, _CAUSE
        elif current.__context__ is not None and not current.__suppress_context__:
            nxt, link = current.__context__, _CONTEXT
        else:
            nxt, link = None, ""
        out.append((current, link))
        current = nxt
    return out


def safe_traceback(exc: BaseException, tb: TracebackType | None = None) -> str:
    """A traceback with every frame but no exception message (see :func:`describe_exception`)."""
    parts: list[str] = []
    for item, link in reversed(_chain(exc)):
        if parts and link:
            parts.append(f"\n{link}\n")
        frames = traceback.extract_tb(tb if item is exc and tb is not None else item.__traceback__)
        parts.append("Traceback (most recent call last):\n" + "".join(frames.format()) + describe_exception(item))
    return "\n".join(parts)


def redact_feed_tokens(text: str) -> str:
    """``text`` with every calendar feed token in a ``/v1/feeds/...`` path, and every ``?token=`` query
    value (job-events tokens), replaced by ``***``."""
    if "/v1/feeds/" in text:
        text = _FEED_TOKEN.sub(r"\1***", text)
    return _QUERY_TOKEN.sub(r"\1***", text) if "token=" in text else text


def _safe_arg(value: Any) -> Any:
    if isinstance(value, BaseException):
        return describe_exception(value)
    return redact_feed_tokens(value) if isinstance(value, str) else value


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    """Make ``record`` safe to write anywhere; called for every record once installed.

    * an attached exception becomes a traceback of frames and exception classes (and
      database constraint names), with no message;
    * exceptions passed as arguments or as the message become their description;
    * uvicorn's access log loses query strings (they could hold tokens or search terms) and shows its path
      as :func:`shown_path` does;
    * calendar feed tokens in paths become ``***``, in any message or argument.
    """
    if record.exc_info and record.exc_info[1] is not None:
        _type, value, tb = record.exc_info
        record.exc_text = safe_traceback(value, tb)
        record.exc_info = None
    if isinstance(record.msg, BaseException):
        record.msg = describe_exception(record.msg)
    elif isinstance(record.msg, str):
        record.msg = redact_feed_tokens(record.msg)
    args = record.args
    if isinstance(args, tuple) and args:
        safe = tuple(_safe_arg(a) for a in args)
        if record.name == "uvicorn.access" and len(safe) == 5:
            safe = (safe[0], safe[1], shown_path(safe[2]) if isinstance(safe[2], str) else safe[2], safe[3], safe[4])
        record.args = safe
    elif isinstance(args, Mapping) and args:
        record.args = {k: _safe_arg(v) for k, v in args.items()}
    return record


def install_log_redaction() -> None:
    """Route every log record of the process through :func:`redact_record` (idempotent).

    A record factory rather than a handler filter: it applies to every logger and every
    handler, including ones configured later (uvicorn's, a test's capture, an operator's).
    """
    current = logging.getLogRecordFactory()
    if getattr(current, _HOOKED, False):
        return

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        return redact_record(current(*args, **kwargs))

    setattr(factory, _HOOKED, True)
    hooked: Callable[..., logging.LogRecord] = factory
    logging.setLogRecordFactory(hooked)
