"""The configured broker and store of this process, in one of the two modes.

`configure()` is called once by the composition root (the CLI) before any actor is declared;
`current_runtime()` configures lazily for processes started by `dramatiq gemsdash.actors`.
"""

from __future__ import annotations

import functools
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

import dramatiq
from dramatiq import Broker, Worker
from dramatiq.middleware import TimeLimit

from gemsdash.queue import clock, handlers, log_redaction
from gemsdash.queue import registry as job_types
from gemsdash.queue.admission import Refusal, message_limit
from gemsdash.queue.config import DEAD_LETTER_TTL_SECONDS, Settings, load_settings
from gemsdash.queue.connection import Client, connect, primary_address, translate_errors
from gemsdash.queue.errors import BackendUnavailable, ConfigError
from gemsdash.queue.eviction import check_eviction_policy
from gemsdash.queue.job_storage import JobStorage, MemoryJobStorage
from gemsdash.queue.memory_store import MemoryJobStore
from gemsdash.queue.messages import all_physical_queues
from gemsdash.queue.middleware import (
    Aborts,
    BackoffRetries,
    EarlyStarts,
    Heartbeat,
    JobLogs,
    JobTracking,
    QuietOutage,
    Recovery,
    Scheduler,
    WorkerGuard,
    WriteBehind,
)
from gemsdash.queue.pausing import PausedQueues
from gemsdash.queue.redaction import Redactor, raw_evidence
from gemsdash.queue.redis_broker import GemsdashRedisBroker
from gemsdash.queue.redis_store import RedisJobStore
from gemsdash.queue.redis_store.job_storage import RedisJobStorage
from gemsdash.queue.schedules import fire_due
from gemsdash.queue.shards import unknown_types
from gemsdash.queue.store import JobStore, Settling, worker_label
from gemsdash.queue.stub_broker import EmbeddedStubBroker

logger = logging.getLogger("gemsdash")

#: The scheduler takes the idle gate's last poll when it is at most this old, else polls itself
#: (refreshing the gate): the scheduler's look once a second is then the process's one idle poll.
SCHEDULE_LOOK_AGE_S = 0.25

Mode = Literal["redis", "memory"]
#: host: a long-lived process that may fall back to memory; worker and oneshot never fall back.
Role = Literal["host", "worker", "oneshot"]


@dataclass
class Runtime:
    settings: Settings
    mode: Mode
    fallback_reason: str | None
    broker: Broker
    store: JobStore
    tracking: JobTracking
    redactor: Redactor
    #: Where job code keeps its own facts (the payment ledger, the email send log), in either mode.
    job_storage: JobStorage
    client: Client | None = None
    worker: Worker | None = field(default=None, repr=False)
    #: The other shards' runtimes this process opened (sharding.py), closed with this one.
    peers: dict[str, Runtime] = field(default_factory=dict, repr=False)

    @property
    def shard(self) -> str:
        return self.settings.shard

    @property
    def url(self) -> str | None:
        return self.settings.display_url if self.mode == "redis" else None

    def describe(self) -> dict[str, Any]:
        described = {"mode": self.mode, "url": self.url, "fallback_reason": self.fallback_reason}
        if self.settings.redis_sentinels and self.client is not None:
            described["primary"] = primary_address(self.client)
        return described

    def start_worker(self, threads: int | None = None) -> Worker:
        """Run jobs inside this process (memory mode's embedded worker)."""
        if self.worker is None:
            if isinstance(self.broker, EmbeddedStubBroker):
                self.broker.embedded_worker = True
            self.broker.emit_after("process_boot")
            self.worker = Worker(
                self.broker, worker_threads=threads or self.settings.worker_threads, worker_timeout=100
            )
            self.worker.start()
        return self.worker

    def stop_worker(self, timeout_ms: int = 10_000) -> int:
        """Stop the embedded worker; returns (and warns about) the jobs lost with this process."""
        if self.worker is None:
            return 0
        self.worker.stop(timeout=timeout_ms)
        self.worker = None
        lost = self.store.lost_on_exit()
        if lost:
            logger.warning(
                "%d job(s) were still waiting in memory mode and are lost with this process "
                "(memory mode keeps nothing; set REDIS_ENABLED=true to persist jobs).",
                lost,
            )
        return lost


_lock = threading.RLock()
_runtime: Runtime | None = None
#: The shard runtime an operation was routed to (sharding.py); unset, the process's own runtime.
_routed: ContextVar[Runtime | None] = ContextVar("gemsdash_routed_runtime", default=None)


def configure(settings: Settings | None = None, *, role: Role = "worker") -> Runtime:
    """Build the broker and store for `settings` and make them this process's own."""
    global _runtime
    settings = settings or load_settings()
    job_types.load()  # a broken job-type plugin stops the process before it connects to anything
    unknown = unknown_types(settings.shards)
    if unknown is not None:
        raise ConfigError(f"invalid value for GEMSDASH_SHARDS: {unknown}")
    settings = settings.on_shard(settings.shard)
    with _lock:
        if _runtime is not None:
            _close_peers(_runtime)
            if _runtime.worker is not None:
                _runtime.stop_worker()
        runtime = build(settings, role=role)
        _runtime = runtime
        dramatiq.set_broker(runtime.broker)
        handlers.declare_actors(runtime.broker)
        return runtime


def build(settings: Settings, *, role: Role, peer: bool = False) -> Runtime:
    """A broker and store for `settings`, not (yet) this process's own: `configure` makes it so;
    sharding.py builds one per other shard this process reads or writes (a `peer`: the process
    keeps its own shard's clock offset, see clock.py)."""
    redactor = Redactor(settings.secrets())
    log_redaction.install(redactor)
    fallback_reason = None
    client = None
    if settings.redis_enabled:
        try:
            client = connect(settings)
        except BackendUnavailable as exc:
            if settings.shards:
                # No silent fallback: memory mode has no shards, so half the types would vanish.
                raise BackendUnavailable(f"shard {settings.shard!r}: {exc}") from None
            if role != "host" or not settings.redis_fallback:
                raise
            fallback_reason = str(exc)
            logger.warning("REDIS_ENABLED=true but %s; falling back to memory mode (REDIS_FALLBACK=true).", exc)
        # Processes that write refuse a Redis that may evict; a one-shot command checks only
        # when it writes (cli.py), so `health` and `stats` can still say what is wrong.
        if client is not None and role != "oneshot":
            try:
                check_eviction_policy(client, settings)
            except Exception:
                client.close()
                raise
    runtime = (
        _build_redis(settings, client, redactor, sync_clock=not peer)
        if client is not None
        else _build_memory(settings, redactor)
    )
    runtime.fallback_reason = fallback_reason
    return runtime


def current_runtime() -> Runtime:
    routed = _routed.get()
    if routed is not None:
        return routed
    with _lock:
        return _runtime if _runtime is not None else configure(role="worker")


def routed() -> Runtime | None:
    """The runtime an enclosing `routed_to` block chose, if any."""
    return _routed.get()


@contextmanager
def routed_to(runtime: Runtime) -> Iterator[Runtime]:
    """Within this block (this thread or task only), `current_runtime()` is `runtime`: how an
    operation on one shard's jobs reaches that shard's store with the code written for one Redis."""
    token = _routed.set(runtime)
    try:
        yield runtime
    finally:
        _routed.reset(token)


def _close_peers(runtime: Runtime) -> None:
    for peer in runtime.peers.values():
        if peer.client is not None:
            peer.client.close()
    runtime.peers.clear()


def configured() -> Runtime | None:
    return _runtime


def reset() -> None:
    """Forget this process's runtime (tests switch modes and namespaces)."""
    global _runtime
    with _lock:
        if _runtime is not None:
            _runtime.stop_worker()
            _close_peers(_runtime)
            if _runtime.client is not None:
                _runtime.client.close()
        _runtime = None
        clock.reset()


def _middleware(
    store: JobStore,
    redactor: Redactor,
    settings: Settings,
    worker_id: str,
    settling: Settling,
    write_behind: WriteBehind | None = None,
    look: Callable[[], int | None] | None = None,
) -> tuple[list[Any], JobTracking]:
    tracking = JobTracking(store, redactor, settling, write_behind)
    interval = max(settings.worker_timeout_seconds / 5, 0.2)
    heartbeat = Heartbeat(store, worker_id, interval, lambda: tracking.in_flight)
    # Dramatiq runs `after_*` hooks in reverse order: tracking goes first so that its
    # after_process_message runs last, once Retries has decided between retry and dead letter;
    # write-behind goes last so that it flushes at shutdown before Heartbeat deregisters.
    return (
        [tracking]
        # Of Dramatiq's default middleware, the two whose options gemsdash writes: time limits, and
        # Retries with delays that are what the backoff says (Dramatiq's own always adds jitter).
        # The others (AgeLimit, ShutdownNotifications, Callbacks, Pipelines) act only on options
        # that no gemsdash actor declares and no message may carry (admission.ALLOWED_OPTIONS):
        # they did nothing but cost a no-op job a tenth of its time in memory mode.
        + [TimeLimit(), BackoffRetries()]
        + [
            heartbeat,
            Recovery(
                store,
                max(settings.worker_timeout_seconds / 3, 0.5),
                settings.worker_timeout_seconds,
                lambda: heartbeat.oldest_beat_ms,
                settings.worker_timeout_ms,
            ),
            QuietOutage(),
            WorkerGuard(),
            Scheduler(lambda wait: fire_due(store, settings.max_payload_bytes, wait, look)),
            JobLogs(store, redactor),
            # Last, so that its after-hooks run first: a job's thread is forgotten as soon as the
            # job returns, before any other hook, which an abort arriving late must not hit.
            Aborts(store, settling.waiting_jobs),
        ]
        + ([write_behind] if write_behind is not None else []),
        tracking,
    )


def _declare_queues(broker: Broker) -> None:
    for name in all_physical_queues(with_delay=False):
        broker.declare_queue(name)


def _build_redis(settings: Settings, client: Client, redactor: Redactor, *, sync_clock: bool = True) -> Runtime:
    if sync_clock:
        with translate_errors(settings.display_url, secrets=settings.secrets()):
            clock.sync(client)
    store = RedisJobStore(
        client,
        namespace=settings.namespace,
        finished_ttl=settings.redis_ttl,
        dead_ttl=DEAD_LETTER_TTL_SECONDS,
        worker_timeout_ms=settings.worker_timeout_ms,
        display_url=settings.display_url,
        secrets=settings.secrets(),
        min_replicas=settings.min_replicas,
        replica_timeout_ms=settings.replica_timeout_ms,
        largest_message=message_limit(settings.max_payload_bytes),
    )
    broker = GemsdashRedisBroker(
        middleware=[],
        client=client,
        namespace=settings.namespace,
        # gemsdash's Recovery middleware does this deterministically, without KEYS.
        maintenance_chance=0,
        heartbeat_timeout=settings.worker_timeout_ms,
        dead_message_ttl=DEAD_LETTER_TTL_SECONDS * 1000,
    )

    def reject(rq: str, data: bytes, refusal: Refusal, worker: str) -> None:
        evidence = raw_evidence(data, redactor, refusal.parsed, was_parsed=refusal.was_parsed)
        store.reject(rq, data, (refusal.kind, refusal.reason), evidence, refusal.message_id, worker)

    broker.reject_malformed = reject
    broker.paused_queues = PausedQueues(store.paused)
    broker.reclaim_delayed = store.reclaim
    # Fetches by hot.lua `fetch`, which keeps what each took (taken back if its reply is lost), and
    # starts in the fetch the jobs expected to begin at once (redis_broker.py,
    # middleware/early_start.py); GEMSDASH_FOLD_START=0: none, each job has its own `start` call.
    label = worker_label()
    broker.fetch_and_start = lambda rq, prefetch, broker_id, room, token: store.fetch(
        rq, prefetch, broker_id, label, room, token
    )
    broker.refetch = store.refetch
    broker.requeue_started = lambda rq, broker_id, rmids, started: store.requeue(rq, broker_id, label, rmids, started)
    early = EarlyStarts() if settings.fold_start else None
    if early is not None:
        broker.start_room = early.room
    broker.max_message_bytes = message_limit(settings.max_payload_bytes)
    # The scheduler's once-a-second look and the idle gate's poll share one round trip.
    broker.idle_gate.read = store.idle_read
    look = functools.partial(broker.idle_gate.next_schedule, SCHEDULE_LOOK_AGE_S)
    middleware, tracking = _middleware(store, redactor, settings, broker.broker_id, broker, WriteBehind(store), look)
    if early is not None:
        # After JobTracking, which skips cancelled jobs: what it counts are jobs a thread runs.
        middleware.insert(1, early)
    for m in middleware:
        broker.add_middleware(m)
    _declare_queues(broker)
    job_storage = RedisJobStorage(
        client,
        namespace=settings.namespace,
        display_url=settings.display_url,
        secrets=settings.secrets(),
        min_replicas=settings.min_replicas,
        replica_timeout_ms=settings.replica_timeout_ms,
    )
    return Runtime(settings, "redis", None, broker, store, tracking, redactor, job_storage, client=client)


def _build_memory(settings: Settings, redactor: Redactor) -> Runtime:
    clock.reset()
    broker = EmbeddedStubBroker(middleware=[])
    store = MemoryJobStore(
        broker,
        finished_ttl=settings.redis_ttl,
        dead_ttl=DEAD_LETTER_TTL_SECONDS,
        worker_timeout_ms=settings.worker_timeout_ms,
    )
    broker.paused_queues = PausedQueues(store.paused)
    middleware, tracking = _middleware(store, redactor, settings, f"embedded-{uuid.uuid4().hex[:8]}", broker)
    for m in middleware:
        broker.add_middleware(m)
    _declare_queues(broker)
    return Runtime(settings, "memory", None, broker, store, tracking, redactor, MemoryJobStorage())
