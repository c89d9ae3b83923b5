"""Housekeeping that the periodic calls do one key per call, in turn (jobs.lua `in_turn`): every
dead-letter queue still loses its letters past the dead-letter TTL, and keeps the younger ones."""

from __future__ import annotations

import functools
import time
from datetime import UTC, datetime

import pytest
import redis

from gemsdash.queue import JobState, JobType, Runtime, add_job, clock
from gemsdash.queue.keys import TEMPLATES
from gemsdash.queue.messages import all_physical_queues
from gemsdash.queue.middleware import Recovery
from gemsdash.queue.redis_store.store import RedisJobStore
from gemsdash.queue.store import WorkerInfo
from tests.core.workload import email, scripted
from tests.support import state_of, wait_for


@pytest.mark.slow
@pytest.mark.parametrize("periodic", ["recovery pass", "heartbeat"])
def test_periodic_calls_expire_old_dead_letters_of_every_queue(
    redis_runtime: Runtime, redis_client: redis.Redis, redis_url: str, periodic: str
) -> None:
    """Recovery passes run only when a heartbeat looks dead (middleware/recovery.py): heartbeats do
    the housekeeping as well, and either alone gets through every queue."""
    namespace = redis_runtime.settings.namespace
    store = RedisJobStore(
        redis.Redis.from_url(redis_url),
        namespace=namespace,
        finished_ttl=60,
        dead_ttl=60,
        worker_timeout_ms=2000,
        display_url=redis_url,
    )

    def key(name: str, rq: str) -> str:
        return TEMPLATES[name].format(ns=namespace, rq=rq)

    now_ms = int(time.time() * 1000)
    queues = all_physical_queues(with_delay=False)
    for rq in queues:
        redis_client.zadd(key("xq", rq), {"old": now_ms - 600_000, "young": now_ms})
        redis_client.hset(key("xq_msgs", rq), mapping={"old": b"{}", "young": b"{}"})

    def old_left() -> list[str]:
        if periodic == "heartbeat":
            now = datetime.now(UTC)
            store.heartbeat(WorkerInfo("w1", "host", 1, 4, now, now, 0, ["email-notification"], consumes=queues))
        else:
            store.recover()
        return [rq for rq in queues if redis_client.zscore(key("xq", rq), "old") is not None]

    # One queue per second of Redis's clock: every queue within len(queues) seconds of passes.
    wait_for(lambda: not old_left(), timeout=len(queues) + 10, what="old dead letters expired", interval=0.25)
    for rq in queues:
        assert redis_client.zrange(key("xq", rq), 0, -1) == [b"young"]
        assert redis_client.hkeys(key("xq_msgs", rq)) == [b"young"]


def test_a_heartbeat_tells_how_old_the_oldest_heartbeat_is(redis_runtime: Runtime) -> None:
    """What lets a recovery pass be skipped: the beat's reply names the oldest heartbeat of any
    worker, Dramatiq's own included."""
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)
    now = datetime.now(UTC)
    beat_ms = store.heartbeat(WorkerInfo("w1", "host", 1, 4, now, now, 0, []))
    assert beat_ms is not None and abs(beat_ms - clock.now_ms()) < 1000
    store.client.zadd(TEMPLATES["heartbeats"].format(ns=store.namespace), {"gone": beat_ms - 60_000})
    assert store.heartbeat(WorkerInfo("w1", "host", 1, 4, now, now, 0, [])) == beat_ms - 60_000
    assert store.recover() == (1, 0)
    assert store.heartbeat(WorkerInfo("w1", "host", 1, 4, now, now, 0, [])) == (
        store.client.zscore(TEMPLATES["heartbeats"].format(ns=store.namespace), "w1")
    )


def test_recovery_passes_only_when_a_heartbeat_looks_dead_or_after_the_idle_pass_time(redis_runtime: Runtime) -> None:
    passes: list[float] = []

    class Counting:
        def recover(self) -> tuple[int, int]:
            passes.append(time.monotonic())
            return 0, 0

    oldest: list[int | None] = [None]
    recovery = Recovery(
        Counting(),  # type: ignore[arg-type]
        interval_s=0.05,
        oldest_beat=lambda: oldest[0],
        timeout_ms=2000,
        idle_pass_s=0.6,
    )
    recovery.after_worker_boot(None, None)  # type: ignore[arg-type]
    try:
        wait_for(lambda: passes, what="a first pass: nothing known yet")
        oldest[0] = clock.now_ms()  # a fresh heartbeat: passes only every idle_pass_s
        first = len(passes)
        time.sleep(1.0)
        assert 1 <= len(passes) - first <= 2
        oldest[0] = clock.now_ms() - 2500  # someone is past the timeout: a pass at every tick
        counted = len(passes)
        wait_for(lambda: len(passes) >= counted + 5, timeout=2, what="passes at every tick")
    finally:
        recovery.before_worker_shutdown(None, None)  # type: ignore[arg-type]


def test_throughput_buckets_made_by_successes_expire(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    """Each throughput bucket (the dashboard's rate) is kept `bucket_ttl_s`: hot.lua sets its expiry
    with a bucket's first successes only (jobs.lua with each of its writes), so a bucket made by
    successes and then written again keeps one."""
    namespace = redis_runtime.settings.namespace
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)

    def all_succeeded(jobs: list[str]) -> bool:
        return all(state_of(j) is JobState.SUCCEEDED for j in jobs)

    with scripted():
        redis_runtime.start_worker(threads=2)
        for names in (["ok-1", "ok-2", "ok-3"], ["ok-4", "ok-5"]):
            jobs = [add_job(JobType.EMAIL_NOTIFICATION, email(name)) for name in names]
            wait_for(functools.partial(all_succeeded, jobs), what=f"{names} ran")
    buckets = list(redis_client.scan_iter(match=f"{namespace}:gd:tp:email-notification:*", count=1000))
    assert sum(int(redis_client.hget(b, "ok") or 0) for b in buckets) == 5
    for bucket in buckets:
        assert 0 < redis_client.ttl(bucket) <= store.limits.bucket_ttl_s, bucket
