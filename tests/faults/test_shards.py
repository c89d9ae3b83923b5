"""Two shards on two redis-servers of the test's own: payments on one, the other types on the other.
Each job's keys are on its shard's server only, a worker per shard runs them, the reads show all
four queues as one view, and stopping one server leaves the other shard working and visible."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from gemsdash.queue import (
    BackendUnavailable,
    JobState,
    JobType,
    add_job,
    cancel,
    configure,
    dashboard_view,
    get_job,
    health,
    retry,
    stats_json,
    workers,
)
from gemsdash.queue import runtime as runtime_module
from tests.conftest import test_settings
from tests.core.workload import email
from tests.faults.workers import ROOT, WorkerProcess, worker_env
from tests.support import RedisServer, wait_for

pytestmark = pytest.mark.slow

NAMESPACE = "shards"
PAYMENT = JobType.PAYMENT_PROCESSING.value
PAYLOADS: dict[JobType, dict[str, Any]] = {
    JobType.SKETCH_GENERATION: {"prompt": "a lighthouse", "style": "line-art", "quality": "low", "user_id": "u"},
    JobType.EMOTION_ANALYSIS: {"analysis_type": "text", "text": "what a lovely day", "user_id": "u"},
    JobType.EMAIL_NOTIFICATION: email("sharded"),
    JobType.PAYMENT_PROCESSING: {
        "payment_id": "pay_1",
        "operation": "capture",
        "amount": 100,
        "currency": "EUR",
        "payment_method": "pm_card_visa",
        "idempotency_key": "key-1",
    },
}


@pytest.fixture
def servers() -> Iterator[tuple[RedisServer, RedisServer]]:
    with RedisServer() as default, RedisServer() as pay:
        yield default, pay


def shard_map(pay_url: str) -> str:
    return json.dumps({"pay": {"url": pay_url, "queues": [PAYMENT]}})


def keys_naming(client: redis.Redis, text: str) -> list[bytes]:
    """The keys whose name holds `text`, and for a job id, the `fresh` index that holds a job that
    waits with no record (it has no key of its own then)."""
    found = list(client.scan_iter(match=f"*{text}*", count=1000))
    found += [k for k in client.scan_iter(match="*:gd:fresh:*", count=1000) if client.zscore(k, text) is not None]
    return found


def succeeded(job_id: str) -> bool:
    record = get_job(job_id)
    return record is not None and record.state is JobState.SUCCEEDED


def test_each_shard_holds_and_runs_its_jobs_and_a_down_shard_is_reported(
    servers: tuple[RedisServer, RedisServer], tmp_path: Path
) -> None:
    default, pay = servers
    configure(
        test_settings(
            redis_enabled=True,
            redis_url=default.url,
            namespace=NAMESPACE,
            worker_timeout_seconds=2,
            shards_map=shard_map(pay.url),
        ),
        role="oneshot",
    )
    on_default, on_pay = redis.Redis.from_url(default.url), redis.Redis.from_url(pay.url)
    workers_started: list[WorkerProcess] = []
    try:
        ids = {t: add_job(t, payload) for t, payload in PAYLOADS.items()}

        # Each job's keys (record, message list) on its shard's server only.
        for job_type, job_id in ids.items():
            here, there = (on_pay, on_default) if job_type is JobType.PAYMENT_PROCESSING else (on_default, on_pay)
            assert keys_naming(here, job_id), f"{job_type.value}: no key of job {job_id} on its shard"
            assert not keys_naming(there, job_id), f"{job_type.value}: keys of job {job_id} on the other shard"
        assert keys_naming(on_pay, PAYMENT) and not keys_naming(on_default, PAYMENT)
        assert not keys_naming(on_pay, JobType.EMAIL_NOTIFICATION.value)

        # An id finds its shard: cancelling and retrying the payment act on the pay server.
        cancel(ids[JobType.PAYMENT_PROCESSING])
        assert get_job(ids[JobType.PAYMENT_PROCESSING]).state is JobState.CANCELLED  # type: ignore[union-attr]
        retry(ids[JobType.PAYMENT_PROCESSING][:8])  # a prefix, as operators type it
        assert get_job(ids[JobType.PAYMENT_PROCESSING]).state is JobState.QUEUED  # type: ignore[union-attr]

        # One worker per shard runs them.
        env = worker_env(default.url, NAMESPACE, tmp_path, GEMSDASH_SHARDS=shard_map(pay.url))
        workers_started.append(WorkerProcess(env, tmp_path, threads=2))
        workers_started.append(WorkerProcess(env, tmp_path, "--shard", "pay", threads=2))
        wait_for(
            lambda: all(succeeded(i) for i in ids.values()),
            timeout=90,
            interval=0.2,
            what="every job to succeed: " + ", ".join(f"{t.value}={get_job(i).state.value}" for t, i in ids.items()),  # type: ignore[union-attr]
        )
        listed = wait_for(lambda: len(workers()) == 2 and workers(), timeout=30, what="both workers listed")
        consumed = sorted(sorted(w.queues) for w in listed)
        assert consumed == sorted([[PAYMENT], sorted(t.value for t in JobType if t is not JobType.PAYMENT_PROCESSING)])

        data = stats_json()
        assert list(data["queues"]) == [t.value for t in JobType]
        assert all(counts["succeeded"] == 1 for counts in data["queues"].values())
        assert {name: shard["up"] for name, shard in data["shards"].items()} == {"default": True, "pay": True}
        assert data["workers"] == 2
        assert health().healthy

        # The pay server stops: the default shard keeps working and visible, the pay shard is reported.
        pay.stop()
        late = add_job(JobType.EMAIL_NOTIFICATION, email("after the outage"))
        wait_for(lambda: succeeded(late), timeout=30, what="an email to run while the pay shard is down")
        with pytest.raises(BackendUnavailable, match="shard 'pay'"):
            add_job(JobType.PAYMENT_PROCESSING, PAYLOADS[JobType.PAYMENT_PROCESSING])

        data = stats_json()
        assert data["shards"]["pay"]["up"] is False and data["shards"]["pay"]["error"]
        assert data["shards"]["default"] == {"url": default.url, "up": True, "error": None}
        assert data["queues"][PAYMENT] is None
        assert "shard 'pay' is down" in data["unavailable"][PAYMENT]
        assert data["queues"][JobType.EMAIL_NOTIFICATION.value]["succeeded"] == 2

        report = health()
        assert not report.healthy
        assert [p.kind for p in report.problems] == ["shard_down"]
        assert PAYMENT in report.problems[0].detail
        cli = subprocess.run(
            [sys.executable, "-m", "gemsdash", "health", "--json"], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert cli.returncode == 1, cli.stderr
        assert json.loads(cli.stdout)["problems"][0]["kind"] == "shard_down"

        snapshot, page = dashboard_view(JobType.EMAIL_NOTIFICATION.value)
        assert set(snapshot.unavailable) == {PAYMENT}
        assert page.total == 2
        snapshot, page = dashboard_view(PAYMENT)
        assert page.jobs == [] and PAYMENT in snapshot.unavailable
    finally:
        for worker in workers_started:
            worker.stop()
        on_default.close()
        on_pay.close()
        runtime_module.reset()
