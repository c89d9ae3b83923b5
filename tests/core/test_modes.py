"""The two modes, the fallback and its refusal, and namespace isolation."""

from __future__ import annotations

import logging

import pytest
import redis

from gemsdash.queue import BackendUnavailable, JobState, configure, current_runtime, queue_stats, send_welcome_email
from gemsdash.queue import runtime as runtime_module
from tests.conftest import test_settings
from tests.support import free_port

DOWN_URL_WITH_PASSWORD = "redis://:hunter2-secret@127.0.0.1:{port}/0"


@pytest.fixture
def closed_port_url() -> str:
    return DOWN_URL_WITH_PASSWORD.format(port=free_port())


def test_memory_is_the_default_mode() -> None:
    try:
        rt = configure(test_settings(), role="host")
        assert rt.mode == "memory" and rt.fallback_reason is None
        from dramatiq.brokers.stub import StubBroker

        assert isinstance(rt.broker, StubBroker)
    finally:
        runtime_module.reset()


def test_redis_mode_uses_dramatiqs_redis_broker(redis_runtime) -> None:  # type: ignore[no-untyped-def]
    assert redis_runtime.mode == "redis"
    from dramatiq.brokers.redis import RedisBroker

    assert isinstance(redis_runtime.broker, RedisBroker)
    assert redis_runtime.describe()["url"].startswith("redis://")


def test_host_falls_back_to_memory_loudly(closed_port_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    try:
        rt = configure(test_settings(redis_enabled=True, redis_url=closed_port_url), role="host")
        assert rt.mode == "memory"
        assert rt.fallback_reason and "unreachable" in rt.fallback_reason
        assert "hunter2-secret" not in rt.fallback_reason
        warning = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
        assert "falling back to memory" in warning
        assert "127.0.0.1" in warning and "***" in warning and "hunter2-secret" not in warning
    finally:
        runtime_module.reset()


def test_fallback_can_be_refused(closed_port_url: str) -> None:
    with pytest.raises(BackendUnavailable) as caught:
        configure(test_settings(redis_enabled=True, redis_url=closed_port_url, redis_fallback=False), role="host")
    assert "hunter2-secret" not in str(caught.value)
    runtime_module.reset()


@pytest.mark.parametrize("role", ["worker", "oneshot"])
def test_workers_and_one_shot_commands_never_fall_back(closed_port_url: str, role: str) -> None:
    with pytest.raises(BackendUnavailable):
        configure(test_settings(redis_enabled=True, redis_url=closed_port_url), role=role)  # type: ignore[arg-type]
    runtime_module.reset()


def test_two_namespaces_never_see_each_others_jobs(redis_url: str, redis_client: redis.Redis) -> None:
    try:
        configure(test_settings(redis_enabled=True, redis_url=redis_url, namespace="iso-a"), role="worker")
        send_welcome_email("a@example.com", "A", "u1")
        send_welcome_email("b@example.com", "B", "u2")
        a_counts = queue_stats().queues["email-notification"].counts
        configure(test_settings(redis_enabled=True, redis_url=redis_url, namespace="iso-b"), role="worker")
        b_counts = queue_stats().queues["email-notification"].counts
        assert a_counts[JobState.QUEUED] == 2
        assert b_counts[JobState.QUEUED] == 0
        assert current_runtime().settings.namespace == "iso-b"
    finally:
        runtime_module.reset()
        for ns in ("iso-a", "iso-b"):
            keys = list(redis_client.scan_iter(match=f"{ns}:*"))
            if keys:
                redis_client.delete(*keys)
