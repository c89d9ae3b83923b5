"""Sharding: the same load on one Redis and on two shards (two redis-servers), jobs/s and each
Redis server's CPU. `python -m benchmarks.sharding [--jobs N] [--rounds R] [--work noop|sleep10ms]`.

The load is N emotion-analysis jobs and N email jobs, enqueued first, then drained by two worker
groups of the same size, one per job type, in both layouts: on one Redis both groups share it; with
`GEMSDASH_SHARDS` the email type lives on the second server and its group serves that shard
(`GEMSDASH_SHARD`, as `gemsdash worker --shard` sets it). The rate is taken from 10% to 90% done
(the drained count is HLEN of each type's Dramatiq queues, on its server); Redis CPU is `INFO cpu`
used_cpu_user + used_cpu_sys, delta over the same window, per server. On a machine with few cores
the wall time cannot double: the per-server CPU shows how much one Redis core each layout needs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

import redis

from benchmarks import redis_probe
from benchmarks.harness import ROOT, cpu_seconds
from benchmarks.work import PAYLOAD, WORK_ENV
from gemsdash.queue import JobRequest, JobType, add_jobs, configure, load_settings
from gemsdash.queue.messages import physical_queues
from gemsdash.queue.runtime import reset
from tests.support import RedisServer

NAMESPACE = "bench-shards"
EMAIL = {"to": "bench@example.com", "template": "welcome", "context": {"name": "bench"}}
TYPES = {JobType.EMOTION_ANALYSIS: PAYLOAD, JobType.EMAIL_NOTIFICATION: EMAIL}
SHARDED_TYPE = JobType.EMAIL_NOTIFICATION


@dataclass
class Result:
    layout: str
    round: int
    jobs: int
    rate: float
    #: Redis CPU µs per job in the window, per server (one entry with one Redis).
    redis_cpu_us_per_job: list[float]
    #: CPU seconds per wall second of each server in the window (1.0 = one core busy).
    redis_cores: list[float]
    worker_cpu_us_per_job: float


def _enqueue(urls: list[str], jobs: int) -> None:
    settings = load_settings(
        redis_enabled=True, redis_url=urls[0], namespace=NAMESPACE, redis_fallback=False, shards_map=_map(urls)
    )
    configure(settings, role="oneshot")
    for job_type, payload in TYPES.items():
        for start in range(0, jobs, 1000):
            add_jobs([JobRequest(job_type, payload)] * min(1000, jobs - start))
    reset()


def _map(urls: list[str]) -> str | None:
    return json.dumps({"b": {"url": urls[1], "queues": [SHARDED_TYPE.value]}}) if len(urls) > 1 else None


def _workers(urls: list[str], processes: int, threads: int, work: str) -> list[subprocess.Popen[bytes]]:
    procs = []
    for job_type in TYPES:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "REDIS_ENABLED": "true",
            "REDIS_FALLBACK": "false",
            "REDIS_URL": urls[0],
            "GEMSDASH_NAMESPACE": NAMESPACE,
            WORK_ENV: work,
        }
        shards = _map(urls)
        if shards is not None:
            env["GEMSDASH_SHARDS"] = shards
            env["GEMSDASH_SHARD"] = "b" if job_type is SHARDED_TYPE else "default"
        argv = [sys.executable, "-m", "dramatiq", "benchmarks.shard_worker", "--processes", str(processes)]
        argv += ["--threads", str(threads), "--queues", *physical_queues(job_type.queue)]
        procs.append(subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    return procs


def _left(clients: dict[JobType, redis.Redis]) -> int:
    return sum(
        int(client.hlen(f"{NAMESPACE}:{rq}.msgs")) for t, client in clients.items() for rq in physical_queues(t.queue)
    )


def run(layout: str, jobs: int, processes: int, threads: int, work: str, round_no: int) -> Result:
    servers = [RedisServer("--maxmemory", "0").start() for _ in range(1 if layout == "one Redis" else 2)]
    clients = [redis.Redis.from_url(s.url) for s in servers]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        urls = [s.url for s in servers]
        _enqueue(urls, jobs)
        by_type = {t: clients[1] if len(clients) > 1 and t is SHARDED_TYPE else clients[0] for t in TYPES}
        total = jobs * len(TYPES)
        assert _left(by_type) == total, "the backlog was not enqueued whole"
        procs = _workers(urls, processes, threads, work)
        marks: dict[str, tuple[float, list[float], float]] = {}
        while True:
            left = _left(by_type)
            done = total - left
            for name, fraction in (("start", 0.1), ("end", 0.9)):
                if name not in marks and done >= fraction * total:
                    cpu = [redis_probe.read(c).cpu_seconds for c in clients]
                    marks[name] = (time.perf_counter(), cpu, sum(cpu_seconds(p.pid) for p in procs))
            if left == 0 or "end" in marks:
                break
            if any(p.poll() is not None for p in procs):
                raise RuntimeError("a worker group exited")
            time.sleep(0.01)
        (t0, cpu0, w0), (t1, cpu1, w1) = marks["start"], marks["end"]
        counted = 0.8 * total
        return Result(
            layout,
            round_no,
            total,
            counted / (t1 - t0),
            [(b - a) * 1e6 / counted for a, b in zip(cpu0, cpu1, strict=True)],
            [(b - a) / (t1 - t0) for a, b in zip(cpu0, cpu1, strict=True)],
            (w1 - w0) * 1e6 / counted,
        )
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.wait(timeout=60)
        for c in clients:
            c.close()
        for s in servers:
            s.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sharding", description=__doc__)
    parser.add_argument("--jobs", type=int, default=10_000, help="jobs of each of the two types")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--processes", type=int, default=1, help="processes per worker group (two groups)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--work", choices=["noop", "sleep10ms"], default="noop")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    results = []
    for rnd in range(args.rounds):
        layouts = ["one Redis", "two shards"] if rnd % 2 == 0 else ["two shards", "one Redis"]
        for layout in layouts:
            r = run(layout, args.jobs, args.processes, args.threads, args.work, rnd)
            results.append(r)
            print(
                f"round {rnd} {layout}: {r.rate:,.0f} jobs/s; Redis CPU µs/job per server "
                f"{', '.join(f'{x:.1f}' for x in r.redis_cpu_us_per_job)}; Redis cores busy "
                f"{', '.join(f'{x:.2f}' for x in r.redis_cores)}; workers {r.worker_cpu_us_per_job:.0f} µs/job",
                flush=True,
            )
    print(f"\nload average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores")
    print("| layout | jobs/s (median) | Redis CPU µs/job, per server | Redis cores busy, per server |")
    print("|---|---|---|---|")
    for layout in ("one Redis", "two shards"):
        mine = [r for r in results if r.layout == layout]
        servers = len(mine[0].redis_cpu_us_per_job)
        cpu = [statistics.median(r.redis_cpu_us_per_job[i] for r in mine) for i in range(servers)]
        cores = [statistics.median(r.redis_cores[i] for r in mine) for i in range(servers)]
        print(
            f"| {layout} | {statistics.median(r.rate for r in mine):,.0f} | "
            f"{' + '.join(f'{x:.1f}' for x in cpu)} | {' + '.join(f'{x:.2f}' for x in cores)} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
