"""What job code may know about the job it is running, without importing Dramatiq."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from gemsdash.queue.jobs import JobType


@dataclass(frozen=True)
class JobContext:
    job_id: str
    job_type: JobType
    attempt: int
    max_attempts: int


class _Slot(threading.local):
    job: JobContext | None = None
    result: Any = None


_slot = _Slot()


def current_job() -> JobContext:
    """The job this worker thread is running; job code uses its id for idempotency keys."""
    if _slot.job is None:
        raise RuntimeError("current_job() called outside a running job")
    return _slot.job


def enter(job: JobContext) -> None:
    _slot.job = job
    _slot.result = None


def set_result(value: Any) -> None:
    _slot.result = value


def leave() -> Any:
    """The job's result, clearing the slot for the next message on this thread."""
    result = _slot.result
    _slot.job = None
    _slot.result = None
    return result


def active() -> JobContext | None:
    return _slot.job
