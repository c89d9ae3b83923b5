"""Redis going away and coming back: nothing lost, workers and producers carry on by themselves."""

from __future__ import annotations

import time

import pytest
import redis

from gemsdash.queue import BackendUnavailable, JobState, JobType, Runtime, add_job, get_job, queue_stats
from tests.core.workload import email, scripted
from tests.support import RedisServer, state_of, wait_for

pytestmark = pytest.mark.slow


def counts() -> dict[str, dict[JobState, int]]:
    return {q: dict(s.counts) for q, s in queue_stats().queues.items()}


def test_every_waiting_and_dead_job_survives_a_redis_restart(own_redis: RedisServer, runtime: Runtime) -> None:
    rt = runtime
    with scripted():
        rt.start_worker(threads=2)
        dead = add_job(JobType.EMAIL_NOTIFICATION, email("fatal"), attempts=1)
        retrying = add_job(
            JobType.EMAIL_NOTIFICATION, email("fail"), attempts=3, backoff={"type": "fixed", "delay": 30_000}
        )
        wait_for(lambda: state_of(dead) is JobState.DEAD and state_of(retrying) is JobState.RETRYING, what="setup")
        rt.stop_worker()  # hands the retrying message, held in memory, back to Redis
    delayed = add_job(JobType.EMAIL_NOTIFICATION, email("later"), delay=60_000)
    queued = [add_job(JobType.EMAIL_NOTIFICATION, email(f"q{i}")) for i in range(3)]
    before = counts()
    records_before = {j: get_job(j) for j in [dead, retrying, delayed, *queued]}
    own_redis.restart()
    wait_for(lambda: _answers(own_redis), what="redis back")
    assert counts() == before
    for job_id, record in records_before.items():
        assert get_job(job_id) == record
    assert before["email-notification"][JobState.QUEUED] == 3
    assert before["email-notification"][JobState.DELAYED] == 1
    assert before["email-notification"][JobState.RETRYING] == 1
    assert before["email-notification"][JobState.DEAD] == 1
    with scripted():
        rt.start_worker(threads=2)
        wait_for(lambda: all(state_of(j) is JobState.SUCCEEDED for j in queued), what="queued jobs run after restart")


def test_a_running_worker_and_producer_reconnect_by_themselves(own_redis: RedisServer, runtime: Runtime) -> None:
    rt = runtime
    with scripted() as work:
        rt.start_worker(threads=2)
        running = add_job(JobType.EMAIL_NOTIFICATION, email("block"))
        assert work.blocking.wait(10)
        own_redis.restart()
        work.release.set()  # finishes while the worker's connections are being re-established
        wait_for(lambda: _answers(own_redis), what="redis back")
        after = add_job(JobType.EMAIL_NOTIFICATION, email("after-restart"))
        wait_for(lambda: state_of(after) is JobState.SUCCEEDED, timeout=30, what="a job enqueued after the restart")
        wait_for(lambda: state_of(running) is JobState.SUCCEEDED, timeout=30, what="the job running at the restart")
    record = get_job(running)
    assert record is not None and record.attempts == 1


def test_producing_while_redis_is_down_fails_fast_and_writes_nothing(own_redis: RedisServer, runtime: Runtime) -> None:
    add_job(JobType.EMAIL_NOTIFICATION, email("before"))
    own_redis.stop()
    started = time.monotonic()
    with pytest.raises(BackendUnavailable, match="unreachable"):
        add_job(JobType.EMAIL_NOTIFICATION, email("during"))
    elapsed = time.monotonic() - started
    print(f"\nadd_job with Redis down failed after {elapsed * 1000:.0f} ms")
    assert elapsed < 5
    own_redis.start()
    assert counts()["email-notification"][JobState.QUEUED] == 1
    add_job(JobType.EMAIL_NOTIFICATION, email("after"))
    assert counts()["email-notification"][JobState.QUEUED] == 2
    client = redis.Redis.from_url(own_redis.url)
    assert client.llen("outage:email-notification") == 2


def _answers(server: RedisServer) -> bool:
    try:
        return bool(redis.Redis.from_url(server.url, socket_connect_timeout=0.2).ping())
    except redis.ConnectionError:
        return False
