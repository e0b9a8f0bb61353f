"""RFC 9457 problem details: one error hierarchy, one set of handlers.

Every 4xx/5xx leaves the service as ``application/problem+json`` with a stable
``type`` URI and ``code``. Validation problems list the offending fields as JSON
pointers in ``errors``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response

log = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://ccapi.dev/problems/"


class FieldError(BaseModel):
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    pointer: str = Field(description="JSON pointer to the offending field, e.g. `/body/email`.")
    detail: str
    code: str = "invalid"


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str = Field(examples=[PROBLEM_BASE + "not-found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str | None = Field(default=None, examples=["No conversation with this id."])
    instance: str | None = Field(default=None, examples=["/v1/conversations/0b0f…"])
    code: str = Field(examples=["not_found"])
    request_id: str | None = None
    errors: list[FieldError] | None = None
    current_status: str | None = Field(
        default=None,
        description="On an `invalid_transition` (409): the resource's status, which did not "
        "allow the action.",
    )


class ProblemError(Exception):
    """Base class of domain errors; subclasses fix the status, code and title."""

    status: int = 400
    code: str = "bad_request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = list(errors) if errors else None
        self.headers = headers or {}
        self.extra = extra or {}


class BadRequest(ProblemError):
    pass


class Unauthorized(ProblemError):
    status, code, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="ccapi"'})


class Forbidden(ProblemError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotPermitted(Forbidden):
    """The acting person sees the resource but may not do this to it (checked before any
    state-transition rule)."""

    code, title = "not_permitted", "Not permitted"


class NotFound(ProblemError):
    status, code, title = 404, "not_found", "Not found"


class MethodNotAllowed(ProblemError):
    status, code, title = 405, "method_not_allowed", "Method not allowed"


class Conflict(ProblemError):
    status, code, title = 409, "conflict", "Conflict"


class InvalidTransition(Conflict):
    code, title = "invalid_transition", "Invalid state transition"

    def __init__(self, resource: str, current: str, action: str) -> None:
        super().__init__(
            f"Cannot {action} a {resource} whose status is '{current}'.",
            extra={"current_status": current},
        )


class ExportInProgress(Conflict):
    code, title = "export_in_progress", "Export in progress"


class ExportNotReady(Conflict):
    code, title = "export_not_ready", "Export not ready"


class Gone(ProblemError):
    status, code, title = 410, "gone", "Gone"


class PreconditionFailed(ProblemError):
    status, code, title = 412, "precondition_failed", "Precondition failed"


class PayloadTooLarge(ProblemError):
    status, code, title = 413, "payload_too_large", "Payload too large"


class UnsupportedMediaType(ProblemError):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class ValidationFailed(ProblemError):
    status, code, title = 422, "validation_failed", "Validation failed"

    @classmethod
    def field(cls, pointer: str, detail: str, code: str = "invalid") -> ValidationFailed:
        return cls(detail, errors=[FieldError(pointer=pointer, detail=detail, code=code)])


class IdempotencyKeyReused(ProblemError):
    status, code, title = 422, "idempotency_key_reused", "Idempotency key reused"


class IdempotencyInProgress(Conflict):
    code, title = "idempotency_in_progress", "Request with this idempotency key in progress"


class RateLimited(ProblemError):
    status, code, title = 429, "rate_limited", "Too many requests"

    def __init__(self, retry_after: int, detail: str = "Rate limit exceeded") -> None:
        super().__init__(
            f"{detail}; retry after {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )


class InternalError(ProblemError):
    status, code, title = 500, "internal_error", "Internal server error"


class DatabaseUnavailable(ProblemError):
    """The database cannot be reached, dropped the connection or did not answer in time.
    Nothing the request wrote was committed (or, for a lost commit, the outcome is unknown
    and a retry with the same ``Idempotency-Key`` is safe)."""

    status, code, title = 503, "database_unavailable", "Database unavailable"

    def __init__(self) -> None:
        super().__init__(
            "The database is unavailable; retry after a short wait.",
            headers={"Retry-After": "1"},
        )


# SQLSTATEs of a server that is going away or cannot take the connection: class 08
# (connection exception), 57P01-57P03 (shutdown, crash shutdown, cannot connect now), 53300
# (too many connections).
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what it wraps) says the database connection failed, as opposed
    to a statement being refused: the connection was lost or refused, a connect or a
    statement timed out, or no pooled connection became free in time."""
    for _ in range(4):
        if exc is None:
            return False
        if isinstance(exc, ProblemError):
            # Already an answer: a refusal whose cause was an OSError (a webhook URL whose
            # host does not resolve is a 422) is not about the database.
            return isinstance(exc, DatabaseUnavailable)
        # OSError: refused, reset, or no socket at all (a Unix socket's file is missing
        # while the server restarts), or the host's name does not resolve.
        if isinstance(exc, (TimeoutError, OSError, PoolTimeout)):
            return True
        if isinstance(exc, asyncpg.ConnectionDoesNotExistError):
            return True
        # The driver's protocol was left mid-operation by the lost connection ("cannot
        # switch to state …; another operation is in progress"): the connection is unusable
        # (seen once in the kill test under heavy load); it is discarded like a lost one.
        if isinstance(exc, asyncpg.InternalClientError):
            return True
        if isinstance(exc, asyncpg.PostgresError):
            sqlstate = str(getattr(exc, "sqlstate", None) or "")
            return sqlstate.startswith("08") or sqlstate in _UNAVAILABLE_SQLSTATES
        if isinstance(exc, asyncpg.InterfaceError) and "connection is closed" in str(exc):
            return True
        if isinstance(exc, DBAPIError):
            if exc.connection_invalidated:
                return True
            exc = exc.orig
            continue
        exc = exc.__cause__
    return False


_STATUS_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Bad request"),
    401: ("unauthorized", "Unauthorized"),
    403: ("forbidden", "Forbidden"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    412: ("precondition_failed", "Precondition failed"),
    413: ("payload_too_large", "Payload too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("validation_failed", "Validation failed"),
    428: ("precondition_required", "Precondition required"),
    429: ("rate_limited", "Too many requests"),
    500: ("internal_error", "Internal server error"),
    503: ("service_unavailable", "Service unavailable"),
}


def problem_response(
    request: Request | None,
    *,
    status: int,
    code: str,
    title: str,
    detail: str | None = None,
    errors: Sequence[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code.replace("_", "-"),
        "title": title,
        "status": status,
        "code": code,
    }
    if detail:
        body["detail"] = detail
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    if errors:
        body["errors"] = [e.model_dump() for e in errors]
    if extra:
        body.update(extra)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_CONTENT_TYPE)


def _pointer(loc: Sequence[str | int]) -> str:
    return "/" + "/".join(str(part).replace("~", "~0").replace("/", "~1") for part in loc)


async def _problem_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        request,
        status=exc.status,
        code=exc.code,
        title=exc.title,
        detail=exc.detail,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
    )


def is_json_media_type(content_type: str) -> bool:
    """``application/json`` or any ``application/…+json``, whatever its parameters."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    content_type = request.headers.get("content-type", "")
    sent_body = request.headers.get("content-length", "0") != "0" or (
        "transfer-encoding" in request.headers
    )
    # FastAPI reads a body only when it is labelled JSON; any other (or no) media type
    # reaches validation as bytes and failed as "Input should be a valid dictionary".
    if (
        sent_body
        and not is_json_media_type(content_type)
        and any(tuple(err.get("loc", ()))[:1] == ("body",) for err in exc.errors())
    ):
        sent = f"not {content_type[:100]}" if content_type else "and no Content-Type was sent"
        return problem_response(
            request,
            status=415,
            code="unsupported_media_type",
            title="Unsupported media type",
            detail=f"The body must be application/json, {sent}.",
            headers={"Accept": "application/json"},
        )
    errors = []
    for err in exc.errors():
        # FastAPI's loc starts with where the value came from: body, query, path, header.
        loc = list(err.get("loc", ())) or ["body"]
        errors.append(
            FieldError(pointer=_pointer(loc), detail=str(err.get("msg")), code=str(err.get("type")))
        )
    return problem_response(
        request,
        status=422,
        code="validation_failed",
        title="Validation failed",
        detail=f"{len(errors)} field(s) failed validation.",
        errors=errors,
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code, title = _STATUS_CODES.get(exc.status_code, ("error", "Error"))
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
    if exc.status_code == 404 and detail in (None, "Not Found"):
        detail = f"No route matches {request.method} {request.url.path}."
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names only the first route matching the path; a path served by several
        # routes (GET, PATCH and DELETE on one resource) allows all their methods.
        table: list[tuple[re.Pattern[str], set[str]]] = getattr(
            request.app.state, "route_methods", []
        )
        path = request.scope["path"]
        allowed = sorted({m for pattern, methods in table if pattern.match(path) for m in methods})
        if allowed:
            headers["Allow"] = ", ".join(allowed)
            detail = f"{request.method} is not allowed here; use {', '.join(allowed)}."
    return problem_response(
        request,
        status=exc.status_code,
        code=code,
        title=title,
        detail=detail,
        headers=headers,
    )


async def _integrity_error(request: Request, exc: Exception) -> Response:
    # Races that slip past a service's checks (two creates with one external_id at once).
    log.warning("integrity error", extra={"error": str(getattr(exc, "orig", exc))[:300]})
    return problem_response(
        request,
        status=409,
        code="conflict",
        title="Conflict",
        detail="The request conflicts with the current state of another resource; retry.",
    )


async def _database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    # SQLSTATE class 22 (data exception): a value that passed validation but that PostgreSQL
    # cannot take, e.g. a datetime whose UTC instant falls outside years 1-9999. Bad input.
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    if sqlstate.startswith("22"):
        return _out_of_range(request, sqlstate)
    return await unhandled_response(request, exc)


# PostgreSQL's text and jsonb cannot hold U+0000: "invalid byte sequence" (22021) for text,
# "unsupported Unicode escape sequence" (22P05) for jsonb.
_NUL_SQLSTATES = ("22021", "22P05")


def _out_of_range(request: Request, sqlstate: str = "") -> Response:
    if sqlstate in _NUL_SQLSTATES:
        detail = "Text may not contain the character U+0000 (NUL)."
    else:
        detail = "A value is outside the range the service can store or compare."
    return problem_response(
        request, status=422, code="validation_failed", title="Validation failed", detail=detail
    )


async def _asyncpg_error(request: Request, exc: Exception) -> Response:
    """Errors of statements sent straight to asyncpg, answered as their SQLAlchemy-wrapped
    counterparts above are: a value it cannot encode or PostgreSQL cannot take (SQLSTATE
    class 22) is bad input, a constraint a race slipped past (class 23) a conflict."""
    sqlstate = str(getattr(exc, "sqlstate", None) or "")
    if isinstance(exc, asyncpg.DataError) or sqlstate.startswith("22"):
        return _out_of_range(request, sqlstate)
    if sqlstate.startswith("23"):
        return await _integrity_error(request, exc)
    return await unhandled_response(request, exc)


async def unhandled_response(request: Request, exc: Exception) -> Response:
    """The 500 for an error nothing else answered: logged with the request id, and nothing
    of the error in the body. A lost or refused database connection outside a
    transactional route is a 503, as it is inside one (app/core/routing.py)."""
    # Sent by Starlette's outermost middleware, past the one that adds X-Request-ID.
    request_id = getattr(request.state, "request_id", None)
    headers = {"X-Request-ID": request_id} if request_id else {}
    if database_unavailable(exc):
        log.warning("database unavailable", extra={"error": repr(exc)[:300]})
        unavailable = DatabaseUnavailable()
        return problem_response(
            request,
            status=unavailable.status,
            code=unavailable.code,
            title=unavailable.title,
            detail=unavailable.detail,
            headers={**headers, **unavailable.headers},
        )
    log.exception("unhandled error", exc_info=exc)
    return problem_response(
        request,
        status=500,
        code="internal_error",
        title="Internal server error",
        detail="An unexpected error occurred; it has been logged with the request id.",
        headers=headers or None,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _problem_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(asyncpg.PostgresError, _asyncpg_error)
    app.add_exception_handler(asyncpg.DataError, _asyncpg_error)
    app.add_exception_handler(Exception, unhandled_response)


# What each documented error looks like, for the examples shown under each status in the
# docs (Swagger UI would otherwise show the Problem schema's field examples, a 404, for all).
_EXAMPLE_DETAILS: dict[int, str] = {
    400: "The body is not valid JSON.",
    401: "Send an API key as `Authorization: Bearer cck_live_…`.",
    403: "This API key lacks the 'write' scope.",
    404: "No conversation with this id.",
    405: "DELETE is not allowed here; use GET, PATCH.",
    409: "Cannot complete a conversation whose status is 'draft'.",
    410: "The export expired and its document was deleted; request a new one.",
    412: "The resource changed since you read it (If-Match does not match the current ETag); "
    "fetch it again and retry.",
    413: "The request body exceeds 1048576 bytes.",
    415: "The body must be application/json, not text/plain.",
    422: "1 field(s) failed validation.",
    428: "Send If-Match with the ETag you read.",
    429: "Rate limit exceeded; retry after 17 seconds.",
    500: "An unexpected error occurred; it has been logged with the request id.",
    503: "The database is unavailable; retry after a short wait.",
}
# Statuses whose usual answer has a more specific code than the table above.
_EXAMPLE_CODES: dict[int, tuple[str, str]] = {
    409: ("invalid_transition", "Invalid state transition"),
    503: ("database_unavailable", "Database unavailable"),
}


def problem_example(status: int) -> dict[str, Any]:
    """A typical problem document for ``status``, as the docs show it."""
    code, title = _EXAMPLE_CODES.get(status) or _STATUS_CODES.get(status, ("error", "Error"))
    example: dict[str, Any] = {
        "type": PROBLEM_BASE + code.replace("_", "-"),
        "title": title,
        "status": status,
        "code": code,
        "detail": _EXAMPLE_DETAILS.get(status, title),
        "instance": "/v1/conversations/0193a1e5-2222-7ccc-8ddd-000000000042/complete",
        "request_id": "req_5f0c2b6e8d9a4c1e9b7a3d2f1e0c4b6a",
    }
    if status == 409:
        example["current_status"] = "draft"
    if status == 422:
        example["instance"] = "/v1/people"
        example["errors"] = [
            {"pointer": "/body/name", "detail": "Field required", "code": "missing"}
        ]
    return example


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` entry documenting problem+json errors of a route, each with an
    example of its own status and code. Only ``application/problem+json``: that is what
    every error is sent as (no ``model``, which would add an ``application/json`` twin);
    ``create_app`` adds the ``Problem`` schema to the document."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        _, title = _STATUS_CODES.get(status, ("error", "Error"))
        out[status] = {
            "description": title,
            "content": {
                PROBLEM_CONTENT_TYPE: {
                    "schema": {"$ref": "#/components/schemas/Problem"},
                    "example": problem_example(status),
                }
            },
        }
    return out
