"""Returns the work of dead workers to their queues within a known bound.

Dramatiq's own maintenance runs on a random fraction of commands, queue by queue, and looks up
ack sets with KEYS; with the broker's maintenance turned off, each worker process runs this
instead, every `interval_s`, touching only known keys. A job held by a worker that was killed runs
again within worker_timeout + interval (15 s + 5 s by default).

While Redis refuses writes (out of memory, unreachable), no worker can heartbeat; when it takes
them again, every live worker looks dead until its next beat. A pass then would requeue jobs still
running. So a process whose own heartbeat failed less than a worker timeout ago skips its passes:
by then every live worker has beaten again (they beat five times per timeout).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from dramatiq import Broker, Middleware, Worker

from gemsdash.queue.out_of_memory import OUT_OF_MEMORY, is_out_of_memory
from gemsdash.queue.store import JobStore

logger = logging.getLogger(__name__)


class Recovery(Middleware):
    def __init__(
        self,
        store: JobStore,
        interval_s: float,
        *,
        quiet_s: float = 0.0,
        last_heartbeat_failure: Callable[[], float | None] = lambda: None,
    ) -> None:
        self.store = store
        self.interval_s = interval_s
        self.quiet_s = quiet_s
        self.last_heartbeat_failure = last_heartbeat_failure
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gemsdash-recovery", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            failed = self.last_heartbeat_failure()
            if failed is not None and time.monotonic() - failed < self.quiet_s:
                continue
            try:
                dead, requeued = self.store.recover()
                if dead:
                    logger.warning("Recovered %d dead worker(s); %d message(s) back in their queues.", dead, requeued)
            except Exception as exc:
                if is_out_of_memory(exc):
                    OUT_OF_MEMORY.refused()
                else:
                    logger.warning("Recovery pass failed: %s", exc)
