"""Every use gemsdash makes of Dramatiq's private internals, in one place.

gemsdash writes Dramatiq's own Redis keys from its scripts (jobs.lua acks, nacks, requeues and
dead-letters messages in the same call as the job's record), patches a line of Dramatiq's
dispatch.lua, and subclasses classes Dramatiq does not export. None of that is Dramatiq's public
API: an upgrade may change any of it. tests/core/test_dramatiq_internals.py checks each item below
against the installed Dramatiq and fails with one message naming what changed, instead of letting
a worker corrupt state.

Other modules import these names from here, never Dramatiq's private ones.
"""

from __future__ import annotations

from typing import Any

from dramatiq import Message, Worker
from dramatiq.broker import MessageProxy
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.brokers.stub import _StubConsumer, _StubMessageProxy
from dramatiq.middleware import Retries
from dramatiq.middleware.retries import DEFAULT_MAX_BACKOFF

from gemsdash.queue.keys import TEMPLATES

#: The Dramatiq release these internals were checked against (the test names it when one breaks).
CHECKED_VERSION = "2.2.1"

# -- Dramatiq's Redis keys and message layout (written by jobs.lua and snapshot.lua too) -------------
#
# The key names are in gemsdash/queue/keys.py (TEMPLATES, "Dramatiq's keys"): its list and hash of
# each physical queue (`queue`, `msgs`), delay queue (`dq`), dead-letter zset and hash (`xq`,
# `xq_msgs`), a worker's ack set (`acks`) and the heartbeats zset. A message's
# `options["redis_message_id"]` is its id in those keys; the delay queue of `q` is `q.DQ`
# (dramatiq.common.dq_name) and its messages carry `options["eta"]` in epoch ms.
REDIS_MESSAGE_ID = "redis_message_id"
ETA = "eta"
#: The names in keys.TEMPLATES that are Dramatiq's (its format, not ours to change).
DRAMATIQ_KEYS = ("queue", "dq", "msgs", "xq", "xq_msgs", "acks", "heartbeats")


def dramatiq_key(name: str, namespace: str, **parts: str) -> str:
    """One of DRAMATIQ_KEYS of `namespace` (parts: `rq`, `worker`)."""
    if name not in DRAMATIQ_KEYS:
        raise KeyError(f"{name!r} is not one of Dramatiq's keys")
    return TEMPLATES[name].format(ns=namespace, **parts)


# -- dispatch.lua: gemsdash runs it by Redis's clock instead of the caller's, fetching in batches -----

#: The line of Dramatiq's dispatch.lua replaced, and what replaces it.
DISPATCH_CLOCK = b"local timestamp = ARGV[2]"
REDIS_CLOCK = (
    b'local clock = redis.call("time")\n'
    b"local timestamp = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)"
)


#: Dramatiq's fetch loop (an LPOP and an SADD per message) and its replacement: one LPOP with a
#: count and one SADD of them all (Redis 6.2+; gemsdash needs 7.0), the same messages in the same
#: order, two commands per fetch instead of two per message.
DISPATCH_FETCH = (
    b"    local message_ids = {}\n"
    b"    for i=1,prefetch do\n"
    b'        local message_id = redis.call("lpop", queue_full_name)\n'
    b"        if not message_id then\n"
    b"            break\n"
    b"        end\n\n"
    b"        message_ids[i] = message_id\n"
    b'        redis.call("sadd", queue_acks, message_id)\n'
    b"    end\n\n"
    b"    if next(message_ids) ~= nil then\n"
)
BATCHED_FETCH = (
    b'    local message_ids = prefetch > 0 and redis.call("lpop", queue_full_name, prefetch)\n'
    b"    if message_ids and #message_ids > 0 then\n"
    b'        redis.call("sadd", queue_acks, unpack(message_ids))\n'
)


def dispatch_source() -> bytes:
    """Dramatiq's dispatch.lua as its RedisBroker loads it (a private module attribute)."""
    from dramatiq.brokers.redis import _scripts

    source: bytes = _scripts["dispatch"]
    return source


def dispatch_on_redis_clock() -> bytes:
    source = dispatch_source()
    if DISPATCH_CLOCK not in source or DISPATCH_FETCH not in source:
        raise RuntimeError("Dramatiq's dispatch.lua changed: cannot patch its clock and fetch")
    return source.replace(DISPATCH_CLOCK, REDIS_CLOCK, 1).replace(DISPATCH_FETCH, BATCHED_FETCH, 1)


# -- classes and members gemsdash subclasses or overrides ----------------------------------------------

#: Dramatiq's Redis broker. GemsdashRedisBroker overrides these generated members, each a call of
#: `_dispatch(command)(queue_name, ...)` in Dramatiq, and calls `_dispatch` itself; it replaces
#: `scripts["dispatch"]` and reads `broker_id`.
RedisBrokerBase = RedisBroker
BROKER_OVERRIDES = ("_dispatch", "do_ack", "do_nack", "do_enqueue", "do_fetch", "do_requeue")
#: Dramatiq's Redis consumer (its `broker`, `queue_name`, `message_cache`, `timeout`, `requeue` and
#: the broker's `do_requeue` are used by pausing.py and redis_broker.py; its `prefetch`,
#: `outstanding_message_count`, and `ack` and `nack` as called by the worker thread that ran the
#: message, by redis_broker.py's wait for room).
RedisConsumerBase = _RedisConsumer
#: Dramatiq's stub consumer (memory mode), built with (queue, dead letters, prefetch, timeout); its
#: `queue`, `prefetch_semaphore` (a slot taken per message fetched, given back by `ack`/`nack`) and
#: `timeout` (ms) are used by pausing.py's `__next__`, which takes the queued Message itself.
StubConsumerBase = _StubConsumer
#: The proxy Dramatiq's stub consumer hands the worker (it keeps a failed message's exception).
StubMessageProxy = _StubMessageProxy


#: Dramatiq's Retries, whose `after_process_message(broker, message, *, result, exception)`
#: BackoffRetries calls with a `dramatiq.errors.Retry(delay=...)` in place of the job's exception, so
#: that Retries counts the attempt and enqueues the next copy after exactly that delay; it reads the
#: middleware's `min_backoff` and `max_backoff`, and caps delays at DEFAULT_MAX_BACKOFF as Retries does.
RetriesBase = Retries


def proxied_message(proxy: MessageProxy) -> Message[Any]:
    """The Message a worker's MessageProxy wraps (the proxy resolves attributes through
    `__getattr__`, which costs every access; and a copy must be of the message itself)."""
    message: Message[Any] = proxy._message
    return message


def proxied_exception(proxy: MessageProxy) -> BaseException | None:
    """The exception a failed message carries into `before_nack` (set by the worker)."""
    exception: BaseException | None = proxy._exception
    return exception


def worker_load(worker: Worker) -> tuple[int, int]:
    """(worker threads, messages handed to them that none has taken yet) of a Dramatiq worker: its
    `worker_threads` and the size of its `work_queue`, where consumers put what they fetched."""
    return worker.worker_threads, worker.work_queue.qsize()


__all__ = [
    "BATCHED_FETCH",
    "BROKER_OVERRIDES",
    "CHECKED_VERSION",
    "DEFAULT_MAX_BACKOFF",
    "DISPATCH_CLOCK",
    "DISPATCH_FETCH",
    "DRAMATIQ_KEYS",
    "ETA",
    "REDIS_CLOCK",
    "REDIS_MESSAGE_ID",
    "RedisBrokerBase",
    "RedisConsumerBase",
    "RetriesBase",
    "StubConsumerBase",
    "StubMessageProxy",
    "dispatch_on_redis_clock",
    "dispatch_source",
    "dramatiq_key",
    "proxied_exception",
    "proxied_message",
    "worker_load",
]
