"""Idle polling, one round trip per worker process and second: a worker consumes every priority
level of every job type and their delay queues, 32 Dramatiq consumers per process, and each of
them, idle, runs a fetch script about once a second (Dramatiq's backoff, up to the worker timeout):
about 43 fetch scripts and 170 Redis commands a second per idle process, where a plain Dramatiq
worker with one queue costs 8.

A consumer that has found nothing for a while (IDLE_MISSES empty fetches in a row: its backoff has
grown to a third of a second) asks this gate instead of Redis. The gate answers for the whole
process from one `EXISTS` of the lists of every queue it serves (an empty list does not exist):
while none of them holds a message, idle consumers sleep their backoff without fetching; as soon
as any does, every idle consumer is woken and fetches as Dramatiq's would, so a busy process
behaves exactly as before, priority order included.

What an idle worker costs Redis is mostly how often it wakes Redis up, not the commands: on the
benchmark's VM a request that finds Redis asleep costs 80-200 µs of its CPU against a few µs for
the command (benchmarks/idle.py). So the gate's `EXISTS` travels in one pipeline with the
scheduler's look at the first due schedule (`read`, which also returns that), and the scheduler,
which looks once a second anyway, is what polls: `next_schedule` refreshes the gate too. Gated
consumers poll themselves only when no poll came for `interval_s` (no scheduler, or a late one).
A message put on an idle worker's queue waits at most about a second for its consumer, as under
Dramatiq's own backoff.

Paused queues are left out (their consumers fetch nothing anyway; a paused backlog would keep the
gate open), looked up only when some list holds messages. A failed poll opens the gate: the
consumers' own fetches then meet the outage and report it as usual.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

#: Empty fetches in a row after which a consumer asks the gate (Dramatiq's backoff is then 320 ms+).
IDLE_MISSES = 6

#: (list keys) -> (how many of them exist, the first unpaused schedule's next run in ms or None):
#: one round trip; with no keys, no `EXISTS` is sent.
Read = Callable[[list[str]], tuple[int, int | None]]


class IdleGate:
    def __init__(
        self,
        exists: Callable[[list[str]], int],
        list_key: Callable[[str], str],
        is_paused: Callable[[str], bool],
        interval_s: float = 1.2,
        read: Read | None = None,
        nap_s: float = 0.5,
    ) -> None:
        self._exists = exists
        self._list_key = list_key
        self._is_paused = is_paused
        #: Gated consumers poll themselves when no poll came for this long: a little over the
        #: scheduler's second, so that it is the one polling.
        self.interval_s = interval_s
        #: Gated consumers sleep at most this before asking again (no round trip): a delay queue's
        #: consumer hands its due messages over between two naps, as often as before the gate.
        self.nap_s = nap_s
        #: The gate's poll with the scheduler's look (one round trip); without it, `exists` alone.
        self.read = read
        self._queues: set[str] = set()
        self._lock = threading.Lock()
        self._polled_at = float("-inf")
        self._open = True
        #: Set while the gate is open: gated consumers sleep on it, and wake as soon as it opens.
        self._opened = threading.Event()
        self._opened.set()
        self._looked_at = float("-inf")
        self._first_schedule: int | None = None

    def may_have_work(self, queue_name: str, misses: int) -> bool:
        """Whether a consumer with `misses` empty fetches in a row should fetch now."""
        if misses < IDLE_MISSES:
            return True
        with self._lock:
            self._queues.add(queue_name)
            now = time.monotonic()
            if now - self._polled_at >= self.interval_s:
                try:
                    self._poll(now)
                except Exception:
                    self._set_open(True)
            return self._open

    def sleep(self, seconds: float) -> None:
        """A gated consumer's wait: `seconds`, or until a poll finds work."""
        self._opened.wait(seconds)

    def next_schedule(self, max_age_s: float) -> int | None:
        """The first unpaused schedule's next run (ms, Redis's clock; None: no schedule), from a
        poll at most `max_age_s` old, else from a new one, which refreshes the gate as well. A
        failed read opens the gate and raises (the scheduler reports the outage)."""
        with self._lock:
            now = time.monotonic()
            if now - self._looked_at > max_age_s:
                try:
                    self._poll(now)
                except Exception:
                    self._set_open(True)
                    raise
            return self._first_schedule

    def _set_open(self, is_open: bool) -> None:
        self._open = is_open
        if is_open:
            self._opened.set()
        else:
            self._opened.clear()

    def _poll(self, now: float) -> None:
        """Under the lock. Paused queues are looked up only when some list holds messages: an idle
        process's poll stays one round trip."""
        queues = sorted(self._queues)
        keys = [self._list_key(q) for q in queues]
        if queues:
            self._polled_at = now  # a failed poll too: at most one attempt per interval
        if self.read is not None:
            count, self._first_schedule = self.read(keys)
            self._looked_at = now
        else:
            count = self._exists(keys) if keys else 0
        if not queues:
            return  # no consumer is gated: the gate's answer is not asked for
        if count == 0:
            self._set_open(False)
            return
        unpaused = [q for q in queues if not self._is_paused(q)]
        if len(unpaused) == len(queues):
            self._set_open(True)
            return
        self._set_open(bool(unpaused) and self._exists([self._list_key(q) for q in unpaused]) > 0)
