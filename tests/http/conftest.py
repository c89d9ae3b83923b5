"""A real uvicorn server on a loopback port, serving the app on this process's runtime.

In-process (a thread) rather than a subprocess so memory mode, whose jobs live in this process,
is served too; `test_serve.py` covers the `gemsdash serve` process itself.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from gemsdash.http import HttpSettings, create_app
from gemsdash.queue import Runtime
from tests.support import free_port, wait_for

TOKEN = "test-admin-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@contextmanager
def live_server(settings: HttpSettings) -> Iterator[httpx.Client]:
    """Serve `create_app(settings)` until the block ends; yields a client bound to its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="off", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), what="uvicorn to start")
        assert server.started, "uvicorn did not start"
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def http_settings(**values: Any) -> HttpSettings:
    """Settings from the arguments only: no .env of the developer's is read. (`Any`: each field has
    its own type, which pydantic checks.)"""
    return HttpSettings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def api(any_runtime: Runtime) -> Iterator[httpx.Client]:
    """The API with an admin token, in both modes, an in-process worker running jobs."""
    with live_server(http_settings(admin_token=TOKEN)) as client:
        yield client


@pytest.fixture
def memory_api(memory_runtime: Runtime) -> Iterator[httpx.Client]:
    with live_server(http_settings(admin_token=TOKEN)) as client:
        yield client
