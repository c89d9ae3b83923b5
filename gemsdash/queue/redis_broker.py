"""Dramatiq's RedisBroker, with these changes. A fetched message that cannot be decoded, or that
gemsdash could not have written (see `admission`), goes to the dead-letter queue with its reason.
A finished job's ack or nack can be left to the job-state store, and so can a retry's next copy.
Times are Redis's. A delay queue's consumer takes back its own delayed messages after a lost
connection.

Dramatiq decodes fetched messages inside its consumer's iterator; a message that is not valid JSON
(or not a message) raises there, the consumer thread restarts, and the message stays in the ack
set of a live worker forever: never run, never dead-lettered, invisible. (A message without the
`redis_message_id` option Dramatiq's enqueue adds cannot be acknowledged, with the same result.)
Filtering at fetch time keeps the consumer running and the bad message visible as a `dead` job;
and a forged message never runs, nor waits in a worker's memory (a 10-year `eta`).

A succeeded job's ack runs inside the store's `succeed` call and a dead job's nack inside its
`finish` call, each in the same script as the job's record (see JobTracking): `do_ack` and
`do_nack` skip the messages marked with `settle_with_record`.

Retries re-enqueues a failed job's next copy from its `after_process_message`; if Redis is away
then, Dramatiq logs the error, swallows it and acks the attempt: the job is gone. Here that copy
is not sent but kept (`take_retry`) for JobTracking, which stores it in the same `finish` call as
the job's `retrying` record and the ack of the failed attempt, retried until Redis is back; if
that never succeeds the attempt stays unacknowledged, and runs again after recovery.

Dramatiq stamps its heartbeats and dead letters with the caller's clock, and compares a delayed
message's `eta` with the consuming worker's: a worker whose clock is 30 s behind looks dead to the
others, one ahead runs delayed jobs early. Its script here reads Redis's `TIME`; `eta`s are set by
Redis's clock (clock.py) and turned into this host's when fetched.

When a consumer loses its connection, Dramatiq drops the thread's in-memory delay queue, but the
messages stay in this live worker's ack set, where crash recovery never looks: delayed and
retrying jobs would wait until the worker restarts. A new consumer of a delay queue (after a lost
connection, or at boot, when the set is empty) first takes back every message its set still
holds; the thread's delay queue is always empty when Dramatiq makes a new consumer.

A fetch whose reply is lost (the connection broke after Redis ran it) leaves what it took in this
live worker's ack set, its records `running` if it started them: stranded the same way. Each fetch
of a queue (hot.lua `fetch`) keeps what it took under a token of this process; after one that
failed, the next fetch of that queue first asks for what that token took (`refetch`), which is
nothing if it never ran.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from dramatiq import Message
from dramatiq.common import compute_backoff, dq_name
from dramatiq.errors import ConnectionClosed
from redis.cluster import RedisCluster

from gemsdash.queue import clock, context, outage
from gemsdash.queue.admission import MAX_MESSAGE_BYTES, Refusal, inspect_fetched
from gemsdash.queue.dramatiq_internals import RedisBrokerBase, dispatch_on_redis_clock, dramatiq_key
from gemsdash.queue.errors import BackendUnavailable
from gemsdash.queue.hooks import HandlersOnly
from gemsdash.queue.idle_gate import IdleGate
from gemsdash.queue.middleware.persist import PERSIST_DEADLINE_S
from gemsdash.queue.out_of_memory import OUT_OF_MEMORY, is_out_of_memory
from gemsdash.queue.pausing import PausableRedisConsumer, PausedQueues
from gemsdash.queue.store import Delivery, NextCopy

logger = logging.getLogger(__name__)

#: (physical queue, raw message data, why it cannot run, worker id) -> None
RejectMalformed = Callable[[str, bytes, Refusal, str], None]
#: (worker id, physical delay queue) -> data of the messages its ack set holds
Reclaim = Callable[[str, str], list[bytes]]
#: (physical queue, prefetch, worker id, how many to start, token) -> (fetched data, {redis message
#: id: job id} of the messages whose records the fetch marked running): RedisJobStore.fetch with its
#: worker label.
FetchAndStart = Callable[[str, int, str, int, str], tuple[list[Any], dict[str, str]]]
#: (physical queue, worker id, token) -> what the fetch of that token took, as FetchAndStart returns
#: it: RedisJobStore.refetch.
Refetch = Callable[[str, str, str], tuple[list[Any], dict[str, str]]]
#: (physical queue, messages started by a fetch and not begun) -> how many of the next fetch's
#: messages to start with it: EarlyStarts.room (middleware/early_start.py).
StartRoom = Callable[[str, int], int]
#: (physical queue, worker id, redis message ids, {redis message id: job id} of those whose records
#: the fetch started) -> None: RedisJobStore.requeue with its worker label.
RequeueStarted = Callable[[str, str, list[str], dict[str, str]], None]

_OUTAGE_ERRORS = (redis.ConnectionError, redis.TimeoutError)


class GemsdashRedisBroker(HandlersOnly, RedisBrokerBase):
    reject_malformed: RejectMalformed | None = None
    reclaim_delayed: Reclaim | None = None
    #: The fetch of a (not delayed) queue, starting the fetched jobs' records in the same call.
    fetch_and_start: FetchAndStart | None = None
    #: How many of a fetch's messages to start in it (None: none).
    start_room: StartRoom | None = None
    #: What a fetch whose reply was lost took (None: such messages wait until the worker stops).
    refetch: Refetch | None = None
    #: The requeue of fetched messages not run, putting back the records their fetch started.
    requeue_started: RequeueStarted | None = None
    #: Fetched messages larger than this are refused unread.
    max_message_bytes: int = MAX_MESSAGE_BYTES
    #: Queues an operator paused: their consumers fetch nothing (pausing.py).
    paused_queues: PausedQueues | None = None

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: Messages whose ack or nack runs in the same script call as their job's record.
        self._settled: set[str] = set()
        #: job id -> (delay queue, redis message id, data) of a retry's next copy, for JobTracking.
        self._retries: dict[str, NextCopy] = {}
        self._retries_lock = threading.Lock()
        #: Fetched messages whose records the fetch already marked running and that have not begun
        #: (nor gone back): redis message id -> job id.
        self._started: dict[str, str] = {}
        #: How many messages fetches under way may start: counted by the next fetch's estimate as if
        #: started, so that two consumers of this process do not both count the same free threads.
        self._reserved = 0
        self._reserve_lock = threading.Lock()
        #: Tokens of fetches: physical queue -> the token of its fetch whose reply was lost.
        self._tokens = itertools.count(1)
        self._lost_fetches: dict[str, str] = {}
        self.scripts["dispatch"] = self.client.register_script(dispatch_on_redis_clock())
        #: Idle consumers ask it instead of fetching (idle_gate.py).
        self.idle_gate = IdleGate(
            lambda keys: int(self.client.exists(*keys)),
            lambda queue_name: dramatiq_key("queue", self.namespace, rq=queue_name),
            lambda queue_name: self.paused_queues is not None and self.paused_queues.is_paused(queue_name),
        )

    @property
    def consumer_class(self) -> Any:
        return _Consumer

    def enqueue(self, message: Message[Any], *, delay: int | None = None) -> Message[Any]:
        """RedisBroker.enqueue with the due time by Redis's clock, a retry's next copy kept for
        JobTracking's `finish` (see above) and a lost connection raised as Dramatiq's
        ConnectionClosed, which its consumer threads handle as an outage (they would stop)."""
        queue_name = message.queue_name
        message = message.copy(options={"redis_message_id": str(uuid.uuid4())})
        if delay is not None:
            queue_name = dq_name(queue_name)
            message = message.copy(queue_name=queue_name, options={"eta": clock.now_ms() + delay})
        job = context.active()
        retry = delay is not None and job is not None and job.job_id == message.message_id
        self.emit_before("enqueue", message, delay)
        rmid = message.options["redis_message_id"]
        if retry:
            with self._retries_lock:
                self._retries[message.message_id] = NextCopy(queue_name, rmid, message.encode())
        else:
            try:
                self.do_enqueue(queue_name, rmid, message.encode())
            except _OUTAGE_ERRORS as exc:
                raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]
        self.emit_after("enqueue", message, delay)
        return message

    def take_retry(self, job_id: str) -> NextCopy | None:
        """The next copy Retries made of a running job, to store with its record (or None)."""
        with self._retries_lock:
            return self._retries.pop(job_id, None)

    def delivery(self, message: Message[Any]) -> Delivery | None:
        rmid = message.options.get("redis_message_id")
        return Delivery(self.broker_id, message.queue_name, str(rmid)) if rmid else None

    def _dispatch(self, command: str) -> Callable[..., Any]:
        """On a Cluster, a slot whose primary is being replaced answers with cluster errors that are
        not ConnectionErrors: Dramatiq's consumer would treat them as unexpected; as connection
        errors it restarts the consumer and carries on, as after any outage."""
        dispatch: Callable[..., Any] = super()._dispatch(command)  # type: ignore[no-untyped-call]
        if not isinstance(self.client, RedisCluster):
            return dispatch

        def guarded(*args: Any) -> Any:
            try:
                return dispatch(*args)
            except (redis.exceptions.RedisClusterException, redis.exceptions.ClusterError) as exc:
                raise redis.ConnectionError(f"Redis Cluster: {exc}") from exc

        return guarded

    def started_by_fetch(self, message: Message[Any]) -> bool:
        """Whether the fetch of `message` already marked its record running (once: a redelivery of
        the same message is fetched, and decided, again)."""
        rmid = message.options.get("redis_message_id")
        return rmid is not None and self._started.pop(rmid, None) is not None

    def waiting_jobs(self) -> list[str]:
        """Ids of the jobs whose records the fetch marked running but that have not begun."""
        return list(self._started.values())

    def do_requeue(self, queue_name: str, *redis_message_ids: str) -> Any:
        """Dramatiq's requeue (a paused queue's prefetched messages, a shutdown's unprocessed ones);
        the records their fetch marked running go back to `queued` in the same call."""
        taken = ((r, self._started.pop(r, None)) for r in redis_message_ids)
        started = {r: job_id for r, job_id in taken if job_id is not None}
        if started and self.requeue_started is not None:
            return self.requeue_started(queue_name, self.broker_id, list(redis_message_ids), started)
        return self._dispatch("requeue")(queue_name, *redis_message_ids)

    def settle_with_record(self, delivery: Delivery) -> None:
        self._settled.add(delivery.message_id)

    def do_ack(self, queue_name: str, redis_message_id: str) -> Any:
        return self._settle("ack", queue_name, redis_message_id)

    def do_nack(self, queue_name: str, redis_message_id: str) -> Any:
        return self._settle("nack", queue_name, redis_message_id)

    def _settle(self, command: str, queue_name: str, redis_message_id: str) -> Any:
        if redis_message_id in self._settled:
            self._settled.discard(redis_message_id)
            return None
        return self._dispatch(command)(queue_name, redis_message_id)

    def do_enqueue(self, queue_name: str, message_id: str, data: bytes) -> Any:
        """In a worker, an enqueue is a due delayed message moving to its queue (its consumer has
        already taken it out of its delay queue) or Retries storing a retry (which swallows the
        error): failing at OOM would strand or lose the job. So wait for memory, quietly, up to
        the same deadline as the job's own writes; Redis wrote nothing when it refused."""
        deadline = time.monotonic() + PERSIST_DEADLINE_S
        delay = 0.1
        while True:
            try:
                result = self._dispatch("enqueue")(queue_name, message_id, data)
            except redis.exceptions.ResponseError as exc:
                if not is_out_of_memory(exc) or time.monotonic() + delay > deadline:
                    raise
                OUT_OF_MEMORY.refused()
                time.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            OUT_OF_MEMORY.accepted()
            return result

    def do_fetch(self, queue_name: str, prefetch: int) -> list[Any]:
        try:
            if self.fetch_and_start is not None and not queue_name.endswith(".DQ"):
                prefetch = min(prefetch, self._max_unpack_size())  # type: ignore[no-untyped-call]
                fetched = self._fetch_and_start(queue_name, prefetch)
            else:
                fetched = self._dispatch("fetch")(queue_name, prefetch)
        except _OUTAGE_ERRORS as exc:
            outage.lost(exc)
            raise
        except redis.exceptions.ResponseError as exc:
            if not is_out_of_memory(exc):
                raise
            # Nothing fetched: the consumer backs off as on an empty queue (up to the worker's idle
            # timeout) and tries again, instead of logging a traceback and restarting every 3 s.
            OUT_OF_MEMORY.refused()
            return []
        outage.ok()
        return self._accept(queue_name, fetched)

    def _fetch_and_start(self, queue_name: str, prefetch: int) -> list[Any]:
        """fetch_and_start, starting as many of the messages as start_room says; after a fetch of
        `queue_name` whose reply was lost, first what that fetch took."""
        assert self.fetch_and_start is not None
        lost = self._lost_fetches.get(queue_name)
        if lost is not None and self.refetch is not None:
            fetched, started = self.refetch(queue_name, self.broker_id, lost)
            del self._lost_fetches[queue_name]
            self._started.update(started)
            if fetched:
                logger.warning("Took back %d message(s) on %r whose fetch's reply was lost.", len(fetched), queue_name)
                return fetched
        token = str(next(self._tokens))
        room = 0
        if self.start_room is not None:
            with self._reserve_lock:
                room = min(max(self.start_room(queue_name, len(self._started) + self._reserved), 0), prefetch)
                self._reserved += room
        try:
            fetched, started = self.fetch_and_start(queue_name, prefetch, self.broker_id, room, token)
            self._started.update(started)  # before the reservation goes: counted all along
            return fetched
        except _OUTAGE_ERRORS:
            # Redis may have run it: what it took is asked for again once Redis answers.
            self._lost_fetches[queue_name] = token
            raise
        finally:
            if room:
                with self._reserve_lock:
                    self._reserved -= room

    def reclaim(self, queue_name: str) -> list[Any]:
        """The delayed messages this worker's ack set holds for `queue_name`, as fetched."""
        if self.reclaim_delayed is None:
            return []
        try:
            held = self.reclaim_delayed(self.broker_id, queue_name)
        except (*_OUTAGE_ERRORS, BackendUnavailable) as exc:
            outage.lost(exc)
            raise
        if held:
            logger.info("Took back %d delayed message(s) on %r after a lost connection.", len(held), queue_name)
        return self._accept(queue_name, held)

    def _accept(self, queue_name: str, fetched: list[Any]) -> list[Any]:
        """Fetched messages that can run, their due times turned into this host's clock; the
        others go to the dead-letter queue."""
        good: list[Any] = []
        # Only a delay queue's messages carry an `eta` (admission refuses one anywhere else): the
        # others are not decoded a second time for nothing, a Message.decode per job.
        offset = clock.offset_ms() if queue_name.endswith(".DQ") else 0
        now = clock.now_ms()
        for data in fetched:
            if data is None:
                continue
            refusal = inspect_fetched(data, queue_name, now, self.max_message_bytes)
            if refusal is None:
                if offset:
                    data = _to_local_clock(data, offset)
                good.append(data)
                continue
            logger.error("Rejecting a message on %r: %s", queue_name, refusal.reason)
            # Its record, if the fetch started it, is the reject's to end (`dead`), not a waiting job.
            for rmid in [r for r in self._started if r.encode(errors="surrogateescape") in data]:
                self._started.pop(rmid, None)
            if self.reject_malformed is None:
                continue
            try:
                self.reject_malformed(queue_name, data, refusal, self.broker_id)
            except Exception:
                # The good messages of this fetch still run; this one stays in the ack set, and is
                # fetched (and rejected) again once recovery returns it after this worker stops.
                logger.exception("Could not dead-letter the rejected message on %r", queue_name)
        return good


class _Consumer(PausableRedisConsumer):
    """Dramatiq's consumer, idle while its queue is paused (pausing.py), and, idle, fetching only
    when its worker's idle gate sees work (idle_gate.py); with its prefetch full, woken by its
    threads' acks (`_wait_for_room`); on a delay queue it starts by taking back what its worker
    holds."""

    def __init__(self, broker: GemsdashRedisBroker, queue_name: str, prefetch: int, timeout: int) -> None:
        super().__init__(broker, queue_name, prefetch, timeout)  # type: ignore[no-untyped-call]
        self._reclaim = self._delay_queue = queue_name.endswith(".DQ")
        #: Set by a worker thread's ack or nack that leaves `_wake_at` messages or fewer outstanding.
        self._room = threading.Event()
        #: While this consumer waits for room: the outstanding count that wakes it; else -1.
        self._wake_at = -1

    def __next__(self) -> Any:
        if self._reclaim:
            try:
                self.message_cache = self.broker.reclaim(self.queue_name) + self.message_cache
            except (*_OUTAGE_ERRORS, BackendUnavailable) as exc:
                raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]
            self._reclaim = False
        if not self._delay_queue and not self.message_cache and self.outstanding_message_count >= self.prefetch:
            self._wait_for_room()
            return None
        if not self.message_cache and not self.broker.idle_gate.may_have_work(self.queue_name, self.misses):
            self.misses, backoff_ms = compute_backoff(self.misses, max_backoff=self.timeout)
            # Asking the gate is free, and a poll that finds work wakes the sleepers at once.
            self.broker.idle_gate.sleep(min(backoff_ms / 1000, self.broker.idle_gate.nap_s))
            return None
        return super().__next__()

    def _wait_for_room(self) -> None:
        """With its prefetch full, Dramatiq's consumer sleeps its backoff, which grows with every
        full turn as with every empty fetch (5 ms, 10, 20, ... up to the worker timeout), whatever
        the worker threads do meanwhile: short jobs finished in a millisecond left them idle for
        the rest of the sleep. This consumer is woken by the ack or nack that frees half of its
        prefetch instead (so that fetches stay batched, one round trip for many messages), or at
        the worker timeout, as before. Full turns are not counted as misses: those are the idle
        gate's measure of an empty queue (idle_gate.py), and a busy consumer's queue is not.

        Not on a delay queue: its messages are acked by its own consumer thread, as they come due
        (Dramatiq's `handle_delayed_messages`, between two turns), so no ack would wake it and a
        due message would wait for the timeout; it backs off as Dramatiq's does."""
        self._room.clear()
        self._wake_at = self.prefetch // 2
        try:
            # Looked at again once armed: an ack in between saw nobody waiting.
            if self.outstanding_message_count > self._wake_at:
                self._room.wait(self.timeout / 1000)
        finally:
            self._wake_at = -1

    def ack(self, message: Any) -> None:
        try:
            super().ack(message)  # type: ignore[no-untyped-call]
        finally:
            self._freed()

    def nack(self, message: Any) -> None:
        try:
            super().nack(message)  # type: ignore[no-untyped-call]
        finally:
            self._freed()

    def _freed(self) -> None:
        """In the worker thread that acked: wake the consumer if it waits for this much room."""
        if self.outstanding_message_count <= self._wake_at:
            self._room.set()

    def requeue(self, messages: Any) -> None:
        """Dramatiq's, raising a lost connection as the ConnectionClosed its thread expects (it
        would stop otherwise); what it could not requeue is taken back by the next consumer."""
        try:
            super().requeue(messages)  # type: ignore[no-untyped-call]
        except _OUTAGE_ERRORS as exc:
            raise ConnectionClosed(exc) from None  # type: ignore[no-untyped-call]


def _to_local_clock(data: bytes, offset_ms: int) -> bytes:
    """An admitted message with its `eta` (Redis's clock) turned into this host's, which is what
    Dramatiq's consumer compares it with."""
    message = Message.decode(data)
    eta = message.options.get("eta")
    if isinstance(eta, int) and not isinstance(eta, bool):
        return bytes(message.copy(options={"eta": eta - offset_ms}).encode())
    return data
