"""How many of a fetch's messages the fetch itself may start (hot.lua `fetch`: their records made
`running` in the same call, which spares each job a `start` round trip, the larger part of what
gemsdash cost Redis per short job).

A job its fetch started shows `running` from then on, and its `start` no longer checks, as it
begins, whether it was cancelled meanwhile: a `cancel` is refused ("it is running"; `abort` stops
it). That is only honest if it begins at once. So the fetch starts just the messages this worker
expects to begin within EARLY_START_S: its free threads, less what already waits in its memory,
plus as many more as its threads get through in that time at the queue's recent run time per job.
With short jobs (the ones whose `start` call costs Redis as much as their work) every fetched
message qualifies; with long ones, a prefetched message (Dramatiq fetches two per thread) stays
`queued`, can be cancelled, and starts when a thread takes it, as without the fold. An estimate
that proves wrong (a job far slower than the queue's last ones) leaves a started job waiting: the
abort poll covers those (abort.py), a success records when it really began (hot.lua `succeed`).
"""

from __future__ import annotations

import time
from typing import Any

from dramatiq import Broker, Middleware, Worker

from gemsdash.queue.dramatiq_internals import proxied_message, worker_load

#: How long a message started by its fetch may be expected to wait before a thread takes it.
EARLY_START_S = 0.25
#: Weight of a job's run time in its queue's moving average.
_WEIGHT = 0.2


class EarlyStarts(Middleware):
    """Counts this process's running jobs and keeps each queue's average run time."""

    def __init__(self) -> None:
        self._worker: Worker | None = None
        #: message id -> monotonic time it began, for the jobs running now.
        self._began: dict[str, float] = {}
        #: physical queue -> moving average of its jobs' run times, in seconds.
        self._pace: dict[str, float] = {}

    # Before: a worker's consumers start (and fetch) during its boot.
    def before_worker_boot(self, broker: Broker, worker: Worker) -> None:
        self._worker = worker

    # Single dict operations, atomic under the GIL: no lock on a path every job takes.
    def before_process_message(self, broker: Broker, message: Any) -> None:
        self._began[proxied_message(message).message_id] = time.monotonic()

    def after_process_message(
        self, broker: Broker, message: Any, *, result: Any | None = None, exception: BaseException | None = None
    ) -> None:
        msg = proxied_message(message)
        began = self._began.pop(msg.message_id, None)
        if began is None:
            return
        took = time.monotonic() - began
        before = self._pace.get(msg.queue_name)
        self._pace[msg.queue_name] = took if before is None else before + _WEIGHT * (took - before)

    def after_skip_message(self, broker: Broker, message: Any) -> None:
        self._began.pop(proxied_message(message).message_id, None)

    def room(self, queue_name: str, started_waiting: int) -> int:
        """How many of the next messages fetched from `queue_name` to start in the fetch, with
        `started_waiting` messages an earlier fetch started that have not begun yet."""
        if self._worker is None:  # no worker: nothing begins
            return 0
        threads, waiting = worker_load(self._worker)
        free = threads - len(self._began) - max(waiting, started_waiting)
        pace = self._pace.get(queue_name)
        if pace is None:  # nothing known of the queue's jobs: only what free threads take at once
            return max(free, 0)
        if pace <= 0:
            return 1 << 16
        return max(free + int(EARLY_START_S * threads / pace), 0)
