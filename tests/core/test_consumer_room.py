"""A Redis consumer whose prefetch is full (redis_broker.py `_Consumer._wait_for_room`): it waits
for its worker threads' acks instead of sleeping Dramatiq's growing backoff, so that threads done
with short jobs are not left idle, and it still fetches many messages a round trip."""

from __future__ import annotations

import threading
import time
from typing import Any

from dramatiq.common import dq_name

from gemsdash.queue import JobType, Runtime, add_job
from tests.core.workload import email


def _next_in_thread(consumer: Any) -> tuple[threading.Thread, list[float]]:
    """`next(consumer)` in a thread of its own, as Dramatiq's consumer thread calls it; the list
    gets the time it returned."""
    returned: list[float] = []

    def run() -> None:
        assert next(consumer) is None  # nothing handed out: the consumer thread loops
        returned.append(time.monotonic())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, returned


def test_a_full_consumer_is_woken_by_the_ack_that_frees_half_its_prefetch(redis_runtime: Runtime) -> None:
    for n in range(5):
        add_job(JobType.EMAIL_NOTIFICATION, email(f"job {n}"))
    consumer: Any = redis_runtime.broker.consume(JobType.EMAIL_NOTIFICATION.queue, prefetch=4, timeout=30_000)
    taken: list[Any] = [next(consumer) for _ in range(4)]
    assert all(m is not None for m in taken)
    assert consumer.outstanding_message_count == 4

    waiting, returned = _next_in_thread(consumer)
    time.sleep(0.3)
    # Dramatiq's consumer would have slept 2.5-5 ms and polled again; this one waits for room.
    assert waiting.is_alive() and not returned

    consumer.ack(taken[0])  # 3 outstanding: not yet half of the prefetch free
    time.sleep(0.3)
    assert waiting.is_alive()

    acked = time.monotonic()
    consumer.ack(taken[1])
    waiting.join(10)
    assert returned and returned[0] - acked < 5, "woken by the ack, long before the 30 s timeout"
    # A full turn is not an empty fetch: the idle gate (which counts those) must not hold it back.
    assert consumer.misses == 0

    # Room for two: the next turn fetches the fifth job (the only one left) in one round trip.
    fifth = next(consumer)
    assert fifth is not None and fifth.message_id not in {m.message_id for m in taken}
    for message in (taken[2], taken[3], fifth):
        consumer.ack(message)
    consumer.close()


def test_a_full_consumer_that_no_ack_reaches_looks_again_at_its_timeout(redis_runtime: Runtime) -> None:
    """Long jobs: the consumer turns over once per worker timeout (its thread handles delayed
    messages and shutdown between turns), as Dramatiq's does at its longest backoff."""
    for n in range(2):
        add_job(JobType.EMAIL_NOTIFICATION, email(f"job {n}"))
    consumer: Any = redis_runtime.broker.consume(JobType.EMAIL_NOTIFICATION.queue, prefetch=2, timeout=300)
    taken: list[Any] = [next(consumer) for _ in range(2)]
    started = time.monotonic()
    assert next(consumer) is None
    assert 0.25 <= time.monotonic() - started < 5
    for message in taken:
        consumer.ack(message)
    consumer.close()


def test_a_full_delay_queue_consumer_backs_off_as_dramatiqs_does(redis_runtime: Runtime) -> None:
    """A delay queue's messages are acked by its own consumer thread as they come due, between two
    turns: waiting for an ack would hold a due message back until the timeout."""
    add_job(JobType.EMAIL_NOTIFICATION, email("later"), delay=60_000)
    consumer: Any = redis_runtime.broker.consume(dq_name(JobType.EMAIL_NOTIFICATION.queue), prefetch=1, timeout=30_000)
    held = next(consumer)
    assert held is not None and "eta" in held.options
    started = time.monotonic()
    assert next(consumer) is None
    assert time.monotonic() - started < 5, "Dramatiq's first backoff is 2.5-5 ms, not the 30 s timeout"
    consumer.requeue([held])
    consumer.close()


def test_a_closing_consumer_returns_what_its_last_fetch_took_but_never_handed_out(
    redis_runtime: Runtime, redis_client: Any
) -> None:
    """A stopping worker's last acks wake its consumer, whose fetch then takes messages it never
    hands to a thread: they go back to the queue at its close, not a worker timeout later."""
    ids = [add_job(JobType.EMAIL_NOTIFICATION, email(f"job {n}")) for n in range(4)]
    queue = JobType.EMAIL_NOTIFICATION.queue
    consumer: Any = redis_runtime.broker.consume(queue, prefetch=4, timeout=30_000)
    first = next(consumer)  # one fetch of all four; one handed out, three in its cache
    assert first is not None and len(consumer.message_cache) == 3
    consumer.ack(first)
    consumer.close()
    ns = redis_runtime.settings.namespace
    waiting = [m.decode() for m in redis_client.lrange(f"{ns}:{queue}", 0, -1)]
    assert sorted(waiting) == sorted(i for i in ids if i != first.message_id)
    acks = list(redis_client.scan_iter(match=f"{ns}:__acks__.*"))
    assert all(redis_client.scard(k) == 0 for k in acks)
