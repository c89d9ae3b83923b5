"""Records expire as promised: under a steady load with a short REDIS_TTL, Redis memory rises for
one TTL and then stays flat instead of growing with every finished job."""

from __future__ import annotations

import time
from dataclasses import dataclass

from benchmarks.harness import Bench, Workers, gemsdash_runtime, wait_until
from benchmarks.work import PAYLOAD, WORK_ENV
from gemsdash.queue import JobRequest, JobType, add_jobs, queue_stats

NAMESPACE = "bench-ttl"


@dataclass(frozen=True)
class Point:
    second: float
    used_memory: int
    records: int
    finished_total: int


@dataclass
class Expiry:
    ttl: int
    rate: int
    points: list[Point]

    def growth_after_first_ttls(self) -> float:
        """Relative memory change from two TTLs in to the end: ~0 when memory has plateaued."""
        settled = [p for p in self.points if p.second >= 2 * self.ttl]
        if len(settled) < 2:
            return float("nan")
        return (settled[-1].used_memory - settled[0].used_memory) / settled[0].used_memory


def _records(b: Bench) -> int:
    return sum(1 for _ in b.client.scan_iter(match=f"{NAMESPACE}:gd:job:*", count=2000))


def run(b: Bench, seconds: float, ttl: int, rate: int, processes: int, threads: int) -> Expiry:
    b.fresh()
    workers = Workers(
        b,
        "benchmarks.gemsdash_worker",
        processes,
        threads,
        {"GEMSDASH_NAMESPACE": NAMESPACE, WORK_ENV: "noop", "REDIS_TTL": str(ttl)},
    )
    points: list[Point] = []
    try:
        gemsdash_runtime(b, NAMESPACE, redis_ttl=ttl)

        def started() -> bool:
            workers.check()
            return queue_stats().workers >= processes

        wait_until(started, 60, "workers to start")
        tick = 0.1
        batch = max(1, round(rate * tick))
        requests = [JobRequest(JobType.EMOTION_ANALYSIS, PAYLOAD)] * batch
        start = time.monotonic()
        next_sample = 0.0
        step = 0
        while (now := time.monotonic() - start) < seconds:
            if now >= next_sample:
                stats = queue_stats().queues[JobType.EMOTION_ANALYSIS.queue]
                used = int(b.client.info("memory")["used_memory"])
                points.append(Point(round(now, 1), used, _records(b), stats.finished_total.get("succeeded", 0)))
                next_sample += 1.0
            add_jobs(requests)
            step += 1
            time.sleep(max(0.0, start + step * tick - time.monotonic()))
        workers.check()
    finally:
        workers.stop()
    return Expiry(ttl, batch * round(1 / tick), points)
