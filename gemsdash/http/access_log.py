"""The HTTP access log: one line per request with method, path, status and time taken.

Uvicorn's own access log is off (`gemsdash serve` passes `access_log=False`): it writes the query
string, where a client may have put a token, and it does not say how long a request took. The
path logged here is the path alone; like every log line it goes through the process's log
redaction, so a secret or a control character in a path is masked or shown as an escape.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("gemsdash.http.access")


class AccessLog:
    """Pure ASGI middleware (no request body buffering, streaming responses unaffected)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}  # what the client gets when the app raises

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            logger.info("%s %s %d %.1f ms", scope["method"], scope["path"], status["code"], elapsed)
