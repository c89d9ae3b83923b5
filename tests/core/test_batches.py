"""A large `add_jobs` is written in chunks (no Redis call long enough to stall other clients), yet
the caller still sees all or nothing: a batch that fails part-way is withdrawn."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from gemsdash.queue import JobState, JobType, Runtime, add_jobs, queue_stats
from gemsdash.queue.errors import BackendUnavailable, PartlySubmitted
from gemsdash.queue.producer import JobRequest
from gemsdash.queue.redis_store.store import SUBMIT_CHUNK, RedisJobStore
from tests.core.workload import email

QUEUE = "email-notification"


def _batch(n: int) -> list[JobRequest]:
    return [JobRequest(JobType.EMAIL_NOTIFICATION, email(f"b{i}")) for i in range(n)]


def _failing_after(
    store: RedisJobStore, chunks: int, before_failing: Callable[[], None] = lambda: None
) -> Callable[[list[Any]], None]:
    """`_submit_chunk` that writes `chunks` chunks for real, then fails as a lost connection would."""
    real = store._submit_chunk
    sent: list[int] = []

    def submit_chunk(flat: list[Any]) -> None:
        sent.append(1)
        if len(sent) > chunks:
            before_failing()
            raise BackendUnavailable("Redis connection lost (test)")
        real(flat)

    return submit_chunk


def _messages_waiting(client: redis.Redis, namespace: str) -> int:
    return sum(int(client.hlen(k)) for k in client.scan_iter(match=f"{namespace}:*.msgs", count=1000))


def test_a_batch_that_fails_part_way_leaves_nothing(
    redis_runtime: Runtime, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)
    monkeypatch.setattr(store, "_submit_chunk", _failing_after(store, 2))
    with pytest.raises(BackendUnavailable) as caught:
        add_jobs(_batch(SUBMIT_CHUNK * 4))
    assert not isinstance(caught.value, PartlySubmitted)
    stats = queue_stats().queues[QUEUE]
    assert stats.counts[JobState.QUEUED] == 0
    assert sum(stats.enqueued_total.values()) == 0
    assert _messages_waiting(redis_client, redis_runtime.settings.namespace) == 0
    assert not list(redis_client.scan_iter(match=f"{redis_runtime.settings.namespace}:gd:job:*"))


def test_jobs_a_worker_fetched_meanwhile_stay_and_are_named(
    redis_runtime: Runtime, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)
    ns = redis_runtime.settings.namespace
    fetched: list[str] = []

    def fetch_one() -> None:
        """What a worker's fetch does to the oldest message: out of the list, still in `.msgs`."""
        waiting = [q for q in redis_client.scan_iter(match=f"{ns}:{QUEUE}*") if redis_client.type(q) == b"list"]
        popped = redis_client.lpop(waiting[0])
        assert isinstance(popped, bytes)
        fetched.append(popped.decode())

    monkeypatch.setattr(store, "_submit_chunk", _failing_after(store, 1, fetch_one))
    with pytest.raises(PartlySubmitted) as caught:
        add_jobs(_batch(SUBMIT_CHUNK * 3))
    assert caught.value.written == fetched
    assert store.get(fetched[0]) is not None
    assert queue_stats().queues[QUEUE].counts[JobState.QUEUED] == 1
    assert _messages_waiting(redis_client, ns) == 1
