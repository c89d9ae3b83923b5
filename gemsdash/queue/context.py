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
    #: What `begin` was given, made a JobContext when asked for (then kept in `job`).
    fields: tuple[str, JobType, int, int] | None = None
    result: Any = None


_slot = _Slot()


def current_job() -> JobContext:
    """The job this worker thread is running; job code uses its id for idempotency keys."""
    job = active()
    if job is None:
        raise RuntimeError("current_job() called outside a running job")
    return job


def enter(job: JobContext) -> None:
    _slot.job = job
    _slot.fields = None
    _slot.result = None


def begin(job_id: str, job_type: JobType, attempt: int, max_attempts: int) -> None:
    """As `enter(JobContext(...))`, the JobContext built only when something asks for it: a frozen
    dataclass costs ~10k instructions to build (a no-op job in memory mode is ~500k), and most
    jobs never ask."""
    _slot.fields = (job_id, job_type, attempt, max_attempts)
    _slot.job = None
    _slot.result = None


def set_result(value: Any) -> None:
    _slot.result = value


def leave() -> Any:
    """The job's result, clearing the slot for the next message on this thread."""
    result = _slot.result
    _slot.job = None
    _slot.fields = None
    _slot.result = None
    return result


def active_id() -> str | None:
    """The running job's id, without building its JobContext."""
    fields = _slot.fields
    if fields is not None:
        return fields[0]
    job = _slot.job
    return None if job is None else job.job_id


def active() -> JobContext | None:
    job = _slot.job
    if job is None:
        fields = _slot.fields
        if fields is not None:
            job = _slot.job = JobContext(*fields)
    return job
