"""Memory mode: end-to-end throughput inside one process (no Redis), gemsdash vs plain Dramatiq's
StubBroker with the same worker threads. Run in a process of its own per measurement:
`python -m benchmarks.inprocess gemsdash|dramatiq noop|sleep10ms JOBS THREADS` prints JSON."""

from __future__ import annotations

import json
import sys
import time

from benchmarks.work import PAYLOAD, WORKS, perform

_BATCH = 1000


def gemsdash(work: str, jobs: int, threads: int) -> float:
    from gemsdash.queue import JobRequest, JobState, JobType, add_jobs, configure, load_settings, queue_stats
    from gemsdash.queue.handlers import override_work

    runtime = configure(load_settings(redis_enabled=False), role="host")

    seconds = WORKS[work]
    with override_work(JobType.EMOTION_ANALYSIS, lambda payload: perform(seconds)):
        left = jobs
        while left:
            add_jobs([JobRequest(JobType.EMOTION_ANALYSIS, PAYLOAD)] * min(left, _BATCH))
            left -= min(left, _BATCH)
        start = time.perf_counter()
        runtime.start_worker(threads)
        runtime.broker.join(JobType.EMOTION_ANALYSIS.queue)
        elapsed = time.perf_counter() - start
        done = queue_stats().queues[JobType.EMOTION_ANALYSIS.queue].counts[JobState.SUCCEEDED]
        runtime.stop_worker()
    if done != jobs:
        raise RuntimeError(f"{done} of {jobs} jobs succeeded")
    return jobs / elapsed


def dramatiq(work: str, jobs: int, threads: int) -> float:
    from dramatiq import Worker
    from dramatiq.brokers.stub import StubBroker

    from benchmarks import plain_actors

    broker = StubBroker()
    broker.emit_after("process_boot")
    actor = plain_actors.declare(broker)[work]
    for _ in range(jobs):
        actor.send(PAYLOAD)
    start = time.perf_counter()
    worker = Worker(broker, worker_threads=threads, worker_timeout=100)
    worker.start()
    broker.join(plain_actors.QUEUE)
    elapsed = time.perf_counter() - start
    worker.stop()
    return jobs / elapsed


if __name__ == "__main__":
    side, work, jobs, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rate = (gemsdash if side == "gemsdash" else dramatiq)(work, jobs, threads)
    print(json.dumps({"side": side, "work": work, "jobs": jobs, "threads": threads, "rate": rate}))
