"""CSV import of households and workers: every row checked, row-level errors, all or nothing.

Row numbers are spreadsheet rows: the header is row 1, the first data row is row 2.  Lists are
separated by ``;`` (``ko;en``); availability reads ``mon 09:00-12:00; wed 14:00-17:00 18:00-19:00``;
booleans accept true/false, yes/no, y/n, 1/0 and O/X.  Empty cells keep the current value
(or the default for new rows).  Rows are matched to existing ones by ``ref``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session

from . import crud
from .errors import ApiError
from .models import (
    ErrorItem,
    Household,
    HouseholdCreate,
    HouseholdPrivate,
    HouseholdPrivateBase,
    Worker,
    WorkerCreate,
    now_utc,
)
from .redact import scrub_values

MAX_ROWS = 50_000
_TRUE = {"true", "yes", "y", "1", "o", "t"}
_FALSE = {"false", "no", "n", "0", "x", "f"}

PRIVATE_COLUMNS = tuple(HouseholdPrivateBase.model_fields)
HOUSEHOLD_COLUMNS = (
    "ref", "dong", "lat", "lon", "last_contact", "preferred_worker", "languages", "availability",
    "active", *PRIVATE_COLUMNS,
)
WORKER_COLUMNS = tuple(f for f in WorkerCreate.model_fields)


def decode(raw: bytes) -> str:
    """UTF-8 (with or without BOM), else CP949 as saved by Korean Excel."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp949")
    except UnicodeDecodeError:
        raise ApiError(
            422, "the file is neither UTF-8 nor CP949 text",
            errors=[ErrorItem(row=None, field="file", message="not UTF-8 or CP949 text")],
        ) from None


def read_rows(raw: bytes, *, allowed: tuple[str, ...], required: tuple[str, ...]) -> list[dict[str, str]]:
    text = decode(raw)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error:
        raise _unreadable(1) from None
    if not header:
        raise ApiError(422, "the CSV file is empty",
                       errors=[ErrorItem(row=1, field="header", message="no header row")])
    reader.fieldnames = header
    errors = [ErrorItem(row=1, field=h or "(blank)", message="unknown column")
              for h in header if h not in allowed]
    errors += [ErrorItem(row=1, field=c, message="required column is missing")
               for c in required if c not in header]
    seen: set[str] = set()
    for h in header:
        if h in seen:
            errors.append(ErrorItem(row=1, field=h, message="column appears twice"))
        seen.add(h)
    if errors:
        raise ApiError(422, f"the header row has {len(errors)} problem(s)", slug="csv-invalid",
                       errors=errors)
    rows = []
    try:
        for row in reader:
            if None in row:
                row.pop(None)
                row["__extra__"] = "1"
            rows.append({k: (v or "").strip() for k, v in row.items()})
            if len(rows) > MAX_ROWS:
                raise ApiError(422, f"at most {MAX_ROWS} rows per file", slug="csv-invalid")
    except csv.Error:
        raise _unreadable(len(rows) + 2) from None
    return rows


def _unreadable(row: int) -> ApiError:
    """The csv module gave up (a cell over 128 KB, a quote never closed): nothing is imported."""
    message = "cannot be read as CSV (a cell larger than 128 KB, or a quote that is never closed)"
    return ApiError(422, f"row {row} {message}; nothing was imported", slug="csv-invalid",
                    errors=[ErrorItem(row=row, field="file", message=message)])


def _bool(text: str) -> bool:
    low = text.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"expected true/false (yes/no, 1/0, O/X), got {text!r}")


def _list(text: str) -> list[str]:
    return [p.strip() for p in text.replace("|", ";").split(";") if p.strip()]


def _availability(text: str) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    for part in text.split(";"):
        tokens = part.split()
        if not tokens:
            continue
        day, spans = tokens[0].lower(), tokens[1:]
        if not spans:
            raise ValueError(f"expected 'mon 09:00-12:00', got {part.strip()!r}")
        for span in spans:
            start, sep, end = span.partition("-")
            if not sep:
                raise ValueError(f"expected HH:MM-HH:MM, got {span!r}")
            out.setdefault(day, []).append([start, end])
    return out


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"expected YYYY-MM-DD, got {text!r}") from None


def _number(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return kind(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None

    return parse


def _none_or(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def inner(text: str) -> Any:
        return None if text.lower() in ("none", "-") else parse(text)

    return inner


_HOUSEHOLD_PARSERS: dict[str, Callable[[str], Any]] = {
    "lat": _number(float), "lon": _number(float), "last_contact": _date, "languages": _list,
    "availability": _availability, "active": _bool,
    **{b: _bool for b in ("basic_livelihood", "chronic_illness", "alcohol", "disability",
                          "crisis_report")},
}
_WORKER_PARSERS: dict[str, Callable[[str], Any]] = {
    "skills": _list, "languages": _list, "active": _bool,
    **{f: _number(float) for f in ("start_lat", "start_lon", "end_lat", "end_lon", "speed_factor")},
    **{f: _number(int) for f in ("break_s", "max_visits", "max_work_s")},
    "break_start": _none_or(str), "break_end": _none_or(str),
}


def _convert(
    row: dict[str, str], rownum: int, parsers: dict[str, Callable[[str], Any]], errors: list[ErrorItem]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if row.pop("__extra__", None):
        errors.append(ErrorItem(row=rownum, field="row", message="more cells than header columns"))
    for key, text in row.items():
        if text == "":
            continue
        parse = parsers.get(key, str)
        try:
            values[key] = parse(text)
        except ValueError as exc:
            errors.append(ErrorItem(row=rownum, field=key, message=scrub_values(str(exc))))
    return values


def _validation_errors(exc: ValidationError, rownum: int) -> list[ErrorItem]:
    items = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "private"]
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        field = loc[0] if loc else msg.split(":", 1)[0] if ":" in msg else "row"
        if field == "preferred_worker_id":
            field = "preferred_worker"
        items.append(ErrorItem(row=rownum, field=field, message=msg))
    return items


def _fail(errors: list[ErrorItem], what: str) -> ApiError:
    rows = sorted({e.row for e in errors if e.row is not None})
    return ApiError(
        422, f"{len(errors)} problem(s) in {len(rows)} row(s); nothing was imported ({what})",
        slug="csv-invalid", errors=errors,
    )


def import_households(
    session: Session, team_id: str, raw: bytes, *, refresh: Callable[[Household, HouseholdPrivate], None]
) -> tuple[int, int, list[str]]:
    rows = read_rows(raw, allowed=HOUSEHOLD_COLUMNS, required=("lat", "lon"))
    existing = crud.households_by_ref(session, team_id)
    privates = crud.privates_by_ids(session, [h.id for h in existing.values()])
    worker_refs = crud.workers_by_ref(session, team_id)
    workers, _ = crud.list_workers(session, team_id)
    worker_ids = {w.id for w in workers}
    errors: list[ErrorItem] = []
    refs: dict[str, int] = {}
    plans: list[tuple[Household | None, HouseholdCreate]] = []
    for rownum, row in enumerate(rows, start=2):
        before = len(errors)
        values = _convert(row, rownum, _HOUSEHOLD_PARSERS, errors)
        ref = values.get("ref")
        if ref:
            if ref in refs:
                errors.append(ErrorItem(row=rownum, field="ref",
                                        message=f"already used in row {refs[ref]}"))
            refs[ref] = rownum
        pw = values.pop("preferred_worker", None)
        if pw is not None:
            if pw in worker_refs:
                values["preferred_worker_id"] = worker_refs[pw].id
            elif pw in worker_ids:
                values["preferred_worker_id"] = pw
            else:
                errors.append(ErrorItem(row=rownum, field="preferred_worker",
                                        message="not a worker ref or id of this team"))
        if len(errors) > before:
            continue
        current = existing.get(ref) if ref else None
        base: dict[str, Any] = {}
        private_base: dict[str, Any] = {}
        if current is not None:
            base = current.model_dump(include=set(HouseholdCreate.model_fields) - {"private"})
            if current.id in privates:
                private_base = privates[current.id].model_dump(include=set(PRIVATE_COLUMNS))
        private_values = {k: values.pop(k) for k in list(values) if k in PRIVATE_COLUMNS}
        try:
            body = HouseholdCreate.model_validate(
                {**base, **values, "private": {**private_base, **private_values}}
            )
        except ValidationError as exc:
            errors.extend(_validation_errors(exc, rownum))
            continue
        plans.append((current, body))
    if errors:
        raise _fail(errors, "households")
    created = updated = 0
    out_ids = []
    for current, body in plans:
        data = body.model_dump(exclude={"private"})
        pdata = (body.private.model_dump() if body.private else {})
        if current is None:
            household = Household.model_validate(data, update={"team_id": team_id})
            private = HouseholdPrivate.model_validate(pdata, update={"household_id": household.id})
            created += 1
        else:
            household = current
            for k, v in data.items():
                setattr(household, k, v)
            household.updated_at = now_utc()
            private = privates.get(household.id) or HouseholdPrivate(household_id=household.id)
            for k, v in pdata.items():
                setattr(private, k, v)
            private.updated_at = now_utc()
            updated += 1
        refresh(household, private)
        session.add(household)
        out_ids.append(household.id)
        session.flush()
        session.add(private)
    session.flush()
    return created, updated, out_ids


def import_workers(session: Session, team_id: str, raw: bytes) -> tuple[int, int, list[str]]:
    rows = read_rows(raw, allowed=WORKER_COLUMNS, required=("role", "start_lat", "start_lon"))
    existing = crud.workers_by_ref(session, team_id)
    errors: list[ErrorItem] = []
    refs: dict[str, int] = {}
    plans: list[tuple[Worker | None, WorkerCreate]] = []
    for rownum, row in enumerate(rows, start=2):
        before = len(errors)
        values = _convert(row, rownum, _WORKER_PARSERS, errors)
        ref = values.get("ref")
        if ref:
            if ref in refs:
                errors.append(ErrorItem(row=rownum, field="ref",
                                        message=f"already used in row {refs[ref]}"))
            refs[ref] = rownum
        if len(errors) > before:
            continue
        current = existing.get(ref) if ref else None
        base = current.model_dump(include=set(WorkerCreate.model_fields)) if current else {}
        try:
            body = WorkerCreate.model_validate({**base, **values})
        except ValidationError as exc:
            errors.extend(_validation_errors(exc, rownum))
            continue
        plans.append((current, body))
    if errors:
        raise _fail(errors, "workers")
    created = updated = 0
    out_ids = []
    for current, body in plans:
        if current is None:
            worker = Worker.model_validate(body, update={"team_id": team_id})
            created += 1
        else:
            worker = current
            for k, v in body.model_dump().items():
                setattr(worker, k, v)
            worker.updated_at = now_utc()
            updated += 1
        session.add(worker)
        out_ids.append(worker.id)
    session.flush()
    return created, updated, out_ids
