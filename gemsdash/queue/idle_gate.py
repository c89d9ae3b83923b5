"""Idle polling, one command per worker process: a worker consumes every priority level of every
job type and their delay queues, 32 Dramatiq consumers per process, and each of them, idle, runs a
fetch script about once a second (Dramatiq's backoff, up to the worker timeout): about 43 fetch
scripts and 170 Redis commands a second per idle process, where a plain Dramatiq worker with one
queue costs 8.

A consumer that has found nothing for a while (IDLE_MISSES empty fetches in a row: its backoff has
grown to a third of a second) asks this gate instead of Redis. The gate answers for the whole
process from one `EXISTS` of the lists of every queue it serves (an empty list does not exist),
sent at most every `interval_s`: while none of them holds a message, idle consumers sleep their
backoff without fetching; as soon as any does, every idle consumer fetches as Dramatiq's would, so
a busy process behaves exactly as before, priority order included.

A gated consumer sleeps its backoff but at most `interval_s` before asking again (no round trip),
so a message put on an idle worker's queue waits at most about twice `interval_s` for its consumer
(under Dramatiq's backoff alone: up to the worker timeout, a second). Paused queues are left
out (their consumers fetch nothing anyway; a paused backlog would keep the gate open), looked up
only when some list holds messages. A failed
`EXISTS` opens the gate: the consumer's own fetch then meets the outage and reports it as usual.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: Empty fetches in a row after which a consumer asks the gate (Dramatiq's backoff is then 320 ms+).
IDLE_MISSES = 6


class IdleGate:
    def __init__(
        self,
        exists: Callable[[list[str]], int],
        list_key: Callable[[str], str],
        is_paused: Callable[[str], bool],
        interval_s: float = 0.5,
    ) -> None:
        self._exists = exists
        self._list_key = list_key
        self._is_paused = is_paused
        #: Gated consumers sleep at most this between questions: asking costs no round trip.
        self.interval_s = interval_s
        self._queues: set[str] = set()
        self._lock = threading.Lock()
        self._polled_at = float("-inf")
        self._open = True

    def may_have_work(self, queue_name: str, misses: int) -> bool:
        """Whether a consumer with `misses` empty fetches in a row should fetch now."""
        if misses < IDLE_MISSES:
            return True
        with self._lock:
            self._queues.add(queue_name)
            now = time.monotonic()
            if now - self._polled_at >= self.interval_s:
                self._polled_at = now
                try:
                    self._open = self._poll()
                except Exception:
                    self._open = True
            return self._open

    def _poll(self) -> bool:
        """Paused queues are looked up only when some list holds messages: an idle process's
        poll stays one command."""
        queues = sorted(self._queues)
        if self._exists([self._list_key(q) for q in queues]) == 0:
            return False
        unpaused = [q for q in queues if not self._is_paused(q)]
        if len(unpaused) == len(queues):
            return True
        return bool(unpaused) and self._exists([self._list_key(q) for q in unpaused]) > 0
