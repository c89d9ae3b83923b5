"""Memory per waiting job: what a backlog costs Redis before any worker touches it, gemsdash
(`add_jobs`: the job's record, its indexes and its Dramatiq message) versus plain Dramatiq (`send`:
the message alone), from `INFO memory` used_memory, after a warm-up batch (scripts loaded, counter
hashes made) so only the jobs themselves are counted."""

from __future__ import annotations

import itertools
import statistics
from dataclasses import dataclass

from benchmarks import redis_probe, throughput
from benchmarks.harness import Bench

_WARMUP = 100


@dataclass
class Waiting:
    side: str
    jobs: int
    bytes_per_job: float
    #: gemsdash only: a waiting record's JSON length and its key's MEMORY USAGE (means over a sample
    #: of up to 200), and how many of the waiting jobs had a record (a new job waits as its message
    #: alone: keys.py `fresh`).
    record_bytes: float = 0.0
    record_key_bytes: float = 0.0
    message_bytes: float = 0.0
    records: int = 0


def run(b: Bench, side: str, jobs: int) -> Waiting:
    b.fresh()
    namespace = f"waiting-{side}"

    def preload(n: int) -> str:
        if side == "gemsdash":
            return throughput.preload_gemsdash(b, namespace, n)
        return throughput.preload_dramatiq(b, namespace, n, "noop")

    msgs = preload(_WARMUP)
    before = redis_probe.read(b.client).used_memory
    preload(jobs)
    after = redis_probe.read(b.client).used_memory
    assert b.client.hlen(msgs) == jobs + _WARMUP, "preload did not enqueue every job"
    sample = [v for _, v in itertools.islice(b.client.hscan_iter(msgs, count=200), 200)]
    result = Waiting(side, jobs, (after - before) / jobs, message_bytes=statistics.fmean(len(v) for v in sample))
    if side == "gemsdash":
        keys = list(b.client.scan_iter(match=f"{namespace}:gd:job:*", count=1000))
        result.records = len(keys)
        if keys:
            result.record_bytes = statistics.fmean(int(b.client.strlen(k)) for k in keys[:200])
            result.record_key_bytes = statistics.fmean(int(b.client.memory_usage(k) or 0) for k in keys[:200])
    return result
