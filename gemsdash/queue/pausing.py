"""Paused queues: while a queue is paused, the consumers of its physical queues (every priority
level) fetch nothing, and messages one had prefetched go back to Redis, so no worker starts a job
of it; enqueueing goes on as usual, and delayed or retrying jobs still come due (their delay
queues are not paused) and wait, queued, for the resume. The pause is kept by the store (in Redis:
a set, so it outlives every process) and read here at most every CHECK_SECONDS per process.

Bound: a message a consumer had already handed to its worker's threads before the pause was seen
(at most the worker's prefetch, fetched up to CHECK_SECONDS before) still runs.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from dramatiq import Message

from gemsdash.queue.dramatiq_internals import RedisConsumerBase, StubConsumerBase, StubMessageProxy
from gemsdash.queue.messages import canonical_queue

logger = logging.getLogger(__name__)

#: How stale a worker's view of the paused queues may be: a pause takes effect within this.
CHECK_SECONDS = 0.5
#: How long a consumer of a paused queue waits before looking again.
IDLE_SECONDS = 0.2


class PausedQueues:
    """Which queues are paused, read through `read` at most every CHECK_SECONDS. A failed read
    keeps the last answer: a consumer must never die of it (the outage is reported elsewhere)."""

    def __init__(self, read: Callable[[], frozenset[str]], check_seconds: float = CHECK_SECONDS) -> None:
        self._read = read
        self._check = check_seconds
        self._paused: frozenset[str] = frozenset()
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def is_paused(self, physical_queue: str) -> bool:
        """Called for every message a consumer hands out: no lock and no parsing unless a read is
        due or some queue is paused."""
        if physical_queue.endswith(".DQ"):
            return False  # a delay queue only hands due jobs to their queue, where they then wait
        now = time.monotonic()
        if now - self._read_at >= self._check:
            with self._lock:
                if now - self._read_at >= self._check:
                    self._read_at = now
                    try:
                        self._paused = self._read()
                    except Exception:
                        logger.debug("could not read the paused queues; keeping the last answer", exc_info=True)
        paused = self._paused
        return bool(paused) and canonical_queue(physical_queue) in paused


class PausableRedisConsumer(RedisConsumerBase):
    """Dramatiq's Redis consumer, idle while its queue is paused; what it had prefetched goes
    back to the queue (Dramatiq's own requeue, as at shutdown)."""

    def __next__(self) -> Any:
        paused: PausedQueues | None = getattr(self.broker, "paused_queues", None)
        if paused is None or not paused.is_paused(self.queue_name):
            return super().__next__()  # type: ignore[no-untyped-call]
        self._return_cached()
        time.sleep(min(IDLE_SECONDS, self.timeout / 1000))
        return None

    def close(self) -> None:
        """Dramatiq's close requeues what its worker threads were handed, not what its consumer's
        last fetch took and never handed out: a fetch woken by the last acks of a stopping worker
        left its messages in the worker's ack set until recovery gave them back, a worker timeout
        later. They go back to the queue now; if Redis is away, recovery still does it."""
        try:
            self._return_cached()
        except Exception:
            logger.warning("Could not requeue the messages %s fetched last; recovery will", self.queue_name)
        super().close()

    def _return_cached(self) -> None:
        if self.message_cache:
            ids = [_redis_message_id(data) for data in self.message_cache]
            self.message_cache = []
            self.broker.do_requeue(self.queue_name, *[i for i in ids if i])


class PausableStubConsumer(StubConsumerBase):
    """The memory-mode consumer: idle while its queue is paused (its messages stay queued), and
    handed the queued Message itself (stub_broker.py enqueues a copy, not its JSON), which Dramatiq's
    own decodes again: a tenth of a no-op job's time in the one consumer thread that feeds every
    worker thread of the queue."""

    def __init__(self, queue_name: str, paused: PausedQueues | None, *args: Any) -> None:
        super().__init__(*args)  # type: ignore[no-untyped-call]
        self.queue_name = queue_name
        self.paused = paused

    def __next__(self) -> Any:
        if self.paused is not None and self.paused.is_paused(self.queue_name):
            time.sleep(min(IDLE_SECONDS, self.timeout / 1000))
            return None
        # Dramatiq's _StubConsumer.__next__, with a Message taken as it is (dramatiq_internals.py).
        if not self.prefetch_semaphore.acquire(timeout=self.timeout / 1000):
            return None
        try:
            item = self.queue.get(timeout=self.timeout / 1000)
        except queue.Empty:
            self.prefetch_semaphore.release()
            return None
        return StubMessageProxy(item if isinstance(item, Message) else Message.decode(item))


def _redis_message_id(data: Any) -> str | None:
    try:
        return str(Message.decode(data).options.get("redis_message_id") or "") or None
    except Exception:  # a malformed message is the fetch filter's business
        return None
