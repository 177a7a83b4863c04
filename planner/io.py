"""Reading problem and plan files from disk (JSON), with errors that name the file and the field.

The contract itself -- field tables, parsers, serialisers and JSON Schemas -- lives in
:mod:`planner.formats`; its names are re-exported here for existing imports.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

from .domain import Problem
from .formats.fields import (
    DATE_RANGE,
    LIMITS,
    RANGES,
    NumberRange,
    require_list,
    require_mapping,
    require_str,
    show,
)
from .formats.problem import problem_from_json, problem_json_schema, problem_to_json

__all__ = [
    "DATE_RANGE",
    "LIMITS",
    "RANGES",
    "NumberRange",
    "ProblemFileError",
    "duplicate_key",
    "key_path",
    "load_problem",
    "parse_json_text",
    "problem_from_json",
    "problem_json_schema",
    "problem_to_json",
    "read_json",
    "require_list",
    "require_mapping",
    "require_str",
    "show",
]


class ProblemFileError(ValueError):
    """A problem or plan file that cannot be used; the message is one line for the user."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number (JSON has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:20]} is too large a number")
    return value


class _DuplicateKey(Exception):
    pass


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey
    return obj


class _Pairs(list[tuple[str, Any]]):
    """A JSON object as it was written: every key, in order, duplicates included."""


def duplicate_key(text: str | bytes) -> tuple[str | int, ...] | None:
    """Where a JSON object first names a key twice: the keys and list indexes down to that key (``None`` when
    no object does, or the text is not JSON).  A later value would silently win over an earlier one."""
    try:
        json.loads(text, object_pairs_hook=_unique_object)
        return None
    except _DuplicateKey:
        pass
    except (ValueError, RecursionError):
        return None
    return _first_duplicate(json.loads(text, object_pairs_hook=_Pairs), ())


def _first_duplicate(node: Any, path: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    items: list[tuple[str | int, Any]]
    if isinstance(node, _Pairs):
        seen: set[str] = set()
        for name, _value in node:
            if name in seen:
                return (*path, name)
            seen.add(name)
        items = list(node)
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        return None
    for key, value in items:
        found = _first_duplicate(value, (*path, key))
        if found is not None:
            return found
    return None


def key_path(path: tuple[str | int, ...]) -> str:
    """``workers[3].name``: keys (cut to 40 characters, control characters escaped) and list indexes."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            shown = part if len(part) <= 40 else part[:39] + "…"
            shown = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in shown)
            out += ("." if out else "") + shown
    return out or "(top)"


def parse_json_text(text: str) -> Any:
    """``json.loads`` that refuses NaN, Infinity, overflowing numbers, deep nesting and an object naming the same
    key twice (``ValueError``)."""
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float,
                          object_pairs_hook=_unique_object)
    except _DuplicateKey:
        where = duplicate_key(text)
        raise ValueError(f"duplicate key {key_path(where) if where else '(somewhere)'}: an object names it twice "
                         "(JSON keeps only the last; remove one)") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except ValueError as exc:  # NaN, Infinity, 1e999, integers of more than 4,300 digits
        message = str(exc).split(";")[0]
        raise ValueError(f"unusable number: {message}") from None


def read_json(path: str | Path, *, what: str = "file") -> Any:
    """Read a JSON file; raise :class:`ProblemFileError` with one clear line on failure."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProblemFileError(f"{what} {p}: no such file") from None
    except IsADirectoryError:
        raise ProblemFileError(f"{what} {p}: is a directory, not a file") from None
    except UnicodeDecodeError:
        raise ProblemFileError(f"{what} {p}: not UTF-8 text") from None
    except OSError as exc:
        raise ProblemFileError(f"{what} {p}: cannot read ({exc.strerror})") from None
    try:
        return parse_json_text(text)
    except ValueError as exc:
        raise ProblemFileError(f"{what} {p}: {exc}") from None


def load_problem(path: str | Path, *, date: dt.date | None = None) -> Problem:
    """Load and validate a problem file."""
    data = read_json(path, what="problem")
    try:
        return problem_from_json(data, date=date)
    except (ValueError, TypeError) as exc:
        raise ProblemFileError(f"problem {path}: {exc}") from None
