"""Turning gemsdash's errors into HTTP answers, one status per kind of failure.

Every error body is `{"detail": "..."}` (plus `errors` for field errors); request values are never
echoed back, because a rejected payload may hold a password or a card number.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

import gemsdash.queue as q
from gemsdash.http.models import ErrorBody, FieldError, FieldErrorsBody
from gemsdash.queue.jobs import printable
from gemsdash.queue.payloads import redact_card_numbers

STATUS_FOR: dict[type[q.GemsdashError], int] = {
    q.InvalidPayload: status.HTTP_422_UNPROCESSABLE_CONTENT,
    q.UnknownJobType: status.HTTP_404_NOT_FOUND,
    q.JobNotFound: status.HTTP_404_NOT_FOUND,
    q.InvalidTransition: status.HTTP_409_CONFLICT,
    q.ReadOnlyMode: status.HTTP_403_FORBIDDEN,
    q.BackendUnavailable: status.HTTP_503_SERVICE_UNAVAILABLE,
    q.ScheduleNotFound: status.HTTP_404_NOT_FOUND,
    q.ScheduleExists: status.HTTP_409_CONFLICT,
}

#: For the OpenAPI description of each route.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or wrong bearer token"},
    403: {"model": ErrorBody, "description": "no admin token configured, or read-only mode"},
    503: {"model": ErrorBody, "description": "Redis did not answer"},
}


def status_for(exc: q.GemsdashError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS_FOR:
            return STATUS_FOR[kind]
    return status.HTTP_500_INTERNAL_SERVER_ERROR


async def _gemsdash_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, q.GemsdashError)
    code = status_for(exc)
    if isinstance(exc, q.InvalidPayload):
        errors = [FieldError(field=f, message=m) for f, m in exc.errors]
        body = FieldErrorsBody(detail=str(exc), errors=errors).model_dump()
    else:
        body = ErrorBody(detail=public_detail(exc)).model_dump()
    return JSONResponse(body, status_code=code)


def _field(error: dict[str, Any]) -> str:
    """Where the error is, without the `body` prefix and the job type that tells the enqueue body's
    variants apart (`payload.amount`, not `body.payment-processing.payload.amount`); a payload rule
    over several fields names the field it blames, a missing or unknown job type names `type`."""
    loc = [str(p) for p in error["loc"]]
    parts = loc[1:]
    if parts and parts[0] in q.JobType and loc[0] == "body":
        parts = parts[1:]
    ctx = error.get("ctx") or {}
    blamed = ctx.get("field")
    if error.get("type") in ("union_tag_invalid", "union_tag_not_found"):
        blamed = str(ctx.get("discriminator", "")).strip("'")
    if blamed:
        parts.append(str(blamed))
    return ".".join(parts) or loc[0]


def public_detail(exc: q.GemsdashError) -> str:
    """The error's text without the value the request sent (a type or id from the path); the CLI's
    messages name it because the user typed it, an API answer must not reflect it."""
    if isinstance(exc, q.UnknownJobType):
        return f"unknown job type; expected one of: {', '.join(t.value for t in q.JobType)}"
    if isinstance(exc, q.JobNotFound):
        return "job not found (it may have expired or been cleared)"
    if isinstance(exc, q.InvalidTransition):
        return f"cannot {exc.action} the job: it is {exc.state}"
    return str(exc)


async def _request_invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        # A field name is the client's text too (an unknown key of the body): card numbers blanked.
        FieldError(field=redact_card_numbers(printable(_field(error))), message=error["msg"])
        for error in exc.errors()
    ]
    detail = "invalid request: " + "; ".join(f"{e.field}: {e.message}" for e in errors)
    return JSONResponse(FieldErrorsBody(detail=detail, errors=errors).model_dump(), status_code=422)


def allowed_methods(request: Request) -> list[str]:
    """Every method the OpenAPI description documents for the request's path. Starlette's 405
    names only the methods of the first route whose path matched (`GET` for `/queue/schedules`,
    which also takes `POST`)."""
    path = request.scope.get("path", "")
    for template, operations in request.app.openapi().get("paths", {}).items():
        if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), path):
            return sorted(m.upper() for m in operations)
    return []


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        allowed = allowed_methods(request)
        if allowed:
            exc = StarletteHTTPException(
                exc.status_code, exc.detail, {**(exc.headers or {}), "Allow": ", ".join(allowed)}
            )
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(q.GemsdashError, _gemsdash_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
