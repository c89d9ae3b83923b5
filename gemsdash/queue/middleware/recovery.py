"""Returns the work of dead workers to their queues within a known bound.

Dramatiq's own maintenance runs on a random fraction of commands, queue by queue, and looks up
ack sets with KEYS; with the broker's maintenance turned off, each worker process runs this
instead, every `interval_s`, touching only known keys. A job held by a worker that was killed runs
again within worker_timeout + interval (15 s + 5 s by default).

After a Redis outage longer than the worker timeout every heartbeat is old, the live workers'
too: a pass then would requeue what they are running, and it would run twice. So no pass runs
while Redis is away nor for `settle_s` (the worker timeout) after it is back, time enough for
every live worker to beat again.

A pass is a script call, and on an idle deployment it almost always finds nobody dead: every
heartbeat's reply says how old the oldest heartbeat of any worker is (`oldest_beat`), so a pass
runs only once that one is older than the timeout (a dead worker's heartbeat never moves, so it
is the oldest within one beat of its death and is caught at the first tick after its timeout, as
before), and otherwise once every `idle_pass_s` in case that reading is wrong. The housekeeping
that passes did in turn is done by the heartbeats (jobs.lua `housekeeping`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from dramatiq import Broker, Middleware, Worker

from gemsdash.queue import clock, outage
from gemsdash.queue.errors import BackendUnavailable
from gemsdash.queue.out_of_memory import OUT_OF_MEMORY, is_out_of_memory
from gemsdash.queue.store import JobStore

logger = logging.getLogger(__name__)


#: A pass at least this often even when no heartbeat looks old.
IDLE_PASS_S = 60.0


class Recovery(Middleware):
    def __init__(
        self,
        store: JobStore,
        interval_s: float,
        settle_s: float = 0.0,
        oldest_beat: Callable[[], int | None] | None = None,
        timeout_ms: int = 0,
        idle_pass_s: float = IDLE_PASS_S,
    ) -> None:
        self.store = store
        self.interval_s = interval_s
        self.settle_s = settle_s
        self.oldest_beat = oldest_beat
        self.timeout_ms = timeout_ms
        self.idle_pass_s = idle_pass_s
        self._passed_at = float("-inf")
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
            since_back = outage.seconds_since_back()
            if outage.is_down() or OUT_OF_MEMORY.active or (since_back is not None and since_back < self.settle_s):
                continue
            if not self._needed():
                continue
            self._passed_at = time.monotonic()
            try:
                dead, requeued = self.store.recover()
                if dead:
                    logger.warning("Recovered %d dead worker(s); %d message(s) back in their queues.", dead, requeued)
            except BackendUnavailable as exc:
                outage.report(exc)
            except Exception as exc:
                if is_out_of_memory(exc):
                    outage.report(exc)
                else:
                    logger.warning("Recovery pass failed: %s", exc)

    def _needed(self) -> bool:
        """Whether some heartbeat may be past the timeout (by the last beat's reading and Redis's
        clock as this process knows it), or no pass ran for `idle_pass_s`."""
        oldest = self.oldest_beat() if self.oldest_beat is not None else None
        if oldest is None or clock.now_ms() - oldest >= self.timeout_ms:
            return True
        return time.monotonic() - self._passed_at >= self.idle_pass_s
