"""Enqueue cost: `add_job` one by one, `add_jobs` in batches, and plain Dramatiq's `send` for scale.

Latency is per call, as the caller sees it; round trips are counted in this process (see
`roundtrips`) and commands from the server's counters.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import plain_actors, redis_probe, roundtrips
from benchmarks.harness import Bench, gemsdash_runtime
from benchmarks.work import PAYLOAD
from gemsdash.queue import JobRequest, JobType, add_job, add_jobs
from gemsdash.queue.runtime import reset


@dataclass
class Enqueue:
    path: str
    jobs: int
    batch: int
    rate: float
    p50_ms: float
    p99_ms: float
    round_trips_per_call: float
    commands_per_job: float


def _measure(b: Bench, path: str, jobs: int, batch: int, call: Callable[[], object]) -> Enqueue:
    calls = jobs // batch
    call()  # warm: script loaded, connection open
    before, rt0 = redis_probe.read(b.client), roundtrips.count()
    latencies: list[float] = []
    start = time.perf_counter()
    for _ in range(calls):
        t = time.perf_counter()
        call()
        latencies.append(time.perf_counter() - t)
    elapsed = time.perf_counter() - start
    round_trips = roundtrips.count() - rt0
    delta = redis_probe.read(b.client).minus(before)
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return Enqueue(
        path=path,
        jobs=calls * batch,
        batch=batch,
        rate=calls * batch / elapsed,
        p50_ms=cuts[49] * 1000,
        p99_ms=cuts[98] * 1000,
        round_trips_per_call=round_trips / calls,
        commands_per_job=delta.total_calls / (calls * batch),
    )


def run(b: Bench, one_by_one: int, batched: int, batch: int) -> list[Enqueue]:
    results = []
    b.fresh()
    gemsdash_runtime(b, "bench-enqueue")
    results.append(_measure(b, "gemsdash add_job", one_by_one, 1, lambda: add_job(JobType.EMOTION_ANALYSIS, PAYLOAD)))
    requests = [JobRequest(JobType.EMOTION_ANALYSIS, PAYLOAD)] * batch
    results.append(_measure(b, "gemsdash add_jobs", batched, batch, lambda: add_jobs(requests)))
    reset()

    b.fresh()
    broker = plain_actors.broker(b.url, "bench-enqueue-plain")
    actor = plain_actors.declare(broker)["noop"]
    results.append(_measure(b, "dramatiq send", one_by_one, 1, lambda: actor.send(PAYLOAD)))
    broker.close()
    return results
