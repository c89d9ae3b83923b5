"""What a worker's heartbeat (`RedisJobStore.heartbeat`, jobs.lua `beat`) costs Redis, in
redis-server instructions per beat (valgrind's callgrind, user space only: the same on every run,
whatever else the machine does). 50 workers beat in turn, as on a namespace with 50 worker processes.

    .venv/bin/python -m benchmarks.beat_calls [--beats 500]

To measure another tree (a `git archive` copy), run this file from the repository by path with that
tree first on the path, so that gemsdash comes from it (a tree older than
benchmarks/callgrind_redis.py needs a copy of it):

    cp -n $REPO/benchmarks/callgrind_redis.py /tmp/before/benchmarks/
    (cd /tmp/before && PYTHONPATH=/tmp/before $REPO/.venv/bin/python $REPO/benchmarks/beat_calls.py)
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from benchmarks.callgrind_redis import callgrind_redis
from gemsdash.queue.redis_store import RedisJobStore
from gemsdash.queue.store import WorkerInfo

_WORKERS = 50


def callgrind(beats: int, port: int) -> None:
    with callgrind_redis(port, "beat-calls-") as grind:
        store = RedisJobStore(
            grind.client, namespace="m", finished_ttl=3600, dead_ttl=3600, worker_timeout_ms=30000, display_url="bench"
        )
        now = datetime.now(UTC)
        infos = [
            WorkerInfo(
                id=f"w{i}",
                host="h",
                pid=i,
                threads=4,
                started_at=now,
                last_heartbeat=now,
                in_flight=0,
                queues=["q"],
                consumes=["q.default"],
            )
            for i in range(_WORKERS)
        ]
        for info in infos:  # scripts loaded, every worker known
            store.heartbeat(info)
        grind.instrument(True)
        for n in range(beats):
            store.heartbeat(infos[n % _WORKERS])
        grind.instrument(False)
        grind.dump("beat")
    print(f"{beats} beats; redis-server instructions per beat: {grind.totals(1) / beats:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beats", type=int, default=500, help="beats measured (default 500)")
    parser.add_argument("--port", type=int, default=6490, help="the valgrind redis-server's port")
    args = parser.parse_args()
    callgrind(args.beats, args.port)


if __name__ == "__main__":
    main()
