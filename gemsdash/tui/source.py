"""Where the dashboard's data comes from: `gemsdash.queue`, behind one small seam.

The app only ever talks to a `DataSource`. The default, `QueueSource`, calls the public
`gemsdash.queue` functions (which reach Redis or the in-memory store); snapshot tests pass a source
of fixed dashboard data instead, so a screen can be pinned without pinning the clock of a backend.
Every method may block on the network: callers run them off the UI thread.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

import gemsdash.queue as q
from gemsdash.queue import ClearResult, JobPage, JobRecord, JobState, Schedule, Snapshot, WorkerInfo

#: Rows per page of the jobs table: enough to fill a tall terminal, small enough to read in one go.
PAGE_SIZE = 50


@dataclass(frozen=True)
class Backend:
    """What the header says about where the data lives."""

    mode: str
    url: str | None
    fallback_reason: str | None
    #: The Redis primary's `host:port` when Sentinel picks it (it changes at a failover).
    primary: str | None = None


@dataclass(frozen=True)
class JobQuery:
    """One page of one queue's jobs, as the jobs table asks for it."""

    queue: str
    state: JobState | None = None
    search: str = ""
    offset: int = 0
    limit: int = PAGE_SIZE
    #: Only jobs of this priority ("" for all).
    priority: str = ""

    def moved(self, **changes: Any) -> JobQuery:
        return replace(self, **changes)


class DataSource(Protocol):
    def backend(self) -> Backend: ...

    def snapshot(self) -> Snapshot: ...

    def view(self, query: JobQuery) -> tuple[Snapshot, JobPage]:
        """The snapshot and one page of jobs, read together (one round trip in Redis)."""
        ...

    def jobs(self, query: JobQuery) -> JobPage: ...

    def job(self, job_id: str) -> JobRecord | None: ...

    def job_logs(self, job_id: str) -> list[str]: ...

    def workers(self) -> list[WorkerInfo]: ...

    def audit_log(self, limit: int) -> list[dict[str, Any]]: ...

    def retry(self, job_id: str) -> None: ...

    def retry_all(self, queue: str) -> int: ...

    def retry_jobs(self, job_ids: list[str]) -> tuple[int, list[str]]: ...

    def cancel(self, job_id: str) -> None: ...

    def cancel_jobs(self, job_ids: list[str]) -> tuple[int, list[str]]: ...

    def clear(self, queue: str, *, include_dead: bool) -> ClearResult: ...

    def set_paused(self, queue: str, paused: bool) -> bool: ...

    def delete(self, job_id: str) -> None: ...

    def abort(self, job_id: str) -> None: ...

    def run_now(self, job_id: str) -> None: ...

    def add_job(self, job_type: str, payload: dict[str, Any], *, priority: str | None, delay_ms: int | None) -> str: ...

    def schedules(self) -> list[Schedule]: ...

    def pause_schedule(self, name: str) -> Schedule: ...

    def resume_schedule(self, name: str) -> Schedule: ...

    def run_schedule(self, name: str) -> str: ...

    def remove_schedule(self, name: str) -> None: ...


class QueueSource:
    """The real thing: every call goes through the public `gemsdash.queue` API."""

    def backend(self) -> Backend:
        described = q.current_runtime().describe()
        return Backend(described["mode"], described["url"], described["fallback_reason"], described.get("primary"))

    def snapshot(self) -> Snapshot:
        return q.queue_stats()

    def view(self, query: JobQuery) -> tuple[Snapshot, JobPage]:
        return q.dashboard_view(
            query.queue, query.state, query.limit, query.offset, query.search, priority=query.priority
        )

    def jobs(self, query: JobQuery) -> JobPage:
        return q.list_jobs(query.queue, query.state, query.limit, query.offset, query.search, priority=query.priority)

    def job(self, job_id: str) -> JobRecord | None:
        return q.get_job(job_id)

    def job_logs(self, job_id: str) -> list[str]:
        return q.job_logs(job_id)

    def workers(self) -> list[WorkerInfo]:
        return q.workers()

    def audit_log(self, limit: int) -> list[dict[str, Any]]:
        return q.audit_log(limit)

    def retry(self, job_id: str) -> None:
        q.retry(job_id)

    def retry_all(self, queue: str) -> int:
        return q.retry_all(queue)

    def retry_jobs(self, job_ids: list[str]) -> tuple[int, list[str]]:
        return q.retry_jobs(job_ids)

    def cancel(self, job_id: str) -> None:
        q.cancel(job_id)

    def cancel_jobs(self, job_ids: list[str]) -> tuple[int, list[str]]:
        return q.cancel_jobs(job_ids)

    def clear(self, queue: str, *, include_dead: bool) -> ClearResult:
        return q.clear(queue, include_dead=include_dead)

    def set_paused(self, queue: str, paused: bool) -> bool:
        return q.pause(queue) if paused else q.resume(queue)

    def delete(self, job_id: str) -> None:
        q.delete(job_id)

    def abort(self, job_id: str) -> None:
        q.abort(job_id)

    def run_now(self, job_id: str) -> None:
        q.run_now(job_id)

    def add_job(self, job_type: str, payload: dict[str, Any], *, priority: str | None, delay_ms: int | None) -> str:
        return q.add_job(job_type, payload, priority=priority, delay=delay_ms)

    def schedules(self) -> list[Schedule]:
        return q.list_schedules()

    def pause_schedule(self, name: str) -> Schedule:
        return q.pause_schedule(name)

    def resume_schedule(self, name: str) -> Schedule:
        return q.resume_schedule(name)

    def run_schedule(self, name: str) -> str:
        return q.run_schedule(name)

    def remove_schedule(self, name: str) -> None:
        q.remove_schedule(name)
