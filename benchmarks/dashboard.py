"""The dashboard's reads and the memory of tracked jobs, at 10k, 100k and 1M finished records.

Records are written by `loader` (the store's own submit/start/finish). At each size the same two
reads are timed: `queue_stats()` (one read-only Lua call of counters, and INFO memory) and one page of
`list_jobs` (one Lua call), by wall clock in this process and by server time from `INFO commandstats`.
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks import loader, redis_probe, roundtrips
from benchmarks.harness import Bench, gemsdash_runtime
from gemsdash.queue import JobState, dashboard_view, list_jobs, queue_stats

NAMESPACE = "bench-dash"
_RECORD_SAMPLE = 200


@dataclass
class Read:
    what: str
    records: int
    round_trips: float
    commands: float
    server_us: float
    wall_p50_ms: float
    wall_p99_ms: float


@dataclass
class Memory:
    records: int
    used_memory_bytes: int
    bytes_per_record: float
    record_json_bytes: float
    record_key_bytes: float
    index_bytes_per_record: float


def _time_reads(b: Bench, what: str, records: int, reads: int, call: Callable[[], object], command: str) -> Read:
    call()
    before, rt0 = redis_probe.read(b.client), roundtrips.count()
    walls = []
    for _ in range(reads):
        t = time.perf_counter()
        call()
        walls.append(time.perf_counter() - t)
    round_trips = roundtrips.count() - rt0
    delta = redis_probe.read(b.client).minus(before)
    cuts = statistics.quantiles(walls, n=100, method="inclusive")
    return Read(
        what=what,
        records=records,
        round_trips=round_trips / reads,
        commands=delta.total_calls / reads,
        server_us=delta.usec.get(command, 0) / reads,
        wall_p50_ms=cuts[49] * 1000,
        wall_p99_ms=cuts[98] * 1000,
    )


def _memory(b: Bench, records: int, baseline: int) -> Memory:
    used = int(b.client.info("memory")["used_memory"]) - baseline
    keys = [k for k in b.client.scan_iter(match=f"{NAMESPACE}:gd:job:*", count=1000)][:_RECORD_SAMPLE]
    json_bytes = statistics.fmean(int(b.client.strlen(k)) for k in keys)
    key_bytes = statistics.fmean(int(b.client.memory_usage(k) or 0) for k in keys)
    index = f"{NAMESPACE}:gd:idx:{loader.JOB_TYPE.queue}:{JobState.SUCCEEDED.value}"
    index_bytes = int(b.client.memory_usage(index, samples=0) or 0)
    return Memory(records, used, used / records, json_bytes, key_bytes, index_bytes / records)


def run(b: Bench, sizes: list[int], reads: int) -> tuple[list[Read], list[Memory]]:
    b.fresh()
    baseline = int(b.client.info("memory")["used_memory"])
    gemsdash_runtime(b, NAMESPACE)
    queue = loader.JOB_TYPE.queue
    page_size = 50
    read_results: list[Read] = []
    memory_results: list[Memory] = []
    loaded = 0
    for size in sorted(sizes):
        loader.load_parallel(b.url, NAMESPACE, size - loaded, processes=2 if size - loaded >= 50_000 else 1)
        loaded = size
        counted = queue_stats().queues[queue].counts[JobState.SUCCEEDED]
        if counted != size:
            raise RuntimeError(f"{counted} succeeded records counted, {size} loaded")
        memory_results.append(_memory(b, size, baseline))
        read_results += [
            _time_reads(b, "queue_stats()", size, reads, queue_stats, "evalsha"),
            _time_reads(
                b,
                "list_jobs(state=succeeded)",
                size,
                reads,
                lambda: list_jobs(queue, "succeeded", page_size),
                "evalsha",
            ),
            _time_reads(b, "list_jobs(all states)", size, reads, lambda: list_jobs(queue, None, page_size), "evalsha"),
            _time_reads(
                b,
                "list_jobs(state=succeeded, offset=n/2)",
                size,
                reads,
                functools.partial(list_jobs, queue, "succeeded", page_size, offset=size // 2),
                "evalsha",
            ),
            _time_reads(
                b,
                "dashboard_view() (stats + page)",
                size,
                reads,
                lambda: dashboard_view(queue, "succeeded", page_size),
                "evalsha",
            ),
        ]
    return read_results, memory_results
