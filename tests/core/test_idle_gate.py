"""The idle gate (gemsdash/queue/idle_gate.py) on a real Redis: an idle worker's consumers fetch
again as soon as any queue of theirs holds a message, a paused backlog does not wake them, and a
consumer that is not idle is never held back."""

from __future__ import annotations

import functools
import threading
import time
from typing import Any

import pytest
import redis

from gemsdash.queue import JobType, Runtime, add_job, add_schedule, get_schedule
from gemsdash.queue.errors import BackendUnavailable
from gemsdash.queue.idle_gate import IDLE_MISSES, IdleGate
from gemsdash.queue.messages import all_physical_queues, physical_queues
from gemsdash.queue.pausing import PausedQueues
from gemsdash.queue.redis_broker import GemsdashRedisBroker
from gemsdash.queue.schedules import fire_due
from tests.core.workload import email
from tests.support import wait_for


def _runtime_gate(rt: Runtime) -> IdleGate:
    assert isinstance(rt.broker, GemsdashRedisBroker)
    return rt.broker.idle_gate


def _gate(rt: Runtime, client: redis.Redis) -> IdleGate:
    paused = PausedQueues(rt.store.paused, check_seconds=0)
    ns = rt.settings.namespace
    return IdleGate(lambda keys: int(client.exists(*keys)), lambda q: f"{ns}:{q}", paused.is_paused, interval_s=0)


def test_idle_consumers_wait_until_a_queue_holds_a_message(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    gate = _gate(redis_runtime, redis_client)
    queues = all_physical_queues(with_delay=True)
    assert not any(gate.may_have_work(q, IDLE_MISSES) for q in queues)
    # A consumer that found work lately fetches whatever the gate last saw.
    assert gate.may_have_work(queues[0], IDLE_MISSES - 1)

    add_job(JobType.EMAIL_NOTIFICATION, email("ok"))
    # Any idle consumer of the worker is let through, not only the one of the queue with the job.
    assert all(gate.may_have_work(q, IDLE_MISSES) for q in queues)


def test_a_paused_backlog_does_not_wake_idle_consumers(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    gate = _gate(redis_runtime, redis_client)
    levels = physical_queues(JobType.EMAIL_NOTIFICATION.queue)
    others = [q for q in all_physical_queues(with_delay=True) if q not in levels]
    for q in levels + others:
        gate.may_have_work(q, IDLE_MISSES)
    redis_runtime.store.set_paused(JobType.EMAIL_NOTIFICATION.queue, True, "")
    add_job(JobType.EMAIL_NOTIFICATION, email("ok"))
    assert not gate.may_have_work(others[0], IDLE_MISSES)

    redis_runtime.store.set_paused(JobType.EMAIL_NOTIFICATION.queue, False, "")
    assert gate.may_have_work(others[0], IDLE_MISSES)


def test_the_schedulers_look_is_the_gates_poll_and_wakes_gated_consumers(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """The runtime's gate: the scheduler's look at the first schedule travels with the gate's
    EXISTS, a consumer then asks Redis nothing more, and sleepers wake as soon as work shows."""
    gate = _runtime_gate(redis_runtime)
    reads: list[list[str]] = []
    read = gate.read
    assert read is not None

    def counted(keys: list[str]) -> tuple[int, int | None]:
        reads.append(keys)
        return read(keys)

    gate.read = counted
    queues = all_physical_queues(with_delay=True)
    assert not any(gate.may_have_work(q, IDLE_MISSES) for q in queues)
    assert len(reads) == 1  # one poll for every consumer of the process
    assert gate.next_schedule(max_age_s=1.0) is None  # taken from that poll
    assert len(reads) == 1

    created = add_schedule("tick", JobType.EMAIL_NOTIFICATION.queue, email("tick"), every="1h")
    assert created.next_run_at is not None
    assert gate.next_schedule(max_age_s=0) == int(created.next_run_at.timestamp() * 1000)
    assert len(reads) == 2 and len(reads[1]) == len(queues)  # the gate's EXISTS went along

    woke: list[float] = []

    def sleep() -> None:
        gate.sleep(5)
        woke.append(time.monotonic())

    sleeper = threading.Thread(target=sleep)
    sleeper.start()
    add_job(JobType.EMAIL_NOTIFICATION, email("ok"))
    polled = time.monotonic()
    gate.next_schedule(max_age_s=0)
    sleeper.join(timeout=5)
    assert woke and woke[0] - polled < 1.0
    assert gate.may_have_work(queues[-1], IDLE_MISSES)
    assert len(reads) == 3


def test_a_failed_poll_opens_the_gate_and_the_scheduler_sees_the_error(redis_runtime: Runtime) -> None:
    gate = _runtime_gate(redis_runtime)
    queues = all_physical_queues(with_delay=True)
    assert not gate.may_have_work(queues[0], IDLE_MISSES)

    def down(keys: list[str]) -> tuple[int, int | None]:
        raise BackendUnavailable("Redis is unreachable")

    gate.read = down
    with pytest.raises(BackendUnavailable):
        gate.next_schedule(max_age_s=0)
    assert gate.may_have_work(queues[0], IDLE_MISSES)  # opened: the consumers' fetches report it


def test_the_scheduler_calls_sched_due_only_when_the_first_schedule_has_come(redis_runtime: Runtime) -> None:
    store = redis_runtime.store
    calls: list[int] = []
    due = store.schedules_due

    def counted(limit: int) -> Any:
        calls.append(limit)
        return due(limit)

    store.schedules_due = counted  # type: ignore[method-assign]
    look = functools.partial(_runtime_gate(redis_runtime).next_schedule, 0)
    assert fire_due(store, 100_000, 1.0, look) == 1.0  # no schedule at all
    add_schedule("tick", JobType.EMAIL_NOTIFICATION.queue, email("tick"), every="1h")
    assert fire_due(store, 100_000, 1.0, look) == 1.0  # an hour away
    assert calls == []

    add_schedule("soon", JobType.EMAIL_NOTIFICATION.queue, email("soon"), every="1s")
    wait_for(lambda: fire_due(store, 100_000, 1.0, look) is not None and calls, what="sched_due called")
    # Its tick had come: sched_due claimed it and enqueued its job.
    wait_for(lambda: fire_due(store, 100_000, 1.0, look) is not None and get_schedule("soon").fired, what="a fire")
