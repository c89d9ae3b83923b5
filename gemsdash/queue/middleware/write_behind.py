"""Records successes from a thread of its own, many per round trip, so that worker threads never
wait on Redis after a job.

A success is the common case, and nothing the worker thread does next depends on its write: the
record and Dramatiq's ack of the message are queued here and sent with every other one pending in
one `succeed` script call. Under load dozens share a round trip; a worker thread's
only Redis call per job is then the `start` that decides whether the job may run (as plain
Dramatiq's is its ack). Failures (retrying, dead) are still written by the worker thread itself:
they are rare, and Retries' re-enqueue must not overtake them.

Nothing is lost when the process dies with writes pending: the ack is part of the write, so the
message is still in this worker's ack set and crash recovery delivers it again, as for any job a
killed worker was running. The queue is bounded: during a Redis outage worker threads stop at
their next success instead of piling writes up in memory. Shutdown flushes what is pending before
the worker deregisters: this middleware comes after Heartbeat, and `after_*` hooks run in reverse.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from dramatiq import Broker, Middleware, Worker

from gemsdash.queue.middleware.persist import persist
from gemsdash.queue.store import Success, SuccessBatches

logger = logging.getLogger(__name__)

#: Writes waiting at most; a full queue makes worker threads wait (an outage, a very slow Redis).
CAPACITY = 4096
#: Successes per `succeed` call (one round trip).
MAX_BATCH = 256
#: How long the writer waits after a first success for others to join its batch. Each batch costs
#: the worker process a wake-up and a round trip; 50 ms against 20 ms took about 50 us of worker CPU
#: off each 10 ms job (benchmarks, 2 x 8 threads). The dashboard refreshes once a second.
LINGER_S = 0.05
#: How long shutdown waits for pending writes; what is left runs again after recovery.
FLUSH_TIMEOUT_S = 30.0


class WriteBehind(Middleware):
    def __init__(self, store: SuccessBatches) -> None:
        self.store = store
        self._pending: queue.Queue[Success | None] = queue.Queue(CAPACITY)
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        self._thread = threading.Thread(target=self._run, name="gemsdash-write-behind", daemon=True)
        self._thread.start()

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._pending.put(None)
        thread.join(FLUSH_TIMEOUT_S)
        if thread.is_alive():
            logger.error(
                "%d job success(es) could not be recorded before shutdown; their jobs run again after recovery.",
                self._pending.qsize(),
            )

    def record(self, success: Success) -> None:
        """Queue a success; written at once (by the caller) when no worker runs in this process."""
        if self._thread is None:
            persist(lambda: self.store.succeed_many([success]))
            return
        self._pending.put(success)

    def _run(self) -> None:
        while True:
            first = self._pending.get()
            if first is None:
                return
            # Linger a moment, so that at moderate rates several successes share a round trip
            # instead of each taking one (the worker threads are not waiting for it).
            time.sleep(LINGER_S)
            batch = [first]
            done = False
            while len(batch) < MAX_BATCH and not done:
                try:
                    item = self._pending.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    done = True
                else:
                    batch.append(item)
            self._write(batch)
            if done:
                return

    def _write(self, batch: list[Success]) -> None:
        try:
            persist(lambda: self.store.succeed_many(batch))
        except Exception:
            logger.exception(
                "Could not record %d job success(es); their messages stay unacknowledged and run "
                "again once this worker is restarted.",
                len(batch),
            )
