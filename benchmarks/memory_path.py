"""Memory mode's worker path in one thread, for instruction counts that repeat to 0.1% on a noisy
machine (wall-clock rates here swing by +-40%). Enqueues JOBS no-op jobs, then takes PROCESSED of
them through Dramatiq's own worker code: consumer `__next__`, `handle_message`,
`WorkerThread.process_message` (which runs every middleware hook and the actor) and
`post_process_message`. Per-job instructions: run it under callgrind with PROCESSED 1000 and 2000 of
JOBS 2000 and divide the difference by 1000 (start-up and enqueueing cancel out):

    valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        .venv/bin/python -m benchmarks.memory_path gemsdash|dramatiq 2000 1000

It prints µs per job too (meaningful only on a quiet machine)."""

from __future__ import annotations

import queue
import sys
import time
from contextlib import ExitStack
from typing import Any

from dramatiq import Broker
from dramatiq.worker import ConsumerThread, WorkerThread

from benchmarks.work import PAYLOAD, perform

_held = ExitStack()


def _gemsdash(jobs: int) -> tuple[Broker, str]:
    from gemsdash.queue import JobRequest, JobType, add_jobs, configure, load_settings
    from gemsdash.queue.handlers import override_work

    runtime = configure(load_settings(redis_enabled=False), role="host")
    # Held for the process's life: an unreferenced context manager is closed (and undone) at once.
    _held.enter_context(override_work(JobType.EMOTION_ANALYSIS, lambda payload: perform(0)))
    for start in range(0, jobs, 1000):
        add_jobs([JobRequest(JobType.EMOTION_ANALYSIS, PAYLOAD)] * min(1000, jobs - start))
    broker = runtime.broker
    name = next(n for n, q in broker.queues.items() if n.startswith(JobType.EMOTION_ANALYSIS.queue) and q.qsize())
    return broker, name


def _dramatiq(jobs: int) -> tuple[Broker, str]:
    from dramatiq.brokers.stub import StubBroker

    from benchmarks import plain_actors

    broker = StubBroker()
    broker.emit_after("process_boot")
    actor = plain_actors.declare(broker)["noop"]
    for _ in range(jobs):
        actor.send(PAYLOAD)
    return broker, plain_actors.QUEUE


def run(side: str, jobs: int, processed: int) -> float:
    """Seconds per job of the worker path."""
    broker, name = (_gemsdash if side == "gemsdash" else _dramatiq)(jobs)
    work: queue.PriorityQueue[Any] = queue.PriorityQueue()
    consumer = ConsumerThread(broker=broker, queue_name=name, prefetch=16, work_queue=work, worker_timeout=100)
    worker = WorkerThread(broker=broker, consumers={name: consumer}, work_queue=work, worker_timeout=100)
    consumer.consumer = broker.consume(name, 16, 100)
    started = time.perf_counter()
    for _ in range(processed):
        message = next(consumer.consumer)
        if message is None:
            raise RuntimeError("the queue ran dry: enqueue at least as many jobs as are processed")
        consumer.handle_message(message)
        worker.process_message(work.get_nowait().message)
    return (time.perf_counter() - started) / processed


if __name__ == "__main__":
    side, jobs = sys.argv[1], int(sys.argv[2])
    processed = int(sys.argv[3]) if len(sys.argv) > 3 else jobs
    print(f"{side}: {run(side, jobs, processed) * 1e6:.1f} µs per job (one thread)")
