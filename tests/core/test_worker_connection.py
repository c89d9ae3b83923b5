"""The calls every job makes from a worker thread go over a connection of the thread's own, past
redis-py's retry and pool machinery (RedisJobStore._worker_call): it must still survive what
that machinery would have handled, a Redis that lost its scripts and a connection that dropped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from dramatiq import Message

from gemsdash.queue import JobRequest, JobState, JobType, Runtime, add_jobs, configure, get_job
from gemsdash.queue.middleware.persist import persist
from gemsdash.queue.redis_broker import GemsdashRedisBroker
from gemsdash.queue.runtime import reset
from gemsdash.queue.store import Verdict
from tests.conftest import test_settings
from tests.core.workload import email
from tests.support import RedisServer

QUEUE = JobType.EMAIL_NOTIFICATION.queue


@pytest.fixture
def private_runtime() -> Iterator[tuple[Runtime, redis.Redis]]:
    """A Redis of the test's own: the test flushes its scripts and kills its clients."""
    with RedisServer() as server:
        rt = configure(test_settings(redis_enabled=True, redis_url=server.url, namespace="wc"), role="worker")
        client = redis.Redis.from_url(server.url)
        yield rt, client
        client.close()
        reset()


def _fetched(rt: Runtime, count: int) -> list[Message[Any]]:
    add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"wc-{i}")) for i in range(count)])
    broker = rt.broker
    assert isinstance(broker, GemsdashRedisBroker)
    return [Message.decode(data) for data in broker.do_fetch(QUEUE, count)]


def _state(message: Message[Any]) -> JobState | None:
    record = get_job(message.message_id)
    return record.state if record is not None else None


def test_a_worker_call_reloads_the_script_after_redis_lost_it(private_runtime: tuple[Runtime, redis.Redis]) -> None:
    rt, client = private_runtime
    first, second = _fetched(rt, 2)
    assert rt.store.start(first, "w", None).verdict is Verdict.RUN
    client.script_flush()  # as after a restart without persistence, or SCRIPT FLUSH
    assert rt.store.start(second, "w", None).verdict is Verdict.RUN
    assert _state(second) == JobState.RUNNING


def test_a_worker_call_reconnects_after_its_connection_dropped(private_runtime: tuple[Runtime, redis.Redis]) -> None:
    rt, client = private_runtime
    first, second = _fetched(rt, 2)
    assert rt.store.start(first, "w", None).verdict is Verdict.RUN
    killed = client.client_kill_filter(_type="normal", skipme=True)
    assert killed >= 1
    # What the tracking middleware does with every write: retried while Redis is unavailable.
    assert persist(lambda: rt.store.start(second, "w", None), deadline_s=10).verdict is Verdict.RUN
    assert _state(second) == JobState.RUNNING
