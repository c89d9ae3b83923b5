"""A job whose failure is recorded while Redis is down still gets its retries (issue 12, item 1):
the retry's next copy is stored with the job's `retrying` record and the ack of the failed attempt,
in one script call that waits for Redis, so no attempt is acked before its next copy exists."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from gemsdash.queue import JobState, JobType, Runtime, add_job, get_job, queue_stats
from tests.faults.workers import WorkerProcess, worker_env
from tests.support import RedisServer, wait_for

pytestmark = pytest.mark.slow


def states(ids: list[str]) -> list[tuple[str, int, int | None]]:
    out = []
    for job_id in ids:
        record = get_job(job_id)
        assert record is not None
        next_at = int(record.next_attempt_at.timestamp() * 1000) if record.next_attempt_at else None
        out.append((record.state.value, record.attempts, next_at))
    return out


@pytest.mark.timeout(180)
def test_a_failure_recorded_during_an_outage_keeps_its_retries(
    own_redis: RedisServer, runtime: Runtime, tmp_path: Path
) -> None:
    env = worker_env(
        own_redis.url,
        "retry-outage",
        tmp_path,
        GEMSDASH_PAYMENT_GATEWAY="tests.faults.plugins:SlowUnavailableGateway",
        GEMSDASH_TEST_GATEWAY_SLEEP="4",
    )
    worker = WorkerProcess(env, tmp_path, threads=8)
    try:
        wait_for(lambda: queue_stats().workers >= 1, timeout=60, interval=0.2, what="the worker to start")
        ids = [
            add_job(
                JobType.PAYMENT_PROCESSING,
                {
                    "payment_id": f"pay_{i}",
                    "operation": "capture",
                    "amount": 100,
                    "currency": "EUR",
                    "payment_method": "pm_card_unavailable",
                    "idempotency_key": f"key-{i}",
                },
                attempts=3,
                backoff={"type": "fixed", "delay": 2000},
            )
            for i in range(8)
        ]
        wait_for(
            lambda: queue_stats().queues["payment-processing"].counts[JobState.RUNNING] == 8,
            timeout=30,
            interval=0.1,
            what="all 8 payments running",
        )
        time.sleep(1.5)
        own_redis.stop(signal.SIGKILL)  # every attempt fails (after 4 s) while Redis is down
        time.sleep(6)
        own_redis.start()
        try:
            wait_for(
                lambda: all(s[0] == "dead" for s in states(ids)), timeout=120, interval=0.5, what="all 8 jobs dead"
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}: (state, attempts, next_attempt_at) = {states(ids)}") from None
    finally:
        worker.stop()
    final = states(ids)
    print(f"\njobs 8, dead after 3 attempts: {sum(1 for s in final if s[:2] == ('dead', 3))}")
    assert all(s[:2] == ("dead", 3) for s in final), final
    counts = queue_stats().queues["payment-processing"].counts
    assert counts[JobState.RETRYING] == counts[JobState.RUNNING] == counts[JobState.QUEUED] == 0
