"""GET /metrics over a real server: parsed with prometheus-client's own parser, values checked."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

import gemsdash.queue
from gemsdash.queue import JobType, Runtime, add_job, configure
from gemsdash.queue import runtime as runtime_module
from tests.conftest import test_settings
from tests.core.workload import email, scripted
from tests.http.conftest import http_settings, live_server
from tests.support import RedisServer, wait_for


def scrape(api: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = api.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: list[Sample] = [s for family in text_string_to_metric_families(response.text) for s in family.samples]
    return {(s.name, frozenset(s.labels.items())): s.value for s in samples}


def value(metrics: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return metrics[(name, frozenset(labels.items()))]


def job_state(api: httpx.Client, job_id: str) -> str:
    return str(api.get(f"/queue/jobs/{job_id}").json()["state"])


def test_metrics_report_depth_outcomes_durations_and_workers(api: httpx.Client, any_runtime: Runtime) -> None:
    with scripted():
        done = [add_job(JobType.EMAIL_NOTIFICATION, email(name)) for name in ("ok-1", "ok-2", "fatal")]
        wait_for(lambda: [job_state(api, j) for j in done] == ["succeeded", "succeeded", "dead"], what="3 finished")
    add_job(JobType.PAYMENT_PROCESSING, _payment(), delay=600_000)

    metrics = scrape(api)
    assert value(metrics, "gemsdash_runtime_info", mode=any_runtime.mode) == 1
    assert value(metrics, "gemsdash_backend_up") == 1
    assert value(metrics, "gemsdash_memory_fallback") == 0
    assert value(metrics, "gemsdash_workers_alive") == 1
    assert value(metrics, "gemsdash_queue_jobs", queue="email-notification", state="succeeded") == 2
    assert value(metrics, "gemsdash_queue_jobs", queue="email-notification", state="dead") == 1
    assert value(metrics, "gemsdash_queue_jobs", queue="payment-processing", state="delayed") == 1
    assert value(metrics, "gemsdash_queue_jobs", queue="sketch-generation", state="queued") == 0
    assert value(metrics, "gemsdash_jobs_finished_total", type="email-notification", outcome="succeeded") == 2
    assert value(metrics, "gemsdash_jobs_finished_total", type="email-notification", outcome="dead") == 1

    buckets = {
        dict(labels)["le"]: v
        for (name, labels), v in metrics.items()
        if name == "gemsdash_job_duration_seconds_bucket" and dict(labels)["type"] == "email-notification"
    }
    assert list(buckets)[-1] == "+Inf" and buckets["+Inf"] == 3
    counts = list(buckets.values())
    assert counts == sorted(counts), "histogram buckets must be cumulative"
    assert value(metrics, "gemsdash_job_duration_seconds_count", type="email-notification") == 3
    assert value(metrics, "gemsdash_job_duration_seconds_sum", type="email-notification") >= 0
    assert value(metrics, "gemsdash_job_duration_seconds_count", type="payment-processing") == 0


def test_a_scrape_reads_the_store_once(memory_api: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[object] = []
    real = gemsdash.queue.queue_stats

    def counted() -> gemsdash.queue.Snapshot:
        reads.append(None)
        return real()

    monkeypatch.setattr(gemsdash.queue, "queue_stats", counted)
    scrape(memory_api)
    assert len(reads) == 1


def test_openmetrics_is_served_when_asked_for(memory_api: httpx.Client) -> None:
    response = memory_api.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert "# TYPE gemsdash_jobs_finished counter" in response.text
    assert response.text.rstrip().endswith("# EOF")


def _payment() -> dict[str, object]:
    return {
        "payment_id": "pay_m",
        "operation": "verify",
        "amount": 0,
        "currency": "USD",
        "payment_method": "pm_card_visa",
        "idempotency_key": "idem-m",
    }


@pytest.fixture
def lost_redis(namespace: str) -> Iterator[RedisServer]:
    """Redis mode on a private redis-server the test can stop."""
    with RedisServer() as server:
        configure(
            test_settings(redis_enabled=True, redis_url=server.url, namespace=namespace, redis_connect_timeout=0.5),
            role="worker",
        )
        yield server
        runtime_module.reset()


@pytest.mark.slow
def test_metrics_and_health_report_a_lost_redis(lost_redis: RedisServer) -> None:
    with live_server(http_settings()) as api:
        assert value(scrape(api), "gemsdash_backend_up") == 1
        lost_redis.stop()
        metrics = scrape(api)
        assert value(metrics, "gemsdash_backend_up") == 0
        assert not any(name == "gemsdash_queue_jobs" for name, _ in metrics)
        health = api.get("/queue/health")
        assert health.status_code == 503 and health.json()["healthy"] is False
        assert api.get("/queue/stats").status_code == 503
