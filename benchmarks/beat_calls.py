"""What a worker's heartbeat (`RedisJobStore.heartbeat`, jobs.lua `beat`) costs Redis, in
redis-server instructions per beat (valgrind's callgrind, user space only: the same on every run,
whatever else the machine does). 50 workers beat in turn, as on a namespace with 50 worker processes.

    .venv/bin/python -m benchmarks.beat_calls [--beats 500]

To measure another tree (a `git archive` copy), run this file from the repository by path with that
tree first on the path, so that gemsdash comes from it:

    (cd /tmp/before && PYTHONPATH=/tmp/before $REPO/.venv/bin/python $REPO/benchmarks/beat_calls.py)
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import redis

from gemsdash.queue.redis_store import RedisJobStore
from gemsdash.queue.store import WorkerInfo

_WORKERS = 50


def _totals(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise ValueError(f"no totals in {path}")


def callgrind(beats: int, port: int) -> None:
    out = Path(tempfile.mkdtemp(prefix="beat-calls-")) / "callgrind.out"
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
    server = subprocess.Popen(
        [*valgrind, "redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def control(*args: str) -> None:
        subprocess.run(["callgrind_control", *args, str(server.pid)], capture_output=True, check=True)

    try:
        client = redis.Redis(port=port)
        for _ in range(300):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.2)
        store = RedisJobStore(
            client, namespace="m", finished_ttl=3600, dead_ttl=3600, worker_timeout_ms=30000, display_url="bench"
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
        control("-i", "on")
        for n in range(beats):
            store.heartbeat(infos[n % _WORKERS])
        control("-i", "off")
        control("-d", "beat")
        client.shutdown(nosave=True)
    finally:
        server.wait(timeout=60)
    print(f"{beats} beats; redis-server instructions per beat: {_totals(Path(f'{out}.1')) / beats:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beats", type=int, default=500, help="beats measured (default 500)")
    parser.add_argument("--port", type=int, default=6490, help="the valgrind redis-server's port")
    args = parser.parse_args()
    callgrind(args.beats, args.port)


if __name__ == "__main__":
    main()
