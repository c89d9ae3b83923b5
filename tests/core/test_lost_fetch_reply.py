"""A fetch whose reply is lost: Redis ran it (the messages left their queue for this worker's ack
set, the records of those it started are `running`) but the connection broke before the worker
read what it took. Crash recovery never looks at a live worker's ack set, so those jobs would wait
until the worker stops; the next fetch of that queue takes them back first (hot.lua `refetch`).

The loss is injected at the client: the worker's fetch runs on the real Redis, and then raises
the ConnectionError redis-py raises when a connection breaks before the reply."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from gemsdash.queue import JobState, JobType, Runtime, add_job, get_job
from gemsdash.queue.redis_broker import GemsdashRedisBroker
from gemsdash.queue.redis_store import RedisJobStore
from tests.core.workload import email, scripted
from tests.support import state_of, wait_for

EMAIL_QUEUE = "email-notification"


@pytest.fixture(params=["true", "false"], ids=["fold", "no-fold"])
def fold_start(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs started by their fetch (the default) or each by its own `start` call."""
    monkeypatch.setenv("GEMSDASH_FOLD_START", request.param)


def test_jobs_whose_fetch_reply_was_lost_run_once(
    fold_start: None, redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    broker = redis_runtime.broker
    assert isinstance(broker, GemsdashRedisBroker) and broker.fetch_and_start is not None
    fetch = broker.fetch_and_start
    lost: list[int] = []

    def losing_its_reply(*args: Any) -> tuple[list[Any], dict[str, str]]:
        fetched, started = fetch(*args)
        if fetched and not lost:
            lost.append(len(fetched))
            raise redis.ConnectionError("Connection closed by server.")
        return fetched, started

    broker.fetch_and_start = losing_its_reply
    names = [f"ok-{i}" for i in range(6)]
    with scripted() as work:
        ids = [add_job(JobType.EMAIL_NOTIFICATION, email(name)) for name in names]
        redis_runtime.start_worker(threads=2)
        wait_for(lambda: bool(lost), what="a fetch whose reply was lost")
        assert redis_client.llen(f"{redis_runtime.settings.namespace}:{EMAIL_QUEUE}") == 6 - lost[0]
        wait_for(lambda: all(state_of(j) is JobState.SUCCEEDED for j in ids), timeout=20, what="every job ran")
    assert sorted(work.started) == names, "each ran once"
    for job_id in ids:
        record = get_job(job_id)
        assert record is not None and record.attempts == 1


def test_a_refetch_gives_only_what_that_fetch_took_and_the_worker_still_holds(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)
    ns = redis_runtime.settings.namespace
    for i in range(3):
        add_job(JobType.EMAIL_NOTIFICATION, email(f"ok-{i}"))
    fetched, started = store.fetch(EMAIL_QUEUE, 3, "B1", "w", 3, "7")
    assert len(fetched) == 3 and len(started) == 3
    assert store.refetch(EMAIL_QUEUE, "B1", "6") == ([], {}), "another token: that fetch never ran"
    assert store.refetch(EMAIL_QUEUE, "B2", "7") == ([], {}), "another worker's"
    settled = next(iter(started))
    redis_client.srem(f"{ns}:__acks__.B1.{EMAIL_QUEUE}", settled)  # no longer held (recovered, acked)
    again, started_again = store.refetch(EMAIL_QUEUE, "B1", "7")
    assert sorted(again) == sorted(d for d in fetched if settled.encode() not in d)
    assert started_again == {r: j for r, j in started.items() if r != settled}
    packed = [
        redis_client.eval(f"return cmsgpack.pack({table})", 0)
        for table in ("{'7', {1, 2}, '11'}", "{'7', {'a'}, 5}", "{'7', {}, ''}", "'7'", "{'7'}")
    ]
    for hostile in ("not json", '["7", "x"]', '{"1": "7"}', '["7", [], []]', b"\xc1\xff", *packed):
        redis_client.set(f"{ns}:gd:fetched:B1:{EMAIL_QUEUE}", hostile)
        assert store.refetch(EMAIL_QUEUE, "B1", "7") == ([], {}), hostile
