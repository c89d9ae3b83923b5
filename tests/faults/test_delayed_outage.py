"""Delayed and retrying jobs a live worker holds in memory run after a Redis outage, without a
restart (issue 12, item 2): Dramatiq's consumer forgets them on the connection error, and its
replacement takes them back from the worker's own ack set."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gemsdash.queue import JobRecord, JobState, JobType, Runtime, add_job, configure, get_job, queue_stats
from gemsdash.queue import runtime as runtime_module
from tests.conftest import test_settings
from tests.faults.workers import WorkerProcess, worker_env
from tests.support import RedisServer, wait_for

pytestmark = pytest.mark.slow

#: README "Reliability": a delayed or retrying job runs at most this long after its due time, or
#: after Redis comes back when it was due during the outage (Dramatiq restarts a consumer 3 s
#: after a connection error; it then moves due messages within about a second).
BOUND_S = 10.0


@pytest.fixture
def runtime(own_redis: RedisServer) -> Iterator[Runtime]:
    rt = configure(
        test_settings(
            redis_enabled=True, redis_url=own_redis.url, namespace="delayed-outage", worker_timeout_seconds=2
        ),
        role="worker",
    )
    yield rt
    runtime_module.reset()


def ms(record: JobRecord, state: JobState, last: bool = False) -> int:
    """When the record's timeline (first or last) entered `state`, in epoch ms."""
    times = [int(e.at.timestamp() * 1000) for e in record.timeline if e.state is state]
    return times[-1] if last else times[0]


@pytest.mark.timeout(180)
def test_delayed_and_retrying_jobs_run_after_an_outage_without_a_restart(
    own_redis: RedisServer, runtime: Runtime, tmp_path: Path
) -> None:
    worker = WorkerProcess(worker_env(own_redis.url, "delayed-outage", tmp_path), tmp_path, threads=4)
    try:
        wait_for(lambda: queue_stats().workers >= 1, timeout=60, interval=0.2, what="the worker to start")
        due: dict[str, int] = {}
        for i in range(20):
            job = add_job(
                JobType.EMAIL_NOTIFICATION,
                {"to": f"u{i}@example.com", "template": "welcome", "context": {"name": f"U{i}"}},
                delay=10_000,
            )
            due[job] = -10_000
        for i in range(10):
            job = add_job(
                JobType.EMOTION_ANALYSIS, {"analysis_type": "text", "text": "calm", "user_id": f"u{i}"}, delay=15_000
            )
            due[job] = -15_000
        payments = [
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
                attempts=2,
                backoff={"type": "fixed", "delay": 8000},
            )
            for i in range(10)
        ]
        wait_for(
            lambda: all(get_job(p).state is JobState.RETRYING for p in payments),  # type: ignore[union-attr]
            timeout=30,
            what="the payments' first attempts to fail",
        )
        time.sleep(2)  # the worker now holds every delayed message and retry in memory
        own_redis.stop(signal.SIGKILL)
        time.sleep(3)
        own_redis.start()
        back = int(time.time() * 1000)
        ids = [*due, *payments]

        def finished() -> bool:
            return all(get_job(j).state in (JobState.SUCCEEDED, JobState.DEAD) for j in ids)  # type: ignore[union-attr]

        try:
            wait_for(finished, timeout=60, interval=0.5, what="every delayed and retrying job to finish")
        except AssertionError as exc:
            stuck = [j for j in ids if get_job(j).state not in (JobState.SUCCEEDED, JobState.DEAD)]  # type: ignore[union-attr]
            raise AssertionError(f"{exc}: {len(stuck)} of {len(ids)} still waiting; log {worker.log}") from None
    finally:
        worker.stop()
    late: list[float] = []
    for job_id in ids:
        record = get_job(job_id)
        assert record is not None
        if job_id in due:
            assert record.state is JobState.SUCCEEDED, record.error
            due_ms = ms(record, JobState.DELAYED) - due[job_id]
        else:
            assert (record.state, record.attempts) == (JobState.DEAD, 2)
            due_ms = ms(record, JobState.RETRYING) + 8000  # the latest a fixed 8 s backoff is due
        late.append((ms(record, JobState.RUNNING, last=True) - max(due_ms, back)) / 1000)
    print(f"\njobs {len(ids)}, all finished; latest start after max(due, Redis back): {max(late):.1f} s")
    assert max(late) <= BOUND_S
