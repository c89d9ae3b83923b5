"""What one dashboard refresh costs with many tracked jobs in Redis: round trips, read time, paint time.

    .venv/bin/python -m benchmarks.dashboard_refresh [--jobs 100000] [--redis-url redis://127.0.0.1:6379/0]

Seeds `--jobs` queued jobs (spread over the four queues, no worker) in a namespace of its own, then
1. counts the round trips of `queue_stats()` (every count on the dashboard) and of one job page,
   at the first page and at a deep offset, and times them;
2. runs the real dashboard headless against that Redis and times its refreshes: the read (worker
   thread) and the paint (UI thread, the part that must stay well under the refresh interval).
The namespace is deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis

from benchmarks import roundtrips

roundtrips.install()  # before the first connection opens

import gemsdash.queue as q  # noqa: E402
from gemsdash.app import GemsdashApp  # noqa: E402
from gemsdash.demo import example  # noqa: E402
from gemsdash.queue import JobRequest, JobState, load_settings  # noqa: E402
from gemsdash.queue import runtime as runtime_module  # noqa: E402
from gemsdash.tui.refresh import RefreshResult  # noqa: E402

SEED_BATCH = 2000


def seed(total: int) -> None:
    """`total` valid jobs, round-robin over the four job types, through the producer API."""
    types = list(q.JobType)
    done = 0
    while done < total:
        size = min(SEED_BATCH, total - done)
        q.add_jobs(JobRequest(types[(done + i) % 4], example(types[(done + i) % 4])) for i in range(size))
        done += size


def measure(label: str, call: Callable[[], Any], repeat: int = 20) -> tuple[int, float]:
    """(round trips of one call, median milliseconds)."""
    before = roundtrips.count()
    call()
    trips = roundtrips.count() - before
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    median = statistics.median(times)
    print(f"  {label:<46} {trips:>3} round trip(s)   median {median:7.2f} ms")
    return trips, median


async def headless_refreshes(seconds: float, interval: float) -> tuple[list[float], list[float]]:
    """Run the dashboard for `seconds`; returns (read ms, paint ms) of each refresh."""
    app = GemsdashApp(refresh_interval=interval)
    reads: list[float] = []
    paints: list[float] = []
    original = app._apply

    def timed_apply(result: RefreshResult) -> None:
        started = time.perf_counter()
        original(result)
        paints.append((time.perf_counter() - started) * 1000)
        reads.append(result.elapsed_ms)

    app._apply = timed_apply  # type: ignore[method-assign]
    async with app.run_test(size=(160, 50)) as pilot:
        screen = app.screen_stack[0]
        await pilot.pause(0.5)
        screen.queues.move_cursor(row=3)  # type: ignore[attr-defined]
        await pilot.pause(seconds)
    return reads, paints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long the headless dashboard runs")
    args = parser.parse_args()

    namespace = f"bench-tui-{uuid.uuid4().hex[:8]}"
    settings = load_settings(_env_file=None, redis_enabled=True, redis_url=args.redis_url, namespace=namespace)
    q.configure(settings, role="oneshot")
    client = redis.Redis.from_url(args.redis_url)
    try:
        started = time.perf_counter()
        seed(args.jobs)
        print(f"seeded {args.jobs:,} queued jobs in {time.perf_counter() - started:.1f} s (namespace {namespace})")
        print(f"redis memory used: {client.info('memory')['used_memory_human']}")

        print("reads (each one call of the public API the dashboard uses):")
        measure("queue_stats() - every count on screen", q.queue_stats)
        measure("list_jobs(queue, limit=50) - first page", lambda: q.list_jobs("payment-processing"))
        deep = args.jobs // 4 - 50
        measure(
            f"list_jobs(queue, queued, offset={deep:,})",
            lambda: q.list_jobs("payment-processing", JobState.QUEUED, 50, deep),
        )
        measure("list_jobs(queue, search='x') - 2,000 scanned", lambda: q.list_jobs("email-notification", search="x"))
        view_trips, _ = measure(
            "dashboard_view(queue) - counts + page together",
            lambda: q.dashboard_view("payment-processing", None, 50, 0),
        )

        interval = 0.25
        reads, paints = asyncio.run(headless_refreshes(args.seconds, interval))
        print(f"headless dashboard, refresh every {interval} s for {args.seconds} s: {len(paints)} refreshes")
        print(f"  read  (worker thread): median {statistics.median(reads):6.2f} ms   max {max(reads):6.2f} ms")
        print(f"  paint (UI thread):     median {statistics.median(paints):6.2f} ms   max {max(paints):6.2f} ms")
        print(f"one main-screen refresh = {view_trips} round trip(s) (all counts and the visible page, one MULTI)")
    finally:
        runtime_module.reset()
        keys = list(client.scan_iter(match=f"{namespace}:*", count=5000))
        for start in range(0, len(keys), 5000):
            client.delete(*keys[start : start + 5000])
        client.close()


if __name__ == "__main__":
    main()
