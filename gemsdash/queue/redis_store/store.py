"""The Redis job-state store: every write is one call of `jobs.lua`; every dashboard read is one
pipelined round trip whose cost grows with the number of queues, not of jobs."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Sequence
from importlib.resources import files
from typing import Any, cast

import redis
from dramatiq import Message
from dramatiq.common import dq_name
from redis.connection import AbstractConnection

from gemsdash.queue.connection import translate_errors
from gemsdash.queue.jobs import (
    FINISHED_STATES,
    QUEUES,
    RETRYABLE_STATES,
    SEARCH_FIELDS,
    STATES,
    WAITING_STATES,
    JobRecord,
    JobState,
    from_ms,
    now_ms,
)
from gemsdash.queue.messages import all_physical_queues, canonical_queue, physical_queues
from gemsdash.queue.store import (
    BUCKET_SECONDS,
    BUCKETS,
    DURATION_BOUNDS_MS,
    ClearResult,
    JobPage,
    QueueStats,
    Snapshot,
    StoredJob,
    Submission,
    Success,
    WorkerInfo,
    decode_record,
)

_SCRIPT = files("gemsdash.queue.redis_store").joinpath("jobs.lua").read_text()
_CLEAR_BATCH = 500
#: Jobs per `submit` script call (a larger batch is several calls in one MULTI).
SUBMIT_CHUNK = 500
_CLEAR_MAX_STEPS = 2000
_AUDIT_MAX = 10_000

WAITING_CSV = ",".join(s.value for s in STATES if s in WAITING_STATES)
RETRYABLE_CSV = ",".join(s.value for s in STATES if s in RETRYABLE_STATES)
HANDOFF_CSV = ",".join((JobState.DELAYED.value, JobState.RETRYING.value))
STATES_CSV = ",".join(s.value for s in STATES)
SEARCH_FIELDS_CSV = ",".join(SEARCH_FIELDS)
BOUNDS_CSV = ",".join(str(b) for b in DURATION_BOUNDS_MS)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _request(conn: AbstractConnection, argv: Sequence[Any]) -> Any:
    conn.send_command(*argv)  # type: ignore[no-untyped-call]
    return conn.read_response()


class RedisJobStore:
    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str,
        finished_ttl: int,
        dead_ttl: int,
        worker_timeout_ms: int,
        display_url: str,
        secrets: list[str] | None = None,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.finished_ttl = finished_ttl
        self.dead_ttl = dead_ttl
        self.worker_timeout_ms = worker_timeout_ms
        self.display_url = display_url
        self._secrets = secrets or []
        self._script = client.register_script(_SCRIPT)
        self._thread_clients = threading.local()
        #: A store on a pipeline (a client whose calls are queued, as benchmarks/loader.py uses)
        #: must keep queueing them there.
        self._own_connections = not isinstance(client, redis.client.Pipeline)
        self._lists = ",".join(all_physical_queues(with_delay=True))
        self._dead_letter_queues = ",".join(all_physical_queues(with_delay=False))

    # -- plumbing ---------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return ":".join((self.namespace, "gd", *parts))

    def _args(self, command: str, *args: Any) -> list[Any]:
        return [command, now_ms(), self.finished_ttl, self.dead_ttl, *args]

    def _queue_call(self, pipe: Any, command: str, *args: Any) -> None:
        """Add a script call to a pipeline as a bare EVALSHA: redis-py would otherwise send SCRIPT
        EXISTS before every pipeline that uses a script, doubling the round trips."""
        pipe.evalsha(self._script.sha, 1, self.namespace, *self._args(command, *args))

    def _execute(self, pipe: Any) -> list[Any]:
        """Run a pipeline; if Redis lost the script (restarted, flushed), load it and run again."""
        commands = list(pipe.command_stack)
        try:
            return list(pipe.execute())
        except redis.exceptions.NoScriptError:
            self.client.script_load(_SCRIPT)
            retry = self.client.pipeline(transaction=pipe.transaction)
            retry.command_stack = commands
            return list(retry.execute())

    def _call(self, command: str, *args: Any) -> Any:
        with translate_errors(self.display_url, secrets=self._secrets):
            return self._script(keys=[self.namespace], args=self._args(command, *args))

    def _worker_call(self, command: str, *args: Any) -> Any:
        """`_call` for the calls every job makes from long-lived threads (Dramatiq's worker threads,
        the write-behind thread), on a connection of the thread's own and without redis-py's command
        machinery: a pooled call checks its connection out and back in with a readability poll and
        goes through retry and instrumentation wrappers, which on a machine with costly system calls
        cost more CPU than the command itself. A connection that fails is closed by redis-py and
        opened again by the next call; the error is raised as BackendUnavailable, which persist()
        retries."""
        if not self._own_connections:
            return self._call(command, *args)
        conn = self._thread_connection()
        argv = ("EVALSHA", self._script.sha, 1, self.namespace, *self._args(command, *args))
        with translate_errors(self.display_url, secrets=self._secrets):
            try:
                return _request(conn, argv)
            except redis.exceptions.NoScriptError:  # Redis restarted or flushed its scripts
                _request(conn, ("SCRIPT", "LOAD", _SCRIPT))
                return _request(conn, argv)

    def _thread_connection(self) -> AbstractConnection:
        conn: AbstractConnection | None = getattr(self._thread_clients, "conn", None)
        if conn is None:
            conn = cast(AbstractConnection, self.client.connection_pool.make_connection())
            self._thread_clients.conn = conn
        return conn

    @staticmethod
    def _text(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    def ping(self) -> None:
        with translate_errors(self.display_url, secrets=self._secrets):
            self.client.ping()

    # -- writes from producers and workers --------------------------------------------------

    def submit(self, submissions: list[Submission]) -> None:
        """All jobs of the batch, records and messages: one script call per 500 jobs, all of them
        in one MULTI, so one round trip and all or nothing."""
        if not submissions:
            return
        now = now_ms()
        flat: list[Any] = []
        for sub in submissions:
            # The first delivery's Redis id can be the job id (unique already); retries get new ones.
            rmid = sub.message.message_id
            message = sub.message
            if sub.delay_ms:
                message = message.copy(queue_name=dq_name(message.queue_name), options={"eta": now + sub.delay_ms})
            # The submission's message is this call's own: setting the option in place saves a copy.
            message.options["redis_message_id"] = rmid
            queue_name = message.queue_name
            record = dict(sub.record, rq=queue_name, rmid=rmid)
            flat += [
                record["id"],
                record["queue"],
                record["state"],
                queue_name,
                rmid,
                message.encode(),
                _compact(record),
                record["created_at"],
            ]
        step = SUBMIT_CHUNK * 8
        with translate_errors(self.display_url, secrets=self._secrets):
            if len(flat) <= step:
                self._script(keys=[self.namespace], args=self._args("submit", *flat))
                return
            pipe = self.client.pipeline(transaction=True)
            for start in range(0, len(flat), step):
                self._queue_call(pipe, "submit", *flat[start : start + step])
            self._execute(pipe)

    def start(self, message: Message[Any], worker: str, fallback: StoredJob | None) -> str:
        verdict = self._worker_call(
            "start",
            message.message_id,
            message.options.get("redis_message_id", ""),
            message.queue_name,
            worker,
            int(message.options.get("retries", 0)) + 1,
            _compact(fallback) if fallback is not None else "",
        )
        return self._text(verdict)

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
        return self._text(
            self._worker_call(
                "finish",
                job_id,
                outcome.value,
                detail,
                "" if duration_ms is None else duration_ms,
                "" if next_attempt_ms is None else next_attempt_ms,
                message.options.get("redis_message_id", "") if message is not None else "",
                message.queue_name if message is not None else "",
                _compact(fallback) if fallback is not None else "",
                BOUNDS_CSV,
                scrubbed or "",
                *(nack or ("", "", "")),
            )
        )

    def succeed_many(self, successes: Sequence[Success]) -> None:
        """The whole batch is one `succeed` script call: one round trip, and counters, index pruning
        and heartbeats written once per call instead of once per job."""
        args: list[Any] = [BOUNDS_CSV]
        for s in successes:
            args += (s.job_id, s.result, "" if s.duration_ms is None else s.duration_ms, s.finished_ms, *s.ack)
        self._worker_call("succeed", *args)

    def reject(self, rq: str, data: bytes, reason: str, worker: str) -> str | None:
        """Dead-letter a fetched message that cannot be decoded; returns the id its record got."""
        canonical = canonical_queue(rq)
        created = now_ms()
        record = {
            "id": "",
            "type": canonical,
            "queue": canonical,
            "state": JobState.DEAD.value,
            "priority": "normal",
            "payload": _compact({"malformed_bytes": len(data)}),
            "attempts": 0,
            "max_attempts": 1,
            "created_at": created,
            "error": {"type": "MalformedMessage", "message": reason, "traceback": None},
            "timeline": [],
        }
        rmid = self._call("reject", rq, worker, data, _compact(record))
        return self._text(rmid) if rmid else None

    def handoff(self, job_id: str) -> None:
        self._worker_call("handoff", job_id, HANDOFF_CSV)

    # -- reads for the dashboard, the CLI and the API ---------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        with translate_errors(self.display_url, secrets=self._secrets):
            raw = self.client.get(self._key("job", job_id))
        return decode_record(json.loads(raw)) if raw else None

    def page(
        self, queue: str, state: JobState | None, offset: int, limit: int, search: str = "", *, priority: str = ""
    ) -> JobPage:
        reply = self._call(
            "page",
            queue,
            state.value if state else "",
            max(offset, 0),
            max(limit, 1),
            STATES_CSV,
            search,
            SEARCH_FIELDS_CSV,
            priority,
        )
        return self._parse_page(reply, offset, limit)

    def snapshot(self) -> Snapshot:
        """Counts, throughput, oldest waiting job and live workers: one MULTI/EXEC round trip."""
        return self.view(None)[0]

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
        """The snapshot and, for `queue`, one page of its jobs, read in the same MULTI/EXEC: one
        round trip for a whole dashboard refresh, and the page agrees with the counts."""
        now = now_ms()
        with translate_errors(self.display_url, secrets=self._secrets):
            pipe = self.client.pipeline(transaction=True)
            self._snapshot_commands(pipe, now)
            if queue is not None:
                self._queue_call(
                    pipe,
                    "page",
                    queue,
                    state.value if state else "",
                    max(offset, 0),
                    max(limit, 1),
                    STATES_CSV,
                    search,
                    SEARCH_FIELDS_CSV,
                    priority,
                )
            replies = self._execute(pipe)
        if queue is None:
            return self._parse_snapshot(replies, now), None
        return self._parse_snapshot(replies[:-1], now), self._parse_page(replies[-1], offset, limit)

    def _buckets(self, now: int) -> list[int]:
        bucket_now = now // (BUCKET_SECONDS * 1000)
        return list(range(bucket_now - BUCKETS + 1, bucket_now + 1))

    def _snapshot_commands(self, pipe: Any, now: int) -> None:
        for queue in QUEUES:
            for state in STATES:
                key = self._key("idx", queue, state.value)
                if state in FINISHED_STATES:
                    ttl = self.dead_ttl if state is JobState.DEAD else self.finished_ttl
                    pipe.zcount(key, now - ttl * 1000, "+inf")
                else:
                    pipe.zcard(key)
            pipe.zrange(self._key("idx", queue, JobState.QUEUED.value), 0, 0, withscores=True)
            for bucket in self._buckets(now):
                pipe.hmget(self._key("tp", queue, str(bucket)), "ok", "fail", "ms", "timed")
            pipe.hgetall(self._key("hist", queue))
        pipe.hgetall(self._key("totals"))
        pipe.zcount(self._key("workers"), now - self.worker_timeout_ms, "+inf")
        pipe.smembers(self._key("paused"))

    def _parse_snapshot(self, replies: list[Any], now: int) -> Snapshot:
        buckets = self._buckets(now)
        stats: dict[str, QueueStats] = {}
        cursor = 0
        for queue in QUEUES:
            counts = {state: int(replies[cursor + i]) for i, state in enumerate(STATES)}
            cursor += len(STATES)
            oldest = replies[cursor]
            cursor += 1
            finished: list[tuple[int, int]] = []
            total_ms = 0
            total_n = 0
            for reply in replies[cursor : cursor + len(buckets)]:
                ok, fail, ms = (int(v) if v is not None else 0 for v in reply[:3])
                finished.append((ok, fail))
                total_ms += ms
                # Buckets written before `timed` existed count every finished job.
                total_n += int(reply[3]) if reply[3] is not None else ok + fail
            cursor += len(buckets)
            hist = {self._text(k): int(v) for k, v in replies[cursor].items()}
            cursor += 1
            stats[queue] = QueueStats(
                queue=queue,
                counts=counts,
                finished_per_bucket=finished,
                avg_duration_ms=total_ms / total_n if total_n else None,
                oldest_queued_at=from_ms(oldest[0][1]) if oldest else None,
                duration_sum_ms=hist.pop("sum", 0),
                duration_count=hist.pop("count", 0),
                duration_buckets=hist,
            )
        totals = {self._text(k): int(v) for k, v in replies[cursor].items()}
        for queue, qs in stats.items():
            qs.finished_total.update(
                {outcome: totals.get(f"{queue}:{outcome}", 0) for outcome in ("succeeded", "dead")}
            )
        paused = frozenset(self._text(q) for q in replies[cursor + 2])
        return Snapshot(taken_at=from_ms(now), queues=stats, workers=int(replies[cursor + 1]), paused=paused)

    @staticmethod
    def _parse_page(reply: list[Any], offset: int, limit: int) -> JobPage:
        return JobPage([decode_record(json.loads(raw)) for raw in reply[1:]], int(reply[0]), offset, limit)

    def find_ids(self, prefix: str, limit: int) -> list[str]:
        """Ids that start with `prefix`, at most `limit`: one ZRANGEBYLEX on the id index (O(log n)
        whatever the number of jobs), then which of those still have a record (an expired one's
        entry may wait for its index's prune; it is dropped here)."""
        with translate_errors(self.display_url, secrets=self._secrets):
            found = [
                self._text(i)
                for i in self.client.zrangebylex(self._key("ids"), f"[{prefix}", f"({prefix}\xff", 0, limit)
            ]
            if not found:
                return []
            pipe = self.client.pipeline(transaction=False)
            for job_id in found:
                pipe.exists(self._key("job", job_id))
            live = pipe.execute()
            stale = [i for i, alive in zip(found, live, strict=True) if not alive]
            if stale:
                self.client.zrem(self._key("ids"), *stale)
        return [i for i, alive in zip(found, live, strict=True) if alive]

    def dead_ids(self, queue: str, limit: int) -> list[str]:
        with translate_errors(self.display_url, secrets=self._secrets):
            ids = self.client.zrange(self._key("idx", queue, JobState.DEAD.value), 0, limit - 1)
        return [self._text(i) for i in ids]

    # -- admin actions ----------------------------------------------------------------------

    def cancel(self, job_id: str, who: str, audit: str) -> str:
        return self._text(self._call("cancel", job_id, WAITING_CSV, who, audit))

    def delete(self, job_id: str, audit: str) -> str:
        return self._text(self._call("delete", job_id, RETRYABLE_CSV, audit))

    def cancel_many(self, job_ids: list[str], who: str) -> list[str]:
        if not job_ids:
            return []
        with translate_errors(self.display_url, secrets=self._secrets):
            pipe = self.client.pipeline(transaction=False)
            for job_id in job_ids:
                self._queue_call(pipe, "cancel", job_id, WAITING_CSV, who, "")
            return [self._text(v) for v in self._execute(pipe)]

    def retry(self, job_id: str, message: Message[Any], who: str, audit: str) -> str:
        rmid = str(uuid.uuid4())
        message = message.copy(options={"redis_message_id": rmid})
        return self._text(
            self._call("retry", job_id, RETRYABLE_CSV, message.queue_name, rmid, message.encode(), who, audit)
        )

    def retry_many(self, items: list[tuple[str, Message[Any]]], who: str) -> list[str]:
        if not items:
            return []
        with translate_errors(self.display_url, secrets=self._secrets):
            pipe = self.client.pipeline(transaction=False)
            for job_id, message in items:
                rmid = str(uuid.uuid4())
                message = message.copy(options={"redis_message_id": rmid})
                self._queue_call(
                    pipe, "retry", job_id, RETRYABLE_CSV, message.queue_name, rmid, message.encode(), who, ""
                )
            return [self._text(v) for v in self._execute(pipe)]

    def get_many(self, job_ids: list[str]) -> list[JobRecord | None]:
        if not job_ids:
            return []
        with translate_errors(self.display_url, secrets=self._secrets):
            raws = self.client.mget([self._key("job", i) for i in job_ids])
        return [decode_record(json.loads(raw)) if raw else None for raw in raws]

    def clear(self, queue: str, include_dead: bool, who: str) -> ClearResult:
        lists = physical_queues(queue)
        lists_csv = ",".join(lists + [dq_name(n) for n in lists])
        waiting = [s for s in STATES if s in WAITING_STATES]
        removed = dict.fromkeys([s.value for s in waiting] + [JobState.DEAD.value], 0)
        for _ in range(_CLEAR_MAX_STEPS):
            reply = self._call(
                "clear",
                queue,
                ",".join(s.value for s in waiting),
                "1" if include_dead else "0",
                lists_csv,
                _CLEAR_BATCH,
                who,
            )
            counts = [int(v) for v in reply]
            for state, n in zip(waiting, counts[: len(waiting)], strict=True):
                removed[state.value] += n
            removed[JobState.DEAD.value] += counts[len(waiting)]
            if not counts[-1]:
                break
        if not include_dead:
            del removed[JobState.DEAD.value]
        return ClearResult(queue, removed)

    def audit(self, entry: str) -> None:
        with translate_errors(self.display_url, secrets=self._secrets):
            pipe = self.client.pipeline(transaction=True)
            pipe.lpush(self._key("audit"), entry)
            pipe.ltrim(self._key("audit"), 0, _AUDIT_MAX - 1)
            pipe.execute()

    def save_logs(self, job_id: str, lines: list[str]) -> None:
        """Not a state change (no script): one SET, expiring with the longest-kept records."""
        with translate_errors(self.display_url, secrets=self._secrets):
            self.client.set(self._key("logs", job_id), _compact(lines), ex=self.dead_ttl)

    def job_logs(self, job_id: str) -> list[str]:
        with translate_errors(self.display_url, secrets=self._secrets):
            raw = self.client.get(self._key("logs", job_id))
        return [str(line) for line in json.loads(raw)] if raw else []

    def run_now(self, job_id: str, message: Message[Any], who: str, audit: str) -> str:
        rmid = str(uuid.uuid4())
        message = message.copy(options={"redis_message_id": rmid})
        return self._text(
            self._call("run_now", job_id, HANDOFF_CSV, message.queue_name, rmid, message.encode(), who, audit)
        )

    def request_abort(self, job_id: str, who: str, audit: str) -> str:
        return self._text(self._call("abort", job_id, who, audit))

    def abort_requests(self, job_ids: list[str]) -> list[str]:
        with translate_errors(self.display_url, secrets=self._secrets):
            asked = self.client.hmget(self._key("aborts"), job_ids)
        return [i for i, who in zip(job_ids, asked, strict=True) if who is not None]

    def aborted(self, job_id: str, detail: str, duration_ms: int | None) -> str:
        return self._text(self._worker_call("aborted", job_id, detail, "" if duration_ms is None else duration_ms))

    def set_paused(self, queue: str, paused: bool, audit: str) -> bool:
        with translate_errors(self.display_url, secrets=self._secrets):
            pipe = self.client.pipeline(transaction=True)
            (pipe.sadd if paused else pipe.srem)(self._key("paused"), queue)
            pipe.lpush(self._key("audit"), audit)
            pipe.ltrim(self._key("audit"), 0, _AUDIT_MAX - 1)
            changed = pipe.execute()[0]
        return bool(changed)

    def paused(self) -> frozenset[str]:
        with translate_errors(self.display_url, secrets=self._secrets):
            return frozenset(self._text(q) for q in self.client.smembers(self._key("paused")))

    def audit_log(self, limit: int) -> list[dict[str, Any]]:
        with translate_errors(self.display_url, secrets=self._secrets):
            rows = self.client.lrange(self._key("audit"), 0, limit - 1)
        return [json.loads(r) for r in rows]

    # -- workers ----------------------------------------------------------------------------

    def heartbeat(self, info: WorkerInfo) -> None:
        """Both Dramatiq's heartbeat (so its ack lease holds while threads are busy) and ours."""
        now = now_ms()
        body = {
            "id": info.id,
            "host": info.host,
            "pid": info.pid,
            "threads": info.threads,
            "started_at": int(info.started_at.timestamp() * 1000),
            "in_flight": info.in_flight,
            "queues": info.queues,
        }
        with translate_errors(self.display_url, secrets=self._secrets):
            pipe = self.client.pipeline(transaction=False)
            pipe.zadd(f"{self.namespace}:__heartbeats__", {info.id: now})
            pipe.zadd(self._key("workers"), {info.id: now})
            pipe.set(self._key("worker", info.id), _compact(body), px=self.worker_timeout_ms * 3)
            pipe.execute()

    def forget_worker(self, worker_id: str) -> None:
        with translate_errors(self.display_url, secrets=self._secrets):
            pipe = self.client.pipeline(transaction=True)
            pipe.zrem(self._key("workers"), worker_id)
            pipe.delete(self._key("worker", worker_id))
            pipe.execute()

    def workers(self) -> list[WorkerInfo]:
        now = now_ms()
        with translate_errors(self.display_url, secrets=self._secrets):
            live: list[tuple[bytes, float]] = self.client.zrangebyscore(  # type: ignore[assignment]
                self._key("workers"), now - self.worker_timeout_ms, "+inf", withscores=True
            )
            bodies = self.client.mget([self._key("worker", self._text(w)) for w, _ in live]) if live else []
        found: list[WorkerInfo] = []
        for (worker_id, beat), body in zip(live, bodies, strict=True):
            if body is None:
                continue
            data = json.loads(body)
            found.append(
                WorkerInfo(
                    id=self._text(worker_id),
                    host=data["host"],
                    pid=int(data["pid"]),
                    threads=int(data["threads"]),
                    started_at=from_ms(data["started_at"]),
                    last_heartbeat=from_ms(beat),
                    in_flight=int(data["in_flight"]),
                    queues=list(data.get("queues", [])),
                )
            )
        return found

    def recover(self) -> tuple[int, int]:
        """(dead workers reaped, messages requeued)."""
        dead, requeued = self._call("recover", self.worker_timeout_ms, self._lists, self._dead_letter_queues)
        return int(dead), int(requeued)
