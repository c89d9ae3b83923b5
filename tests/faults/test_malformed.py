"""Messages pushed straight into a Redis queue by something other than gemsdash: each ends in
`dead` with a clear reason, and the worker keeps running."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import redis
from dramatiq import Message

from gemsdash.queue import JobState, JobType, Runtime, add_job, get_job, list_jobs, queue_stats
from tests.core.workload import email, scripted
from tests.support import wait_for


def push(client: redis.Redis, ns: str, queue: str, data: bytes, rmid: str | None = None) -> str:
    """What a foreign producer does: Dramatiq's own enqueue, by hand (HSET + RPUSH)."""
    rmid = rmid or str(uuid.uuid4())
    client.hset(f"{ns}:{queue}.msgs", rmid, data)
    client.rpush(f"{ns}:{queue}", rmid)
    return rmid


def raw_message(actor_name: str, args: tuple[object, ...], rmid: str = "r-1") -> tuple[str, bytes]:
    """A well-formed Dramatiq message, as Dramatiq's own enqueue would write it."""
    message: Message[Any] = Message(
        queue_name="email-notification",
        actor_name=actor_name,
        args=args,
        kwargs={},
        options={"redis_message_id": rmid},
    )
    return message.message_id, message.encode()


@pytest.fixture
def worker(redis_runtime: Runtime) -> Runtime:
    redis_runtime.start_worker(threads=2)
    return redis_runtime


def dead_error(job_id: str) -> str:
    record = get_job(job_id)
    assert record is not None and record.state is JobState.DEAD, record
    assert record.error is not None
    return f"{record.error.type}: {record.error.message}"


NO_REDIS_ID = Message(
    queue_name="email-notification", actor_name="email_notification", args=(), kwargs={}, options={}
).encode()


# Named ids: NO_REDIS_ID holds a fresh uuid, and pytest-xdist's processes must collect the same names.
@pytest.mark.parametrize(
    "data",
    [b"{not json", b"[1, 2, 3]", b'{"queue_name": "x"}', b"\xff\xfe", NO_REDIS_ID],
    ids=["not-json", "a-list", "no-actor", "not-utf8", "no-redis-id"],
)
def test_undecodable_messages_are_dead_lettered_with_the_reason(
    worker: Runtime, redis_client: redis.Redis, data: bytes
) -> None:
    ns = worker.settings.namespace
    rmid = push(redis_client, ns, "email-notification", data)
    wait_for(lambda: get_job(rmid) is not None, what="the malformed message's dead record")
    assert dead_error(rmid).startswith("MalformedMessage: malformed message:")
    assert redis_client.zscore(f"{ns}:email-notification.XQ", rmid) is not None
    assert redis_client.hlen(f"{ns}:email-notification.msgs") == 0
    acks = list(redis_client.scan_iter(match=f"{ns}:__acks__.*"))
    assert all(redis_client.scard(k) == 0 for k in acks)
    # The worker is still consuming.
    with scripted():
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("after"))
        wait_for(lambda: get_job(job_id).state is JobState.SUCCEEDED, what="a normal job after it")  # type: ignore[union-attr]
    assert queue_stats().queues["email-notification"].attempts_total["dead"] == 1  # metrics: dead, never ran


def test_unknown_actor_goes_dead(worker: Runtime, redis_client: redis.Redis) -> None:
    """Refused at fetch, like any message whose actor is not its queue's (tests/security/test_forged.py)."""
    _, data = raw_message("no_such_actor", ({"x": 1},))
    push(redis_client, worker.settings.namespace, "email-notification", data, rmid="r-1")
    wait_for(lambda: get_job("r-1") is not None, what="dead")
    assert dead_error("r-1").startswith("InvalidMessage: invalid message: actor 'no_such_actor' does not belong")
    assert list_jobs("email-notification", "dead").total == 1
    assert queue_stats().queues["email-notification"].attempts_total["dead"] == 1  # metrics: dead, never ran


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        ((), "wrong arguments"),
        (("a", "b"), "wrong arguments"),
        (({"to": "x@y.co", "template": "welcome"},), "context: missing name"),
        (({"to": "x@y.co", "template": "welcome", "context": {"name": "A"}, "evil": 1},), "evil"),
    ],
)
def test_wrong_arguments_go_dead_without_retries(
    worker: Runtime, redis_client: redis.Redis, args: tuple[object, ...], reason: str
) -> None:
    job_id, data = raw_message("email_notification", args)
    push(redis_client, worker.settings.namespace, "email-notification", data, rmid="r-1")
    wait_for(lambda: get_job(job_id) is not None and get_job(job_id).state is JobState.DEAD, what="dead")  # type: ignore[union-attr]
    error = dead_error(job_id)
    assert error.startswith("PermanentJobError") and reason in error
    record = get_job(job_id)
    assert record is not None and record.attempts == 1
    assert any("did not come through gemsdash" in (e.note or "") for e in record.timeline)
    assert json.dumps(record.payload)  # shown as far as it could be read
