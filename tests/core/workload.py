"""Controllable job work for tests of the machinery around jobs (not of the jobs' own work)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from gemsdash.queue import JobType, PermanentJobError
from gemsdash.queue.handlers import override_work


class Scripted:
    """Work driven by the email payload's `context.name` (or an emotion payload's `text`):
    `ok` succeeds, `fail` raises (retried), `fatal` raises PermanentJobError, `block` waits for
    `release`, `slow` works in short steps until `release` (up to 30 s). Records the order in which jobs started."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release = threading.Event()
        self.blocking = threading.Event()
        self._lock = threading.Lock()

    def __call__(self, payload: Any) -> dict[str, Any]:
        context = getattr(payload, "context", None)
        name = str(context.get("name", "ok")) if context is not None else str(getattr(payload, "text", "ok"))
        with self._lock:
            self.started.append(name)
        if name.startswith("block"):
            self.blocking.set()
            self.release.wait(30)
        if name.startswith("log"):  # logs (warnings: seen whatever the root level), one a secret
            log = logging.getLogger("tests.job")
            log.warning("starting %s", name)
            log.warning("signing in with %s", context.get("password") if context is not None else "")
            for i in range(int(context.get("lines", 0)) if context is not None else 0):
                log.warning("line %d", i)
            logging.getLogger("dramatiq.test").warning("machinery, not the job's")
        if name.startswith("slow"):  # busy for 30 s in short steps: an abort can interrupt it
            self.blocking.set()
            for _ in range(600):
                if self.release.is_set():
                    break
                time.sleep(0.05)
        if name.startswith("fail"):
            raise RuntimeError(f"transient failure for {name}")
        if name.startswith("fatal"):
            raise PermanentJobError(f"permanent failure for {name}")
        return {"name": name}


@contextmanager
def scripted(*job_types: JobType) -> Iterator[Scripted]:
    work = Scripted()
    with ExitStack() as stack:
        for job_type in job_types or (JobType.EMAIL_NOTIFICATION,):
            stack.enter_context(override_work(job_type, work))
        try:
            yield work
        finally:
            work.release.set()


def email(name: str) -> dict[str, Any]:
    return {"to": "someone@example.com", "template": "welcome", "context": {"name": name}}
