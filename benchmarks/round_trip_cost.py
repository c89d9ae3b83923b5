"""What one Redis round trip costs this machine's client in CPU, the figure that decides how much
gemsdash's tracking costs per job (see docs/benchmarks.md, "Two machines").

    .venv/bin/python -m benchmarks.round_trip_cost [--calls 5000]

Prints client CPU and wall time per PING for redis-py's pooled client (as configured by gemsdash),
a client holding one connection (what gemsdash's worker threads use for their per-job calls), and a
bare connection (send and read only), against a private redis-server.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import redis

from benchmarks.harness import bench
from gemsdash.queue.config import load_settings
from gemsdash.queue.connection import connect


def _per_call(call: Callable[[], object], calls: int) -> tuple[float, float]:
    call()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(calls):
        call()
    return (time.process_time() - cpu) / calls * 1e6, (time.perf_counter() - wall) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    calls = parser.parse_args().calls
    with bench() as b:
        pooled = connect(load_settings(_env_file=None, redis_enabled=True, redis_url=b.url))
        assert isinstance(pooled, redis.Redis)  # a plain URL: not a cluster client
        own = redis.Redis(connection_pool=pooled.connection_pool, single_connection_client=True)
        bare = pooled.connection_pool.make_connection()

        def bare_ping() -> object:
            bare.send_command("PING")  # type: ignore[no-untyped-call]  # unannotated in redis-py
            return bare.read_response()

        print(f"{'PING through':<36} {'client CPU µs':>14} {'wall µs':>9}")
        for name, call in (
            ("pooled client (gemsdash's)", pooled.ping),
            ("one-connection client (per thread)", own.ping),
            ("bare connection", bare_ping),
        ):
            cpu_us, wall_us = _per_call(call, calls)
            print(f"{name:<36} {cpu_us:>14.1f} {wall_us:>9.1f}")
        bare.disconnect()  # type: ignore[no-untyped-call]  # unannotated in redis-py
        own.close()
        pooled.close()


if __name__ == "__main__":
    main()
