"""Housekeeping that the periodic calls do one key per call, in turn (jobs.lua `in_turn`): every
dead-letter queue still loses its letters past the dead-letter TTL, and keeps the younger ones."""

from __future__ import annotations

import time

import pytest
import redis

from gemsdash.queue import Runtime
from gemsdash.queue.keys import TEMPLATES
from gemsdash.queue.messages import all_physical_queues
from gemsdash.queue.redis_store.store import RedisJobStore
from tests.support import wait_for


@pytest.mark.slow
def test_recovery_passes_expire_old_dead_letters_of_every_queue(
    redis_runtime: Runtime, redis_client: redis.Redis, redis_url: str
) -> None:
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
        store.recover()
        return [rq for rq in queues if redis_client.zscore(key("xq", rq), "old") is not None]

    # One queue per second of Redis's clock: every queue within len(queues) seconds of passes.
    wait_for(lambda: not old_left(), timeout=len(queues) + 10, what="old dead letters expired", interval=0.25)
    for rq in queues:
        assert redis_client.zrange(key("xq", rq), 0, -1) == [b"young"]
        assert redis_client.hkeys(key("xq_msgs", rq)) == [b"young"]
