"""Dramatiq's StubBroker for memory mode, keeping only the newest dead letters.

The StubBroker is a test tool: it keeps every dead-lettered message in `dead_letters_by_queue`
forever (so that `join` can re-raise its error). In a long-running process that is a leak, and a
redundant one: the memory store keeps each dead job, payload and error included, until its TTL, and
a retry builds the message again from the record.

A message sent in this process with an option gemsdash never writes is refused at `enqueue`, with
an error the sender sees: on Redis a worker refuses it at fetch (admission.py), and no worker runs
the Dramatiq middleware that would act on it (runtime.py).
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Any

from dramatiq import Message
from dramatiq.broker import Consumer, MessageProxy
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import current_millis, dq_name
from dramatiq.errors import QueueNotFound

from gemsdash.queue.admission import ALLOWED_OPTIONS
from gemsdash.queue.dramatiq_internals import ETA
from gemsdash.queue.errors import InvalidPayload
from gemsdash.queue.hooks import HandlersOnly
from gemsdash.queue.messages import job_type_of_queue
from gemsdash.queue.pausing import PausableStubConsumer, PausedQueues
from gemsdash.queue.store import Delivery, NextCopy
from gemsdash.queue.vouched import VouchedPayloads

#: Dead letters kept per queue by the broker itself (the job records keep all of them).
DEAD_LETTERS_KEPT = 100


class EmbeddedStubBroker(HandlersOnly, StubBroker):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # Consumers append to these; a bounded deque drops the oldest instead of growing.
        kept: defaultdict[str, deque[MessageProxy]] = defaultdict(lambda: deque(maxlen=DEAD_LETTERS_KEPT))
        self.dead_letters_by_queue = kept  # type: ignore[assignment]
        #: Queues an operator paused: their consumers take nothing (pausing.py).
        self.paused_queues: PausedQueues | None = None
        #: Set by `Runtime.start_worker`: the only worker memory mode runs (see WorkerGuard).
        self.embedded_worker = False
        #: The producer's payload models of the jobs waiting here, for their handlers (vouched.py).
        self.vouched = VouchedPayloads()

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        unknown = message.options.keys() - ALLOWED_OPTIONS
        if unknown:
            raise InvalidPayload(
                str(job_type_of_queue(message.queue_name) or message.actor_name),
                [
                    (f"options.{name!r}", "not an option gemsdash runs: send jobs with the producer")
                    for name in sorted(unknown)
                ],
            )
        # StubBroker.enqueue, queueing a copy of the Message instead of its JSON: the message never
        # leaves the process, and its consumer (pausing.py) takes it as it is. It is still encoded,
        # so that what could not go through Redis fails here too, at the sender.
        queue_name = message.queue_name
        if delay is not None:
            queue_name = dq_name(queue_name)
            message = message.copy(queue_name=queue_name, options={ETA: current_millis() + delay})
        if queue_name not in self.queues:
            raise QueueNotFound(queue_name)  # type: ignore[no-untyped-call]
        self.emit_before("enqueue", message, delay)
        message.encode()
        self.queues[queue_name].put(message.copy())
        self.emit_after("enqueue", message, delay)
        return message

    # The stub broker acks and nacks its own messages and sends its retries itself (store.Settling).
    def delivery(self, message: Message[Any]) -> Delivery | None:
        return None

    def take_retry(self, job_id: str) -> NextCopy | None:
        return None

    def settle_with_record(self, delivery: Delivery) -> None:
        return None

    def started_by_fetch(self, message: Message[Any]) -> bool:
        return False

    def waiting_jobs(self) -> list[str]:
        return []

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 100) -> Consumer:
        try:
            queue = self.queues[queue_name]
        except KeyError:
            raise QueueNotFound(queue_name) from None  # type: ignore[no-untyped-call]
        dead = self.dead_letters_by_queue[queue_name]
        return PausableStubConsumer(queue_name, self.paused_queues, queue, dead, prefetch, timeout)
