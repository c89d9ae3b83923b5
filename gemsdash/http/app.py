"""The FastAPI application: routes, error mapping and the metrics registry, built per call.

Settings are read when the app is built, not per request, so the OpenAPI description states which
routes need the token for this configuration.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.utils import get_openapi

import gemsdash.queue as q
from gemsdash import __version__
from gemsdash.http import errors
from gemsdash.http.access_log import AccessLog
from gemsdash.http.body_limit import BodyLimit
from gemsdash.http.metrics import build_registry
from gemsdash.http.models import forbid_card_numbers
from gemsdash.http.routes import build_routers
from gemsdash.http.settings import HttpSettings, load_http_settings
from gemsdash.queue.admission import message_limit
from gemsdash.queue.config import Settings
from gemsdash.queue.runtime import configured

DESCRIPTION = """\
Queue monitoring and administration for gemsdash, over the same `gemsdash.queue` API as the CLI and
the TUI. Changing endpoints need `Authorization: Bearer <GEMSDASH_ADMIN_TOKEN>` and are refused (403)
when no token is configured; reads need it too when `GEMSDASH_PROTECT_READS=true`. Sensitive payload
fields (password, token, card, ...) are masked as `***`.
"""


def create_app(settings: HttpSettings | None = None) -> FastAPI:
    """The API on this process's configured `gemsdash.queue` runtime (configure it first)."""
    settings = settings or load_http_settings()
    app = FastAPI(title="gemsdash", version=__version__, description=DESCRIPTION)
    errors.install(app)
    registry = build_registry()
    for router in build_routers(settings, registry):
        app.include_router(router)
    # A body as large as the largest message a worker reads (a payload at its limit, escaped).
    runtime = configured()
    max_payload_bytes = (
        runtime.settings.max_payload_bytes if runtime else Settings.model_fields["max_payload_bytes"].default
    )
    app.add_middleware(BodyLimit, max_bytes=message_limit(max_payload_bytes))
    if settings.cors_origin_list:
        # Bearer tokens, never cookies: credentials stay off, so `*` cannot leak a session.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "HEAD", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Location"],
            max_age=600,
        )
    app.add_middleware(AccessLog)
    app.state.settings = settings
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's description, with the 422 body the app really sends (`errors.install`):
    `{detail, errors: [{field, message}]}`, not FastAPI's own `HTTPValidationError`; and payload
    schemas that refuse what the raw card number scan could."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    invalid = {
        "description": "invalid request: `detail` in one line, `errors` names each wrong field",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/FieldErrorsBody"}}},
    }
    for operations in schema["paths"].values():
        for operation in operations.values():
            if "422" in operation.get("responses", {}):
                operation["responses"]["422"] = invalid
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    for spec in q.JOB_SPECS.values():
        forbid_card_numbers(components.get(spec.payload_model.__name__))
    app.openapi_schema = schema
    return schema
