"""Fires due schedules from every worker process (and memory mode's embedded worker).

Any number of these may run at once, on any number of machines: a tick is claimed and its job
enqueued by one atomic store write that only the first firer's gets through (see
gemsdash.queue.schedules). Each pass is one read of the due schedules; the thread then sleeps until
the earliest next run, at most `max_wait_s`, so a 1-second schedule fires on time and an idle
deployment costs one small read per process per second.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from dramatiq import Broker, Middleware, Worker

from gemsdash.queue import outage
from gemsdash.queue.errors import BackendUnavailable

logger = logging.getLogger(__name__)


class Scheduler(Middleware):
    def __init__(self, fire: Callable[[float], float], max_wait_s: float = 1.0) -> None:
        #: Fires what is due; returns the seconds until the next look.
        self.fire = fire
        self.max_wait_s = max_wait_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gemsdash-scheduler", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        self._stop.set()

    def _run(self) -> None:
        failing = False
        wait = 0.0
        while not self._stop.wait(wait):
            try:
                wait = self.fire(self.max_wait_s)
                outage.back()
                failing = False
            except BackendUnavailable as exc:
                outage.lost(exc)  # one line per process and outage, shared with the other threads
                wait = self.max_wait_s
            except Exception:
                if not failing:  # once, not once a second
                    logger.exception("Firing schedules failed; retrying every %.0f s", self.max_wait_s)
                failing = True
                wait = self.max_wait_s
