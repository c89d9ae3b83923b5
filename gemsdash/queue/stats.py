"""Reads for the dashboard, the CLI and the HTTP API: stats, job lists, job detail, health."""

from __future__ import annotations

from typing import Any

from gemsdash.queue import sharding
from gemsdash.queue.errors import InvalidSearch
from gemsdash.queue.ids import resolve
from gemsdash.queue.jobs import MAX_SEARCH_CHARS, JobRecord, JobState, Priority, job_type
from gemsdash.queue.problems import Health as Health
from gemsdash.queue.problems import Problem as Problem
from gemsdash.queue.problems import health as health
from gemsdash.queue.runtime import current_runtime
from gemsdash.queue.sharding import by_id, by_queue
from gemsdash.queue.store import JobPage, Snapshot, WorkerInfo
from gemsdash.queue.visible import valid_unicode


def queue_stats() -> Snapshot:
    """Every queue's counts by state, throughput and live workers, read as one snapshot (with
    shards: one per shard, read at once and merged)."""
    return sharding.snapshot()


def stats_json(snapshot: Snapshot | None = None) -> dict[str, Any]:
    """The `gemsdash stats --json` document."""
    runtime = current_runtime()
    snapshot = snapshot or sharding.snapshot()
    return {"mode": runtime.mode, "fallback_reason": runtime.fallback_reason, **snapshot.as_json()}


@by_id
def get_job(job_id: str) -> JobRecord | None:
    """The job a full id or an unambiguous prefix of 8+ characters names (AmbiguousJobId if several)."""
    return current_runtime().store.get(resolve(job_id))


def _page_query(
    queue: str, state: JobState | str | None, limit: int, offset: int, search: str, priority: str
) -> tuple[str, JobState | None, int, int, str, str]:
    """A page request as the stores take it: queue, state, offset, limit (1-500), search, priority."""
    chosen = JobState(state) if state else None
    return job_type(queue).queue, chosen, max(offset, 0), min(max(limit, 1), 500), _search(search), _priority(priority)


def _search(text: str) -> str:
    """A search as the stores take it. A Redis scan step sends it and lower-cases it: a 30 MB one
    held Redis for 1.2 s a step (1.2 GB sent for one page), and a lone surrogate could not be sent
    at all, where memory mode matched nothing; both are refused here, for every caller."""
    if len(text) > MAX_SEARCH_CHARS:
        raise InvalidSearch(f"search: at most {MAX_SEARCH_CHARS:,} characters, not {len(text):,}")
    if not valid_unicode(text):
        raise InvalidSearch("search: not valid text (a lone surrogate)")
    return text


def _priority(value: str) -> str:
    """A priority filter as the stores take it: "" for none, else a valid priority's name."""
    return Priority(value).value if value else ""


@by_id
def job_logs(job_id: str) -> list[str]:
    """What the job logged during its last run (bounded, masked); [] when nothing was kept."""
    return current_runtime().store.job_logs(resolve(job_id))


@by_queue
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
    name, chosen, start, size, text, level = _page_query(queue, state, limit, offset, search, priority)
    return current_runtime().store.page(name, chosen, start, size, text, priority=level)


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
    name, chosen, start, size, text, level = _page_query(queue, state, limit, offset, search, priority)
    snapshot, page = sharding.view(name, lambda rt: rt.store.view(name, chosen, start, size, text, priority=level))
    # None: the queue's shard did not answer (snapshot.unavailable says why).
    return snapshot, page if page is not None else JobPage([], 0, start, size)


def workers() -> list[WorkerInfo]:
    return sharding.gathered(lambda runtime: runtime.store.workers())
