"""Shared fixtures. Redis is real: the machine's server on 127.0.0.1:6379 when it answers,
otherwise a private redis-server for the session. Each test gets its own namespace."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import settings as hypothesis_settings

from gemsdash.queue import Runtime, Settings, configure, load_settings
from gemsdash.queue import runtime as runtime_module
from tests.support import RedisServer

# Keep the developer's own environment (.env, REDIS_*) out of the tests.
for _name in list(os.environ):
    if _name.startswith(("REDIS_", "GEMSDASH_", "SMTP_", "EMAIL_")):
        del os.environ[_name]
# One data folder per pytest-xdist worker (`-n 2`): no two processes write the same files.
os.environ["GEMSDASH_DATA_DIR"] = os.environ.get("PYTEST_GEMSDASH_DATA_DIR", "/tmp/gemsdash-test-data") + (
    f"-{os.environ['PYTEST_XDIST_WORKER']}" if "PYTEST_XDIST_WORKER" in os.environ else ""
)

# Property tests are reproducible: each test draws the same examples on every run (a failure seen once
# is seen again), and no example database replays an earlier run's finds. To explore with fresh random
# examples: HYPOTHESIS_PROFILE=explore pytest tests/properties (or --hypothesis-profile=explore), with
# --hypothesis-seed=N to replay seed N.
hypothesis_settings.register_profile("seeded", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("explore", derandomize=False, database=None, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "seeded"))


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
        yield url
    except redis.ConnectionError:
        with RedisServer() as server:
            yield server.url


@pytest.fixture
def namespace() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _drop_namespace(client: redis.Redis, namespace: str) -> None:
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])


def test_settings(**overrides: object) -> Settings:
    """Settings from the arguments only: no .env file of the developer's is read."""
    return load_settings(_env_file=None, **overrides)


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test, when imported


@pytest.fixture
def memory_runtime(namespace: str) -> Iterator[Runtime]:
    """Memory mode with its embedded worker running."""
    rt = configure(test_settings(redis_enabled=False, namespace=namespace, worker_timeout_seconds=2), role="host")
    rt.start_worker(threads=4)
    yield rt
    runtime_module.reset()


@pytest.fixture
def idle_memory_runtime(namespace: str) -> Iterator[Runtime]:
    """Memory mode with no worker: jobs wait, for tests of what enqueueing records (a running job,
    a payment's simulated gateway call say, would hold the worker's shutdown for seconds)."""
    rt = configure(test_settings(redis_enabled=False, namespace=namespace), role="host")
    yield rt
    runtime_module.reset()


@pytest.fixture
def redis_runtime(redis_url: str, namespace: str, redis_client: redis.Redis) -> Iterator[Runtime]:
    """Redis mode in this process, no worker started (tests start one, in or out of process)."""
    rt = configure(
        test_settings(redis_enabled=True, redis_url=redis_url, namespace=namespace, worker_timeout_seconds=2),
        role="worker",
    )
    yield rt
    runtime_module.reset()
    _drop_namespace(redis_client, namespace)


@pytest.fixture(params=["memory", "redis"])
def any_runtime(request: pytest.FixtureRequest) -> Iterator[Runtime]:
    """Both modes, each with an in-process worker running."""
    rt: Runtime = request.getfixturevalue(f"{request.param}_runtime")
    if rt.worker is None:
        rt.start_worker(threads=4)
    yield rt


@pytest.fixture
def cli_env(redis_runtime: Runtime, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """This process and the `gemsdash` commands a test runs, pointed at the test's Redis namespace."""
    env = {"REDIS_ENABLED": "true", "REDIS_URL": redis_url, "GEMSDASH_NAMESPACE": redis_runtime.settings.namespace}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return env
