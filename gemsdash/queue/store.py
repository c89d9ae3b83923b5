"""The job-state store interface, with one Redis and one in-memory implementation behind it.

Records are kept in a store-neutral shape (`StoredJob`: epoch-millisecond timestamps, payload and
result as JSON text) so both implementations and the Lua script agree on one layout.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from dramatiq import Message

from gemsdash.queue.jobs import QUEUES, STATES, JobRecord, JobState, from_ms

StoredJob = dict[str, Any]

#: Throughput is counted in buckets of this many seconds; the dashboard shows the last `BUCKETS`.
BUCKET_SECONDS = 10
BUCKETS = 30
#: Upper bounds (ms) of the job-duration histogram kept per queue for metrics.
DURATION_BOUNDS_MS = (10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)


@dataclass(frozen=True)
class Submission:
    """A validated job ready to be written: its record and the Dramatiq message that runs it."""

    record: StoredJob
    message: Message[Any]
    delay_ms: int


@dataclass(frozen=True)
class Success:
    """A job that succeeded, recorded later together with others (middleware.write_behind)."""

    job_id: str
    #: The job's return value as JSON text.
    result: str
    duration_ms: int | None
    #: When it finished (epoch ms): the record says so, however late the write goes out.
    finished_ms: int
    #: Dramatiq's ack of its message, done by the same script call: (broker id, physical queue,
    #: redis message id).
    ack: tuple[str, str, str]


@dataclass(frozen=True)
class QueueStats:
    queue: str
    counts: dict[JobState, int]
    #: Jobs finished (succeeded, failed) per bucket, oldest first; the last bucket is the current one.
    finished_per_bucket: list[tuple[int, int]]
    #: Mean duration of the jobs finished in the buckets that ran (a job dead before it ran has none).
    avg_duration_ms: float | None
    oldest_queued_at: datetime | None
    #: Jobs finished since the store began: {"succeeded": n, "dead": n}.
    finished_total: dict[str, int] = field(default_factory=dict)
    #: Duration histogram: upper bound in ms (or "inf") -> jobs (not cumulative); plus sum and count.
    duration_buckets: dict[str, int] = field(default_factory=dict)
    duration_sum_ms: int = 0
    duration_count: int = 0

    @property
    def waiting(self) -> int:
        return sum(self.counts[s] for s in (JobState.QUEUED, JobState.DELAYED, JobState.RETRYING))

    @property
    def per_minute(self) -> float:
        """Jobs finished in the last minute (the current bucket and the five before it), so the
        rate moves as soon as jobs finish instead of a minute later."""
        window = 60 // BUCKET_SECONDS
        recent = self.finished_per_bucket[-window:]
        return float(sum(ok + failed for ok, failed in recent))


@dataclass(frozen=True)
class Snapshot:
    """Every count the dashboard shows, read at one instant so they agree with each other."""

    taken_at: datetime
    queues: dict[str, QueueStats]
    workers: int
    #: Queues paused by an operator: workers take none of their jobs until resumed.
    paused: frozenset[str] = frozenset()

    def as_json(self) -> dict[str, Any]:
        return {
            "queues": {
                name: {state.value: stats.counts[state] for state in STATES} for name, stats in self.queues.items()
            },
            "workers": self.workers,
            "paused": sorted(self.paused),
        }


@dataclass(frozen=True)
class JobPage:
    jobs: list[JobRecord]
    total: int
    offset: int
    limit: int


@dataclass(frozen=True)
class ClearResult:
    queue: str
    removed: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.removed.values())


@dataclass(frozen=True)
class WorkerInfo:
    id: str
    host: str
    pid: int
    threads: int
    started_at: datetime
    last_heartbeat: datetime
    in_flight: int
    queues: list[str] = field(default_factory=list)


class SuccessBatches(Protocol):
    """A store that can record many successes (and their acks) in one round trip."""

    def succeed_many(self, successes: Sequence[Success]) -> None: ...


def worker_label() -> str:
    """How records name the process that ran them."""
    import os

    return f"{socket.gethostname()}:{os.getpid()}"


def decode_record(stored: StoredJob) -> JobRecord:
    data = dict(stored)
    for key in ("payload", "result"):
        value = data.get(key)
        if isinstance(value, str):
            data[key] = json.loads(value)
    for key in ("created_at", "started_at", "finished_at", "next_attempt_at"):
        if isinstance(data.get(key), (int, float)):
            data[key] = from_ms(data[key])
    timeline = data.get("timeline")
    data["timeline"] = [
        {"state": e[0], "at": from_ms(e[1]), "note": e[2] if len(e) > 2 else None}
        for e in (timeline if isinstance(timeline, list) else [])
        if isinstance(e, list)
    ]
    if not isinstance(data.get("error"), dict):
        data["error"] = None
    return JobRecord.model_validate(data)


def empty_counts() -> dict[JobState, int]:
    return dict.fromkeys(STATES, 0)


def empty_stats(queue: str) -> QueueStats:
    return QueueStats(queue, empty_counts(), [(0, 0)] * BUCKETS, None, None)


class JobStore(Protocol):
    """What the producer, the worker middleware, the admin actions and the dashboard need."""

    #: How long finished (succeeded, cancelled) records are kept, in seconds.
    finished_ttl: int

    def submit(self, submissions: list[Submission]) -> None: ...

    def start(self, message: Message[Any], worker: str, fallback: StoredJob | None) -> str:
        """`"run"`, or `"skip:<state>"` when the job must not run (cancelled, already finished)."""
        ...

    def finish(
        self,
        job_id: str,
        outcome: JobState,
        detail: str,
        *,
        duration_ms: int | None,
        next_attempt_ms: int | None = None,
        message: Message[Any] | None = None,
        fallback: StoredJob | None = None,
        scrubbed: bytes | None = None,
        nack: tuple[str, str, str] | None = None,
    ) -> str:
        """`nack`: (broker id, physical queue, redis message id) of the message to move to the
        dead-letter queue in the same write, instead of Dramatiq's own nack (Redis only)."""
        ...

    def handoff(self, job_id: str) -> None: ...

    def get(self, job_id: str) -> JobRecord | None: ...

    def page(
        self, queue: str, state: JobState | None, offset: int, limit: int, search: str = "", *, priority: str = ""
    ) -> JobPage:
        """`priority`: only jobs of that priority (like a search, within the newest 2,000 per state)."""
        ...

    def snapshot(self) -> Snapshot: ...

    def view(
        self,
        queue: str | None,
        state: JobState | None = None,
        offset: int = 0,
        limit: int = 50,
        search: str = "",
        *,
        priority: str = "",
    ) -> tuple[Snapshot, JobPage | None]:
        """The snapshot and one page of `queue`'s jobs, read together (one round trip in Redis)."""
        ...

    def cancel(self, job_id: str, who: str, audit: str) -> str: ...

    def delete(self, job_id: str, audit: str) -> str:
        """Remove a dead or cancelled job for good: `ok`, `missing` or `state:<state>`."""
        ...

    def cancel_many(self, job_ids: list[str], who: str) -> list[str]:
        """`cancel` for many jobs in one round trip, unaudited (the caller audits the batch); one
        verdict per job."""
        ...

    def retry(self, job_id: str, message: Message[Any], who: str, audit: str) -> str: ...

    def retry_many(self, items: list[tuple[str, Message[Any]]], who: str) -> list[str]:
        """`retry` for many jobs in one round trip; one verdict per item."""
        ...

    def get_many(self, job_ids: list[str]) -> list[JobRecord | None]: ...

    def clear(self, queue: str, include_dead: bool, who: str) -> ClearResult: ...

    def find_ids(self, prefix: str, limit: int) -> list[str]:
        """Up to `limit` ids of existing jobs that start with `prefix`, in id order; bounded work
        (never a scan of every record in Redis)."""
        ...

    def dead_ids(self, queue: str, limit: int) -> list[str]: ...

    def heartbeat(self, info: WorkerInfo) -> None: ...

    def forget_worker(self, worker_id: str) -> None: ...

    def workers(self) -> list[WorkerInfo]: ...

    def recover(self) -> tuple[int, int]: ...

    def audit(self, entry: str) -> None: ...

    def save_logs(self, job_id: str, lines: list[str]) -> None:
        """What a job logged during its last run (middleware/joblogs.py), kept as long as a dead job."""
        ...

    def job_logs(self, job_id: str) -> list[str]: ...

    def run_now(self, job_id: str, message: Message[Any], who: str, audit: str) -> str:
        """A delayed or retrying job goes to its queue now (a fresh copy; the waiting one is skipped
        when it comes): `ok`, `missing` or `state:<state>`."""
        ...

    def request_abort(self, job_id: str, who: str, audit: str) -> str:
        """Ask the worker running `job_id` to stop it: `ok`, `missing` or `state:<state>` (only a
        running job can be aborted)."""
        ...

    def abort_requests(self, job_ids: list[str]) -> list[str]:
        """Which of these (running) jobs an operator asked to abort; one round trip."""
        ...

    def aborted(self, job_id: str, detail: str, duration_ms: int | None) -> str:
        """Record a job stopped by an abort: `cancelled`, "aborted by <who>"; the request is done."""
        ...

    def set_paused(self, queue: str, paused: bool, audit: str) -> bool:
        """Pause or resume a queue (kept until changed, across restarts in Redis), with its audit
        entry in the same write; False when it already was."""
        ...

    def paused(self) -> frozenset[str]: ...

    def audit_log(self, limit: int) -> list[dict[str, Any]]: ...

    def ping(self) -> None: ...


__all__ = ["QUEUES", "JobStore"]
