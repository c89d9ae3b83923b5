"""The FastAPI application: routes, error mapping and the metrics registry, built per call.

Settings are read when the app is built, not per request, so the OpenAPI description states which
routes need the token for this configuration.
"""

from __future__ import annotations

from fastapi import FastAPI

from gemsdash import __version__
from gemsdash.http import errors
from gemsdash.http.access_log import AccessLog
from gemsdash.http.metrics import build_registry
from gemsdash.http.routes import build_routers
from gemsdash.http.settings import HttpSettings, load_http_settings

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
    app.add_middleware(AccessLog)
    app.state.settings = settings
    return app
