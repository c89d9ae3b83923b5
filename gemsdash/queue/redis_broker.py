"""Dramatiq's RedisBroker, with two changes. A fetched message that cannot be decoded goes to the
dead-letter queue with its reason. A finished job's ack or nack can be left to the job-state store.

Dramatiq decodes fetched messages inside its consumer's iterator; a message that is not valid JSON
(or not a message) raises there, the consumer thread restarts, and the message stays in the ack
set of a live worker forever: never run, never dead-lettered, invisible. (A message without the
`redis_message_id` option Dramatiq's enqueue adds cannot be acknowledged, with the same result.)
Filtering at fetch time keeps the consumer running and the bad message visible as a `dead` job.

A succeeded job's ack runs inside the store's `succeed` call and a dead job's nack inside its
`finish` call, each in the same script as the job's record (see JobTracking): `do_ack` and
`do_nack` skip the messages marked with `settle_with_record`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from dramatiq import Message
from dramatiq.brokers.redis import RedisBroker
from dramatiq.errors import DecodeError

from gemsdash.queue.pausing import PausableRedisConsumer, PausedQueues

logger = logging.getLogger(__name__)

#: (physical queue, raw message data, reason, worker id) -> None
RejectMalformed = Callable[[str, bytes, str, str], None]


class GemsdashRedisBroker(RedisBroker):
    reject_malformed: RejectMalformed | None = None
    #: Queues an operator paused: their consumers fetch nothing (pausing.py).
    paused_queues: PausedQueues | None = None

    @property
    def consumer_class(self) -> type[PausableRedisConsumer]:
        return PausableRedisConsumer

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)  # type: ignore[no-untyped-call]
        #: Messages whose ack or nack runs in the same script call as their job's record.
        self._settled: set[str] = set()

    def settle_with_record(self, redis_message_id: str) -> None:
        self._settled.add(redis_message_id)

    def do_ack(self, queue_name: str, redis_message_id: str) -> Any:
        return self._settle("ack", queue_name, redis_message_id)

    def do_nack(self, queue_name: str, redis_message_id: str) -> Any:
        return self._settle("nack", queue_name, redis_message_id)

    def _settle(self, command: str, queue_name: str, redis_message_id: str) -> Any:
        if redis_message_id in self._settled:
            self._settled.discard(redis_message_id)
            return None
        return self._dispatch(command)(queue_name, redis_message_id)  # type: ignore[no-untyped-call]

    def do_fetch(self, queue_name: str, prefetch: int) -> list[Any]:
        fetched: list[Any] = self._dispatch("fetch")(queue_name, prefetch)  # type: ignore[no-untyped-call]
        good: list[Any] = []
        for data in fetched:
            if data is None:
                continue
            try:
                message = Message.decode(data)
                reason = None if "redis_message_id" in message.options else "malformed message: no redis_message_id"
            except DecodeError as exc:
                reason = f"malformed message: {exc.__cause__ or exc}"
            if reason is None:
                good.append(data)
                continue
            logger.error("Rejecting a message on %r: %s", queue_name, reason)
            if self.reject_malformed is not None:
                self.reject_malformed(queue_name, data, reason, self.broker_id)
        return good
