"""The idle gate (gemsdash/queue/idle_gate.py) on a real Redis: an idle worker's consumers fetch
again as soon as any queue of theirs holds a message, a paused backlog does not wake them, and a
consumer that is not idle is never held back."""

from __future__ import annotations

import redis

from gemsdash.queue import JobType, Runtime, add_job
from gemsdash.queue.idle_gate import IDLE_MISSES, IdleGate
from gemsdash.queue.messages import all_physical_queues, physical_queues
from gemsdash.queue.pausing import PausedQueues
from tests.core.workload import email


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
