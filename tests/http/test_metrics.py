"""GET /metrics over a real server: parsed with prometheus-client's own parser, values checked."""

from __future__ import annotations

import time
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
    assert value(metrics, "gemsdash_jobs_finished_total", queue="email-notification", outcome="succeeded") == 2
    assert value(metrics, "gemsdash_jobs_finished_total", queue="email-notification", outcome="dead") == 1

    buckets = {
        dict(labels)["le"]: v
        for (name, labels), v in metrics.items()
        if name == "gemsdash_job_duration_seconds_bucket" and dict(labels)["queue"] == "email-notification"
    }
    assert list(buckets)[-1] == "+Inf" and buckets["+Inf"] == 3
    counts = list(buckets.values())
    assert counts == sorted(counts), "histogram buckets must be cumulative"
    assert value(metrics, "gemsdash_job_duration_seconds_count", queue="email-notification") == 3
    assert value(metrics, "gemsdash_job_duration_seconds_sum", queue="email-notification") >= 0
    assert value(metrics, "gemsdash_job_duration_seconds_count", queue="payment-processing") == 0


def test_every_attempt_is_timed_and_counted_by_outcome(api: httpx.Client, any_runtime: Runtime) -> None:
    """A job that ran three times is three observations of the duration histogram, not one."""
    with scripted():
        flaky = add_job(JobType.EMAIL_NOTIFICATION, email("fail"), attempts=3, backoff={"type": "fixed", "delay": 10})
        ok = add_job(JobType.EMAIL_NOTIFICATION, email("ok"))
        wait_for(lambda: [job_state(api, j) for j in (flaky, ok)] == ["dead", "succeeded"], what="both finished")

    metrics = scrape(api)
    attempts = {
        outcome: value(metrics, "gemsdash_job_attempts_total", queue="email-notification", outcome=outcome)
        for outcome in ("succeeded", "retried", "failed", "dead", "aborted")
    }
    assert attempts == {"succeeded": 1, "retried": 2, "failed": 1, "dead": 0, "aborted": 0}
    assert value(metrics, "gemsdash_job_duration_seconds_count", queue="email-notification") == 4
    assert value(metrics, "gemsdash_job_duration_seconds_bucket", queue="email-notification", le="+Inf") == 4
    # Every run waited in its queue first (a retry after its delay too): four waits, each counted once.
    assert value(metrics, "gemsdash_job_wait_seconds_count", queue="email-notification") == 4
    # Finished jobs stay counted once each.
    assert value(metrics, "gemsdash_jobs_finished_total", queue="email-notification", outcome="dead") == 1


def test_enqueued_jobs_are_counted_by_priority_and_their_wait_is_observed(
    api: httpx.Client, any_runtime: Runtime
) -> None:
    with scripted():
        ids = [add_job(JobType.EMAIL_NOTIFICATION, email("ok"), priority=p) for p in ("high", "high", "low")]
        wait_for(lambda: all(job_state(api, j) == "succeeded" for j in ids), what="3 succeeded")
    add_job(JobType.PAYMENT_PROCESSING, _payment(), delay=600_000)

    metrics = scrape(api)
    enqueued = {
        p: value(metrics, "gemsdash_jobs_enqueued_total", queue="email-notification", priority=p)
        for p in ("low", "normal", "high", "critical")
    }
    assert enqueued == {"low": 1, "normal": 0, "high": 2, "critical": 0}
    assert value(metrics, "gemsdash_jobs_enqueued_total", queue="payment-processing", priority="high") == 1
    assert value(metrics, "gemsdash_job_wait_seconds_count", queue="email-notification") == 3
    assert value(metrics, "gemsdash_job_wait_seconds_bucket", queue="email-notification", le="+Inf") == 3
    # The delayed payment has not waited in its queue yet.
    assert value(metrics, "gemsdash_job_wait_seconds_count", queue="payment-processing") == 0


def test_worker_threads_and_liveness(api: httpx.Client, any_runtime: Runtime) -> None:
    with scripted() as work:
        add_job(JobType.EMAIL_NOTIFICATION, email("block"))
        assert work.blocking.wait(30)
        wait_for(lambda: value(scrape(api), "gemsdash_worker_busy_threads") == 1, what="a busy thread reported")
        metrics = scrape(api)
        work.release.set()
    (worker,) = any_runtime.store.workers()
    assert value(metrics, "gemsdash_worker_threads") == worker.threads >= 1
    assert value(metrics, "gemsdash_worker_up", worker=worker.id, host=worker.host) == 1
    assert 0 <= value(metrics, "gemsdash_worker_heartbeat_age_seconds", worker=worker.id) < 60


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
    assert "# TYPE gemsdash_job_attempts counter" in response.text
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
def test_metrics_keep_the_last_read_while_redis_is_lost(lost_redis: RedisServer) -> None:
    add_job(JobType.PAYMENT_PROCESSING, _payment(), delay=600_000)
    with live_server(http_settings()) as api:
        before = scrape(api)
        assert value(before, "gemsdash_backend_up") == 1
        assert value(before, "gemsdash_snapshot_age_seconds") < 5
        lost_redis.stop()
        time.sleep(1.1)
        metrics = scrape(api)
        assert value(metrics, "gemsdash_backend_up") == 0
        # Every series of the last good read is still there, with its values, and says how old it is.
        series = {key for key in before if key[0].startswith("gemsdash_") and key[0] != "gemsdash_snapshot_age_seconds"}
        assert series <= set(metrics)
        assert value(metrics, "gemsdash_queue_jobs", queue="payment-processing", state="delayed") == 1
        assert value(metrics, "gemsdash_jobs_enqueued_total", queue="payment-processing", priority="high") == 1
        assert value(metrics, "gemsdash_snapshot_age_seconds") >= 1
        health = api.get("/queue/health")
        assert health.status_code == 503 and health.json()["healthy"] is False
        assert api.get("/queue/stats").status_code == 503
