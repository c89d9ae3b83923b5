"""Fixtures of the fault tests: a private redis-server with AOF (they kill and restart it), and a
runtime on it whose namespace is the test module's name (`test_retry_outage` -> `retry-outage`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gemsdash.queue import Runtime, configure
from gemsdash.queue import runtime as runtime_module
from tests.conftest import test_settings
from tests.support import RedisServer


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with RedisServer("--appendonly", "yes", "--appendfsync", "always") as server:
        yield server


@pytest.fixture
def runtime(own_redis: RedisServer, request: pytest.FixtureRequest) -> Iterator[Runtime]:
    namespace = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_").replace("_", "-")
    rt = configure(
        test_settings(redis_enabled=True, redis_url=own_redis.url, namespace=namespace, worker_timeout_seconds=2),
        role="worker",
    )
    yield rt
    runtime_module.reset()
