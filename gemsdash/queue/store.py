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
from enum import StrEnum
from typing import Any, NamedTuple, Protocol

from dramatiq import Message

from gemsdash.queue.jobs import QUEUES, STATES, JobRecord, JobState, from_ms
from gemsdash.queue.limits import BUCKET_SECONDS, BUCKETS, DURATION_BOUNDS_MS, WAIT_BOUNDS_MS, Limits
from gemsdash.queue.shards import ShardState
from gemsdash.queue.visible import scrub

StoredJob = dict[str, Any]
#: A schedule as the stores keep it: `definition` (JSON text, fixed at creation), `name`, and its
#: state: `next`, `paused`, `last_tick`, `last_at`, `last_job`, `last_state`, `fired`, `missed`.
StoredSchedule = dict[str, Any]

#: How an attempt ended, as `gemsdash_job_attempts_total{outcome}` counts them; each attempt counts
#: once. succeeded: returned; retried: raised, another attempt follows; failed: raised with no
#: attempt left (or an error that is not retried), the job is dead; dead: dead-lettered without
#: running (rejected or undecodable message); aborted: its worker was lost mid-run and recovery
#: put the job back in its queue.
ATTEMPT_OUTCOMES = ("succeeded", "retried", "failed", "dead", "aborted")
#: Heartbeats older than this many worker timeouts no longer list a worker (it shows as down until then).
WORKER_LISTED_TIMEOUTS = 3


class Verdict(StrEnum):
    """How a store answered a change it was asked for."""

    OK = "ok"
    #: No such job (or schedule).
    MISSING = "missing"
    #: Nothing to do: it was so already (a finish written twice, a paused schedule paused again).
    UNCHANGED = "unchanged"
    #: The job's state does not allow the change (`Transition.state` says which it is in).
    REFUSED = "state"
    #: `start`: the job may run; SKIP: it must not (`Transition.state`: cancelled, succeeded, dead,
    #: or superseded by a copy `run_now` pushed).
    RUN = "run"
    SKIP = "skip"
    #: `handoff` of a job that is no longer delayed or retrying.
    IGNORED = "ignored"
    #: Schedules: the name is taken; MAX_SCHEDULES reached; another firer won; not due yet.
    EXISTS = "exists"
    FULL = "full"
    STALE = "stale"
    EARLY = "early"


@dataclass(frozen=True)
class Transition:
    """A store's answer to one change: its verdict, and the state behind a REFUSED or a SKIP."""

    verdict: Verdict
    state: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK

    def __str__(self) -> str:
        """As jobs.lua says it: `ok`, `state:dead`, `skip:cancelled`."""
        return f"{self.verdict}:{self.state}" if self.state else str(self.verdict)

    @classmethod
    def parse(cls, reply: bytes | str) -> Transition:
        """A reply of jobs.lua (`ok`, `missing`, `state:dead`, `skip:cancelled`, ...)."""
        text = reply.decode() if isinstance(reply, bytes) else str(reply)
        verdict, _, state = text.partition(":")
        return cls(Verdict(verdict), state)


OK = Transition(Verdict.OK)
MISSING = Transition(Verdict.MISSING)
UNCHANGED = Transition(Verdict.UNCHANGED)


def refused(state: str) -> Transition:
    return Transition(Verdict.REFUSED, state)


class Delivery(NamedTuple):
    """One delivery of a message by the broker: what its ack or nack names (Dramatiq's Redis
    broker: its broker id, the physical queue, the redis message id)."""

    worker: str
    queue: str
    message_id: str


class NextCopy(NamedTuple):
    """A retrying job's next message, held back by the broker to be stored with its record."""

    queue: str
    message_id: str
    data: bytes


@dataclass(frozen=True)
class Settlement:
    """The broker's part of a job's final write, when the broker leaves it to the store (Redis):
    the delivery to ack (or, for a dead job, to move to the dead-letter queue) in the same write as
    the record, a retrying job's next copy, and what a dead letter keeps instead of the message
    (`scrubbed`). A broker that settles its own messages (memory mode's) gives none."""

    delivery: Delivery | None = None
    next_copy: NextCopy | None = None
    scrubbed: bytes | None = None


class Settling(Protocol):
    """What a broker offers JobTracking for a job's final write: Dramatiq's Redis broker leaves the
    ack (or nack) of a delivery, and a retry's next copy, to the store's write of the record; the
    stub broker settles its own messages (None, None, nothing to do)."""

    def delivery(self, message: Message[Any]) -> Delivery | None:
        """The delivery of `message` to settle in the store's write, or None."""
        ...

    def take_retry(self, job_id: str) -> NextCopy | None:
        """The next copy Retries made of a running job, held back for its record's write."""
        ...

    def settle_with_record(self, delivery: Delivery) -> None:
        """The store's write settled `delivery`: the broker's own ack or nack must skip it."""
        ...

    def started_by_fetch(self, message: Message[Any]) -> bool:
        """Whether the broker's fetch of `message` already made its record `running` (asked once)."""
        ...

    def waiting_jobs(self) -> list[str]:
        """Jobs whose records the broker's fetch made `running` that have not begun yet."""
        ...


@dataclass(frozen=True)
class Submission:
    """A validated job ready to be written: its record and the Dramatiq message that runs it."""

    record: StoredJob
    message: Message[Any]
    delay_ms: int
    #: The payload's validated model (memory mode hands it to the handler: vouched.py).
    model: Any = None


@dataclass(frozen=True)
class Success:
    """A job that succeeded, recorded later together with others (middleware.write_behind)."""

    job_id: str
    #: The job's return value as JSON text.
    result: str
    duration_ms: int | None
    #: When it finished (epoch ms): the record says so, however late the write goes out.
    finished_ms: int
    #: The broker's ack of its message, done by the same write (None: the broker acks it itself).
    ack: Delivery | None = None


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


@dataclass(frozen=True)
class DataLoss:
    """Redis came back without this namespace's data (restarted without persistence, flushed, or a
    replica that had not synced was promoted), as a worker alive across it noticed: every job
    accepted before `detected_at` is gone. Redis keeps it a day (DATA_LOSS_KEPT_S) for health."""

    detected_at: datetime
    worker: str
    #: The data set's epochs before and after ("<Redis ms>:<worker id>" of its first heartbeat).
    before: str
    after: str

    def as_json(self) -> dict[str, Any]:
        return {
            "detected_at": int(self.detected_at.timestamp() * 1000),
            "worker": self.worker,
            "before": self.before,
            "after": self.after,
        }

    @classmethod
    def read(cls, raw: bytes | str | None) -> DataLoss | None:
        """None for anything but what `as_json` wrote (a key written by hand must not break health)."""
        if not raw:
            return None
        try:
            data = scrub(load_json(raw))
            return cls(from_ms(int(data["detected_at"])), str(data["worker"]), str(data["before"]), str(data["after"]))
        except (TypeError, KeyError, ValueError, OverflowError, OSError):
            return None


#: How long health reports a data loss after a worker noticed it.
DATA_LOSS_KEPT_S = 24 * 3600


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
    #: With GEMSDASH_SHARDS: each shard's state as this read found it (sharding.py); else empty.
    shards: dict[str, ShardState] = field(default_factory=dict)
    #: Queues whose shard did not answer -> why: their `queues` entry is empty, not zero.
    unavailable: dict[str, str] = field(default_factory=dict)
    #: Redis lost this namespace's data within the last day (None in memory mode, or if not).
    data_lost: DataLoss | None = None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "queues": {
                name: None if name in self.unavailable else {state.value: stats.counts[state] for state in STATES}
                for name, stats in self.queues.items()
            },
            "workers": self.workers,
            "paused": sorted(self.paused),
        }
        if self.shards:
            data["shards"] = {name: state.as_json() for name, state in self.shards.items()}
            data["unavailable"] = dict(self.unavailable)
        return data


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
    """What WriteBehind needs of a store: many successes (and their acks) in one round trip."""

    def succeed_many(self, successes: Sequence[Success]) -> int: ...


def worker_label() -> str:
    """How records name the process that ran them."""
    import os

    return f"{socket.gethostname()}:{os.getpid()}"


def load_json(raw: bytes | str) -> Any:
    """JSON read back from the store; bytes that are not UTF-8 (written by hand) are replaced."""
    return json.loads(raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw)


#: The fields of a Redis record's HEAD, in their order (see jobs.lua `decode_record`): those a
#: transition changes; the rest of the record is its BODY, written once at submit.
HEAD_FIELDS = (
    "state",
    "queue",
    "attempts",
    "max_attempts",
    "rq",
    "rmid",
    "started_at",
    "worker",
    "finished_at",
    "next_attempt_at",
    "duration_ms",
    "run_now",
    "error",
    "result",
)
_NOT_BODY = frozenset((*HEAD_FIELDS, "timeline"))


#: One encoder for every record written (json.dumps with options builds one per call: a record's
#: three texts cost add_jobs about 7 µs a job more than one dumps did).
_COMPACT = json.JSONEncoder(separators=(",", ":"), default=str)


def _compact(value: Any) -> str:
    return _COMPACT.encode(value)


def encode_record(record: StoredJob) -> str:
    """A record as Redis stores it, HEAD "\n" TIMELINE "\n" BODY, as jobs.lua writes it: its HEAD
    in HEAD_FIELDS' order (hot.lua recognises a record by it), nulls left out. JSON text never holds
    a raw newline (json.dumps escapes it), so the two are safe separators."""
    head = {k: record[k] for k in HEAD_FIELDS if record.get(k) is not None}
    body = {k: v for k, v in record.items() if k not in _NOT_BODY and v is not None}
    entries = [list(e[:2]) if len(e) < 3 or e[2] is None else list(e[:3]) for e in record.get("timeline") or []]
    timeline = _COMPACT.encode(entries)[1:-1]  # the entries without the list's brackets
    return f"{_COMPACT.encode(head)}\n{timeline}\n{_COMPACT.encode(body)}"


def parse_record(raw: bytes | str) -> StoredJob:
    """A record read back from Redis, in either layout: HEAD "\n" TIMELINE "\n" BODY, or one JSON
    object as versions before the split wrote it (such records stay until their next transition or
    their expiry). Bytes that are not UTF-8 (written by hand) are replaced, and raw control
    characters in strings (a message edited by hand, whose record jobs.lua built from it) are taken
    as they are, as cjson takes them: every reader shows them scrubbed (visible.py)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    head, split, rest = text.partition("\n")
    if not split:
        whole: StoredJob = _lenient(text)
        return whole
    timeline, _, body = rest.partition("\n")
    record: StoredJob = _lenient(body)
    record.update(_lenient(head))
    record["timeline"] = _lenient(f"[{timeline}]")
    return record


#: json.loads, taking raw control characters in strings (strict JSON refuses them).
_lenient = json.JSONDecoder(strict=False).decode


def decode_record(stored: StoredJob) -> JobRecord:
    data = dict(stored)
    for key in ("payload", "result"):
        value = data.get(key)
        if isinstance(value, str):
            data[key] = _lenient(value)
    # A lone surrogate (stored before enqueue refused them, or written by hand) would make every
    # reader that encodes the record fail: shown replaced instead.
    data = scrub(data)
    for key in ("created_at", "started_at", "finished_at", "next_attempt_at", "schedule_tick"):
        if isinstance(data.get(key), (int, float)):
            data[key] = from_ms(data[key])
    timeline = data.get("timeline")
    data["timeline"] = [
        {"state": e[0], "at": from_ms(e[1]), "note": e[2] if len(e) > 2 else None}
        for e in (timeline if isinstance(timeline, (list, tuple)) else ())
        if isinstance(e, (list, tuple))
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


class JobStore(Protocol):
    """What the producer, the worker middleware, the admin actions and the dashboard need, the same
    in both modes (tests/core/test_store_contract.py runs one suite against both stores)."""

    #: How long finished (succeeded, cancelled) records are kept, in seconds.
    finished_ttl: int
    #: The state machine's constants this store runs with.
    limits: Limits

    def submit(self, submissions: list[Submission]) -> None: ...

    def start(self, message: Message[Any], worker: str, fallback: StoredJob | None) -> Transition:
        """RUN; SKIP when the job must not run (cancelled, already finished, superseded); MISSING
        when it has no record and no `fallback` was given."""
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
        settle: Settlement | None = None,
    ) -> Transition:
        """A running job's outcome: succeeded (`detail`: result JSON), retrying or dead (`detail`:
        error JSON). OK; UNCHANGED when written twice; MISSING without a record or `fallback`.
        `settle`: the broker's part, written in the same write (see Settlement)."""
        ...

    def succeed_many(self, successes: Sequence[Success]) -> int:
        """Many successes (and their acks) in one write; returns how many records were written (a
        missing or already succeeded record is left alone, its ack still done)."""
        ...

    def reject(
        self, rq: str, data: bytes, error: tuple[str, str], evidence: dict[str, Any], message_id: str, worker: str
    ) -> str | None:
        """Dead-letter a delivered message that cannot run; returns the id its record got, None when
        the message is not held by `worker` (settled already).

        `error` is the record's (type, message); `evidence` what is kept of the message, in the
        record and as its dead-letter copy, instead of the message itself (see
        `redaction.raw_evidence`); `message_id` the id it claims, when usable."""
        ...

    def handoff(self, job_id: str) -> Transition:
        """A delayed or retrying job's time came: it is queued (OK), or IGNORED."""
        ...

    def get(self, job_id: str) -> JobRecord | None: ...

    def page(
        self, queue: str, state: JobState | None, offset: int, limit: int, search: str = "", *, priority: str = ""
    ) -> JobPage:
        """`priority`: only jobs of that priority (like a search, within the newest
        `limits.search_window` per state)."""
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

    def cancel(self, job_id: str, who: str, audit: str) -> Transition:
        """A waiting job is cancelled: OK, MISSING or REFUSED."""
        ...

    def delete(self, job_id: str, audit: str) -> Transition:
        """Remove a dead or cancelled job for good: OK, MISSING or REFUSED."""
        ...

    def cancel_many(self, job_ids: list[str], who: str) -> list[Transition]:
        """`cancel` for many jobs in one round trip, unaudited (the caller audits the batch); one
        verdict per job."""
        ...

    def retry(self, job_id: str, message: Message[Any], who: str, audit: str) -> Transition: ...

    def retry_many(self, items: list[tuple[str, Message[Any]]], who: str) -> list[Transition]:
        """`retry` for many jobs in one round trip; one verdict per item."""
        ...

    def get_many(self, job_ids: list[str]) -> list[JobRecord | None]: ...

    def clear(self, queue: str, include_dead: bool, who: str) -> ClearResult: ...

    def find_ids(self, prefix: str, limit: int) -> list[str]:
        """Up to `limit` ids of existing jobs that start with `prefix`, in id order; bounded work
        (never a scan of every record in Redis)."""
        ...

    def dead_ids(self, queue: str, limit: int) -> list[str]: ...

    def heartbeat(self, info: WorkerInfo) -> int | None:
        """Returns the oldest heartbeat of any worker (ms), when the store keeps them (None: a
        recovery pass cannot tell it has nothing to do)."""
        ...

    def forget_worker(self, worker_id: str) -> None: ...

    def workers(self) -> list[WorkerInfo]: ...

    def recover(self) -> tuple[int, int]: ...

    def lost_on_exit(self) -> int:
        """Jobs still waiting that die with this process (memory mode keeps nothing; Redis does)."""
        ...

    def audit(self, entry: str) -> None: ...

    def save_logs(self, job_id: str, lines: list[str]) -> None:
        """What a job logged during its last run (middleware/joblogs.py), kept as long as a dead job."""
        ...

    def job_logs(self, job_id: str) -> list[str]: ...

    def run_now(self, job_id: str, message: Message[Any], who: str, audit: str) -> Transition:
        """A delayed or retrying job goes to its queue now (a fresh copy; the waiting one is skipped
        when it comes): OK, MISSING or REFUSED."""
        ...

    def request_abort(self, job_id: str, who: str, audit: str) -> Transition:
        """Ask the worker running `job_id` to stop it: OK, MISSING or REFUSED (only a running job
        can be aborted)."""
        ...

    def abort_requests(self, job_ids: list[str]) -> list[str]:
        """Which of these (running) jobs an operator asked to abort; one round trip."""
        ...

    def aborted(self, job_id: str, detail: str, duration_ms: int | None) -> Transition:
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

    def schedule_add(self, name: str, definition: str, gen: str, next_ms: int | None, audit: str) -> Verdict:
        """OK, EXISTS, or FULL (MAX_SCHEDULES reached)."""
        ...

    def schedule_remove(self, name: str, audit: str) -> Verdict: ...

    def schedule_pause(self, name: str, audit: str) -> Verdict: ...

    def schedule_resume(self, name: str, gen: str, next_ms: int | None, audit: str) -> Verdict: ...

    def schedule_run(self, name: str, gen: str, submission: Submission, tick_ms: int, audit: str) -> Verdict: ...

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
    ) -> Verdict:
        """Claim the ticks due at `expected_ms` and enqueue their jobs, atomically: OK, or STALE
        when the schedule no longer expects `expected_ms` (another firer won), EARLY before it."""
        ...


__all__ = ["BUCKETS", "BUCKET_SECONDS", "DURATION_BOUNDS_MS", "QUEUES", "WAIT_BOUNDS_MS", "JobStore"]
