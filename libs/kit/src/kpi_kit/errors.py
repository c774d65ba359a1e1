"""Errors as values at the domain edge, mapped to problem+json (RFC 9457) in one place."""

from __future__ import annotations

import logging
import re
from typing import Any

import asyncpg
import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from kpi_contracts import patterns
from kpi_kit.db import is_transient
from kpi_kit.http_methods import with_head_allowed

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"


class FieldError(msgspec.Struct, frozen=True):
    """One invalid field of a request."""

    field: str
    message: str


class DomainError(Exception):
    """Base of the errors handlers return to the HTTP edge."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class BadRequest(DomainError):
    """The request is malformed (an unknown enum value, a bad uuid)."""


class Unauthorized(DomainError):
    """No valid bearer token."""

    status = 401
    title = "Unauthorized"


class Forbidden(DomainError):
    """A valid token without the right to this action."""

    status = 403
    title = "Forbidden"


class NotFound(DomainError):
    """The thing named does not exist."""

    status = 404
    title = "Not found"


class Conflict(DomainError):
    """The request clashes with the current state (already active, already decided)."""

    status = 409
    title = "Conflict"


class Unprocessable(DomainError):
    """Well-formed, but breaks a rule (a score off the module's scale, an unknown module)."""

    status = 422
    title = "Unprocessable content"


class Unavailable(DomainError):
    """A dependency (database, broker) cannot be reached right now."""

    status = 503
    title = "Service unavailable"


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The problem+json body of every error answer (RFC 9457)."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] = []


_PROBLEM_STATUSES = {
    400: "The request is malformed",
    401: "No valid bearer token",
    403: "The token does not carry the right to this action",
    404: "The thing named does not exist",
    409: "The request clashes with the current state",
    413: "The request body is too large (the gateway's limit)",
    414: "The request address is too long (the gateway's limit)",
    422: "Well-formed, but breaks a rule",
    503: "A dependency (database, broker) cannot be reached right now; retry",
}

PROBLEM_RESPONSES: dict[int, ResponseSpec] = {
    status: ResponseSpec(
        data_container=Problem,
        description=description,
        media_type=PROBLEM_JSON,
        generate_examples=False,
    )
    for status, description in _PROBLEM_STATUSES.items()
}
"""The error answers any API route may give, as the OpenAPI document states them."""


def problem(
    status: int, title: str, detail: str, errors: list[FieldError] | None = None
) -> Response[Any]:
    """A problem+json response."""
    body: dict[str, Any] = {
        "type": f"https://kpi.example/problems/{status}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    headers = {503: {"Retry-After": "5"}, 401: {"WWW-Authenticate": "Bearer"}}.get(status)
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _domain_error(_: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    return problem(exc.status, exc.title, exc.detail, exc.errors)


def _validation_error(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = [_field_error(item) for item in (exc.extra or []) if isinstance(item, dict)]
    detail = exc.detail or "The request is not valid"
    return problem(400, "Invalid request", detail, errors)


# msgspec names the field itself when it is unknown or missing: "Object contains unknown field
# `surprise`", "Object missing required field `content`".
_NAMED_FIELD = re.compile(r"(?:unknown|missing required) field `([^`]+)`")


def _field_error(item: dict[str, Any]) -> FieldError:
    key = str(item.get("key") or item.get("field") or "body")
    message = str(item.get("message", "invalid"))
    if key == "data":  # Litestar's name for the whole body; its KeyError when there is none
        key = "body"
        message = "a JSON body is required" if message == "'data'" else message
    path = ""
    # Litestar reports msgspec paths as "Expected `int`, got `str` - at `$.weight`".
    if " - at `$." in message:
        message, _, path = message.partition(" - at `$.")
        key = path = path.rstrip("`")
    named = _NAMED_FIELD.search(message)
    if named:
        key = f"{path}.{named.group(1)}" if path else named.group(1)
    return FieldError(key, patterns.said(message))


def _http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    titles = {
        400: "Invalid request",
        401: "Unauthorized",
        403: "Forbidden",
        404: "Not found",
        405: "Method not allowed",
    }
    title = titles.get(exc.status_code, "Request error")
    # The exception's own headers stay: a 405's Allow names the methods the route has (RFC 9110).
    headers = dict(exc.headers or {})
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    elif exc.status_code == 405:
        headers = with_head_allowed(headers)
    # Litestar's own 400s (other than validation, handled above) are bodies it could not read.
    unreadable = [FieldError("body", exc.detail)] if exc.status_code == 400 else None
    response = problem(exc.status_code, title, exc.detail, unreadable)
    if headers:
        response.headers.update(headers)
    return response


def _raised_decoding_a_body(exc: Exception) -> bool:
    """Whether Litestar's JSON decoding of a request body raised `exc`.

    msgspec lets invalid UTF-8 inside a string out as UnicodeDecodeError, and nesting deeper than
    the interpreter's stack as RecursionError; Litestar maps only msgspec's own errors to a 400.
    """
    if not isinstance(exc, UnicodeDecodeError | RecursionError):
        return False
    frame = exc.__traceback__
    while frame is not None:
        if frame.tb_frame.f_globals.get("__name__") == "litestar.serialization.msgspec_hooks":
            return True
        frame = frame.tb_next
    return False


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    if _raised_decoding_a_body(exc):
        reason = "nested too deeply" if isinstance(exc, RecursionError) else "not valid UTF-8"
        detail = f"The body is not valid JSON: {reason}"
        return problem(400, "Invalid request", detail, [FieldError("body", detail)])
    if is_transient(exc):
        log.warning("dependency unavailable on %s %s: %r", request.method, request.url.path, exc)
        return problem(503, "Service unavailable", "The database cannot be reached; retry soon")
    if isinstance(exc, asyncpg.exceptions.UniqueViolationError):
        # A use case's own check lost a race (two creates at once); warn so it gets a named field.
        log.warning(
            "unique rule %s on %s %s", exc.constraint_name, request.method, request.url.path
        )
        return problem(409, "Conflict", "The request clashes with a record that exists")
    if isinstance(exc, asyncpg.exceptions.CheckViolationError):
        log.warning("check rule %s on %s %s", exc.constraint_name, request.method, request.url.path)
        return problem(422, "Unprocessable content", "A value breaks a rule of the stored records")
    if isinstance(exc, asyncpg.exceptions.DataError):
        # SQLSTATE class 22: the database refused a value the request carried (a NUL character,
        # a number out of range); the request is at fault, not the server.
        log.info("database refused a value on %s %s: %r", request.method, request.url.path, exc)
        return problem(400, "Invalid request", "A value in the request cannot be stored or matched")
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(HTTP_500_INTERNAL_SERVER_ERROR, "Internal error", "An unexpected error occurred")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: _domain_error,
    ValidationException: _validation_error,
    NotAuthorizedException: _http_error,
    PermissionDeniedException: _http_error,
    HTTPException: _http_error,
    Exception: _unexpected,
}
