"""The field table's building blocks: one codec per kind of value, each a parser, a serialiser and a JSON Schema."""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any, Final, Generic, TypeVar

from ..domain import TimeWindow
from ..timeline import format_hhmm, parse_date, parse_hhmm

__all__ = [
    "DATE_RANGE",
    "LIMITS",
    "RANGES",
    "Bool",
    "Clock",
    "Codec",
    "Const",
    "Date",
    "EnumOf",
    "Field",
    "Ident",
    "JsonObject",
    "ListOf",
    "MapOf",
    "Nullable",
    "Number",
    "NumberRange",
    "Record",
    "Text",
    "Window",
    "require_list",
    "require_mapping",
    "require_str",
    "show",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NumberRange:
    """The accepted values of one numeric field: ``minimum..maximum`` in ``unit``."""

    minimum: float
    maximum: float
    unit: str
    integer: bool = True

    def text(self) -> str:
        """``1..86400 (s)``: the range as the docs and error messages write it."""
        low, high = (int(x) if float(x).is_integer() else x for x in (self.minimum, self.maximum))
        return f"{low}..{high} ({self.unit})"

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of a value in this range."""
        return {"type": "integer" if self.integer else "number", "minimum": self.minimum,
                "maximum": self.maximum}


# Every numeric field of a problem file and its sane range (also the JSON Schema's and the docs').
RANGES: Final[Mapping[str, NumberRange]] = MappingProxyType({
    "lat": NumberRange(-90, 90, "degrees", integer=False),
    "lon": NumberRange(-180, 180, "degrees", integer=False),
    "service_s": NumberRange(1, 12 * 3600, "s"),  # service_times.*, by_role, visit.duration_s
    "break_s": NumberRange(0, 4 * 3600, "s"),  # worker.break.duration_s
    "max_visits": NumberRange(0, 100, "visits"),
    "max_work_s": NumberRange(1, 24 * 3600, "s"),
    "speed_factor": NumberRange(0.1, 10, "x the mode's speed", integer=False),
    "capacity": NumberRange(0, 1_000_000, "load units"),
    "load": NumberRange(0, 1_000_000, "load units"),
    "priority": NumberRange(0, 1_000_000, "skip penalty", integer=False),  # visit or household priority
    "cadence_days": NumberRange(1, 3650, "days"),  # risk_model.cadence_days.*
    "tier_weight": NumberRange(0.001, 1_000_000, "relative units", integer=False),  # risk_model.weight.*
    "travel_s": NumberRange(0, 86_400, "s", integer=False),  # travel_matrix.*.duration_s cells
    "travel_m": NumberRange(0, 10_000_000, "m", integer=False),  # travel_matrix.*.distance_m cells
    "gap_s": NumberRange(0, 86_400, "s"),  # precedences[].min_gap_s, max_gap_s
    "late_cost": NumberRange(0, 1_000_000, "per second late, in seconds of travel", integer=False),
})

# Sizes: a day of 1,500 visits or more is planned in parts (planner/solvers/decompose.py); a whole city's day of
# 10,000 visits and 1,200 workers took 2.5-2.7 GB (its travel matrices 2.4 GB), so larger problems are refused
# rather than exhausting the machine.  Within 60 s on 2 cores (README "Big days").
LIMITS: Final[Mapping[str, int]] = MappingProxyType({
    "visits": 10_000,
    "workers": 1_500,
    "households": 50_000,
    "windows": 16,  # time windows of a visit; availability windows of a weekday
    "tags": 32,  # skills, languages, required skills, allowed roles of one item
    "forbidden_worker_ids": 250,
    "id_chars": 128,
    "tag_chars": 64,
    "text_chars": 200,  # name, team, dong, label
    "note_chars": 4000,
    "matrix_locations": 3_000,  # travel_matrix.locations: 2,000 visits and 250 workers' starts and ends
    "precedences": 2_000,
})

DATE_RANGE: Final[tuple[dt.date, dt.date]] = (dt.date(1900, 1, 1), dt.date(2100, 12, 31))

_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NO_CONTROLS = r"^[^\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
_NO_CONTROLS_MULTILINE = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]*$"
_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$"


def show(value: Any, *, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters, control characters escaped: safe in one error line.

    A cut string keeps its closing quote (``'abc…'``); a long list or object is named, not shown.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    if isinstance(value, str):
        quoted = repr(value[:limit])
        return quoted[: limit - 2] + "…" + quoted[0]
    return f"a {type(value).__name__} of {len(text):,} characters"


def require_mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def require_list(value: Any, where: str, *, limit: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{where}: expected a list, got {type(value).__name__}")
    if limit is not None and len(value) > limit:
        raise ValueError(f"{where}: {len(value)} items exceed the limit of {limit}")
    return value


def _bad_char(text: str, *, multiline: bool = False) -> str | None:
    for ch in text:
        if multiline and ch in "\t\n\r":
            continue
        if unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI:
            return ch
    return None


def require_str(value: Any, where: str, *, max_chars: int = LIMITS["id_chars"]) -> str:
    """A non-empty identifier-like string: at most ``max_chars``, no control characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}: expected a non-empty string, got {show(value)}")
    if len(value) > max_chars:
        raise ValueError(f"{where}: longer than {max_chars} characters")
    bad = _bad_char(value)
    if bad is not None:
        raise ValueError(f"{where}: contains the control character {bad!r}")
    return value


def check_keys(raw: Mapping[str, Any], allowed: Sequence[str] | set[str], where: str) -> None:
    """Refuse keys not in ``allowed``, naming at most five of them."""
    known = set(allowed)
    unknown = sorted((k for k in raw if k not in known), key=str)
    if unknown:
        names = ", ".join(show(k) for k in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise ValueError(f"{where}: unknown field(s) {names}")


def _with_null(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if isinstance(kind, str) and "enum" not in schema:
        return {**schema, "type": [kind, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


# ---- codecs --------------------------------------------------------------------------------


class Codec(ABC, Generic[T]):
    """One kind of value: ``parse`` (JSON to Python; ``ValueError`` naming ``where``), ``dump`` and ``schema``."""

    @abstractmethod
    def parse(self, value: Any, where: str) -> T: ...

    def dump(self, value: T) -> Any:
        return value

    @abstractmethod
    def schema(self) -> dict[str, Any]: ...


class Number(Codec[Any]):
    """A finite number within a :class:`NumberRange` (an integer where the range says so)."""

    def __init__(self, key: str | NumberRange, *, description: str = "") -> None:
        self.range = RANGES[key] if isinstance(key, str) else key
        self.description = description

    def parse(self, value: Any, where: str) -> Any:
        r = self.range
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where}: expected a number, got {show(value)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{where}: expected a finite number, got {show(value)}")
        if r.integer and value != int(value):
            raise ValueError(f"{where}: expected an integer, got {show(value)}")
        if not r.minimum <= value <= r.maximum:
            raise ValueError(f"{where}: must lie in {r.text()}, got {show(value)}")
        return int(value) if r.integer else float(value)

    def schema(self) -> dict[str, Any]:
        out = self.range.schema()
        if self.description:
            out["description"] = self.description
        return out


class Nullable(Codec[T | None]):
    """``null`` or a value of ``inner``."""

    def __init__(self, inner: Codec[T]) -> None:
        self.inner = inner

    def parse(self, value: Any, where: str) -> T | None:
        return None if value is None else self.inner.parse(value, where)

    def dump(self, value: T | None) -> Any:
        return None if value is None else self.inner.dump(value)

    def schema(self) -> dict[str, Any]:
        return _with_null(self.inner.schema())


class Ident(Codec[str]):
    """A non-empty id or tag: at most ``max_chars``, no control characters."""

    def __init__(self, *, max_chars: int = LIMITS["id_chars"]) -> None:
        self.max_chars = max_chars

    def parse(self, value: Any, where: str) -> str:
        return require_str(value, where, max_chars=self.max_chars)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "minLength": 1, "maxLength": self.max_chars, "pattern": _NO_CONTROLS}


class Text(Codec[str]):
    """Free text (may be empty): at most ``max_chars``; tabs and newlines only when ``multiline``."""

    def __init__(self, *, max_chars: int = LIMITS["text_chars"], multiline: bool = False) -> None:
        self.max_chars, self.multiline = max_chars, multiline

    def parse(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a string, got {type(value).__name__}")
        if len(value) > self.max_chars:
            raise ValueError(f"{where}: longer than {self.max_chars} characters")
        bad = _bad_char(value, multiline=self.multiline)
        if bad is not None:
            raise ValueError(f"{where}: contains the control character {bad!r}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "maxLength": self.max_chars,
                "pattern": _NO_CONTROLS_MULTILINE if self.multiline else _NO_CONTROLS}


class Bool(Codec[bool]):
    def parse(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise ValueError(f"{where}: expected true or false, got {show(value)}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


class Const(Codec[str]):
    """A fixed string, such as the time zone."""

    def __init__(self, value: str) -> None:
        self.value = value

    def parse(self, value: Any, where: str) -> str:
        if value != self.value:
            raise ValueError(f"{where}: {show(value)} is not {self.value}")
        return self.value

    def schema(self) -> dict[str, Any]:
        return {"const": self.value}


class Date(Codec[dt.date]):
    """``YYYY-MM-DD`` within :data:`DATE_RANGE`."""

    def parse(self, value: Any, where: str) -> dt.date:
        if not isinstance(value, str):
            raise ValueError(f"{where}: expected a date YYYY-MM-DD, got {show(value)}")
        day = parse_date(value, field=where)
        low, high = DATE_RANGE
        if not low <= day <= high:
            raise ValueError(f"{where}: {day.isoformat()} lies outside {low.isoformat()}..{high.isoformat()}")
        return day

    def dump(self, value: dt.date) -> str:
        return value.isoformat()

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$",
                "description": f"YYYY-MM-DD from {DATE_RANGE[0].isoformat()} to {DATE_RANGE[1].isoformat()}"}


class Clock(Codec[int]):
    """A local clock time ``HH:MM`` (``24:00`` allowed), as seconds after midnight."""

    def parse(self, value: Any, where: str) -> int:
        if not isinstance(value, str) or len(value) > 8:
            raise ValueError(f"{where}: expected 'HH:MM', got {show(value)}")
        return parse_hhmm(value, field=where)

    def dump(self, value: int) -> str:
        return format_hhmm(value)

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "pattern": _HHMM}


class Window(Codec[TimeWindow]):
    """``["09:00", "12:00"]`` (or ``{"start": "09:00", "end": "12:00"}``): a start and a later end."""

    _clock = Clock()

    def parse(self, value: Any, where: str) -> TimeWindow:
        if isinstance(value, Mapping):
            check_keys(value, ("start", "end"), where)
            start, end = value.get("start"), value.get("end")
        elif isinstance(value, list) and len(value) == 2:
            start, end = value
        else:
            raise ValueError(f"{where}: expected [\"HH:MM\", \"HH:MM\"], got {show(value)}")
        s = self._clock.parse(start, f"{where}.start")
        e = self._clock.parse(end, f"{where}.end")
        if e <= s:
            raise ValueError(f"{where}: end {end} is not after start {start}")
        return TimeWindow(start_s=s, end_s=e)

    def dump(self, value: TimeWindow) -> list[str]:
        return [format_hhmm(value.start_s), format_hhmm(value.end_s)]

    def schema(self) -> dict[str, Any]:
        hhmm = self._clock.schema()
        return {
            "description": "[start, end] local clock times, end after start",
            "anyOf": [
                {"type": "array", "items": hhmm, "minItems": 2, "maxItems": 2},
                {"type": "object", "properties": {"start": hhmm, "end": hhmm}, "required": ["start", "end"],
                 "additionalProperties": False},
            ],
        }


class Choice(Codec[str]):
    """One of a few strings."""

    def __init__(self, values: Sequence[str]) -> None:
        self.values = tuple(values)

    def parse(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or value not in self.values:
            raise ValueError(f"{where}: {show(value)} is not one of {', '.join(self.values)}")
        return value

    def schema(self) -> dict[str, Any]:
        return {"enum": list(self.values)}


E = TypeVar("E", bound=Enum)


class EnumOf(Codec[E]):
    """A member of a string enumeration, written as its value."""

    def __init__(self, cls: type[E]) -> None:
        self.cls = cls

    def parse(self, value: Any, where: str) -> E:
        try:
            return self.cls(value)
        except (ValueError, TypeError):
            allowed = ", ".join(str(m.value) for m in self.cls)
            raise ValueError(f"{where}: {show(value)} is not one of {allowed}") from None

    def dump(self, value: E) -> Any:
        return value.value

    def schema(self) -> dict[str, Any]:
        return {"enum": [m.value for m in self.cls]}


class ListOf(Codec[Any]):
    """A JSON list of ``item`` values, at most ``limit``, kept as a tuple (or a frozenset, written sorted)."""

    def __init__(self, item: Codec[Any], *, limit: int | None = None, unique: bool = False,
                 too_many: Callable[[str, int], str] | None = None) -> None:
        self.item, self.limit, self.unique, self.too_many = item, limit, unique, too_many

    def parse(self, value: Any, where: str) -> Any:
        if self.too_many is not None and isinstance(value, list) and self.limit is not None \
                and len(value) > self.limit:
            raise ValueError(self.too_many(where, len(value)))
        items = require_list(value, where, limit=self.limit)
        parsed = [self.item.parse(x, f"{where}[{i}]") for i, x in enumerate(items)]
        return frozenset(parsed) if self.unique else tuple(parsed)

    def dump(self, value: Any) -> list[Any]:
        items = sorted(value, key=lambda x: str(self.item.dump(x))) if self.unique else value
        return [self.item.dump(x) for x in items]

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array", "items": self.item.schema()}
        if self.limit is not None:
            out["maxItems"] = self.limit
        return out


class MapOf(Codec[dict[str, Any]]):
    """A JSON object whose keys are parsed by ``key`` (a :class:`Choice` or :class:`Ident`) and values by ``value``."""

    def __init__(self, key: Codec[str], value: Codec[Any], *, description: str = "") -> None:
        self.key, self.value, self.description = key, value, description

    def parse(self, value: Any, where: str) -> dict[str, Any]:
        raw = require_mapping(value, where)
        out: dict[str, Any] = {}
        for k, v in raw.items():
            name = self.key.parse(k, where)
            out[name] = self.value.parse(v, f"{where}.{name}")
        return out

    def dump(self, value: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self.value.dump(v) for k, v in value.items()}

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object", "propertyNames": self.key.schema(),
                               "additionalProperties": self.value.schema()}
        if self.description:
            out["description"] = self.description
        return out


class JsonObject(Codec[dict[str, Any]]):
    """Any JSON object, kept as it is (``meta``)."""

    def parse(self, value: Any, where: str) -> dict[str, Any]:
        return dict(require_mapping(value, where))

    def dump(self, value: Mapping[str, Any]) -> dict[str, Any]:
        return dict(value)

    def schema(self) -> dict[str, Any]:
        return {"type": "object"}


_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class Field:
    """One row of a field table: a JSON key, its codec, what an absent key means, and where the value lives.

    ``default`` is the JSON value used when the key is absent; without one the key is required (its
    codec sees ``None`` and says what it expected).  ``optional`` keys that are absent are simply
    left out of the values given to the record's ``make``.  ``get`` reads the value off the built
    object for writing (default: the attribute named like the key); ``write=False`` keys are read
    and checked but not kept (a household's label, a visit's note).
    """

    key: str
    codec: Codec[Any]
    default: Any = _MISSING
    optional: bool = False
    get: Callable[[Any], Any] | None = None
    write: bool = True
    path: str | None = None  # where errors name this field, when not ``<parent>.<key>``
    description: str = ""
    omit_default: bool = False  # written only when it differs from ``default`` (fields most files never use)

    @property
    def required(self) -> bool:
        return self.default is _MISSING and not self.optional

    def value_of(self, obj: Any) -> Any:
        return self.get(obj) if self.get is not None else getattr(obj, self.key)


class Record(Codec[T]):
    """A JSON object described by a field table, built into ``T`` by ``make(values)``.

    Parameters
    ----------
    fields
        The table, in the order values are parsed and written.
    make
        Builds the value from the parsed values keyed by JSON key (default: ``cls(**values)``
        with the written fields).
    named
        When set, errors after the ``id`` field name the item ``"<named> <id>"`` instead of its
        position (``visit gw-v0001.duration_s`` rather than ``visits[0].duration_s``).
    extra
        ``"forbid"`` refuses unknown keys (problem files); ``"ignore"`` skips them (plans read back
        from the API carry its own fields).
    """

    def __init__(
        self,
        fields: Sequence[Field],
        *,
        cls: type[T] | None = None,
        make: Callable[[dict[str, Any]], T] | None = None,
        named: str | None = None,
        extra: str = "forbid",
        description: str = "",
    ) -> None:
        self.fields = tuple(fields)
        self.keys = tuple(f.key for f in self.fields)
        self.named, self.extra, self.description = named, extra, description
        if make is None:
            if cls is None:
                raise TypeError("Record needs cls or make")
            build, kept = cls, {f.key for f in self.fields if f.write}

            def make(values: dict[str, Any]) -> T:
                return build(**{k: v for k, v in values.items() if k in kept})

        self.make = make

    def parse(self, value: Any, where: str) -> T:
        raw = require_mapping(value, where)
        if self.extra == "forbid":
            check_keys(raw, self.keys, where)
        values: dict[str, Any] = {}
        for f in self.fields:
            if f.key in raw:
                item = raw[f.key]
            elif f.optional:
                continue
            else:
                item = None if f.default is _MISSING else f.default
            values[f.key] = f.codec.parse(item, f.path or f"{where}.{f.key}")
            if f.key == "id" and self.named:
                where = f"{self.named} {values['id']}"
        return self.make(values)

    def dump(self, value: T) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.write:
                item = f.codec.dump(f.value_of(value))
                if not (f.omit_default and item == f.default):
                    out[f.key] = item
        return out

    def schema(self) -> dict[str, Any]:
        props: dict[str, Any] = {}
        for f in self.fields:
            prop = f.codec.schema()
            if f.description:
                prop = {**prop, "description": f.description}
            if f.default is not _MISSING:
                prop = {**prop, "default": f.default}
            props[f.key] = prop
        out: dict[str, Any] = {"type": "object", "properties": props}
        required = [f.key for f in self.fields if f.required]
        if required:
            out["required"] = required
        out["additionalProperties"] = self.extra != "forbid"
        if self.description:
            out["description"] = self.description
        return out
