"""One refresh: everything the screens on display need, read in one go off the UI thread.

The snapshot (all counts) is always read, with the job page of the main screen in the same round
trip; the job on the detail screen, the worker list, the audit log and the dead jobs to group only
when a screen on display shows them, so a refresh costs one round trip on the main screen, and a
fixed, small number elsewhere, whatever the number of jobs.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from gemsdash.queue import GemsdashError, JobPage, JobRecord, JobState, Schedule, Snapshot, WorkerInfo
from gemsdash.tui.source import DataSource, JobQuery

logger = logging.getLogger("gemsdash.tui")

AUDIT_ROWS = 200
#: Dead jobs read for grouping by error: the most one page read returns.
DEAD_SAMPLE = 500


@dataclass(frozen=True)
class RefreshRequest:
    jobs: JobQuery | None = None
    job_id: str | None = None
    workers: bool = False
    audit: bool = False
    #: Read the newest dead jobs of this queue (for grouping them by error).
    dead_of: str | None = None
    schedules: bool = False


@dataclass(frozen=True)
class RefreshResult:
    request: RefreshRequest
    snapshot: Snapshot | None = None
    page: JobPage | None = None
    job: JobRecord | None = None
    workers: list[WorkerInfo] | None = None
    audit: list[dict[str, Any]] | None = None
    dead: JobPage | None = None
    #: What the job on the detail screen logged in its last run.
    logs: list[str] | None = None
    #: One line saying why the refresh failed; None when it succeeded.
    error: str | None = None
    elapsed_ms: float = 0.0
    schedules: list[Schedule] | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def fetch(source: DataSource, request: RefreshRequest) -> RefreshResult:
    """Read what `request` asks for; never raises, a failure is the result's `error`."""
    started = time.perf_counter()
    try:
        page: JobPage | None = None
        if request.jobs is not None:
            snapshot, page = source.view(request.jobs)
        else:
            snapshot = source.snapshot()
        job = source.job(request.job_id) if request.job_id is not None else None
        logs = source.job_logs(request.job_id) if request.job_id is not None and job is not None else None
        workers = source.workers() if request.workers else None
        audit = source.audit_log(AUDIT_ROWS) if request.audit else None
        dead = source.jobs(JobQuery(request.dead_of, JobState.DEAD, limit=DEAD_SAMPLE)) if request.dead_of else None
        schedules = source.schedules() if request.schedules else None
    except GemsdashError as exc:
        return RefreshResult(request, error=str(exc), elapsed_ms=_ms_since(started))
    except Exception as exc:  # the dashboard must outlive any backend surprise, and say what it was
        logger.exception("refresh failed")
        return RefreshResult(request, error=f"{type(exc).__name__}: {exc}", elapsed_ms=_ms_since(started))
    return RefreshResult(request, snapshot, page, job, workers, audit, dead, logs, None, _ms_since(started), schedules)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
