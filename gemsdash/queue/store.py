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
from gemsdash.queue.visible import scrub

StoredJob = dict[str, Any]
#: A schedule as the stores keep it: `definition` (JSON text, fixed at creation), `name`, and its
#: state: `next`, `paused`, `last_tick`, `last_at`, `last_job`, `last_state`, `fired`, `missed`.
StoredSchedule = dict[str, Any]

#: Throughput is counted in buckets of this many seconds; the dashboard shows the last `BUCKETS`.
BUCKET_SECONDS = 10
BUCKETS = 30
#: Upper bounds (ms) of the job-duration histogram kept per queue for metrics.
DURATION_BOUNDS_MS = (10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)
#: Upper bounds (ms) of the histogram of time a job waited in its queue before a run.
WAIT_BOUNDS_MS = (10, 100, 500, 1000, 5000, 10000, 30000, 60000, 300000, 900000, 3600000)
#: How an attempt ended, as `gemsdash_job_attempts_total{outcome}` counts them; each attempt counts
#: once. succeeded: returned; retried: raised, another attempt follows; failed: raised with no
#: attempt left (or an error that is not retried), the job is dead; dead: dead-lettered without
#: running (rejected or undecodable message); aborted: its worker was lost mid-run and recovery
#: put the job back in its queue.
ATTEMPT_OUTCOMES = ("succeeded", "retried", "failed", "dead", "aborted")
#: Heartbeats older than this many worker timeouts no longer list a worker (it shows as down until then).
WORKER_LISTED_TIMEOUTS = 3
#: A search or priority filter looks at this many of a view's newest jobs (both modes).
SEARCH_WINDOW = 2000


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
    #: Jobs enqueued since the store began, by priority.
    enqueued_total: dict[str, int] = field(default_factory=dict)
    #: Attempts since the store began, by outcome (ATTEMPT_OUTCOMES).
    attempts_total: dict[str, int] = field(default_factory=dict)
    #: Time queued before a run: upper bound in ms (or "inf") -> runs (not cumulative); sum; count.
    wait_buckets: dict[str, int] = field(default_factory=dict)
    wait_sum_ms: int = 0
    wait_count: int = 0
    #: Delayed and retrying jobs whose time came more than the recovery bound ago (see
    #: `recovery_bound_ms`): jobs that should be running by now and are not.
    overdue: int = 0
    #: Priority level -> messages waiting in its Redis lists (queue and delay queue; in memory mode,
    #: waiting jobs), and -> live workers consuming that level's queue.
    waiting_by_priority: dict[str, int] = field(default_factory=dict)
    consumers_by_priority: dict[str, int] = field(default_factory=dict)

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
class RedisMemory:
    """What `INFO memory` says about eviction and the memory limit."""

    policy: str
    #: Memory Redis counts against `maxmemory` (used_memory less what it leaves out, as it does).
    counted_bytes: int
    max_bytes: int

    @property
    def out_of_memory(self) -> bool:
        """Redis refuses writes that may grow memory: it is over `maxmemory` and may not evict."""
        return self.max_bytes > 0 and self.counted_bytes > self.max_bytes and self.policy == "noeviction"


def parse_memory_info(info: dict[str, Any]) -> RedisMemory:
    used = int(info.get("used_memory", 0))
    return RedisMemory(
        policy=str(info.get("maxmemory_policy", "unknown")),
        counted_bytes=used - int(info.get("mem_not_counted_for_evict", 0)),
        max_bytes=int(info.get("maxmemory", 0)),
    )


def recovery_bound_ms(worker_timeout_ms: int) -> int:
    """How late a job may start after its due time, or after the worker holding it died: the
    worker timeout, plus the recovery pass interval (a third of it)."""
    return worker_timeout_ms * 4 // 3


@dataclass(frozen=True)
class Snapshot:
    """Every count the dashboard shows, read at one instant so they agree with each other."""

    taken_at: datetime
    queues: dict[str, QueueStats]
    workers: int
    #: Workers heard from within WORKER_LISTED_TIMEOUTS worker timeouts, live or not (`alive`).
    worker_list: list[WorkerInfo] = field(default_factory=list)
    #: Workers that stopped heartbeating and are not reaped yet: their jobs wait for recovery.
    stale_workers: int = 0
    #: Redis's memory state (None in memory mode, or when INFO is refused: see `memory_error`).
    memory: RedisMemory | None = None
    memory_error: str | None = None
    #: How long past due a delayed or retrying job counts as overdue (`QueueStats.overdue`).
    overdue_after_ms: int = 0
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
    #: False once its heartbeat is older than the worker timeout.
    alive: bool = True
    #: The physical (per-priority) queues its consumers fetch from.
    consumes: list[str] = field(default_factory=list)


class SuccessBatches(Protocol):
    """A store that can record many successes (and their acks) in one round trip."""

    def succeed_many(self, successes: Sequence[Success]) -> None: ...


def worker_label() -> str:
    """How records name the process that ran them."""
    import os

    return f"{socket.gethostname()}:{os.getpid()}"


def load_json(raw: bytes | str) -> Any:
    """JSON read back from the store; bytes that are not UTF-8 (written by hand) are replaced."""
    return json.loads(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)


def decode_record(stored: StoredJob) -> JobRecord:
    data = dict(stored)
    for key in ("payload", "result"):
        value = data.get(key)
        if isinstance(value, str):
            data[key] = json.loads(value)
    # A lone surrogate (stored before enqueue refused them, or written by hand) would make every
    # reader that encodes the record fail: shown replaced instead.
    data = scrub(data)
    for key in ("created_at", "started_at", "finished_at", "next_attempt_at", "schedule_tick"):
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
    attempts, most = data.get("attempts"), data.get("max_attempts")
    if isinstance(attempts, int) and isinstance(most, int) and attempts > most > 0:
        data["attempts"] = most  # a record written before redeliveries were capped said "4/3"
    return JobRecord.model_validate(data)


def histogram_slot(ms: int, bounds: tuple[int, ...]) -> str:
    """The (non-cumulative) bucket a value falls in, as both stores and jobs.lua name it."""
    return next((str(b) for b in bounds if ms <= b), "inf")


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
        retry: tuple[str, str, bytes] | None = None,
    ) -> str:
        """`nack`: (broker id, physical queue, redis message id) of the message to move to the
        dead-letter queue in the same write, instead of Dramatiq's own nack (Redis only).
        `retry`: (delay queue, redis message id, message data) of a retrying job's next copy, stored
        in the same write as its record and the ack of the message `nack` names (Redis only)."""
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

    # -- schedules (gemsdash.queue.schedules): times are the store's clock, Redis's TIME ----------

    def schedule_add(self, name: str, definition: str, gen: str, next_ms: int | None, audit: str) -> str:
        """`"ok"`, `"exists"`, or `"full"` (MAX_SCHEDULES reached)."""
        ...

    def schedule_remove(self, name: str, audit: str) -> str: ...

    def schedule_pause(self, name: str, audit: str) -> str: ...

    def schedule_resume(self, name: str, gen: str, next_ms: int | None, audit: str) -> str: ...

    def schedule_run(self, name: str, gen: str, submission: Submission, tick_ms: int, audit: str) -> str: ...

    def schedule_list(self, name: str | None = None) -> tuple[int, list[StoredSchedule]]:
        """(the store's clock in ms, every schedule or only `name`)."""
        ...

    def schedules_due(self, limit: int) -> tuple[int, list[StoredSchedule], int | None]:
        """(the store's clock in ms, up to `limit` due schedules, the earliest next run)."""
        ...

    def schedule_fire(
        self,
        name: str,
        gen: str,
        expected_ms: int,
        next_ms: int | None,
        missed: int,
        submissions: list[Submission],
        ticks: list[int],
    ) -> str:
        """Claim the ticks due at `expected_ms` and enqueue their jobs, atomically: `"ok"`, or
        `"stale"` when the schedule no longer expects `expected_ms` (another firer won)."""
        ...


__all__ = ["QUEUES", "JobStore"]
