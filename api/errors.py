"""RFC 9457 problem details for every error the API returns, validation errors included."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from .models import ErrorItem, ProblemDetails
from .redact import scrub_values, shown_id, shown_path

__all__ = ["ApiError", "install_handlers", "loc_field", "problem_response", "problem_responses", "safe_errors"]

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://salpimi.example/problems/"
_log = logging.getLogger("salpimi.api")

_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Not authenticated"),
    403: ("forbidden", "Forbidden"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("validation-error", "Validation error"),
    500: ("internal-error", "Internal server error"),
    503: ("unavailable", "Service unavailable"),
}


class ApiError(Exception):
    """An error the API reports as problem details."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: Sequence[ErrorItem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        default_slug, default_title = _TITLES.get(status, ("error", "Error"))
        self.status = status
        self.detail = detail
        self.slug = slug or default_slug
        self.title = title or default_title
        self.errors = list(errors) if errors is not None else None
        self.headers = headers


def not_found(kind: str, ident: str) -> ApiError:
    return ApiError(404, f"{kind} {shown_id(ident)} does not exist")


def forbidden(detail: str) -> ApiError:
    return ApiError(403, detail)


def conflict(detail: str, *, slug: str = "conflict") -> ApiError:
    return ApiError(409, detail, slug=slug)


def problem_response(
    request: Request | None,
    status: int,
    detail: str | None,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: Sequence[ErrorItem] | None = None,
    headers: dict[str, str] | None = None,
    instance: str | None = None,
    values_removed: bool = False,
) -> JSONResponse:
    """The problem+json response; a 422's detail and errors lose any input value they quote
    (unless ``values_removed`` says the caller did that already)."""
    default_slug, default_title = _TITLES.get(status, ("error", "Error"))
    if status == 422 and not values_removed:
        # Validation problems carry field locations and messages only, never the input value.
        detail = scrub_values(detail) if detail else detail
        errors = safe_errors(errors) if errors is not None else None
    where = instance if instance is not None else (request.url.path if request else None)
    body = ProblemDetails(
        type=TYPE_BASE + (slug or default_slug),
        title=title or default_title,
        status=status,
        detail=detail,
        instance=shown_path(where) if where is not None else None,
        errors=list(errors) if errors is not None else None,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_JSON,
        headers=headers,
    )


def _loc_part(part: Any) -> str:
    text = str(part)
    if len(text) > 40 or not text.isprintable():
        return "…"  # a key of the input itself (a dictionary key), not a field name
    return text


def _loc(loc: Sequence[Any]) -> str:
    parts = [_loc_part(p) for p in loc]
    return ".".join(parts) if parts else "request"


def loc_field(loc: Sequence[Any]) -> str:
    """An error's ``field``: the location's parts joined with dots, a long or unprintable key as ``…``."""
    return _loc(loc)


def safe_errors(errors: Sequence[ErrorItem]) -> list[ErrorItem]:
    """Errors with printable, bounded field paths and messages without the values they quote."""
    out = []
    for e in errors:
        field = ".".join(_loc_part(p) for p in e.field.split(".")) if e.field else "request"
        out.append(ErrorItem(row=e.row, field=field[:200], message=scrub_values(e.message)))
    return out


def validation_items(exc: RequestValidationError) -> list[ErrorItem]:
    """Field and message of each error; the offending input is never echoed (personal data).

    Pydantic's own messages name the rule, never the input; messages of our validators
    (``value_error``) may quote the value, so they lose it.
    """
    items = []
    for err in exc.errors():
        msg = str(err.get("msg", "invalid"))
        if err.get("type") in ("value_error", "assertion_error") or msg.startswith("Value error, "):
            msg = scrub_values(msg.removeprefix("Value error, "))
        items.append(ErrorItem(field=_loc(err.get("loc", ())), message=msg[:300]))
    return items


def install_handlers(app: FastAPI) -> None:
    """Make every error, including FastAPI's own, a problem+json response."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return problem_response(
            request, exc.status, exc.detail, slug=exc.slug, title=exc.title, errors=exc.errors,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        items = validation_items(exc)
        detail = "; ".join(f"{i.field}: {i.message}" for i in items[:3])
        if len(items) > 3:
            detail += f" (and {len(items) - 3} more)"
        return problem_response(request, 422, detail, errors=items, values_removed=True)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else None
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no resource at {shown_path(request.url.path)}"
        if exc.status_code == 405 and detail == "Method Not Allowed":
            detail = f"{request.method} is not allowed on {shown_path(request.url.path)}"
        return problem_response(
            request, exc.status_code, detail, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        # The backstop for values the models let through but the database refuses (PostgreSQL:
        # a NUL character, a number beyond its column).  Neither the value nor the driver's message.
        _log.warning("the database refused a value on %s %s", request.method, shown_path(request.url.path))
        return problem_response(
            request, 422, "a value cannot be stored: it holds a NUL character or lies beyond its field's range",
            values_removed=True,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Type only: exception messages may carry personal data.
        _log.error("unhandled %s on %s %s", type(exc).__name__, request.method, shown_path(request.url.path))
        return problem_response(request, 500, "an unexpected error occurred; it has been logged")


_DESCRIPTIONS = {
    400: "Malformed request: a body that is not parseable JSON, or control characters (%00) in the URL",
    401: "Missing or invalid credentials",
    403: "The caller's role or team does not allow this",
    404: "No such resource (or route)",
    409: "Conflicts with the current state",
    413: "Request body larger than the configured limit",
    415: "The body's media type is not the one this route reads (JSON; CSV uploads multipart/form-data)",
    422: "Validation error; `errors` lists each field (and CSV row), never the input value",
    503: "Overloaded or a dependency unavailable; retry after `Retry-After` seconds",
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem+json errors."""
    return {
        code: {
            "model": ProblemDetails,
            "description": _DESCRIPTIONS.get(code, "Error"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
        }
        for code in codes
    }
