"""The HTTP API over shards: one stats document and one health check over all of them, a down
shard reported (not an error of the whole read), and jobs routed to their type's shard."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from gemsdash.queue import Runtime, configure
from gemsdash.queue import runtime as runtime_module
from tests.conftest import test_settings
from tests.http.conftest import AUTH, TOKEN, http_settings, live_server
from tests.support import free_port

PAYMENTS = "payment-processing"
PAYMENT = {
    "payment_id": "pay_http_1",
    "operation": "capture",
    "amount": 100,
    "currency": "EUR",
    "payment_method": "pm_card_visa",
    "idempotency_key": "http-1",
}


@pytest.fixture
def half_down(redis_url: str, namespace: str) -> Iterator[Runtime]:
    """The default shard on the test Redis, the pay shard on a port nobody listens on."""
    shards = json.dumps({"pay": {"url": f"redis://:pw@127.0.0.1:{free_port()}/0", "queues": [PAYMENTS]}})
    rt = configure(
        test_settings(redis_enabled=True, redis_url=redis_url, namespace=namespace, shards_map=shards), role="host"
    )
    yield rt
    runtime_module.reset()


@pytest.fixture
def api(half_down: Runtime) -> Iterator[httpx.Client]:
    with live_server(http_settings(admin_token=TOKEN)) as client:
        yield client


def test_stats_health_and_metrics_show_the_shard_that_is_down(api: httpx.Client) -> None:
    email = {"to": "a@example.com", "template": "welcome", "context": {"name": "A"}}
    assert (
        api.post("/queue/jobs", json={"type": "email-notification", "payload": email}, headers=AUTH).status_code == 201
    )

    stats = api.get("/queue/stats").json()
    assert stats["shards"]["default"]["up"] is True
    assert stats["shards"]["pay"]["up"] is False
    assert stats["shards"]["pay"]["url"].startswith("redis://:***@127.0.0.1:")
    assert stats["queues"][PAYMENTS] is None and "shard 'pay' is down" in stats["unavailable"][PAYMENTS]
    assert stats["queues"]["email-notification"]["queued"] == 1

    health = api.get("/queue/health")
    assert health.status_code == 503
    assert health.json()["problems"][0]["kind"] == "shard_down"  # then no_workers: the email waits

    metrics = api.get("/metrics").text
    assert 'gemsdash_shard_up{shard="pay"} 0.0' in metrics and 'gemsdash_shard_up{shard="default"} 1.0' in metrics
    assert f'queue="{PAYMENTS}"' not in metrics
    assert 'gemsdash_queue_jobs{queue="email-notification",state="queued"} 1.0' in metrics

    refused = api.post("/queue/jobs", json={"type": PAYMENTS, "payload": PAYMENT}, headers=AUTH)
    assert refused.status_code == 503 and refused.json()["detail"].startswith("shard 'pay': Redis unreachable")
