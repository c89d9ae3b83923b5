"""How a finished job's write settles its message. Successes are recorded by a thread of their
own, in batches (middleware.write_behind): nothing pending is lost at shutdown, a success written
twice counts once, and a finished message never stays in an ack set, even without a record. A dead
job's record and its move to the dead-letter queue are one write."""

from __future__ import annotations

from typing import Any

import redis
from dramatiq import Message

from gemsdash.queue import JobRequest, JobState, JobType, Runtime, add_jobs, get_job, queue_stats
from gemsdash.queue.jobs import now_ms
from gemsdash.queue.middleware import WriteBehind
from gemsdash.queue.redis_broker import GemsdashRedisBroker
from gemsdash.queue.redis_store import RedisJobStore
from gemsdash.queue.store import Delivery, Settlement, Success, Verdict
from tests.core.workload import email

QUEUE = JobType.EMAIL_NOTIFICATION.queue


def _fetched(rt: Runtime, count: int) -> list[Message[Any]]:
    """`count` jobs enqueued, fetched and started as a worker's consumer and thread would."""
    add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"wb-{i}")) for i in range(count)])
    broker = rt.broker
    assert isinstance(broker, GemsdashRedisBroker)
    messages = [Message.decode(data) for data in broker.do_fetch(QUEUE, count)]
    assert len(messages) == count
    for message in messages:
        assert rt.store.start(message, "test-worker", None).verdict is Verdict.RUN
    return messages


def _success(rt: Runtime, message: Message[Any]) -> Success:
    ack = Delivery(rt.broker.broker_id, message.queue_name, message.options["redis_message_id"])  # type: ignore[attr-defined]
    return Success(message.message_id, '"done"', 3, now_ms(), ack)


def _unacked(rt: Runtime, client: redis.Redis) -> tuple[int, int]:
    ns = rt.settings.namespace
    return client.scard(f"{ns}:__acks__.{rt.broker.broker_id}.{QUEUE}"), client.hlen(f"{ns}:{QUEUE}.msgs")  # type: ignore[attr-defined]


def test_shutdown_writes_every_pending_success(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    messages = _fetched(redis_runtime, 400)
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)
    behind = WriteBehind(store)
    behind.after_worker_boot(redis_runtime.broker, None)  # type: ignore[arg-type]
    for message in messages:
        behind.record(_success(redis_runtime, message))
    behind.after_worker_shutdown(redis_runtime.broker, None)  # type: ignore[arg-type]

    assert queue_stats().queues[QUEUE].counts[JobState.SUCCEEDED] == 400
    assert _unacked(redis_runtime, redis_client) == (0, 0)
    record = get_job(messages[0].message_id)
    assert record is not None and record.result == "done" and record.duration_ms == 3


def test_a_success_written_twice_counts_once(redis_runtime: Runtime) -> None:
    (message,) = _fetched(redis_runtime, 1)
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)
    success = _success(redis_runtime, message)
    store.succeed_many([success, success])  # e.g. a batch sent again after its reply was lost
    stats = queue_stats().queues[QUEUE]
    assert stats.counts[JobState.SUCCEEDED] == 1
    assert stats.finished_total["succeeded"] == 1 and stats.duration_count == 1


def test_a_batch_counts_every_success_once_in_every_counter(redis_runtime: Runtime) -> None:
    """A batch's counters are added up in the script and written once per call: each success must
    still land in the totals, the histogram, the average and the throughput bucket it ended in."""
    messages = _fetched(redis_runtime, 5)
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)
    ended = now_ms()
    durations = [2, 3, 3, 400, 12]
    store.succeed_many(
        [
            Success(m.message_id, '"done"', d, ended, _success(redis_runtime, m).ack)
            for m, d in zip(messages, durations, strict=True)
        ]
    )
    stats = queue_stats().queues[QUEUE]
    assert stats.counts[JobState.SUCCEEDED] == 5 and stats.counts[JobState.RUNNING] == 0
    assert stats.finished_total["succeeded"] == 5
    assert stats.duration_count == 5 and stats.duration_sum_ms == 420 and stats.avg_duration_ms == 84
    assert stats.duration_buckets == {"10": 3, "50": 1, "500": 1}
    assert sum(ok for ok, _ in stats.finished_per_bucket) == 5


def test_a_finished_message_is_acknowledged_even_without_a_record(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    (message,) = _fetched(redis_runtime, 1)
    redis_client.delete(f"{redis_runtime.settings.namespace}:gd:job:{message.message_id}")
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)
    store.succeed_many([_success(redis_runtime, message)])
    assert _unacked(redis_runtime, redis_client) == (0, 0)


def test_a_late_success_keeps_its_finish_time_without_ageing_the_heartbeat(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """A success written long after the job ended (Redis was away) is dated when the job ended, but
    must not move the worker's heartbeat back: recovery elsewhere would take the worker for dead."""
    (message,) = _fetched(redis_runtime, 1)
    heartbeats = f"{redis_runtime.settings.namespace}:__heartbeats__"
    worker = redis_runtime.broker.broker_id  # type: ignore[attr-defined]
    beat = now_ms()
    redis_client.zadd(heartbeats, {worker: beat})
    ended = beat - 60_000
    success = _success(redis_runtime, message)
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)
    store.succeed_many([Success(success.job_id, success.result, 3, ended, success.ack)])
    score = redis_client.zscore(heartbeats, worker)
    assert score is not None and score >= beat
    record = get_job(message.message_id)
    assert record is not None and record.finished_at is not None
    # Sent as an age and dated by Redis's clock (clock.py): exact up to the offset's rounding.
    assert abs(round(record.finished_at.timestamp() * 1000) - ended) <= 5


def test_a_dead_job_is_dead_lettered_and_recorded_in_one_write(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """The nack is part of the `dead` write: a worker killed between two separate calls left the
    message in the dead-letter queue, out of recovery's sight, and its record `running` forever."""
    (message,) = _fetched(redis_runtime, 1)
    ns, rmid = redis_runtime.settings.namespace, message.options["redis_message_id"]
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)
    error = '{"type":"PaymentDeclined","message":"declined","traceback":null}'
    nack = Delivery(redis_runtime.broker.broker_id, QUEUE, rmid)  # type: ignore[attr-defined]
    verdict = store.finish(
        message.message_id, JobState.DEAD, error, duration_ms=1, message=message, settle=Settlement(nack)
    )
    assert verdict.ok
    assert _unacked(redis_runtime, redis_client) == (0, 0)
    assert redis_client.zscore(f"{ns}:{QUEUE}.XQ", rmid) is not None
    assert redis_client.hexists(f"{ns}:{QUEUE}.XQ.msgs", rmid)
    record = get_job(message.message_id)
    assert record is not None and record.state is JobState.DEAD
