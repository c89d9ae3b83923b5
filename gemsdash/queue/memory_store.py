"""The in-memory job-state store for the embedded mode: the same state machine as `jobs.lua`,
guarded by one lock, beside Dramatiq's StubBroker. Nothing survives the process, by design."""

from __future__ import annotations

import heapq
import json
import re
import uuid
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dramatiq import Message

from gemsdash.queue.jobs import (
    FINISHED_STATES,
    QUEUES,
    RETRYABLE_STATES,
    SEARCH_FIELDS,
    STATES,
    WAITING_STATES,
    JobRecord,
    JobState,
    Priority,
    from_ms,
    now_ms,
)
from gemsdash.queue.limits import BUCKETS, DURATION_BOUNDS_MS, LIMITS, WAIT_BOUNDS_MS, Limits
from gemsdash.queue.memory_schedules import MemorySchedules
from gemsdash.queue.messages import canonical_queue
from gemsdash.queue.store import (
    ATTEMPT_OUTCOMES,
    MISSING,
    OK,
    UNCHANGED,
    WORKER_LISTED_TIMEOUTS,
    ClearResult,
    JobPage,
    QueueStats,
    Settlement,
    Snapshot,
    StoredJob,
    Submission,
    Success,
    Transition,
    Verdict,
    WorkerInfo,
    decode_record,
    recovery_bound_ms,
    refused,
)
from gemsdash.queue.stub_broker import EmbeddedStubBroker
from gemsdash.queue.unfair_lock import UnfairRLock

if TYPE_CHECKING:
    from gemsdash.queue.store import JobStore

#: An id a refused message may give its record (as jobs.lua's `reject` checks it).
_PLAIN_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.:-]*")

#: Jobs whose log lines memory mode keeps.
LOGS_KEPT = 10_000

#: The states whose records expire (`_ttl_for`), as stored.
_EXPIRING = frozenset(s.value for s in (JobState.DEAD, JobState.SUCCEEDED, JobState.CANCELLED))

#: A start's answer when the job runs: one instance, not one per job.
_RUN = Transition(Verdict.RUN)
_RUNNING = JobState.RUNNING.value
_QUEUED = JobState.QUEUED.value
#: A job waiting for its due time: its message is in a delay queue until then.
_DUE_STATES = frozenset((JobState.DELAYED.value, JobState.RETRYING.value))


def _frozen(timeline: Sequence[Sequence[Any]]) -> tuple[tuple[Any, ...], ...]:
    """A timeline as the store keeps it (`_save`): a submitted or fallback record's comes as lists."""
    return timeline if type(timeline) is tuple else tuple(tuple(e) for e in timeline)


class MemoryJobStore(MemorySchedules):
    def __init__(
        self,
        broker: EmbeddedStubBroker,
        *,
        finished_ttl: int,
        dead_ttl: int,
        worker_timeout_ms: int,
        limits: Limits = LIMITS,
    ) -> None:
        self.broker = broker
        self.limits = limits
        self.finished_ttl = finished_ttl
        self.dead_ttl = dead_ttl
        self.worker_timeout_ms = worker_timeout_ms
        #: Every read and write of the store's state, by worker threads on each job's start and
        #: finish: unfair, so that they do not queue up behind one another (unfair_lock.py).
        self._lock = UnfairRLock()
        self._jobs: dict[str, StoredJob] = {}
        self._index: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
        self._throughput: dict[tuple[str, int], list[int]] = {}
        self._pruned_bucket = 0
        #: (queue, "succeeded" | "dead") and (queue, "attempt" | "enqueued", outcome | priority) -> count:
        #: tuples of interned names, not f-strings (a new string to build and hash per count).
        self._totals: dict[tuple[str, ...], int] = defaultdict(int)
        self._hist: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._wait: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self._workers: dict[str, tuple[WorkerInfo, int]] = {}
        self._audit: list[str] = []
        self._paused: set[str] = set()
        self._aborts: dict[str, str] = {}
        #: Job id -> what it logged; the oldest go first past LOGS_KEPT jobs.
        self._logs: dict[str, list[str]] = {}

    # -- the state machine ------------------------------------------------------------------

    def _ttl_for(self, state: str) -> int | None:
        if state == JobState.DEAD:
            return self.dead_ttl
        if state in (JobState.SUCCEEDED, JobState.CANCELLED):
            return self.finished_ttl
        return None

    def _expired(self, job: StoredJob, now: int) -> bool:
        ttl = self._ttl_for(job["state"])
        return ttl is not None and job["_entered"] < now - ttl * 1000

    def _load(self, job_id: str, now: int | None = None) -> StoredJob | None:
        job = self._jobs.get(job_id)
        if job is None or job["state"] not in _EXPIRING:
            return job
        if self._expired(job, now_ms() if now is None else now):
            self._drop(job)
            return None
        return job

    def _drop(self, job: StoredJob) -> None:
        self._jobs.pop(job["id"], None)
        self._index[(job["queue"], job["state"])].pop(job["id"], None)

    def _save(self, job: StoredJob, old_state: str | None, note: str | None = None, now: int | None = None) -> None:
        if now is None:
            now = now_ms()
        job_id, queue, state = job["id"], job["queue"], job["state"]
        # A tuple of tuples, replaced rather than appended to: the garbage collector stops tracking
        # tuples of plain values, so a record is one object for its full collections to walk, not
        # five (its dict, a list and a list per entry): 164k tracked objects fell to 90k after
        # 20k no-op jobs (docs/benchmarks.md, issue 19 round 9).
        timeline = _frozen(job.get("timeline") or ())
        if len(timeline) >= self.limits.timeline_max:
            timeline = timeline[:1] + timeline[2:]
        job["timeline"] = (*timeline, (state, now, note))
        if old_state is not None and old_state != state:
            self._index[(queue, old_state)].pop(job_id, None)
        self._index[(queue, state)][job_id] = now
        job["_entered"] = now
        self._jobs[job_id] = job
        if state in _EXPIRING:
            self._prune(queue, state, now)

    def _prune(self, queue: str, state: str, now: int) -> None:
        """Forget records whose time is up, as Redis would expire them: without this a dashboard
        left running for days keeps every finished job. An index is in the order jobs entered the
        state, so the expired ones are at its front and the work is what expired."""
        ttl = self._ttl_for(state)
        if ttl is None:
            return
        index = self._index[(queue, state)]
        while index:
            job_id, entered = next(iter(index.items()))
            if entered >= now - ttl * 1000:
                break
            del index[job_id]
            self._jobs.pop(job_id, None)

    def _bucket(self, ms: int) -> int:
        return ms // (self.limits.bucket_seconds * 1000)

    def _count_finished(self, queue: str, ok: bool, duration: int | None, at: int, now: int | None = None) -> None:
        bucket = self._bucket(at)
        # ok, failed, total ms, jobs with a duration (the average's denominator)
        counters = self._throughput.setdefault((queue, bucket), [0, 0, 0, 0])
        counters[0 if ok else 1] += 1
        if duration is not None:
            counters[2] += duration
            counters[3] += 1
        # Old buckets go once per new bucket, not on every job (a scan of every queue's buckets).
        current = self._bucket(now_ms() if now is None else now)
        if current != self._pruned_bucket:
            self._pruned_bucket = current
            for key in [k for k in self._throughput if k[1] < current - BUCKETS]:
                del self._throughput[key]
        self._totals[(queue, "succeeded" if ok else "dead")] += 1

    @staticmethod
    def _observe(hist: dict[str, int], ms: int, bounds: tuple[int, ...], slots: tuple[str, ...]) -> None:
        hist[slots[bisect_left(bounds, ms)]] += 1
        hist["sum"] += ms

    def _count_attempt(self, queue: str, outcome: JobState, duration: int | None) -> None:
        """As jobs.lua's `conclude`: every attempt timed and counted by how it ended."""
        if duration is not None:
            self._observe(self._hist[queue], duration, DURATION_BOUNDS_MS, _DURATION_SLOTS)
        if outcome is JobState.SUCCEEDED:
            name = "succeeded"
        elif outcome is JobState.RETRYING:
            name = "retried"
        else:
            name = "failed" if duration is not None else "dead"
        self._totals[(queue, "attempt", name)] += 1

    # -- writes -----------------------------------------------------------------------------

    def submit(self, submissions: list[Submission]) -> None:
        with self._lock:
            for sub in submissions:
                record = dict(sub.record, rq=sub.message.queue_name, rmid=None)
                record["timeline"] = _frozen(record["timeline"])
                self._index[(record["queue"], record["state"])][record["id"]] = record["created_at"]
                record["_entered"] = record["created_at"]
                self._jobs[record["id"]] = record
                self._totals[(record["queue"], "enqueued", record["priority"])] += 1
                if sub.model is not None:
                    self.broker.vouched.add(record["id"], sub.model)
        # Outside the lock: the stub broker's enqueue runs middleware that may call back in.
        for sub in submissions:
            self.broker.enqueue(sub.message, delay=sub.delay_ms or None)

    def start(self, message: Message[Any], worker: str, fallback: StoredJob | None) -> Transition:
        # One clock reading for the whole transition: every stamp of a start is the same instant.
        now = now_ms()
        with self._lock:
            job = self._load(message.message_id, now)
            old = None
            if job is not None:
                old = job["state"]
                if old in (JobState.CANCELLED, JobState.SUCCEEDED, JobState.DEAD):
                    self.broker.vouched.discard(job["id"])
                    return Transition(Verdict.SKIP, old)
                if job.get("run_now") and message.options.get("redis_message_id") != job["run_now"]:
                    return Transition(Verdict.SKIP, "superseded")  # run_now replaced this waiting copy
            elif fallback is None:
                return MISSING
            else:
                job = dict(fallback)
            if old in _DUE_STATES:
                # Its message came due and was taken before the consumer thread that moved it
                # recorded the handoff (JobTracking.after_enqueue runs once the stub queue holds the
                # message): recorded here, its wait counted from now.
                old = self._hand_off(job, old, now)
            attempt = int(message.options.get("retries", 0)) + 1
            if old is not None and int(job.get("attempts") or 0) >= attempt:
                attempt = int(job["attempts"]) + 1
            if old == JobState.QUEUED:
                since = self._index[(job["queue"], old)].get(job["id"])
                if since is not None:
                    self._observe(self._wait[job["queue"]], max(now - since, 0), WAIT_BOUNDS_MS, _WAIT_SLOTS)
            note = None if old else "no record: message did not come through gemsdash"
            most = int(job.get("max_attempts") or 0)
            if most and attempt > most:  # the last attempt's worker was lost: it runs again as the last
                attempt = most
                note = "redelivered after its worker was lost: the last attempt runs again"
            # Item by item: `update` with keywords builds a dict of them first (every job, twice).
            job["state"] = _RUNNING
            job["attempts"] = attempt
            job["started_at"] = now
            job["next_attempt_at"] = None
            job["worker"] = worker
            job["rq"] = message.queue_name
            self._save(job, old, note, now)
            return _RUN

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
        """`settle` has nothing to do here: the stub broker acks and nacks its own messages and
        keeps no dead-letter copies."""
        now = now_ms()
        with self._lock:
            job = self._load(job_id, now)
            old = None
            if job is not None:
                old = job["state"]
            elif fallback is not None:
                job = dict(fallback)
            else:
                return MISSING
            if old == outcome and outcome in (JobState.DEAD, JobState.SUCCEEDED):
                return UNCHANGED
            self._conclude(job, old, outcome, detail, duration_ms, next_attempt_ms, now, now)
            return OK

    def succeed_many(self, successes: Sequence[Success]) -> int:
        written = 0
        with self._lock:
            for success in successes:
                now = now_ms()
                job = self._load(success.job_id, now)
                if job is None or job["state"] == JobState.SUCCEEDED:
                    continue
                at = min(success.finished_ms, now)
                self._conclude(
                    job, job["state"], JobState.SUCCEEDED, success.result, success.duration_ms, None, at, now
                )
                written += 1
        return written

    def _conclude(
        self,
        job: StoredJob,
        old: str | None,
        outcome: JobState,
        detail: str,
        duration_ms: int | None,
        next_attempt_ms: int | None,
        at: int,
        now: int | None = None,
    ) -> None:
        """As jobs.lua's `conclude`: the record, its attempt counted, its finish tallied at `at`
        (`now`: the caller's clock reading, read again when not given)."""
        job["state"] = outcome.value
        job["duration_ms"] = duration_ms
        job.pop("run_now", None)  # the copy run_now pushed has run: later copies are the job's own
        if outcome is JobState.SUCCEEDED:
            job["result"] = detail
            job["error"] = None
            job["finished_at"] = at
            job["next_attempt_at"] = None
        else:
            job["error"] = json.loads(detail)
            if outcome is JobState.DEAD:
                job.update(finished_at=at, next_attempt_at=None)
            else:
                job["next_attempt_at"] = next_attempt_ms
        self._save(job, old, None, now)
        self._count_attempt(job["queue"], outcome, duration_ms)
        if outcome is not JobState.RETRYING:
            self._count_finished(job["queue"], outcome is JobState.SUCCEEDED, duration_ms, at, now)

    def reject(
        self, rq: str, data: bytes, error: tuple[str, str], evidence: dict[str, Any], message_id: str, worker: str
    ) -> str | None:
        """As jobs.lua's `reject` (the stub broker hands over only messages it holds): the job the
        message claims dies with the reason while it is unfinished; otherwise a new dead record,
        under the claimed id when that is free, keeps the evidence."""
        queue = canonical_queue(rq)
        reason = {"type": error[0], "message": error[1], "traceback": None}
        with self._lock:
            job = self._load(message_id) if message_id else None
            if job is not None and self._ttl_for(job["state"]) is None:
                old = job["state"]
                job.update(state=JobState.DEAD.value, error=reason, next_attempt_at=None)
            else:
                old = None
                fresh = len(message_id) > 128 or not _PLAIN_ID.fullmatch(message_id) or message_id in self._jobs
                job = {
                    "id": str(uuid.uuid4()) if fresh else message_id,
                    "type": queue,
                    "queue": queue,
                    "state": JobState.DEAD.value,
                    "priority": "normal",
                    "payload": json.dumps({"refused_message": evidence}, separators=(",", ":")),
                    "attempts": 0,
                    "max_attempts": 1,
                    "created_at": now_ms(),
                    "error": reason,
                    "timeline": [],
                    "rq": queue,
                }
            job["finished_at"] = now_ms()
            self._save(job, old, "rejected by the worker")
            self._count_attempt(job["queue"], JobState.DEAD, None)
            self._count_finished(job["queue"], False, None, now_ms())
            return str(job["id"])

    def handoff(self, job_id: str) -> Transition:
        with self._lock:
            job = self._load(job_id)
            if job is None or job["state"] not in _DUE_STATES:
                return Transition(Verdict.IGNORED)
            self._hand_off(job, job["state"])
            return OK

    def _hand_off(self, job: StoredJob, old: str, now: int | None = None) -> str:
        """A due job back to `queued` (its message is in its queue now); returns the new state."""
        job["state"] = _QUEUED
        job["next_attempt_at"] = None
        self._save(job, old, None, now)
        return _QUEUED

    # -- reads ------------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            job = self._load(job_id)
            return decode_record(_public(job)) if job is not None else None

    def page(
        self, queue: str, state: JobState | None, offset: int, limit: int, search: str = "", *, priority: str = ""
    ) -> JobPage:
        states = [state] if state is not None else list(STATES)
        now = now_ms()
        with self._lock:
            entries: list[tuple[int, str]] = []
            total = 0
            window = self.limits.search_window if search or priority else offset + limit
            for s in states:
                index = self._index[(queue, s.value)]
                # Across states, newest created first (as Redis's all-states index orders them).
                live = [
                    (score if state is not None else int(self._jobs[job_id]["created_at"]), job_id)
                    for job_id, score in index.items()
                    if not self._expired(self._jobs[job_id], now)
                ]
                total += len(live)
                entries.extend(heapq.nlargest(window, live))
            entries.sort(reverse=True)
            if search or priority:
                entries = entries[:window]  # the view's newest, as Redis's `scan` steps read them
            jobs = [self._jobs[job_id] for _, job_id in entries]
            if search:
                needle = search.lower()
                jobs = [
                    j
                    for j in jobs
                    if j["id"].startswith(search)
                    or needle in _error_text(j).lower()
                    or any(needle in value.lower() for value in _search_values(j))
                ]
                total = len(jobs)
            if priority:
                jobs = [j for j in jobs if j.get("priority") == priority]
                total = len(jobs)
            chosen = [decode_record(_public(j)) for j in jobs[offset : offset + limit]]
        return JobPage(chosen, total, offset, limit)

    def snapshot(self) -> Snapshot:
        now = now_ms()
        bucket_now = self._bucket(now)
        buckets = range(bucket_now - BUCKETS + 1, bucket_now + 1)
        stats: dict[str, QueueStats] = {}
        overdue_before = now - recovery_bound_ms(self.worker_timeout_ms)
        with self._lock:
            live = [info for info, beat in self._workers.values() if beat >= now - self.worker_timeout_ms]
            for queue in QUEUES:
                waiting = dict.fromkeys((p.value for p in Priority), 0)
                overdue = 0
                for state in WAITING_STATES:
                    for job_id in self._index[(queue, state.value)]:
                        job = self._jobs.get(job_id)
                        if job is None:
                            continue
                        priority = str(job.get("priority", "normal"))
                        waiting[priority] = waiting.get(priority, 0) + 1
                        due = job.get("next_attempt_at")
                        if state is not JobState.QUEUED and isinstance(due, int) and due < overdue_before:
                            overdue += 1
                counts: dict[JobState, int] = {}
                for state in STATES:
                    index = self._index[(queue, state.value)]
                    if state in FINISHED_STATES:
                        ttl = self._ttl_for(state) or 0
                        counts[state] = sum(1 for score in index.values() if score >= now - ttl * 1000)
                    else:
                        counts[state] = len(index)
                queued = self._index[(queue, JobState.QUEUED.value)]
                oldest = min(queued.values()) if queued else None
                finished = []
                total_ms = total_n = 0
                for bucket in buckets:
                    ok, fail, ms, timed = self._throughput.get((queue, bucket), (0, 0, 0, 0))
                    finished.append((ok, fail))
                    total_ms += ms
                    total_n += timed
                hist = {k: v for k, v in self._hist[queue].items() if k != "sum"}
                wait = {k: v for k, v in self._wait[queue].items() if k != "sum"}
                stats[queue] = QueueStats(
                    queue,
                    counts,
                    finished,
                    total_ms / total_n if total_n else None,
                    from_ms(oldest) if oldest is not None else None,
                    finished_total={o: self._totals[(queue, o)] for o in ("succeeded", "dead")},
                    duration_buckets=hist,
                    duration_sum_ms=self._hist[queue]["sum"],
                    duration_count=sum(hist.values()),
                    enqueued_total={p.value: self._totals[(queue, "enqueued", p.value)] for p in Priority},
                    attempts_total={o: self._totals[(queue, "attempt", o)] for o in ATTEMPT_OUTCOMES},
                    wait_buckets=wait,
                    wait_sum_ms=self._wait[queue]["sum"],
                    wait_count=sum(wait.values()),
                    overdue=overdue,
                    waiting_by_priority=waiting,
                    consumers_by_priority={
                        p.value: sum(1 for w in live if p.queue_for(queue) in w.consumes) for p in Priority
                    },
                )
            stale = len(self._workers) - len(live)
            listed = self._listed_workers(now)
            paused = frozenset(self._paused)
        return Snapshot(
            taken_at=from_ms(now),
            queues=stats,
            workers=len(live),
            worker_list=listed,
            stale_workers=stale,
            overdue_after_ms=recovery_bound_ms(self.worker_timeout_ms),
            paused=paused,
        )

    def _listed_workers(self, now: int) -> list[WorkerInfo]:
        since = now - self.worker_timeout_ms * WORKER_LISTED_TIMEOUTS
        return [
            WorkerInfo(
                **{**info.__dict__, "last_heartbeat": from_ms(beat), "alive": beat >= now - self.worker_timeout_ms}
            )
            for info, beat in self._workers.values()
            if beat >= since
        ]

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
        with self._lock:
            page = self.page(queue, state, offset, limit, search, priority=priority) if queue is not None else None
            return self.snapshot(), page

    def find_ids(self, prefix: str, limit: int) -> list[str]:
        """A scan of this process's records: memory mode holds what one process can run."""
        with self._lock:
            now = now_ms()
            return sorted(i for i, job in self._jobs.items() if i.startswith(prefix) and not self._expired(job, now))[
                :limit
            ]

    def dead_ids(self, queue: str, limit: int) -> list[str]:
        with self._lock:
            index = self._index[(queue, JobState.DEAD.value)]
            return [job_id for _, job_id in heapq.nsmallest(limit, ((s, i) for i, s in index.items()))]

    # -- admin ------------------------------------------------------------------------------

    def cancel(self, job_id: str, who: str, audit: str) -> Transition:
        with self._lock:
            job = self._load(job_id)
            if job is None:
                return MISSING
            if job["state"] not in WAITING_STATES:
                return refused(job["state"])
            old = job["state"]
            job.update(state=JobState.CANCELLED.value, finished_at=now_ms(), next_attempt_at=None)
            # The stub broker's queue cannot give one message back: the worker skips it at start.
            self._save(job, old, f"cancelled by {who}")
            if audit:
                self.audit(audit)
            return OK

    def delete(self, job_id: str, audit: str) -> Transition:
        with self._lock:
            job = self._load(job_id)
            if job is None:
                return MISSING
            if job["state"] not in RETRYABLE_STATES:
                return refused(job["state"])
            self._drop(job)
        self.audit(audit)
        return OK

    def cancel_many(self, job_ids: list[str], who: str) -> list[Transition]:
        return [self.cancel(job_id, who, "") for job_id in job_ids]

    def retry(self, job_id: str, message: Message[Any], who: str, audit: str) -> Transition:
        with self._lock:
            job = self._load(job_id)
            if job is None:
                return MISSING
            if job["state"] not in RETRYABLE_STATES:
                return refused(job["state"])
            old = job["state"]
            job.pop("run_now", None)  # a copy run_now pushed is not the job's any more
            job.update(
                state=JobState.QUEUED.value,
                attempts=0,
                finished_at=None,
                next_attempt_at=None,
                started_at=None,
                duration_ms=None,
                rq=message.queue_name,
            )
            self._save(job, old, f"retried by {who}")
            if audit:
                self.audit(audit)
        self.broker.enqueue(message)
        return OK

    def retry_many(self, items: list[tuple[str, Message[Any]]], who: str) -> list[Transition]:
        return [self.retry(job_id, message, who, "") for job_id, message in items]

    def get_many(self, job_ids: list[str]) -> list[JobRecord | None]:
        return [self.get(job_id) for job_id in job_ids]

    def clear(self, queue: str, include_dead: bool, who: str) -> ClearResult:
        removed: dict[str, int] = {}
        with self._lock:
            for state in (s for s in STATES if s in WAITING_STATES):
                ids = list(self._index[(queue, state.value)])
                for job_id in ids:
                    job = self._jobs[job_id]
                    job.update(state=JobState.CANCELLED.value, finished_at=now_ms(), next_attempt_at=None)
                    self._save(job, state.value, f"cleared by {who}")
                removed[state.value] = len(ids)
            if include_dead:
                ids = list(self._index[(queue, JobState.DEAD.value)])
                for job_id in ids:
                    self._drop(self._jobs[job_id])
                removed[JobState.DEAD.value] = len(ids)
        return ClearResult(queue, removed)

    def audit(self, entry: str) -> None:
        with self._lock:
            self._audit.append(entry)
            del self._audit[: -self.limits.audit_max]

    def save_logs(self, job_id: str, lines: list[str]) -> None:
        with self._lock:
            self._logs.pop(job_id, None)
            self._logs[job_id] = list(lines)
            while len(self._logs) > LOGS_KEPT:
                del self._logs[next(iter(self._logs))]

    def job_logs(self, job_id: str) -> list[str]:
        with self._lock:
            return list(self._logs.get(job_id, [])) if job_id in self._jobs else []

    def run_now(self, job_id: str, message: Message[Any], who: str, audit: str) -> Transition:
        copy = str(uuid.uuid4())
        message = message.copy(options={"redis_message_id": copy})
        with self._lock:
            job = self._load(job_id)
            if job is None:
                return MISSING
            if job["state"] not in (JobState.DELAYED.value, JobState.RETRYING.value):
                return refused(job["state"])
            old = job["state"]
            job.update(state=JobState.QUEUED.value, next_attempt_at=None, rq=message.queue_name, run_now=copy)
            self._save(job, old, f"run now by {who}")
            self.audit(audit)
        self.broker.enqueue(message)
        return OK

    def request_abort(self, job_id: str, who: str, audit: str) -> Transition:
        with self._lock:
            job = self._load(job_id)
            if job is None:
                return MISSING
            if job["state"] != JobState.RUNNING.value:
                return refused(job["state"])
            self._aborts[job_id] = who
        self.audit(audit)
        return OK

    def abort_requests(self, job_ids: list[str]) -> list[str]:
        with self._lock:
            return [i for i in job_ids if i in self._aborts]

    def aborted(self, job_id: str, detail: str, duration_ms: int | None) -> Transition:
        with self._lock:
            who = self._aborts.pop(job_id, None)
            job = self._load(job_id)
            if job is None:
                return MISSING
            old = job["state"]
            job.update(
                state=JobState.CANCELLED.value,
                finished_at=now_ms(),
                next_attempt_at=None,
                duration_ms=duration_ms,
                error=json.loads(detail),
            )
            self._save(job, old, f"aborted by {who or 'an operator'}")
        return OK

    def set_paused(self, queue: str, paused: bool, audit: str) -> bool:
        with self._lock:
            changed = (queue in self._paused) != paused
            if paused:
                self._paused.add(queue)
            else:
                self._paused.discard(queue)
        self.audit(audit)
        return changed

    def paused(self) -> frozenset[str]:
        return frozenset(self._paused)

    def audit_log(self, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(e) for e in reversed(self._audit[-limit:])]

    # -- workers ----------------------------------------------------------------------------

    def heartbeat(self, info: WorkerInfo) -> int | None:
        with self._lock:
            self._workers[info.id] = (info, now_ms())
        return None

    def forget_worker(self, worker_id: str) -> None:
        with self._lock:
            self._workers.pop(worker_id, None)

    def workers(self) -> list[WorkerInfo]:
        now = now_ms()
        with self._lock:
            return [w for w in self._listed_workers(now) if w.alive]

    def recover(self) -> tuple[int, int]:
        """Nothing to recover: the in-process worker dies with the process that holds the jobs."""
        return (0, 0)

    def ping(self) -> None:
        return None

    def lost_on_exit(self) -> int:
        with self._lock:
            return sum(len(self._index[(q, s.value)]) for q in QUEUES for s in STATES if s in WAITING_STATES)


def _slot_names(bounds: tuple[int, ...]) -> tuple[str, ...]:
    """The histogram slot of each `bisect_left` position in `bounds`, as store.histogram_slot
    names them (its scan of the bounds, a generator per attempt, was a share of a no-op job)."""
    return (*(str(b) for b in bounds), "inf")


#: Computed once: a cached function still hashed the bounds tuple on every attempt.
_DURATION_SLOTS, _WAIT_SLOTS = _slot_names(DURATION_BOUNDS_MS), _slot_names(WAIT_BOUNDS_MS)


def _public(job: StoredJob) -> StoredJob:
    return {k: v for k, v in job.items() if not k.startswith("_")}


def _search_values(job: StoredJob) -> list[str]:
    """The SEARCH_FIELDS values of a job's payload, as text."""
    try:
        data = json.loads(job["payload"]) if isinstance(job.get("payload"), str) else job.get("payload")
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    return [str(data[f]) for f in SEARCH_FIELDS if isinstance(data.get(f), (str, int, float))]


def _error_text(job: StoredJob) -> str:
    error = job.get("error")
    return str(error.get("message", "")) if isinstance(error, dict) else ""


if TYPE_CHECKING:

    def _implements(store: MemoryJobStore) -> JobStore:
        return store  # mypy proves the memory store implements the whole contract
