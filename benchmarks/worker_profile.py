"""One worker's CPU per job, and where it goes: a backlog of no-op jobs drained by a Dramatiq worker
run inside this process (gemsdash's runtime and middleware, or a plain RedisBroker), on a private
redis-server, optionally under yappi (CPU clock, every thread).

    .venv/bin/python -m benchmarks.worker_profile gemsdash --jobs 10000 [--yappi /tmp/prof]
    .venv/bin/python -m benchmarks.worker_profile plain --jobs 10000

Prints the steady rate (10% to 90% done), this process's CPU per job in that window (all threads:
the worker's consumers and worker threads; the poller sleeps), Redis's time inside commands and
its commands per job, and the round trips per job. With --yappi, writes DIR/<side>-tsub.txt and
DIR/<side>-ttot.txt (functions by own and by total CPU) and a pstats file. yappi is not a
dependency: `pip install yappi` in the venv. Its overhead triples the CPU; compare its figures
side against side, not with the plain run's.
"""

from __future__ import annotations

import argparse
import importlib
import os
import time
from pathlib import Path
from typing import Any

from dramatiq import Broker, Worker

from benchmarks import roundtrips
from benchmarks.harness import bench
from benchmarks.throughput import preload_dramatiq, preload_gemsdash
from benchmarks.work import WORK_ENV

NAMESPACE = "wprof"


def _broker(side: str, url: str) -> Broker:
    os.environ.update(REDIS_URL=url, REDIS_ENABLED="true", REDIS_FALLBACK="false")
    os.environ.update(GEMSDASH_NAMESPACE=NAMESPACE, BENCH_NAMESPACE=NAMESPACE)
    if side == "gemsdash":
        importlib.import_module("benchmarks.gemsdash_worker")
        from gemsdash.queue import current_runtime

        return current_runtime().broker
    broker: Broker = importlib.import_module("benchmarks.plain_worker").BROKER
    return broker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("side", choices=("gemsdash", "plain"))
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--work", default="noop")
    parser.add_argument("--yappi", type=Path, metavar="DIR", help="profile with yappi and write the tables here")
    args = parser.parse_args()
    os.environ[WORK_ENV] = args.work
    roundtrips.install()
    with bench() as b:
        b.fresh()
        if args.side == "gemsdash":
            pending = preload_gemsdash(b, NAMESPACE, args.jobs)
        else:
            pending = preload_dramatiq(b, NAMESPACE, args.jobs, args.work)
        broker = _broker(args.side, b.url)
        b.client.config_resetstat()
        broker.emit_after("process_boot")
        yappi: Any = importlib.import_module("yappi") if args.yappi else None
        if yappi is not None:
            yappi.set_clock_type("cpu")
            yappi.start(builtins=True)
        trips = roundtrips.count()
        worker = Worker(broker, worker_threads=args.threads)
        worker.start()
        samples: list[tuple[float, float, int]] = []
        while True:
            left = int(b.client.hlen(pending))
            samples.append((time.perf_counter(), time.process_time(), left))
            if left == 0:
                break
            time.sleep(0.01)
        trips = roundtrips.count() - trips
        if yappi is not None:
            yappi.stop()
        worker.stop()
        stats = b.client.info("commandstats")
    lo = next(s for s in samples if s[2] <= args.jobs * 0.9)
    hi = next(s for s in samples if s[2] <= args.jobs * 0.1)
    done = lo[2] - hi[2]
    usec = sum(v["usec"] for v in stats.values()) / args.jobs
    calls = sum(v["calls"] for v in stats.values()) / args.jobs
    print(
        f"{args.side}: {done / (hi[0] - lo[0]):,.0f} jobs/s, worker CPU {1e6 * (hi[1] - lo[1]) / done:.0f} µs/job, "
        f"Redis {usec:.1f} µs/job in {calls:.2f} commands, {trips / args.jobs:.2f} round trips/job"
    )
    if yappi is not None:
        args.yappi.mkdir(parents=True, exist_ok=True)
        functions = yappi.get_func_stats()
        columns = {0: ("name", 90), 1: ("ncall", 10), 2: ("tsub", 9), 3: ("ttot", 9), 4: ("tavg", 9)}
        for order in ("tsub", "ttot"):
            functions.sort(order)
            with (args.yappi / f"{args.side}-{order}.txt").open("w") as out:
                functions.print_all(out=out, columns=columns)
        functions.save(str(args.yappi / f"{args.side}.pstat"), type="pstat")


if __name__ == "__main__":
    main()
