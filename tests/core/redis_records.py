"""What the tests of Redis records (their layout, the hot path, attacks on both) share: the store of
a Redis runtime, a record's key, messages fetched as a worker's consumer fetches them, and their
deliveries (what an ack names)."""

from __future__ import annotations

from typing import Any

from dramatiq import Message

from gemsdash.queue import JobType, Runtime
from gemsdash.queue.keys import Keys
from gemsdash.queue.redis_broker import GemsdashRedisBroker
from gemsdash.queue.redis_store import RedisJobStore
from gemsdash.queue.store import Delivery

QUEUE = JobType.EMAIL_NOTIFICATION.queue


def redis_store(rt: Runtime) -> RedisJobStore:
    store = rt.store
    assert isinstance(store, RedisJobStore)
    return store


def record_key(rt: Runtime, job_id: str) -> str:
    return Keys(rt.settings.namespace).job(job_id)


def fetch(rt: Runtime, count: int) -> list[Message[Any]]:
    """`count` messages of QUEUE, fetched (and held in this broker's ack set) as a consumer would."""
    broker = rt.broker
    assert isinstance(broker, GemsdashRedisBroker)
    messages = [Message.decode(data) for data in broker.do_fetch(QUEUE, count)]
    assert len(messages) == count
    return messages


def delivery(rt: Runtime, message: Message[Any]) -> Delivery:
    return Delivery(rt.broker.broker_id, message.queue_name, message.options["redis_message_id"])  # type: ignore[attr-defined]
