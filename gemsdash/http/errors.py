"""Turning gemsdash's errors into HTTP answers, one status per kind of failure.

Every error body is `{"detail": "..."}` (plus `errors` for field errors); request values are never
echoed back, because a rejected payload may hold a password or a card number.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

import gemsdash.queue as q
from gemsdash.http.models import ErrorBody, FieldError, FieldErrorsBody

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
        FieldError(field=".".join(str(p) for p in error["loc"][1:]) or str(error["loc"][0]), message=error["msg"])
        for error in exc.errors()
    ]
    detail = "invalid request: " + "; ".join(f"{e.field}: {e.message}" for e in errors)
    return JSONResponse(FieldErrorsBody(detail=detail, errors=errors).model_dump(), status_code=422)


def install(app: FastAPI) -> None:
    app.add_exception_handler(q.GemsdashError, _gemsdash_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
