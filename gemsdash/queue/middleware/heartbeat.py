"""Tells the store, every few seconds, that this worker process is alive and how busy it is.

Dramatiq only refreshes its own heartbeat when a consumer talks to Redis, and a consumer whose
prefetch is full stays silent while long jobs run; this heartbeat keeps the ack lease of a busy
worker alive, so a short worker timeout (fast crash recovery) never requeues work still running.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from dramatiq import Broker, Middleware, Worker

from gemsdash.queue import outage
from gemsdash.queue.errors import BackendUnavailable
from gemsdash.queue.messages import canonical_queue
from gemsdash.queue.out_of_memory import is_out_of_memory
from gemsdash.queue.store import JobStore, WorkerInfo

logger = logging.getLogger(__name__)


class Heartbeat(Middleware):
    def __init__(self, store: JobStore, worker_id: str, interval_s: float, in_flight: Callable[[], int]) -> None:
        self.store = store
        self.worker_id = worker_id
        self.interval_s = interval_s
        self.in_flight = in_flight
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._threads = 0
        self._queues: list[str] = []
        self._consumes: list[str] = []
        self._started_at = datetime.now(UTC)
        #: The oldest heartbeat of any worker as of this process's last beat (ms, Redis's clock;
        #: None: not known), which tells Recovery whether a pass has anything to do.
        self.oldest_beat_ms: int | None = None

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        self._threads = worker.worker_threads
        self._queues = sorted({canonical_queue(name) for name in worker.consumers})
        self._consumes = sorted(name for name in worker.consumers if not name.endswith(".DQ"))
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gemsdash-heartbeat", daemon=True)
        self._thread.start()

    def after_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.store.forget_worker(self.worker_id)
        except Exception as exc:  # Redis may be gone at shutdown; the entry expires by itself.
            logger.warning("Could not deregister worker: %s", exc)

    def beat(self) -> None:
        self.oldest_beat_ms = self.store.heartbeat(
            WorkerInfo(
                id=self.worker_id,
                host=socket.gethostname(),
                pid=os.getpid(),
                threads=self._threads,
                started_at=self._started_at,
                last_heartbeat=datetime.now(UTC),
                in_flight=self.in_flight(),
                queues=self._queues,
                consumes=self._consumes,
            )
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
            except BackendUnavailable as exc:
                outage.report(exc)
            except Exception as exc:
                if is_out_of_memory(exc):
                    outage.report(exc)
                else:
                    logger.warning("Heartbeat failed: %s", exc)
            else:
                outage.ok()
            self._stop.wait(self.interval_s)
