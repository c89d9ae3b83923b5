"""Retry, cancel and clear: the same functions behind the CLI, the TUI and the HTTP API.

Each is one atomic store operation per job, so two operators acting at once have one effect, and
each is written to the audit log (when, what, how many, from which host and process).
"""

from __future__ import annotations

import getpass
import json
import os
import socket
from typing import Any

from dramatiq import Message

from gemsdash.queue.errors import InvalidTransition, JobNotFound, ReadOnlyMode
from gemsdash.queue.ids import resolve
from gemsdash.queue.jobs import JobRecord, JobState, job_type, now_ms
from gemsdash.queue.messages import job_message
from gemsdash.queue.registry import spec_for
from gemsdash.queue.runtime import current_runtime
from gemsdash.queue.sharding import by_id, by_ids, by_queue, gathered
from gemsdash.queue.store import ClearResult, Transition, Verdict
from gemsdash.queue.visible import scrub

RETRY_ALL_BATCH = 200


def actor_label() -> str:
    """Who acted: user@host:pid, as the audit log and job timelines show it."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "?"
    # A USER or LOGNAME that is not UTF-8 arrives holding lone surrogates (surrogateescape), which
    # Redis mode could not send and memory mode could not show: replaced, as stored text must be.
    label: str = scrub(f"{user}@{socket.gethostname()}:{os.getpid()}")
    return label


def _who(by: str | None) -> str:
    """Who signs a change: a caller's `by` (the demo feed's), or this process's user."""
    if not by:
        return actor_label()
    who: str = scrub(by)
    return who


def _audit_entry(action: str, target: str, count: int, *, by: str | None = None, **extra: Any) -> str:
    return json.dumps(
        {"at": now_ms(), "action": action, "target": target, "count": count, "by": _who(by), **extra},
        separators=(",", ":"),
    )


def _writable(action: str) -> None:
    if current_runtime().settings.read_only:
        raise ReadOnlyMode(action)


def _verdict(job_id: str, action: str, verdict: Transition) -> None:
    if verdict.verdict is Verdict.MISSING:
        raise JobNotFound(job_id)
    if verdict.verdict is Verdict.REFUSED:
        raise InvalidTransition(job_id, action, verdict.state)


def _requeue_message(record: JobRecord) -> Message[Any]:
    """The message that runs a job again: its payload, priority, attempts and backoff as enqueued."""
    spec = spec_for(record.type)
    options = spec.options(priority=record.priority, attempts=record.max_attempts, backoff=record.backoff)
    return job_message(spec, record.payload, options, record.id)


@by_id
def retry(job_id: str) -> str:
    """Put a dead or cancelled job back in its queue with its attempts reset; returns its full id
    (`job_id` may be a prefix)."""
    _writable("retry")
    job_id = resolve(job_id)
    store = current_runtime().store
    record = store.get(job_id)
    if record is None:
        raise JobNotFound(job_id)
    entry = _audit_entry("retry", job_id, 1, queue=record.queue)
    _verdict(job_id, "retry", store.retry(job_id, _requeue_message(record), actor_label(), entry))
    return job_id


@by_ids
def retry_jobs(job_ids: list[str]) -> tuple[int, list[str]]:
    """Retry many dead or cancelled jobs in two round trips (read, then requeue); returns how many
    went back and the ids that had changed meanwhile (retried by someone else, expired, running)."""
    _writable("retry")
    requeued = _requeue(job_ids)
    if requeued:
        ids = [i for i in job_ids if i in requeued]
        queues = sorted(set(requeued.values()))
        entry = _audit_entry("retry", f"{len(requeued)} jobs", len(requeued), queue=",".join(queues), ids=ids)
        current_runtime().store.audit(entry)
    return len(requeued), [i for i in job_ids if i not in requeued]


def _requeue(job_ids: list[str]) -> dict[str, str]:
    """The jobs that went back to their queues (id -> queue): one read and one pipelined requeue."""
    store = current_runtime().store
    records = [r for r in store.get_many(job_ids) if r is not None]
    verdicts = store.retry_many([(r.id, _requeue_message(r)) for r in records], actor_label())
    return {r.id: r.queue for r, verdict in zip(records, verdicts, strict=True) if verdict.ok}


@by_queue
def retry_all(queue: str) -> int:
    """Retry every dead job of a queue, a batch of 200 at a time; returns how many went back. Safe
    to run twice at once: each job's retry is atomic."""
    _writable("retry all")
    name = job_type(queue).queue
    store = current_runtime().store
    retried = 0
    seen: set[str] = set()
    while True:
        batch = [i for i in store.dead_ids(name, RETRY_ALL_BATCH) if i not in seen]
        if not batch:
            break
        seen.update(batch)
        retried += len(_requeue(batch))  # the others were retried or cleared by someone else meanwhile
    store.audit(_audit_entry("retry-all", name, retried))
    return retried


@by_id
def cancel(job_id: str, *, by: str | None = None) -> str:
    """A queued, delayed or retrying job will never run, even if a worker already holds it.
    `by` signs the change for someone other than this process's user (the demo feed)."""
    _writable("cancel")
    job_id = resolve(job_id)
    store = current_runtime().store
    record = store.get(job_id)
    entry = _audit_entry("cancel", job_id, 1, by=by, queue=record.queue if record else None)
    _verdict(job_id, "cancel", store.cancel(job_id, _who(by), entry))
    return job_id


@by_ids
def cancel_jobs(job_ids: list[str]) -> tuple[int, list[str]]:
    """Cancel many jobs in one round trip; returns how many were cancelled and the ids that could
    not be (running, finished or gone)."""
    _writable("cancel")
    store = current_runtime().store
    verdicts = store.cancel_many(job_ids, actor_label())
    cancelled = [i for i, verdict in zip(job_ids, verdicts, strict=True) if verdict.ok]
    if cancelled:
        store.audit(_audit_entry("cancel", f"{len(cancelled)} jobs", len(cancelled)))
    return len(cancelled), [i for i, verdict in zip(job_ids, verdicts, strict=True) if not verdict.ok]


@by_queue
def clear(queue: str, *, include_dead: bool = False) -> ClearResult:
    """Remove a queue's waiting work (and its dead jobs with include_dead); running jobs finish.

    Cleared jobs are kept as `cancelled` until REDIS_TTL, so a mistaken clear can be undone by
    retrying them; dead jobs removed with include_dead are deleted.
    """
    _writable("clear")
    name = job_type(queue).queue
    store = current_runtime().store
    result = store.clear(name, include_dead, actor_label())
    store.audit(_audit_entry("clear", name, result.total, removed=result.removed))
    return result


@by_id
def delete(job_id: str) -> str:
    """Remove one dead or cancelled job for good (record and dead letter); returns its full id."""
    _writable("delete")
    job_id = resolve(job_id)
    store = current_runtime().store
    record = store.get(job_id)
    entry = _audit_entry("delete", job_id, 1, queue=record.queue if record else None)
    _verdict(job_id, "delete", store.delete(job_id, entry))
    return job_id


@by_id
def run_now(job_id: str) -> str:
    """Run a delayed or retrying job now instead of at its time; returns its full id."""
    _writable("run now")
    job_id = resolve(job_id)
    store = current_runtime().store
    record = store.get(job_id)
    if record is None:
        raise JobNotFound(job_id)
    entry = _audit_entry("run-now", job_id, 1, queue=record.queue)
    # The copy keeps the retries done so far, so a failure still counts against the job's attempts.
    message = _requeue_message(record).copy(options={"retries": record.attempts})
    _verdict(job_id, "run now", store.run_now(job_id, message, actor_label(), entry))
    return job_id


@by_id
def abort(job_id: str) -> str:
    """Stop a running job: its worker interrupts it within about a second (middleware/abort.py) and
    it ends `cancelled`, "aborted by" whoever asked; returns its full id."""
    _writable("abort")
    job_id = resolve(job_id)
    store = current_runtime().store
    record = store.get(job_id)
    entry = _audit_entry("abort", job_id, 1, queue=record.queue if record else None)
    _verdict(job_id, "abort", store.request_abort(job_id, actor_label(), entry))
    return job_id


@by_queue
def pause(queue: str) -> bool:
    """Workers take no job of `queue` (any priority) until `resume`; enqueueing goes on. Kept by
    the store (in Redis: across restarts). False when it was paused already."""
    _writable("pause")
    name = job_type(queue).queue
    return current_runtime().store.set_paused(name, True, _audit_entry("pause", name, 0))


@by_queue
def resume(queue: str) -> bool:
    """Undo `pause`: workers take `queue`'s jobs again. False when it was not paused."""
    _writable("resume")
    name = job_type(queue).queue
    return current_runtime().store.set_paused(name, False, _audit_entry("resume", name, 0))


def paused_queues() -> list[str]:
    return sorted(set(gathered(lambda runtime: list(runtime.store.paused()))))


def audit_log(limit: int = 100) -> list[dict[str, Any]]:
    """Newest first; with shards, every shard's entries merged by time."""
    entries = gathered(lambda runtime: runtime.store.audit_log(limit))
    return sorted(entries, key=lambda e: e.get("at", 0), reverse=True)[:limit]


__all__ = [
    "JobState",
    "abort",
    "audit_log",
    "cancel",
    "clear",
    "delete",
    "pause",
    "paused_queues",
    "resume",
    "retry",
    "retry_all",
    "retry_jobs",
    "run_now",
]
