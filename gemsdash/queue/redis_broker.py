"""Dramatiq's RedisBroker, with two changes. A fetched message that cannot be decoded, or that
gemsdash could not have written (see `admission`), goes to the dead-letter queue with its reason.
A finished job's ack or nack can be left to the job-state store.

Dramatiq decodes fetched messages inside its consumer's iterator; a message that is not valid JSON
(or not a message) raises there, the consumer thread restarts, and the message stays in the ack
set of a live worker forever: never run, never dead-lettered, invisible. (A message without the
`redis_message_id` option Dramatiq's enqueue adds cannot be acknowledged, with the same result.)
Filtering at fetch time keeps the consumer running and the bad message visible as a `dead` job;
and a forged message never runs, nor waits in a worker's memory (a 10-year `eta`).

A succeeded job's ack runs inside the store's `succeed` call and a dead job's nack inside its
`finish` call, each in the same script as the job's record (see JobTracking): `do_ack` and
`do_nack` skip the messages marked with `settle_with_record`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from dramatiq.brokers.redis import RedisBroker

from gemsdash.queue.admission import MAX_MESSAGE_BYTES, Refusal, inspect_fetched
from gemsdash.queue.jobs import now_ms

logger = logging.getLogger(__name__)

#: (physical queue, raw message data, why it cannot run, worker id) -> None
RejectMalformed = Callable[[str, bytes, Refusal, str], None]


class GemsdashRedisBroker(RedisBroker):
    reject_malformed: RejectMalformed | None = None
    #: Fetched messages larger than this are refused unread.
    max_message_bytes: int = MAX_MESSAGE_BYTES

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
        now = now_ms()
        for data in fetched:
            if data is None:
                continue
            refusal = inspect_fetched(data, queue_name, now, self.max_message_bytes)
            if refusal is None:
                good.append(data)
                continue
            logger.error("Rejecting a message on %r: %s", queue_name, refusal.reason)
            if self.reject_malformed is None:
                continue
            try:
                self.reject_malformed(queue_name, data, refusal, self.broker_id)
            except Exception:
                # The good messages of this fetch still run; this one stays in the ack set, and is
                # fetched (and rejected) again once recovery returns it after this worker stops.
                logger.exception("Could not dead-letter the rejected message on %r", queue_name)
        return good
