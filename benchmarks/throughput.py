"""End-to-end throughput: a backlog of jobs drained by worker processes, gemsdash vs plain Dramatiq.

Both sides get the same backlog on the same Redis, the same worker settings and the same work. A
job counts as done when Dramatiq acknowledges it (its message leaves the queue's `.msgs` hash),
which on the gemsdash side comes after the job's record was written `succeeded`; so one poll of
HLEN measures both sides the same way. The rate is taken between 10% and 90% done (steady state,
no process start-up, no tail); commands and round trips cover the workers' whole life.
"""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import plain_actors, redis_probe, roundtrips
from benchmarks.harness import Bench, Workers, cpu_seconds, gemsdash_runtime, tree_env, wait_until
from benchmarks.work import PAYLOAD, WORK_ENV
from gemsdash.queue import JobRequest, JobState, JobType, add_jobs, queue_stats
from gemsdash.queue.runtime import reset

_PRELOAD_BATCH = 1000
_POLL_S = 0.01


@dataclass
class Throughput:
    side: str
    #: The side as reported: "dramatiq", "gemsdash", or "gemsdash@<tree>" for a patched copy.
    label: str
    round: int
    work: str
    jobs: int
    processes: int
    threads: int
    steady_rate: float
    drain_rate: float
    #: CPU time per job in the steady window, of the worker processes and of redis-server: on a
    #: machine with few cores they share, the sum bounds the rate.
    worker_cpu_us_per_job: float
    redis_cpu_us_per_job: float
    commands_per_job: float
    scripts_per_job: float
    round_trips_per_job: float
    redis_server_us_per_job: float
    commands: dict[str, int]
    #: gemsdash only: a finished record's JSON length and MEMORY USAGE (means over a sample), to
    #: compare the records real workers leave with those the dashboard scenario loads.
    record_json_bytes: float = 0.0
    record_key_bytes: float = 0.0


#: `preload_gemsdash` for a patched tree, run by a Python that imports gemsdash from it: each
#: tree's workers must find the records its own producer writes (their layout can differ).
_TREE_PRELOAD = """
import sys
from benchmarks.harness import gemsdash_runtime_settings
from benchmarks.work import PAYLOAD
from gemsdash.queue import JobRequest, JobType, add_jobs, configure
url, namespace, jobs, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
configure(gemsdash_runtime_settings(url, namespace), role="oneshot")
while jobs:
    n = min(jobs, batch)
    add_jobs([JobRequest(JobType.EMOTION_ANALYSIS, PAYLOAD)] * n)
    jobs -= n
"""


def preload_gemsdash(b: Bench, namespace: str, jobs: int, tree: Path | None = None) -> str:
    if tree is not None:
        cwd, paths = tree_env(tree)
        subprocess.run(
            [sys.executable, "-c", _TREE_PRELOAD, b.url, namespace, str(jobs), str(_PRELOAD_BATCH)],
            cwd=cwd,
            env={**os.environ, **paths},
            check=True,
        )
        return f"{namespace}:{JobType.EMOTION_ANALYSIS.queue}.msgs"
    gemsdash_runtime(b, namespace)
    left = jobs
    while left:
        n = min(left, _PRELOAD_BATCH)
        add_jobs([JobRequest(JobType.EMOTION_ANALYSIS, PAYLOAD)] * n)
        left -= n
    reset()
    return f"{namespace}:{JobType.EMOTION_ANALYSIS.queue}.msgs"


def preload_dramatiq(b: Bench, namespace: str, jobs: int, work: str) -> str:
    broker = plain_actors.broker(b.url, namespace)
    actor = plain_actors.declare(broker)[work]
    for _ in range(jobs):
        actor.send(PAYLOAD)
    broker.close()
    return f"{namespace}:{plain_actors.QUEUE}.msgs"


def run(
    b: Bench,
    side: str,
    work: str,
    jobs: int,
    processes: int,
    threads: int,
    *,
    tree: Path | None = None,
    round_no: int = 0,
) -> Throughput:
    b.fresh()
    namespace = f"bench-{side}"
    if side == "gemsdash":
        pending_key = preload_gemsdash(b, namespace, jobs, tree)
        module, env = "benchmarks.gemsdash_worker", {"GEMSDASH_NAMESPACE": namespace, WORK_ENV: work}
    else:
        pending_key = preload_dramatiq(b, namespace, jobs, work)
        module, env = "benchmarks.plain_worker", {"BENCH_NAMESPACE": namespace, WORK_ENV: work}
    assert b.client.hlen(pending_key) == jobs, "preload did not enqueue every job"

    before = redis_probe.read(b.client)
    workers = Workers(b, module, processes, threads, env, tree)
    polls = 0
    samples: list[Sample] = []
    redis_pid = b.server.proc.pid if b.server.proc else 0
    try:
        while True:
            left = int(b.client.hlen(pending_key))
            polls += 1
            samples.append(Sample(time.perf_counter(), left, cpu_seconds(workers.proc.pid), cpu_seconds(redis_pid)))
            if left == 0:
                break
            workers.check()
            time.sleep(_POLL_S)
    finally:
        workers.stop()
    delta = redis_probe.read(b.client).minus(before)
    delta.discount("hlen", polls)
    json_bytes = key_bytes = 0.0
    if side == "gemsdash":
        _check_all_succeeded(b, namespace, jobs)
        keys = list(itertools.islice(b.client.scan_iter(match=f"{namespace}:gd:job:*", count=1000), 200))
        json_bytes = statistics.fmean(int(b.client.strlen(k)) for k in keys)
        key_bytes = statistics.fmean(int(b.client.memory_usage(k) or 0) for k in keys)

    round_trips = roundtrips.collect(workers.stats_dir)
    steady = _window(samples, jobs, 0.1, 0.9)
    return Throughput(
        side=side,
        label=side if tree is None else f"{side}@{tree.name}",
        round=round_no,
        work=work,
        jobs=jobs,
        processes=processes,
        threads=threads,
        steady_rate=steady.rate,
        drain_rate=_window(samples, jobs, 0.0, 1.0).rate,
        worker_cpu_us_per_job=steady.worker_cpu_us_per_job,
        redis_cpu_us_per_job=steady.redis_cpu_us_per_job,
        commands_per_job=delta.total_calls / jobs,
        scripts_per_job=delta.script_calls / jobs,
        round_trips_per_job=round_trips / jobs,
        redis_server_us_per_job=sum(delta.usec.values()) / jobs,
        commands=delta.calls,
        record_json_bytes=json_bytes,
        record_key_bytes=key_bytes,
    )


def _check_all_succeeded(b: Bench, namespace: str, jobs: int) -> None:
    """The figures only count if every job's record says succeeded."""
    gemsdash_runtime(b, namespace)
    wait_until(
        lambda: queue_stats().queues[JobType.EMOTION_ANALYSIS.queue].counts[JobState.SUCCEEDED] == jobs,
        timeout=30,
        what=f"{jobs} succeeded records",
    )
    reset()


@dataclass(frozen=True)
class Sample:
    at: float
    left: int
    worker_cpu: float
    redis_cpu: float


@dataclass(frozen=True)
class Window:
    rate: float
    worker_cpu_us_per_job: float
    redis_cpu_us_per_job: float


def _window(samples: list[Sample], jobs: int, lo: float, hi: float) -> Window:
    """From the first sample with `lo` of the jobs done to the first with `hi` (at 0.0: the first
    sample with any job done, so worker start-up is not counted)."""

    def first_at(fraction: float) -> Sample:
        for s in samples:
            done = jobs - s.left
            if done > 0 if fraction == 0 else done >= fraction * jobs:
                return s
        return samples[-1]

    a, z = first_at(lo), first_at(hi)
    done = a.left - z.left
    if z.at <= a.at or done <= 0:
        return Window(float("nan"), float("nan"), float("nan"))
    return Window(
        done / (z.at - a.at),
        (z.worker_cpu - a.worker_cpu) * 1e6 / done,
        (z.redis_cpu - a.redis_cpu) * 1e6 / done,
    )
