"""Abort a running job: an operator's request (`gemsdash abort ID`) is kept by the store; each
worker process looks, every POLL_SECONDS while it runs jobs, whether any of its running jobs was
asked to stop, and raises JobAborted in that job's thread with the mechanism Dramatiq's own time
limit uses (an asynchronous exception). The job then ends `cancelled`, "aborted by <who>", and is
not retried.

An asynchronous exception is seen when the thread next runs Python code: a job blocked inside one
long C call (a socket read without a timeout) stops when that call returns.

A job whose record its worker's fetch marked `running` (redis_broker.py) may wait in the worker's
memory before it begins; the poll asks about those too, and one asked to stop meanwhile never
begins: JobAborted is raised in its thread's last `before_process_message` hook, the job's code is
not called, and it ends `cancelled` like any aborted job. (One asked between the last poll and its
start begins, and is interrupted at the next poll, as a running job is.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from dramatiq import Broker, Middleware, Worker
from dramatiq.middleware import Interrupt, raise_thread_exception

from gemsdash.queue.dramatiq_internals import proxied_message
from gemsdash.queue.store import JobStore

logger = logging.getLogger(__name__)

#: How often a worker process with running jobs asks the store about abort requests.
POLL_SECONDS = 0.5


class JobAborted(Interrupt):
    """Raised in a job's thread when an operator aborted it."""


class Aborts(Middleware):
    """Knows which thread runs which job, and interrupts the ones asked to stop."""

    def __init__(
        self, store: JobStore, waiting: Callable[[], list[str]] | None = None, poll_seconds: float = POLL_SECONDS
    ) -> None:
        self.store = store
        #: The jobs this process fetched as `running` that have not begun (Settling.waiting_jobs).
        self.waiting = waiting or (lambda: [])
        self.poll_seconds = poll_seconds
        self._threads: dict[str, int] = {}
        #: Waiting jobs asked to stop before they began.
        self._stopped_early: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gemsdash-aborts", daemon=True)
        self._thread.start()

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        self._stop.set()

    # The message's id read from the message itself: through its proxy, each read is a Python call.
    def before_process_message(self, broker: Broker, message: Any) -> None:
        job_id = proxied_message(message).message_id
        with self._lock:
            if job_id in self._stopped_early:
                self._stopped_early.discard(job_id)
                logger.info("Aborting job %s before it began, on an operator's request.", job_id)
                raise JobAborted(f"job {job_id} was aborted before it began")
            self._threads[job_id] = threading.get_ident()

    def after_process_message(
        self, broker: Broker, message: Any, *, result: Any | None = None, exception: BaseException | None = None
    ) -> None:
        self._forget(proxied_message(message).message_id)

    def after_skip_message(self, broker: Broker, message: Any) -> None:
        self._forget(proxied_message(message).message_id)

    def _forget(self, job_id: str) -> None:
        with self._lock:
            self._threads.pop(job_id, None)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.check()
            except Exception as exc:  # Redis away: the request waits in the store; try again
                logger.debug("could not read abort requests: %s", exc)

    def check(self) -> None:
        """Interrupt every running job of this process that an operator asked to abort."""
        with self._lock:
            running = dict(self._threads)
        waiting = set(self.waiting()) - running.keys()
        if not running and not waiting:
            return
        for job_id in self.store.abort_requests([*running, *waiting]):
            # Under the lock the job's thread takes to forget it when the job returns: the
            # exception is raised only into a thread still running that job.
            with self._lock:
                thread_id = self._threads.get(job_id)
                if thread_id is not None:
                    logger.info("Aborting job %s on an operator's request.", job_id)
                    raise_thread_exception(thread_id, JobAborted)  # type: ignore[no-untyped-call]
                elif job_id in waiting:
                    self._stopped_early.add(job_id)
