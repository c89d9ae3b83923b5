"""A retrying job's record, its next copy and the ack of the failed attempt are one `finish` call,
safe to repeat: the call a worker retries after losing the reply (Redis went away just after it
ran) stores no second copy, and one for a message recovery already requeued changes nothing."""

from __future__ import annotations

import json
import uuid

import redis
from dramatiq.common import dq_name

from gemsdash.queue import JobState, JobType, Runtime, add_job, get_job
from gemsdash.queue.redis_broker import GemsdashRedisBroker
from gemsdash.queue.redis_store import RedisJobStore
from gemsdash.queue.store import Delivery, NextCopy, Settlement, Transition, Verdict
from tests.core.workload import email


def test_a_repeated_retry_write_stores_one_copy(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    broker, store = redis_runtime.broker, redis_runtime.store
    assert isinstance(broker, GemsdashRedisBroker) and isinstance(store, RedisJobStore)
    job_id = add_job(JobType.EMAIL_NOTIFICATION, email("fail"), attempts=3)
    queue = "email-notification"
    [data] = broker.do_fetch(queue, 1)  # the attempt this worker now holds, in its ack set
    rmid = json.loads(data)["options"]["redis_message_id"]
    ns = redis_runtime.settings.namespace
    acks = f"{ns}:__acks__.{broker.broker_id}.{queue}"
    assert redis_client.sismember(acks, rmid)
    copy_rmid = str(uuid.uuid4())
    retry = NextCopy(dq_name(queue), copy_rmid, data)
    error = json.dumps({"type": "RuntimeError", "message": "transient", "traceback": None})

    def finish() -> Transition:
        return store.finish(
            job_id,
            JobState.RETRYING,
            error,
            duration_ms=5,
            next_attempt_ms=1234,
            settle=Settlement(Delivery(broker.broker_id, queue, rmid), retry),
        )

    assert finish().ok
    assert finish().verdict is Verdict.UNCHANGED  # the same call again: the attempt is settled already
    assert redis_client.lrange(f"{ns}:{dq_name(queue)}", 0, -1) == [copy_rmid.encode()]
    assert redis_client.hkeys(f"{ns}:{dq_name(queue)}.msgs") == [copy_rmid.encode()]
    assert not redis_client.sismember(acks, rmid)
    assert not redis_client.hexists(f"{ns}:{queue}.msgs", rmid)
    record = get_job(job_id)
    assert record is not None and record.state is JobState.RETRYING
    assert record.next_attempt_at is not None
    assert [e.state for e in record.timeline].count(JobState.RETRYING) == 1
