"""GET /queue/health: 503 with the reason for each way the queue can be unable to do its work."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gemsdash.queue import JobType, Runtime, add_job, configure
from gemsdash.queue import runtime as runtime_module
from tests.conftest import test_settings
from tests.core.workload import email
from tests.http.conftest import http_settings, live_server
from tests.support import free_port


@pytest.fixture
def fallback_runtime(namespace: str) -> Iterator[Runtime]:
    """REDIS_ENABLED=true with nothing listening: a host process falls back to memory."""
    closed = f"redis://127.0.0.1:{free_port()}/0"
    rt = configure(
        test_settings(redis_enabled=True, redis_url=closed, namespace=namespace, redis_connect_timeout=0.5),
        role="host",
    )
    rt.start_worker(threads=1)
    yield rt
    runtime_module.reset()


def test_memory_fallback_is_unhealthy_and_says_why(fallback_runtime: Runtime) -> None:
    assert fallback_runtime.mode == "memory"
    with live_server(http_settings()) as api:
        response = api.get("/queue/health")
        assert response.status_code == 503
        body = response.json()
        assert body["healthy"] is False and body["mode"] == "memory"
        assert len(body["reasons"]) == 1 and body["reasons"][0].startswith("memory fallback:")
        assert [p["kind"] for p in body["problems"]] == ["memory_fallback"]
        stats = api.get("/queue/stats").json()
        assert stats["mode"] == "memory" and stats["fallback_reason"]
        metrics = api.get("/metrics").text
        assert "gemsdash_memory_fallback 1.0" in metrics


def test_jobs_waiting_without_a_live_worker_are_unhealthy(redis_runtime: Runtime) -> None:
    assert redis_runtime.worker is None
    with live_server(http_settings()) as api:
        assert api.get("/queue/health").status_code == 200
        add_job(JobType.EMAIL_NOTIFICATION, email("ok"))
        response = api.get("/queue/health")
        assert response.status_code == 503
        body = response.json()
        assert body["problems"] == [
            {"kind": "no_workers", "detail": "1 job waiting and no live worker"},
            {
                "kind": "unserved_queue",
                "queue": "email-notification",
                "detail": "1 job waiting in email-notification and no live worker consumes it",
            },
        ]
        assert body["reasons"] == [p["detail"] for p in body["problems"]]
