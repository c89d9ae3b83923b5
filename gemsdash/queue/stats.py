"""Reads for the dashboard, the CLI and the HTTP API: stats, job lists, job detail, health."""

from __future__ import annotations

from typing import Any

from gemsdash.queue.ids import resolve
from gemsdash.queue.jobs import JobRecord, JobState, Priority, job_type
from gemsdash.queue.problems import Health as Health
from gemsdash.queue.problems import Problem as Problem
from gemsdash.queue.problems import health as health
from gemsdash.queue.runtime import current_runtime
from gemsdash.queue.store import JobPage, Snapshot, WorkerInfo


def queue_stats() -> Snapshot:
    """Every queue's counts by state, throughput and live workers, read as one snapshot."""
    return current_runtime().store.snapshot()


def stats_json(snapshot: Snapshot | None = None) -> dict[str, Any]:
    """The `gemsdash stats --json` document."""
    runtime = current_runtime()
    snapshot = snapshot or runtime.store.snapshot()
    return {"mode": runtime.mode, "fallback_reason": runtime.fallback_reason, **snapshot.as_json()}


def get_job(job_id: str) -> JobRecord | None:
    """The job a full id or an unambiguous prefix of 8+ characters names (AmbiguousJobId if several)."""
    return current_runtime().store.get(resolve(job_id))


def _priority(value: str) -> str:
    """A priority filter as the stores take it: "" for none, else a valid priority's name."""
    return Priority(value).value if value else ""


def job_logs(job_id: str) -> list[str]:
    """What the job logged during its last run (bounded, masked); [] when nothing was kept."""
    return current_runtime().store.job_logs(resolve(job_id))


def list_jobs(
    queue: str,
    state: JobState | str | None = None,
    limit: int = 50,
    offset: int = 0,
    search: str = "",
    *,
    priority: str = "",
) -> JobPage:
    """Newest first; with `search`, jobs whose id starts with it, whose error mentions it, or whose
    payload's SEARCH_FIELDS (idempotency key, payment id, user id, email address) contain it."""
    name = job_type(queue).queue
    chosen = JobState(state) if state else None
    return current_runtime().store.page(
        name,
        chosen,
        max(offset, 0),
        min(max(limit, 1), 500),
        search,
        priority=_priority(priority),
    )


def dashboard_view(
    queue: str,
    state: JobState | str | None = None,
    limit: int = 50,
    offset: int = 0,
    search: str = "",
    *,
    priority: str = "",
) -> tuple[Snapshot, JobPage]:
    """What a dashboard refresh needs, every queue's counts and one page of one queue's jobs, in one
    round trip; the page is read at the same instant as the counts."""
    name = job_type(queue).queue
    chosen = JobState(state) if state else None
    snapshot, page = current_runtime().store.view(
        name,
        chosen,
        max(offset, 0),
        min(max(limit, 1), 500),
        search,
        priority=_priority(priority),
    )
    assert page is not None
    return snapshot, page


def workers() -> list[WorkerInfo]:
    return current_runtime().store.workers()
