"""Running the API under uvicorn for `gemsdash serve`."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import uvicorn

from gemsdash.http.app import create_app
from gemsdash.http.settings import load_http_settings

logger = logging.getLogger("gemsdash.http")


def serve(host: str, port: int) -> None:
    """Serve until SIGINT/SIGTERM, then return. The caller has configured `gemsdash.queue` (and its worker)."""
    settings = load_http_settings()
    if settings.admin_token is None:
        logger.warning("GEMSDASH_ADMIN_TOKEN is not set: changing endpoints answer 403.")
    app = create_app(settings)
    # The access log is ours (gemsdash.http.access: no query strings, time taken), at INFO even
    # though one-shot commands log only warnings.
    logging.getLogger("gemsdash.http.access").setLevel(logging.INFO)
    with _stop_signals_return():
        uvicorn.run(app, host=host, port=port, log_level="info", server_header=False, access_log=False)


def _ignore(signum: int, frame: FrameType | None) -> None:
    return None


@contextmanager
def _stop_signals_return() -> Iterator[None]:
    """After its graceful shutdown uvicorn re-raises the stop signal to the handler it found; with
    SIGTERM's default that kills the process before the caller can stop its embedded worker (and
    warn about jobs lost with it). A no-op handler there makes `serve` return instead."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
