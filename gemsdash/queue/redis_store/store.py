"""The Redis job-state store: every write is one call of `jobs.lua`; every dashboard read is one
pipelined round trip whose cost grows with the number of queues, not of jobs."""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from importlib.resources import files
from typing import TYPE_CHECKING, Any, cast

import redis
from dramatiq import Message
from dramatiq.common import dq_name
from redis.cluster import RedisCluster
from redis.connection import AbstractConnection
from redis.utils import HIREDIS_AVAILABLE

from gemsdash.queue import clock
from gemsdash.queue.admission import MAX_MESSAGE_BYTES
from gemsdash.queue.connection import Client, describe, translate_errors
from gemsdash.queue.errors import NotReplicated, PartlySubmitted
from gemsdash.queue.jobs import (
    FINISHED_STATES,
    MAX_DELAY_MS,
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
from gemsdash.queue.keys import Keys, with_lua_keys
from gemsdash.queue.limits import (
    BUCKETS,
    DURATION_BOUNDS_MS,
    LIMITS,
    WAIT_BOUNDS_MS,
    Limits,
    bounds_csv,
    lua_header,
)
from gemsdash.queue.messages import all_physical_queues, canonical_queue, physical_queues
from gemsdash.queue.redis_store.replication import Command, Replicated
from gemsdash.queue.redis_store.schedules import RedisSchedules
from gemsdash.queue.store import (
    ATTEMPT_OUTCOMES,
    DATA_LOSS_KEPT_S,
    WORKER_LISTED_TIMEOUTS,
    ClearResult,
    DataLoss,
    JobPage,
    QueueStats,
    Settlement,
    Snapshot,
    StoredJob,
    Submission,
    Success,
    Transition,
    WorkerInfo,
    decode_record,
    encode_record,
    load_json,
    parse_memory_info,
    parse_record,
    recovery_bound_ms,
)
from gemsdash.queue.visible import scrub

if TYPE_CHECKING:
    from gemsdash.queue.store import JobStore

logger = logging.getLogger(__name__)

#: hiredis's packer when redis-py uses it; without hiredis, redis-py packs (and encodes) itself.
_pack: Callable[[tuple[Any, ...]], bytes] | None = None
if HIREDIS_AVAILABLE:
    from hiredis import pack_command as _pack


#: The priority levels, for shared.lua's `fresh_record` (which tells a job's priority by its queue).
_PRIORITIES_LUA = (
    "local PRIORITY_LEVELS = {" + ", ".join(f'"{p.value}"' for p in Priority) + "}\n"
    "local PRIORITY_QUEUED = {" + ", ".join(f'["{p.value}"] = true' for p in Priority) + "}\n"
)


def _lua(name: str) -> str:
    """A script of this package with its `--!shared` line replaced by shared.lua (what hot.lua and
    jobs.lua both do) and its `--!keys` line by the key names it uses."""
    scripts = files("gemsdash.queue.redis_store")
    shared = _PRIORITIES_LUA + scripts.joinpath("shared.lua").read_text()
    return with_lua_keys(scripts.joinpath(name).read_text().replace("--!shared", shared))


_JOBS_LUA = _lua("jobs.lua")
_HOT_LUA = _lua("hot.lua")
_SNAPSHOT_SCRIPT = with_lua_keys(files("gemsdash.queue.redis_store").joinpath("snapshot.lua").read_text())
#: Jobs a `clear` step cancels per state (each a record decoded and re-encoded): at 100 the longest
#: step was 6.2 ms at 200k records; at 50, 1.1 ms mean, 1.6-3.2 ms longest (benchmarks longest-call),
#: but 3.9 ms mean and 7.7 ms longest on a machine half as fast (2026-12-02): 25. A job that waits
#: as its message costs a step more (its record is built from the message, then written): at 25,
#: 1.9-2.1 ms mean and 3.9-9.1 ms longest for 10,000 such jobs on a slow day (2026-12-03), and
#: 7.62 ms in that day's full run: 10.
_CLEAR_BATCH = 10
#: Jobs per `submit` script call: a larger batch is several calls, each short enough that other
#: clients are not stalled (at 200k records: 100 a call, 2.6 ms mean, 9.6 ms longest; 50 a call,
#: 1.1-1.2 ms mean, 1.7 ms longest in one run and one 9.1 ms outlier in another; 2026-12-03, six
#: alternated add_jobs of 10,000 at 200k records: 50 a call, 2.1-4.8 ms longest and 6.65 ms in that
#: day's full run; 25 a call, 1.06-1.23 ms longest).
SUBMIT_CHUNK = 25
#: Arguments per job of a `submit` call.
SUBMIT_FIELDS = 9
#: At most this many workers are listed in a snapshot.
_WORKERS_LISTED = 1000
#: Records a search step (`scan`) reads per call; a search is search_window / SCAN_STEP calls,
#: pipelined (one round trip). 200 took up to 4.3 ms, and 6.1 ms on a machine half as fast; 100
#: took 3.4-3.7 ms on average and up to 7.8 ms in a full run on a slow day (2026-12-03, when
#: plain Dramatiq's no-op job cost Redis 52 µs of CPU against 31 µs the day before).
SCAN_STEP = 50
#: Steps a `clear` takes past those the jobs waiting when it began need: room for jobs that arrive
#: meanwhile, and an end while producers keep adding.
_CLEAR_EXTRA_STEPS = 10_000
#: A rejected message is found among a worker's acks by its size and this many first and last bytes.
_MATCH_BYTES = 4096
#: How long (s) a process trusts what it last learnt of older workers (the heartbeat's reply, or two
#: ZCOUNTs in one round trip when a submit finds it stale): within this, a submit costs no read.
LAYOUT_CHECK_S = 5.0
#: How old (ms, by its own Redis time) a data set's epoch must be before a worker holds Redis to it.
EPOCH_SETTLE_MS = 300_000
#: What a heartbeat body says of the worker's record layout (older workers' bodies lack it).
RECORD_LAYOUT = 2

WAITING_CSV = ",".join(s.value for s in STATES if s in WAITING_STATES)
RETRYABLE_CSV = ",".join(s.value for s in STATES if s in RETRYABLE_STATES)
HANDOFF_CSV = ",".join((JobState.DELAYED.value, JobState.RETRYING.value))
STATES_CSV = ",".join(s.value for s in STATES)
SEARCH_FIELDS_CSV = ",".join(SEARCH_FIELDS)
FINISHED_CSV = ",".join(s.value for s in STATES if s in FINISHED_STATES)
PRIORITIES_CSV = ",".join(p.value for p in Priority)
BOUNDS_CSV = bounds_csv(DURATION_BOUNDS_MS)
#: The fields of a record that `submit` can leave out for a job whose message says them all
#: (`_waits_as_message`); any other field (a schedule's, say) keeps the record.
_FRESH_FIELDS = frozenset(
    [
        "id",
        "type",
        "queue",
        "state",
        "priority",
        "payload",
        "attempts",
        "max_attempts",
        "created_at",
        "next_attempt_at",
        "backoff",
        "timeline",
    ]
)
WAIT_BOUNDS_CSV = bounds_csv(WAIT_BOUNDS_MS)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def _drop_count(hist: dict[str, int]) -> int:
    """A histogram hash's count: the sum of its buckets (jobs.lua writes no count; older versions
    did, and their field is dropped here)."""
    hist.pop("count", None)
    return sum(hist.values())


def _json_safe(text: str) -> bool:
    """Whether `text` can stand in a JSON string as it is (hot.lua splices it into the record)."""
    return text.isprintable() and '"' not in text and "\\" not in text


def _request(conn: AbstractConnection, argv: Sequence[Any]) -> Any:
    """One command on a connection of the thread's own. With hiredis, packed by hiredis itself:
    redis-py's packer (the same hiredis call) first copies every argument through a generator,
    which cost a `start` call about 10 µs of the worker's CPU, twice the packing itself."""
    if _pack is None:
        conn.send_command(*argv)  # type: ignore[no-untyped-call]
    else:
        conn.send_packed_command([_pack(tuple(argv))])  # type: ignore[no-untyped-call]
    return conn.read_response()


def _waits_as_message(sub: Submission) -> bool:
    """Whether a new job can wait with no record: its message says all the record would (shared.lua
    `fresh_record` builds it from the message alone). A first-delivery `queued` job (no delay), with
    the record's usual fields only, and a backoff its message's bounds tell apart: min_backoff is
    max(delay, 1) and max_backoff equals it for a fixed backoff, so a delay of 0 and an exponential
    backoff of the longest delay keep their record. A waiting record costs Redis about 700 B of the
    1,580 B a waiting job took (docs/benchmarks.md, round 10)."""
    record = sub.record
    backoff = record.get("backoff")
    return (
        record.get("state") == JobState.QUEUED.value  # (a delayed job's is `delayed`)
        and record.keys() <= _FRESH_FIELDS
        and isinstance(backoff, dict)
        and int(backoff.get("delay", 0)) >= 1
        and backoff.get("type") in ("exponential", "fixed")
        and (backoff["type"] == "fixed" or backoff["delay"] < MAX_DELAY_MS)
    )


class RedisJobStore(RedisSchedules):
    def __init__(
        self,
        client: Client,
        *,
        namespace: str,
        finished_ttl: int,
        dead_ttl: int,
        worker_timeout_ms: int,
        display_url: str,
        secrets: list[str] | None = None,
        min_replicas: int = 0,
        replica_timeout_ms: int = 1000,
        limits: Limits = LIMITS,
        largest_message: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.client = client
        #: The largest message this deployment's producers write (admission.message_limit): a clear
        #: reads every message it drains up to this size, to cancel its job in the same step.
        self.largest_message = largest_message
        self.limits = limits
        #: jobs.lua with the state machine's constants (limits.py) generated in front of it.
        self._script_text = lua_header(limits) + _JOBS_LUA
        #: hot.lua (a job's `start` and `succeed` when it runs once and succeeds), with the same header.
        self._hot_text = lua_header(limits) + _HOT_LUA
        self.namespace = namespace
        self.keys = Keys(namespace)
        self.finished_ttl = finished_ttl
        self.dead_ttl = dead_ttl
        self.worker_timeout_ms = worker_timeout_ms
        self.display_url = display_url
        self._secrets = secrets or []
        self._script = client.register_script(self._script_text)
        self._hot_script = client.register_script(self._hot_text)
        self._snapshot_script = client.register_script(_SNAPSHOT_SCRIPT)
        #: What a connection that lost the scripts (NOSCRIPT) loads again, by sha.
        self._scripts = {self._script.sha: self._script_text, self._hot_script.sha: self._hot_text}
        self._thread_clients = threading.local()
        #: A store on a pipeline (a client whose calls are queued, as benchmarks/loader.py uses)
        #: must keep queueing them there.
        #: On a Cluster the calls go through RedisCluster, which follows MOVED and failovers.
        self._own_connections = not isinstance(client, (redis.client.Pipeline, RedisCluster))
        #: With GEMSDASH_MIN_REPLICAS, the writes that accept or settle a job are followed by WAIT.
        self._replicated = (
            Replicated(client, self.keys.anchor, min_replicas, replica_timeout_ms)
            if min_replicas and not isinstance(client, redis.client.Pipeline)
            else None
        )
        self._lists = ",".join(all_physical_queues(with_delay=True))
        self._dead_letter_queues = ",".join(all_physical_queues(with_delay=False))
        #: Whether a live worker of a version before the split record layout was seen, and when
        #: (time.monotonic()); None: never looked. See `_older_workers`.
        self._older_alive: bool | None = None
        self._older_checked = 0.0
        #: The data set's epoch this process holds Redis to, once settled (`_check_epoch`).
        self._epoch: str | None = None

    # -- plumbing ---------------------------------------------------------------------------

    def _args(self, command: str, *args: Any) -> list[Any]:
        # The job types' queues: where jobs.lua looks for a job that waits with no record.
        return [command, ",".join(QUEUES), self.finished_ttl, self.dead_ttl, *args]

    def _queue_call(self, pipe: Any, command: str, *args: Any) -> None:
        """Add a script call to a pipeline as a bare EVALSHA: redis-py would otherwise send SCRIPT
        EXISTS before every pipeline that uses a script, doubling the round trips."""
        pipe.evalsha(self._script.sha, 1, self.namespace, *self._args(command, *args))

    def _execute(self, pipe: Any, raise_on_error: bool = True) -> list[Any]:
        """Run a pipeline; if Redis lost the scripts (restarted, flushed), load them and run again.
        With `raise_on_error=False` a command's error is its reply (NoScriptError still reloads)."""
        commands = list(pipe.command_stack)
        try:
            replies = list(pipe.execute(raise_on_error=raise_on_error))
            if any(isinstance(r, redis.exceptions.NoScriptError) for r in replies):
                raise redis.exceptions.NoScriptError("script missing")
            return replies
        except redis.exceptions.NoScriptError:
            self.client.script_load(self._script_text)
            self.client.script_load(self._hot_text)
            self.client.script_load(_SNAPSHOT_SCRIPT)
            retry = self.client.pipeline(transaction=pipe.transaction)
            retry.command_stack = commands
            return list(retry.execute(raise_on_error=raise_on_error))

    def _call(self, command: str, *args: Any, hot: bool = False) -> Any:
        """A jobs.lua command, or with `hot` a hot.lua one (which takes no `_args` prefix)."""
        with translate_errors(self.display_url, secrets=self._secrets):
            if hot:
                return self._hot_script(keys=[self.namespace], args=[command, *args])
            return self._script(keys=[self.namespace], args=self._args(command, *args))

    def _worker_call(self, command: str, *args: Any, hot: bool = False) -> Any:
        """`_call` for the calls every job makes from long-lived threads (Dramatiq's worker threads,
        the write-behind thread), on a connection of the thread's own and without redis-py's command
        machinery: a pooled call checks its connection out and back in with a readability poll and
        goes through retry and instrumentation wrappers, which on a machine with costly system calls
        cost more CPU than the command itself. A connection that fails is dropped and the next call
        opens a new one; the error is raised as BackendUnavailable, which persist() retries."""
        if not self._own_connections:
            return self._call(command, *args, hot=hot)
        argv = self._evalsha(command, *args, hot=hot)
        with translate_errors(self.display_url, secrets=self._secrets):
            conn = self._thread_connection()
            try:
                return _request(conn, argv)
            except redis.exceptions.NoScriptError:  # Redis restarted or flushed its scripts
                for text in self._scripts.values():
                    _request(conn, ("SCRIPT", "LOAD", text))
                return _request(conn, argv)
            except (redis.ConnectionError, redis.TimeoutError):
                self._drop_thread_connection(conn)
                raise

    def _evalsha(self, command: str, *args: Any, hot: bool = False) -> tuple[Any, ...]:
        if hot:
            return ("EVALSHA", self._hot_script.sha, 1, self.namespace, command, *args)
        return ("EVALSHA", self._script.sha, 1, self.namespace, *self._args(command, *args))

    def _write(self, what: str, commands: Sequence[Command]) -> list[Any]:
        """Replicated write commands (see replication.py): their replies, or NotReplicated."""
        assert self._replicated is not None
        with translate_errors(self.display_url, secrets=self._secrets):
            return self._replicated.run(what, commands, self._scripts)

    def _settling_call(self, what: str, command: str, *args: Any, hot: bool = False) -> Any:
        """`_call` for a write that accepts or settles a job: replicated when MIN_REPLICAS asks."""
        if self._replicated is None:
            return self._call(command, *args, hot=hot)
        return self._write(what, [self._evalsha(command, *args, hot=hot)])[0]

    def _settling_worker_call(self, what: str, command: str, *args: Any, hot: bool = False) -> Any:
        """`_worker_call` for the record's final state: replicated when MIN_REPLICAS asks, on the
        thread's own connection (WAIT counts what that connection wrote)."""
        if self._replicated is None:
            return self._worker_call(command, *args, hot=hot)
        if not self._own_connections:
            return self._settling_call(what, command, *args, hot=hot)
        call = [self._evalsha(command, *args, hot=hot)]
        with translate_errors(self.display_url, secrets=self._secrets):
            conn = self._thread_connection()
            try:
                return self._replicated.exchange(conn, what, call, self._scripts)[0]
            except (redis.ConnectionError, redis.TimeoutError):
                self._drop_thread_connection(conn)
                raise
            except NotReplicated:
                if self._replicated.primary_moved(conn):  # persist() retries on the new primary
                    self._drop_thread_connection(conn)
                raise

    def _thread_connection(self) -> AbstractConnection:
        """The calling thread's own connection. One that failed is dropped, not reused: redis-py
        reconnects a dropped connection to the address it had (its send path skips `connect()`),
        and a Sentinel-managed connection asks the sentinels for the primary only in `connect()`,
        so after a failover it would go back to the old primary (or, never connected, to
        localhost:6379). A new connection is connected explicitly, through `connect()`."""
        conn: AbstractConnection | None = getattr(self._thread_clients, "conn", None)
        if conn is None:
            assert isinstance(self.client, redis.Redis)
            # Made as the pool makes them, but not counted by it: the pool never gets this connection
            # back, and every one made during an outage (connect() fails) would count towards its
            # max_connections until each call failed with "Too many connections".
            pool = self.client.connection_pool
            conn = cast(AbstractConnection, pool.connection_class(**pool.connection_kwargs))
            conn.connect()  # type: ignore[no-untyped-call]
            self._thread_clients.conn = conn
        return conn

    def _drop_thread_connection(self, conn: AbstractConnection) -> None:
        """A connection that failed is never reused: a reply left unread would answer the next call."""
        self._thread_clients.conn = None
        conn.disconnect()  # type: ignore[no-untyped-call]

    @staticmethod
    def _text(value: Any) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    def ping(self) -> None:
        with translate_errors(self.display_url, secrets=self._secrets):
            self.client.ping()

    # -- writes from producers and workers --------------------------------------------------

    def submit(self, submissions: list[Submission]) -> None:
        """All jobs of the batch, records and messages: one script call per SUBMIT_CHUNK jobs, each
        atomic, sent one after the other. A batch that fails part-way is withdrawn (`_withdraw`), so
        the caller sees all or nothing, unless Redis is lost meanwhile or workers already took some
        of its jobs: then PartlySubmitted names the ids that may run."""
        if not submissions:
            return
        now = now_ms()
        chunks = [
            [arg for sub in submissions[at : at + SUBMIT_CHUNK] for arg in self._submission_args(sub, now)]
            for at in range(0, len(submissions), SUBMIT_CHUNK)
        ]
        for sent, chunk in enumerate(chunks):
            try:
                self._submit_chunk(chunk)
            except Exception as exc:
                if sent == 0:
                    raise  # one call, atomic: nothing of it was written
                self._withdraw(submissions[: (sent + 1) * SUBMIT_CHUNK], len(submissions), exc)
                raise

    def _submit_chunk(self, flat: list[Any]) -> None:
        if self._replicated is not None:
            self._write("submit", [self._evalsha("submit", *flat)])
            return
        with translate_errors(self.display_url, secrets=self._secrets):
            self._script(keys=[self.namespace], args=self._args("submit", *flat))

    def _withdraw(self, sent: list[Submission], total: int, cause: BaseException) -> None:
        """Undo the chunks of a failed batch (`unsubmit`, in chunks too); raises PartlySubmitted
        with the ids that stay, or all those sent if Redis cannot be reached to ask."""
        pairs = [(s.record["id"], s.message.message_id) for s in sent]
        kept: list[str] = []
        try:
            for at in range(0, len(pairs), SUBMIT_CHUNK):
                flat = [v for pair in pairs[at : at + SUBMIT_CHUNK] for v in pair]
                kept += [self._text(i) for i in self._settling_call("withdraw", "unsubmit", *flat)]
        except Exception:
            raise PartlySubmitted([i for i, _ in pairs], total, cause) from cause
        if kept:
            raise PartlySubmitted(kept, total, cause) from cause

    def _older_workers(self) -> bool:
        """Whether a worker older than this version is alive on the namespace, as this process last
        learnt it: one older than the split record layout cannot decode a record in the new layout
        (its `start` retries for 600 s, then runs the job untracked), and one older than jobs that
        wait with no record would run such a job as one that came without gemsdash; so while one
        lives every job gets its record, in the old layout (expand/contract during a rolling
        upgrade). Refreshed at most every LAYOUT_CHECK_S (a worker's heartbeat refreshes it for
        free); a failed read keeps the last answer, and the submit that follows reports the outage
        itself."""
        if time.monotonic() - self._older_checked < LAYOUT_CHECK_S:
            return bool(self._older_alive)
        if isinstance(self.client, redis.client.Pipeline):  # a bulk loader's: its calls are queued
            return False
        since = now_ms() - self.worker_timeout_ms
        try:
            with translate_errors(self.display_url, secrets=self._secrets):
                pipe = self.client.pipeline(transaction=False)
                pipe.zcount(self.keys.workers(), since, "+inf")
                pipe.zcount(self.keys.layout3(), since, "+inf")
                every, new = pipe.execute()
        except Exception:
            self._older_checked = time.monotonic()
            return bool(self._older_alive)
        self._set_older(int(every) > int(new))
        return bool(self._older_alive)

    def _set_older(self, alive: bool) -> None:
        self._older_checked = time.monotonic()
        if alive != bool(self._older_alive) or self._older_alive is None:
            if alive:
                logger.warning(
                    "A worker older than this version is alive on namespace %s: every new job gets its record, "
                    "in the old layout (more Redis memory, slower transitions), until it stops",
                    self.namespace,
                )
            elif self._older_alive:
                logger.warning("No older worker is alive any more: new jobs wait as their message alone")
        self._older_alive = alive

    def _submission_args(self, sub: Submission, now: int) -> list[Any]:
        """One job's SUBMIT_FIELDS arguments of the `submit` script command."""
        # The first delivery's Redis id can be the job id (unique already); retries get new ones.
        rmid = sub.message.message_id
        message = sub.message
        if sub.delay_ms:
            message = message.copy(queue_name=dq_name(message.queue_name), options={"eta": now + sub.delay_ms})
        # The submission's message is this call's own: setting the option in place saves a copy.
        message.options["redis_message_id"] = rmid
        queue_name = message.queue_name
        record = dict(sub.record, rq=queue_name, rmid=rmid)
        older = self._older_workers()
        return [
            record["id"],
            record["queue"],
            record["state"],
            queue_name,
            rmid,
            message.encode(),
            _compact(record) if older else "" if _waits_as_message(sub) else encode_record(record),
            record["created_at"],
            record["priority"],
        ]

    def start(self, message: Message[Any], worker: str, fallback: StoredJob | None) -> Transition:
        """hot.lua's `start` first (a first delivery of a queued job); jobs.lua's for what it leaves
        ("slow": a redelivery, a retry, run_now, a record of an older layout...) and for a fallback
        record. hot.lua writes nothing when it answers "slow", so either way one call changes it."""
        args = (
            message.message_id,
            message.options.get("redis_message_id", ""),
            message.queue_name,
            worker,
            int(message.options.get("retries", 0)) + 1,
        )
        if fallback is None and all(_json_safe(a) for a in args[1:4]):
            verdict = self._worker_call("start", *args, canonical_queue(message.queue_name), hot=True)
            if verdict not in (b"slow", "slow"):
                return Transition.parse(verdict)
        verdict = self._worker_call("start", *args, _compact(fallback) if fallback is not None else "")
        return Transition.parse(verdict)

    def fetch(
        self, rq: str, prefetch: int, broker_id: str, worker: str, start_max: int, token: str = ""
    ) -> tuple[list[Any], dict[str, str]]:
        """Dramatiq's fetch of up to `prefetch` messages of the physical queue `rq` into the ack set
        of `broker_id`, with hot.lua's `start` by `worker` of the first-delivery records of the
        first `start_max` of them folded in (one script call per batch instead of one per job):
        (messages as Dramatiq's fetch returns them, {redis message id: job id} of those whose
        records it started). What it took is kept under `token` for `refetch`. Redis errors are
        raised as redis-py raises them, as from Dramatiq's own fetch (its consumer handles a lost
        connection)."""
        if not (_json_safe(rq) and _json_safe(worker)):
            worker = ""
        args: list[str | int] = ["fetch", rq, prefetch, broker_id, worker, start_max, token, canonical_queue(rq)]
        return self._fetched(self._hot_script(keys=[self.namespace], args=args))

    def refetch(self, rq: str, broker_id: str, token: str) -> tuple[list[Any], dict[str, str]]:
        """What `fetch` with `token` took, when its reply was lost: the messages still in the ack set
        of `broker_id`, as `fetch` returns them; nothing if that fetch never ran."""
        return self._fetched(self._hot_script(keys=[self.namespace], args=["refetch", rq, broker_id, token]))

    def _fetched(self, reply: Any) -> tuple[list[Any], dict[str, str]]:
        # Redis ran the fetch: raising here would strand what it took in this worker's ack set, so
        # ids that are not UTF-8 (pushed by hand) are kept byte for byte, not refused.
        pairs = [v.decode(errors="surrogateescape") if isinstance(v, bytes) else str(v) for v in reply[1]]
        return list(reply[0]), dict(zip(pairs[::2], pairs[1::2], strict=True))

    def requeue(self, rq: str, broker_id: str, worker: str, rmids: list[str], started: dict[str, str]) -> None:
        """Dramatiq's requeue of messages `broker_id` fetched from `rq` and will not run, with the
        records `fetch` started for `worker` ({redis message id: job id}) `queued` again, in one
        call (jobs.lua `requeue`). Redis errors are raised as redis-py raises them (as `fetch`)."""
        pairs = [v for rmid, job_id in started.items() for v in (job_id, rmid)]
        self._script(
            keys=[self.namespace], args=self._args("requeue", rq, broker_id, worker, len(rmids), *rmids, *pairs)
        )

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
        settle = settle or Settlement()
        return Transition.parse(
            self._settling_worker_call(
                "job state",
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
                settle.scrubbed or "",
                *(settle.delivery or ("", "", "")),
                *(settle.next_copy or ("", "", "")),
                WAIT_BOUNDS_CSV,
            )
        )

    def succeed_many(self, successes: Sequence[Success]) -> int:
        """The whole batch is one hot.lua `succeed` call: one round trip, and counters, index pruning
        and heartbeats written once per call instead of once per job. The jobs it does not
        recognise (a retried or redelivered run, an older record...) are one jobs.lua `succeed` call
        more; each job is written, with its ack, by exactly one of the two."""
        if not successes:
            return 0
        hot: list[Any] = [self.finished_ttl, BOUNDS_CSV, WAIT_BOUNDS_CSV]
        rows: list[tuple[Any, ...]] = []
        now = now_ms()
        for s in successes:
            age = max(now - s.finished_ms, 0)
            ack = s.ack or ("", "", "")
            duration = "" if s.duration_ms is None else s.duration_ms
            rows.append((s.job_id, s.result, duration, age, *ack))
            # hot.lua splices the result into the record as it is: a JSON string, quoted here.
            hot += (s.job_id, json.dumps(s.result), duration, age, *ack)
        reply = self._settling_worker_call("job successes", "succeed", *hot, hot=True)
        written = int(reply[0])
        # The jobs hot.lua left (not recognised; neither written nor acked): jobs.lua's `succeed`.
        args: list[Any] = [BOUNDS_CSV, WAIT_BOUNDS_CSV]
        for position in reply[1:]:
            args += rows[int(position) - 1]
        if len(args) > 2:
            written += int(self._settling_worker_call("job successes", "succeed", *args))
        return written

    def reject(
        self, rq: str, data: bytes, error: tuple[str, str], evidence: dict[str, Any], message_id: str, worker: str
    ) -> str | None:
        """Dead-letter a fetched message that cannot run; returns the id its record got.

        `error` is the record's (type, message); `evidence` what is kept of the message, in the
        record and as its dead-letter copy, instead of the message itself (see
        `redaction.raw_evidence`); `message_id` the id it claims, when usable."""
        canonical = canonical_queue(rq)
        created = now_ms()
        record = {
            "id": "",
            "type": canonical,
            "queue": canonical,
            "state": JobState.DEAD.value,
            "priority": "normal",
            "payload": _compact({"refused_message": evidence}),
            "attempts": 0,
            "max_attempts": 1,
            "created_at": created,
            "error": {"type": error[0], "message": error[1], "traceback": None},
            "timeline": [],
        }
        dead_letter = _compact({"refused": error[1], **evidence})
        head, tail = data[:_MATCH_BYTES], data[-_MATCH_BYTES:] if data else b""
        rmid = self._settling_call(
            "dead letter",
            "reject",
            rq,
            worker,
            len(data),
            head,
            tail,
            _compact(record),
            dead_letter,
            message_id,
            str(uuid.uuid4()),
        )
        return self._text(rmid) if rmid else None

    def reclaim(self, worker: str, rq: str) -> list[bytes]:
        """What `worker`'s ack set still holds for the delay queue `rq` (see jobs.lua)."""
        return list(self._worker_call("reclaim", worker, rq))

    def handoff(self, job_id: str) -> Transition:
        return Transition.parse(self._worker_call("handoff", job_id, HANDOFF_CSV))

    # -- reads for the dashboard, the CLI and the API ---------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        return self.get_many([job_id])[0]

    def page(
        self, queue: str, state: JobState | None, offset: int, limit: int, search: str = "", *, priority: str = ""
    ) -> JobPage:
        calls = self._page_calls(queue, state, offset, limit, search, priority)
        if len(calls) == 1:
            return self._parse_pages([self._call(*calls[0])], offset, limit)
        if isinstance(self.client, RedisCluster):
            return self._parse_pages([self._call(*c) for c in calls], offset, limit)
        with translate_errors(self.display_url, secrets=self._secrets):
            pipe = self.client.pipeline(transaction=False)
            for call in calls:
                self._queue_call(pipe, *call)
            return self._parse_pages(self._execute(pipe), offset, limit)

    def _page_calls(
        self, queue: str, state: JobState | None, offset: int, limit: int, search: str, priority: str
    ) -> list[tuple[Any, ...]]:
        """The script calls of one page: a `page` (O(log n + limit) at any offset), or for a search
        or a priority filter the `scan` steps over the search window, each bounded to SCAN_STEP
        records (pipelined: one round trip, but other clients' commands run between them)."""
        st = state.value if state else ""
        if not search and not priority:
            return [("page", queue, st, max(offset, 0), max(limit, 1), STATES_CSV)]
        return [
            ("scan", queue, st, at, SCAN_STEP, search, SEARCH_FIELDS_CSV, priority)
            for at in range(0, self.limits.search_window, SCAN_STEP)
        ]

    def _parse_pages(self, replies: list[Any], offset: int, limit: int) -> JobPage:
        """A `page` reply, or `scan` replies joined: a job seen twice (it moved between two steps)
        counts once, where it was first seen."""
        if len(replies) == 1:
            return self._parse_page(replies[0], offset, limit)
        matched: dict[str, Any] = {}
        for reply in replies:
            for i in range(0, len(reply), 2):
                matched.setdefault(self._text(reply[i]), reply[i + 1])
        raws = list(matched.values())[max(offset, 0) : max(offset, 0) + max(limit, 1)]
        return JobPage([decode_record(parse_record(raw)) for raw in raws], len(matched), offset, limit)

    def snapshot(self) -> Snapshot:
        """Counts, throughput, oldest waiting job, workers and Redis's memory state: one round trip."""
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
        """The snapshot and, for `queue`, one page of its jobs: one round trip for a whole dashboard
        refresh, and no writes, so it still works when Redis is out of memory.

        Not a MULTI (Redis refuses every command queued in one at OOM): a pipeline of three reads,
        the snapshot (`snapshot.lua`, a `no-writes` script, so its counts are read at one instant
        and agree with each other), `INFO memory`, and the page (`jobs.lua`'s read-only `page`, itself
        atomic). The page is read right after the counts; a job that changes state in between can
        make its total differ from the count by the jobs changed in that instant."""
        now = now_ms()
        calls = self._page_calls(queue, state, offset, limit, search, priority) if queue is not None else []
        if isinstance(self.client, RedisCluster):
            replies = self._cluster_view(now, calls)
        else:
            with translate_errors(self.display_url, secrets=self._secrets):
                pipe = self.client.pipeline(transaction=False)
                pipe.evalsha(self._snapshot_script.sha, 1, self.namespace, *self._snapshot_args(now))
                pipe.info("memory")
                for call in calls:
                    self._queue_call(pipe, *call)
                replies = self._execute(pipe, raise_on_error=False)
        for reply in (replies[0], *replies[2:]):
            if isinstance(reply, Exception):
                raise reply
        snapshot = self._parse_snapshot(replies[0], replies[1], now)
        return snapshot, (self._parse_pages(replies[2:], offset, limit) if queue is not None else None)

    def _cluster_view(self, now: int, page_calls: list[tuple[Any, ...]]) -> list[Any]:
        """A Redis Cluster pipeline refuses EVALSHA outside MULTI (and a MULTI is what Redis refuses
        at OOM), and INFO has no slot: on a Cluster the snapshot, INFO of a primary and the page are
        three round trips. The namespace's keys share one hash tag, so each script sees one slot."""
        with translate_errors(self.display_url, secrets=self._secrets):
            snapshot = self._snapshot_script(keys=[self.namespace], args=self._snapshot_args(now))
            try:
                info: Any = self.client.info("memory")
            except redis.ResponseError as exc:
                info = exc
        return [snapshot, info, *(self._call(*call) for call in page_calls)]

    def _buckets(self, now: int) -> list[int]:
        bucket_now = now // (self.limits.bucket_seconds * 1000)
        return list(range(bucket_now - BUCKETS + 1, bucket_now + 1))

    def _snapshot_args(self, now: int) -> list[Any]:
        buckets = self._buckets(now)
        return [
            now,
            self.finished_ttl,
            self.dead_ttl,
            self.worker_timeout_ms,
            recovery_bound_ms(self.worker_timeout_ms),
            ",".join(QUEUES),
            STATES_CSV,
            FINISHED_CSV,
            PRIORITIES_CSV,
            buckets[0],
            len(buckets),
            now - self.worker_timeout_ms * WORKER_LISTED_TIMEOUTS,
            _WORKERS_LISTED,
        ]

    def _parse_snapshot(self, reply: list[Any], info: Any, now: int) -> Snapshot:
        buckets = self._buckets(now)
        stats: dict[str, QueueStats] = {}
        for queue, row in zip(QUEUES, reply, strict=False):
            counts = {state: int(row[i]) for i, state in enumerate(STATES)}
            cursor = len(STATES)
            oldest = row[cursor]
            cursor += 1
            finished: list[tuple[int, int]] = []
            total_ms = 0
            total_n = 0
            for bucket in row[cursor : cursor + len(buckets)]:
                ok, fail, ms = (int(v) if v is not None else 0 for v in bucket[:3])
                finished.append((ok, fail))
                total_ms += ms
                # Buckets written before `timed` existed count every finished job.
                total_n += int(bucket[3]) if bucket[3] is not None else ok + fail
            cursor += len(buckets)
            flat = row[cursor]
            hist = {self._text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
            flat = row[cursor + 1]
            wait = {self._text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
            overdue, waiting, serving = row[cursor + 2 : cursor + 5]
            stats[queue] = QueueStats(
                queue=queue,
                counts=counts,
                finished_per_bucket=finished,
                avg_duration_ms=total_ms / total_n if total_n else None,
                oldest_queued_at=from_ms(int(float(oldest[1]))) if oldest else None,
                duration_sum_ms=hist.pop("sum", 0),
                duration_count=_drop_count(hist),
                duration_buckets=hist,
                wait_sum_ms=wait.pop("sum", 0),
                wait_count=_drop_count(wait),
                wait_buckets=wait,
                overdue=int(overdue),
                waiting_by_priority={p.value: int(n) for p, n in zip(Priority, waiting, strict=True)},
                consumers_by_priority={p.value: int(n) for p, n in zip(Priority, serving, strict=True)},
            )
        flat = reply[len(QUEUES)]
        totals = {self._text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat), 2)}
        for queue, qs in stats.items():
            qs.finished_total.update(
                {outcome: totals.get(f"{queue}:{outcome}", 0) for outcome in ("succeeded", "dead")}
            )
            qs.enqueued_total.update({p.value: totals.get(f"{queue}:enqueued:{p.value}", 0) for p in Priority})
            qs.attempts_total.update({o: totals.get(f"{queue}:attempt:{o}", 0) for o in ATTEMPT_OUTCOMES})
        memory, memory_error = None, None
        if isinstance(info, Exception):
            memory_error = f"INFO refused: {describe(info, self._secrets)}"
        else:
            memory = parse_memory_info(info)
        return Snapshot(
            taken_at=from_ms(now),
            queues=stats,
            workers=int(reply[len(QUEUES) + 1]),
            worker_list=self._parse_workers(reply[len(QUEUES) + 3], now),
            stale_workers=int(reply[len(QUEUES) + 2]),
            memory=memory,
            memory_error=memory_error,
            overdue_after_ms=recovery_bound_ms(self.worker_timeout_ms),
            paused=frozenset(self._text(q) for q in reply[len(QUEUES) + 4]),
            data_lost=DataLoss.read(reply[len(QUEUES) + 5]),
        )

    def _parse_workers(self, reply: list[Any], now: int) -> list[WorkerInfo]:
        found: list[WorkerInfo] = []
        for i in range(0, len(reply) - 2, 3):
            beat = int(float(reply[i + 1]))
            found.append(self._worker(self._text(reply[i]), beat, reply[i + 2], now))
        return found

    def _worker(self, worker_id: str, beat: float, body: bytes | str, now: int) -> WorkerInfo:
        data = scrub(load_json(body))  # a heartbeat written by hand must not break the dashboard
        return WorkerInfo(
            id=worker_id,
            host=data["host"],
            pid=int(data["pid"]),
            threads=int(data["threads"]),
            started_at=from_ms(data["started_at"]),
            last_heartbeat=from_ms(beat),
            in_flight=int(data["in_flight"]),
            queues=list(data.get("queues", [])),
            consumes=list(data.get("consumes", [])),
            alive=beat >= now - self.worker_timeout_ms,
        )

    @staticmethod
    def _parse_page(reply: list[Any], offset: int, limit: int) -> JobPage:
        return JobPage([decode_record(parse_record(raw)) for raw in reply[1:]], int(reply[0]), offset, limit)

    def find_ids(self, prefix: str, limit: int) -> list[str]:
        """Ids that start with `prefix`, at most `limit`: one ZRANGEBYLEX on the id index (O(log n)
        whatever the number of jobs), then which of those are still jobs (jobs.lua `live`: an
        expired record's entry may wait for its index's prune; it is dropped there)."""
        with translate_errors(self.display_url, secrets=self._secrets):
            found = [
                self._text(i)
                for i in self.client.zrangebylex(self.keys.ids(), f"[{prefix}", f"({prefix}\xff", 0, limit)
            ]
        if not found:
            return []
        live = self._call("live", *found)
        return [i for i, alive in zip(found, live, strict=True) if alive]

    def dead_ids(self, queue: str, limit: int) -> list[str]:
        with translate_errors(self.display_url, secrets=self._secrets):
            ids = self.client.zrange(self.keys.idx(queue, JobState.DEAD.value), 0, limit - 1)
        return [self._text(i) for i in ids]

    # -- admin actions ----------------------------------------------------------------------

    def cancel(self, job_id: str, who: str, audit: str) -> Transition:
        return Transition.parse(self._settling_call("cancel", "cancel", job_id, WAITING_CSV, who, audit))

    def delete(self, job_id: str, audit: str) -> Transition:
        return Transition.parse(self._settling_call("delete", "delete", job_id, RETRYABLE_CSV, audit))

    def cancel_many(self, job_ids: list[str], who: str) -> list[Transition]:
        if not job_ids:
            return []
        if self._replicated is not None:
            calls = [self._evalsha("cancel", job_id, WAITING_CSV, who, "") for job_id in job_ids]
            return [Transition.parse(v) for v in self._write("cancel", calls)]
        with translate_errors(self.display_url, secrets=self._secrets):
            pipe = self.client.pipeline(transaction=False)
            for job_id in job_ids:
                self._queue_call(pipe, "cancel", job_id, WAITING_CSV, who, "")
            return [Transition.parse(v) for v in self._execute(pipe)]

    def retry(self, job_id: str, message: Message[Any], who: str, audit: str) -> Transition:
        rmid = str(uuid.uuid4())
        message = message.copy(options={"redis_message_id": rmid})
        return Transition.parse(
            self._settling_call(
                "retry", "retry", job_id, RETRYABLE_CSV, message.queue_name, rmid, message.encode(), who, audit
            )
        )

    def retry_many(self, items: list[tuple[str, Message[Any]]], who: str) -> list[Transition]:
        if not items:
            return []
        if self._replicated is not None:
            calls = []
            for job_id, message in items:
                rmid = str(uuid.uuid4())
                message = message.copy(options={"redis_message_id": rmid})
                calls.append(
                    self._evalsha("retry", job_id, RETRYABLE_CSV, message.queue_name, rmid, message.encode(), who, "")
                )
            return [Transition.parse(v) for v in self._write("retry", calls)]
        with translate_errors(self.display_url, secrets=self._secrets):
            pipe = self.client.pipeline(transaction=False)
            for job_id, message in items:
                rmid = str(uuid.uuid4())
                message = message.copy(options={"redis_message_id": rmid})
                self._queue_call(
                    pipe, "retry", job_id, RETRYABLE_CSV, message.queue_name, rmid, message.encode(), who, ""
                )
            return [Transition.parse(v) for v in self._execute(pipe)]

    def get_many(self, job_ids: list[str]) -> list[JobRecord | None]:
        """The records as stored (one MGET); those of jobs that wait with no record are built from
        their messages by jobs.lua `get`, in a second call only when some are not stored."""
        if not job_ids:
            return []
        with translate_errors(self.display_url, secrets=self._secrets):
            raws = list(self.client.mget([self.keys.job(i) for i in job_ids]))
        missing = [i for i, raw in enumerate(raws) if not raw]
        if missing:
            for i, raw in zip(missing, self._call("get", *[job_ids[i] for i in missing]), strict=True):
                raws[i] = raw
        return [decode_record(parse_record(raw)) if raw else None for raw in raws]

    def clear(self, queue: str, include_dead: bool, who: str) -> ClearResult:
        lists = physical_queues(queue)
        lists_csv = ",".join(lists + [dq_name(n) for n in lists])
        waiting = [s for s in STATES if s in WAITING_STATES]
        removed = dict.fromkeys([s.value for s in waiting] + [JobState.DEAD.value], 0)
        # A step takes up to _CLEAR_BATCH jobs of each list and state, so what waits now is cleared
        # in at most this many; a fixed cap stopped a clear of more than 100,000 jobs short, silently.
        stats = self.snapshot().queues.get(queue)
        counted = [*waiting, JobState.DEAD] if include_dead else waiting
        now_waiting = sum(stats.counts.get(s, 0) for s in counted) if stats else 0
        for _ in range(now_waiting // _CLEAR_BATCH + _CLEAR_EXTRA_STEPS):
            reply = self._settling_call(
                "clear",
                "clear",
                queue,
                ",".join(s.value for s in waiting),
                "1" if include_dead else "0",
                lists_csv,
                _CLEAR_BATCH,
                who,
                self.largest_message,
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
            pipe.lpush(self.keys.audit(), entry)
            pipe.ltrim(self.keys.audit(), 0, self.limits.audit_max - 1)
            pipe.execute()

    def save_logs(self, job_id: str, lines: list[str]) -> None:
        """Not a state change (no script): one SET, expiring with the longest-kept records."""
        with translate_errors(self.display_url, secrets=self._secrets):
            self.client.set(self.keys.logs(job_id), _compact(lines), ex=self.dead_ttl)

    def job_logs(self, job_id: str) -> list[str]:
        with translate_errors(self.display_url, secrets=self._secrets):
            raw = self.client.get(self.keys.logs(job_id))
        return [str(line) for line in json.loads(raw)] if raw else []

    def run_now(self, job_id: str, message: Message[Any], who: str, audit: str) -> Transition:
        rmid = str(uuid.uuid4())
        message = message.copy(options={"redis_message_id": rmid})
        return Transition.parse(
            self._settling_call(
                "run now", "run_now", job_id, HANDOFF_CSV, message.queue_name, rmid, message.encode(), who, audit
            )
        )

    def request_abort(self, job_id: str, who: str, audit: str) -> Transition:
        return Transition.parse(self._call("abort", job_id, who, audit))

    def abort_requests(self, job_ids: list[str]) -> list[str]:
        with translate_errors(self.display_url, secrets=self._secrets):
            asked = self.client.hmget(self.keys.aborts(), job_ids)
        return [i for i, who in zip(job_ids, asked, strict=True) if who is not None]

    def aborted(self, job_id: str, detail: str, duration_ms: int | None) -> Transition:
        duration = "" if duration_ms is None else duration_ms
        return Transition.parse(
            self._settling_worker_call("job abort", "aborted", job_id, detail, duration, WAIT_BOUNDS_CSV)
        )

    def set_paused(self, queue: str, paused: bool, audit: str) -> bool:
        with translate_errors(self.display_url, secrets=self._secrets):
            pipe = self.client.pipeline(transaction=True)
            (pipe.sadd if paused else pipe.srem)(self.keys.paused(), queue)
            pipe.lpush(self.keys.audit(), audit)
            pipe.ltrim(self.keys.audit(), 0, self.limits.audit_max - 1)
            changed = pipe.execute()[0]
        return bool(changed)

    def paused(self) -> frozenset[str]:
        with translate_errors(self.display_url, secrets=self._secrets):
            return frozenset(self._text(q) for q in self.client.smembers(self.keys.paused()))

    def audit_log(self, limit: int) -> list[dict[str, Any]]:
        with translate_errors(self.display_url, secrets=self._secrets):
            rows = self.client.lrange(self.keys.audit(), 0, limit - 1)
        return [scrub(load_json(r)) for r in rows]

    # -- workers ----------------------------------------------------------------------------

    def heartbeat(self, info: WorkerInfo) -> int | None:
        """Both Dramatiq's heartbeat (so its ack lease holds while threads are busy) and ours, by
        Redis's clock, with the housekeeping in turn; the reply also brings this process's clock
        offset up to date and, once LAYOUT_CHECK_S has passed, whether an older worker is alive
        (`_older_workers`), so a worker never spends a round trip on that. Returns the oldest
        heartbeat of any worker (ms, Redis's clock)."""
        body = {
            "id": info.id,
            "host": info.host,
            "pid": info.pid,
            "threads": info.threads,
            "started_at": int(info.started_at.timestamp() * 1000),
            "in_flight": info.in_flight,
            "queues": info.queues,
            "consumes": info.consumes,
            "record_layout": RECORD_LAYOUT,
        }
        before = time.time()
        check = time.monotonic() - self._older_checked >= LAYOUT_CHECK_S
        reply = self._call(
            "beat",
            info.id,
            _compact(body),
            self.worker_timeout_ms * 3,
            self.worker_timeout_ms * 10,
            *self._housekeeping_args(),
            self.worker_timeout_ms if check else "",
            *info.consumes,
        )
        redis_now, oldest = reply[0], reply[1]
        clock.observe(int(redis_now), before, time.time())
        if reply[2] is not None:
            self._set_older(bool(reply[2]))
        self._check_epoch(self._text(reply[3]), info.id, int(redis_now))
        return None if oldest is None else int(float(oldest))

    def _check_epoch(self, epoch: str, worker_id: str, redis_now: int) -> None:
        """A changed epoch means Redis lost this namespace's data since the last beat. Nothing else
        would say so: the queues look empty and healthy. So: one CRITICAL line, and the loss kept a
        day for health (`data_lost`). A process started after the loss cannot tell (docs/operations.md).

        An epoch is held to only once EPOCH_SETTLE_MS old (its own Redis time): one written just
        before a failover can be lost with the old primary while the data set lives on (the first
        beats of a new namespace during a planned failover did exactly that: a false alarm), and a
        stale primary answers only for the seconds Sentinel takes to demote it."""
        if self._epoch is None or self._epoch == epoch:
            created = epoch.split(":", 1)[0]
            if self._epoch is None and created.isdigit() and redis_now - int(created) >= EPOCH_SETTLE_MS:
                self._epoch = epoch
            return
        before, self._epoch = self._epoch, epoch
        loss = DataLoss(from_ms(redis_now), worker_id, before, epoch)
        logger.critical(
            "Redis at %s lost the data of namespace %s (it came back empty: restarted without persistence, "
            "flushed, or a replica that had not synced was promoted): every job accepted before now is gone. "
            "See docs/operations.md, 'When Redis loses its data'",
            self.display_url,
            self.namespace,
        )
        with translate_errors(self.display_url, secrets=self._secrets):
            self.client.set(self.keys.data_lost(), _compact(loss.as_json()), ex=DATA_LOSS_KEPT_S)

    def idle_read(self, lists: list[str]) -> tuple[int, int | None]:
        """What an idle worker process polls, in one round trip (idle_gate.py): how many of `lists`
        hold messages, and the first unpaused schedule's next run (ms), which the scheduler compares
        with Redis's clock as this process knows it before calling `sched_due`. Plain commands: a
        script call costs an idle Redis more CPU than the commands it saves."""
        with translate_errors(self.display_url, secrets=self._secrets):
            pipe = self.client.pipeline(transaction=False)
            if lists:
                pipe.exists(*lists)
            pipe.zrange(self.keys.sched_due(), 0, 0, withscores=True)
            replies = pipe.execute()
        first = replies[-1]
        return (int(replies[0]) if lists else 0), (int(first[0][1]) if first else None)

    def _housekeeping_args(self) -> tuple[str, str, str]:
        """What jobs.lua's housekeeping walks in turn: job queues, states, dead-letter queues."""
        return ",".join(QUEUES), STATES_CSV, self._dead_letter_queues

    def forget_worker(self, worker_id: str) -> None:
        with translate_errors(self.display_url, secrets=self._secrets):
            pipe = self.client.pipeline(transaction=True)
            pipe.zrem(self.keys.workers(), worker_id)
            pipe.zrem(self.keys.layout2(), worker_id)
            pipe.zrem(self.keys.layout3(), worker_id)
            pipe.delete(self.keys.worker(worker_id))
            for rq in all_physical_queues(with_delay=False):
                pipe.zrem(self.keys.serving(rq), worker_id)
            pipe.execute()

    def workers(self) -> list[WorkerInfo]:
        now = now_ms()
        with translate_errors(self.display_url, secrets=self._secrets):
            live: list[tuple[bytes, float]] = self.client.zrangebyscore(  # type: ignore[assignment]
                self.keys.workers(), now - self.worker_timeout_ms, "+inf", withscores=True
            )
            bodies = self.client.mget([self.keys.worker(self._text(w)) for w, _ in live]) if live else []
        found: list[WorkerInfo] = []
        for (worker_id, beat), body in zip(live, bodies, strict=True):
            if body is None:
                continue
            found.append(self._worker(self._text(worker_id), beat, body, now))
        return found

    def lost_on_exit(self) -> int:
        """Nothing: every waiting job is in Redis."""
        return 0

    def recover(self) -> tuple[int, int]:
        """(dead workers reaped, messages requeued)."""
        dead, requeued = self._call(
            "recover",
            self.worker_timeout_ms,
            self._lists,
            self._dead_letter_queues,
            WAIT_BOUNDS_CSV,
            ",".join(QUEUES),
            STATES_CSV,
        )
        return int(dead), int(requeued)


if TYPE_CHECKING:

    def _implements(store: RedisJobStore) -> JobStore:
        return store  # mypy proves the Redis store implements the whole contract
