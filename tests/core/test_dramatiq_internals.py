"""Each private Dramatiq internal gemsdash depends on (gemsdash/queue/dramatiq_internals.py),
checked against the installed Dramatiq: after an upgrade that changes one, one of these fails and
says which, instead of workers corrupting state in production."""

from __future__ import annotations

import inspect
import json
import uuid
from collections.abc import Iterator
from importlib.metadata import version

import pytest
import redis
from dramatiq import Message, Worker
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker
from dramatiq.worker import ConsumerThread, WorkerThread

from gemsdash.queue import dramatiq_internals as internals
from tests.conftest import _drop_namespace

INSTALLED = version("dramatiq")


def changed(what: str) -> str:
    return (
        f"Dramatiq {INSTALLED} changed {what} (gemsdash was checked against {internals.CHECKED_VERSION}): "
        "see gemsdash/queue/dramatiq_internals.py before upgrading"
    )


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_dispatch_lua_has_the_line_gemsdash_replaces() -> None:
    source = internals.dispatch_source()
    assert source.count(internals.DISPATCH_CLOCK) == 1, changed(f"dispatch.lua's line {internals.DISPATCH_CLOCK!r}")
    patched = internals.dispatch_on_redis_clock()
    assert internals.REDIS_CLOCK in patched and internals.DISPATCH_CLOCK not in patched
    assert source.count(internals.DISPATCH_FETCH) == 1, changed("dispatch.lua's fetch loop")
    assert internals.BATCHED_FETCH in patched and internals.DISPATCH_FETCH not in patched


@pytest.mark.parametrize(
    "line",
    [
        b'local acks = namespace .. ":__acks__." .. worker_id',
        b'local heartbeats = namespace .. ":__heartbeats__"',
        b'local queue_acks = acks .. "." .. queue_name',
        b'local queue_full_name = namespace .. ":" .. queue_name',
        b'local queue_messages = queue_full_name .. ".msgs"',
        b'local xqueue_full_name = namespace .. ":" .. queue_canonical_name .. ".XQ"',
        b'local xqueue_messages = xqueue_full_name .. ".msgs"',
    ],
)
def test_dispatch_lua_names_its_keys_as_jobs_lua_writes_them(line: bytes) -> None:
    assert line in internals.dispatch_source(), changed(f"the key dispatch.lua builds with {line.decode()!r}")


@pytest.fixture
def plain_broker(redis_url: str) -> Iterator[tuple[internals.RedisBrokerBase, redis.Redis, str]]:
    namespace = f"test-internals-{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    broker = internals.RedisBrokerBase(client=client, namespace=namespace, maintenance_chance=0)  # type: ignore[no-untyped-call]  # Dramatiq's __init__ is untyped
    yield broker, client, namespace
    _drop_namespace(client, namespace)
    client.close()


def test_a_plain_redis_broker_writes_the_keys_gemsdash_names(
    plain_broker: tuple[internals.RedisBrokerBase, redis.Redis, str],
) -> None:
    """The key functions agree with what Dramatiq itself writes: enqueue, fetch, nack."""
    broker, client, ns = plain_broker

    def key(name: str, **parts: str) -> str:
        return internals.dramatiq_key(name, ns, **parts)

    broker.declare_queue("q")
    message = broker.enqueue(Message(queue_name="q", actor_name="a", args=(), kwargs={}, options={}))
    rmid = message.options[internals.REDIS_MESSAGE_ID]
    assert client.lrange(key("queue", rq="q"), 0, -1) == [rmid.encode()], changed("the queue list's key")
    stored = client.hget(key("msgs", rq="q"), rmid)
    assert stored is not None, changed("the message hash's key")
    assert json.loads(stored)["message_id"] == message.message_id, changed("the stored message format")
    assert broker.do_fetch("q", 1) == [stored], changed("do_fetch(queue_name, prefetch)")
    assert client.sismember(key("acks", worker=broker.broker_id, rq="q"), rmid), changed("the ack set's key")
    assert client.zscore(key("heartbeats"), broker.broker_id) is not None, changed("the heartbeats key")
    broker.do_nack("q", rmid)
    dead, dead_msgs = key("xq", rq="q"), key("xq_msgs", rq="q")
    assert client.zscore(dead, rmid) is not None, changed("the dead-letter zset's key")
    assert client.hget(dead_msgs, rmid) == stored, changed("the dead-letter hash's key")
    delayed = broker.enqueue(Message(queue_name="q", actor_name="a", args=(), kwargs={}, options={}), delay=60_000)
    assert delayed.queue_name == "q.DQ" and internals.ETA in delayed.options, changed("how a delayed message is kept")
    assert client.lrange(key("dq", rq="q"), 0, -1) == [delayed.options[internals.REDIS_MESSAGE_ID].encode()], changed(
        "the delay queue"
    )


def test_the_patched_fetch_takes_the_same_messages_as_dramatiqs(
    plain_broker: tuple[internals.RedisBrokerBase, redis.Redis, str],
) -> None:
    """gemsdash's fetch (one LPOP with a count, one SADD) takes what Dramatiq's loop took: the
    oldest messages, in order, up to the prefetch, each held in the worker's ack set."""
    broker, client, ns = plain_broker
    broker.scripts["dispatch"] = client.register_script(internals.dispatch_on_redis_clock())
    broker.declare_queue("q")
    sent = [broker.enqueue(Message(queue_name="q", actor_name="a", args=(i,), kwargs={}, options={})) for i in range(5)]
    rmids = [m.options[internals.REDIS_MESSAGE_ID] for m in sent]
    msgs = internals.dramatiq_key("msgs", ns, rq="q")
    acks = internals.dramatiq_key("acks", ns, worker=broker.broker_id, rq="q")
    bodies = [client.hget(msgs, rmid) for rmid in rmids]

    assert broker.do_fetch("q", 3) == bodies[:3]
    assert client.smembers(acks) == {r.encode() for r in rmids[:3]}
    assert broker.do_fetch("q", 10) == bodies[3:]
    assert client.smembers(acks) == {r.encode() for r in rmids}
    assert broker.do_fetch("q", 10) == []


def test_the_broker_members_gemsdash_overrides_exist() -> None:
    base = internals.RedisBrokerBase
    assert parameters(base._dispatch) == ["self", "command"], changed("RedisBroker._dispatch(command)")
    source = inspect.getsource(base.__getattr__)
    assert "do_" in source and "_dispatch" in source, changed("RedisBroker's generated do_* methods")
    for name in internals.BROKER_OVERRIDES:
        assert name == "_dispatch" or name.startswith("do_"), name
    assert "scripts" in inspect.getsource(base.__init__), changed("RedisBroker.scripts")
    assert "broker_id" in inspect.getsource(base.__init__), changed("RedisBroker.broker_id")


def test_the_consumer_classes_gemsdash_subclasses() -> None:
    redis_consumer = internals.RedisConsumerBase
    assert parameters(redis_consumer.__init__) == ["self", "broker", "queue_name", "prefetch", "timeout"], changed(
        "_RedisConsumer.__init__"
    )
    body = inspect.getsource(redis_consumer)
    for member in (
        "self.message_cache",
        "self.queue_name",
        "self.timeout",
        "def requeue",
        "do_requeue",
        "self.prefetch",
        "def outstanding_message_count",
        "def ack",
        "def nack",
    ):
        assert member in body, changed(f"_RedisConsumer's {member}")
    # redis_broker.py's consumer is woken by acks: they must come from the thread that ran the job.
    assert "post_process_message" in inspect.getsource(WorkerThread.process_message), changed(
        "WorkerThread.process_message acking its own message"
    )
    assert ".ack(" in inspect.getsource(ConsumerThread.post_process_message), changed(
        "ConsumerThread.post_process_message calling the consumer's ack"
    )
    stub_consumer = internals.StubConsumerBase
    assert parameters(stub_consumer.__init__) == ["self", "queue", "dead_letters", "prefetch", "timeout"], changed(
        "_StubConsumer.__init__"
    )
    # pausing.py's __next__ is this one taking the queued Message as it is: the same slot and queue.
    fetch = inspect.getsource(stub_consumer.__next__)
    for part in (
        "self.prefetch_semaphore.acquire(timeout=self.timeout / 1000)",
        "self.queue.get(",
        "_StubMessageProxy(",
    ):
        assert part in fetch, changed(f"_StubConsumer.__next__ ({part})")
    assert "self.prefetch_semaphore.release()" in inspect.getsource(stub_consumer.ack), changed("_StubConsumer.ack")
    assert issubclass(internals.StubMessageProxy, MessageProxy), changed("_StubMessageProxy")
    # stub_broker.py's enqueue is StubBroker's, queueing the Message instead of its JSON.
    enqueue = inspect.getsource(StubBroker.enqueue)
    for part in ("dq_name(queue_name)", '"eta": message_eta', 'emit_before("enqueue"', ".put(message.encode())"):
        assert part in enqueue, changed(f"StubBroker.enqueue ({part})")


def test_a_message_proxy_holds_its_message_and_exception() -> None:
    message: Message[object] = Message(queue_name="q", actor_name="a", args=(), kwargs={}, options={})
    proxy = MessageProxy(message)
    assert internals.proxied_message(proxy) is message, changed("MessageProxy._message")
    assert internals.proxied_exception(proxy) is None, changed("MessageProxy._exception")
    error = RuntimeError("boom")
    proxy.stuff_exception(error)
    assert internals.proxied_exception(proxy) is error, changed("MessageProxy._exception")


def test_retries_takes_the_delay_backoff_retries_hands_it() -> None:
    retries = internals.RetriesBase()
    assert parameters(retries.after_process_message) == ["broker", "message", "result", "exception"], changed(
        "Retries.after_process_message"
    )
    assert isinstance(retries.min_backoff, int) and isinstance(retries.max_backoff, int), changed(
        "Retries.min_backoff / max_backoff"
    )
    assert retries.max_backoff == internals.DEFAULT_MAX_BACKOFF, changed("retries.DEFAULT_MAX_BACKOFF")
    assert "exception.delay" in inspect.getsource(internals.RetriesBase), changed("Retries' use of Retry(delay=...)")


def test_a_worker_tells_its_threads_and_what_waits_for_them() -> None:
    worker = Worker(StubBroker(), worker_threads=3)
    assert internals.worker_load(worker) == (3, 0), changed("Worker.worker_threads / Worker.work_queue")
    worker.work_queue.put(object())  # type: ignore[arg-type]
    assert internals.worker_load(worker) == (3, 1), changed("Worker.work_queue")
