"""Enqueue latency with GEMSDASH_MIN_REPLICAS 0 and 1: a private primary and replica on loopback,
`add_job` one job at a time, p50/p99/mean in ms. `python -m benchmarks.ha_latency [--jobs N]`.

The price of the guarantee is the replica's acknowledgement inside the write's round trip (WAIT
follows the script call in one pipeline); with 0 nothing is sent."""

from __future__ import annotations

import argparse
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from gemsdash.queue import JobType, add_job, configure, load_settings
from gemsdash.queue.runtime import reset


def _server(port: int, directory: Path, *extra: str) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server") or "redis-server"
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory), "--save", ""]
    proc = subprocess.Popen([*args, "--appendonly", "no", *extra], stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            redis.Redis(port=port).ping()
            return proc
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"redis-server did not start on {port}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(url: str, min_replicas: int, jobs: int) -> list[float]:
    configure(
        load_settings(
            _env_file=None,
            redis_enabled=True,
            redis_url=url,
            namespace=f"bench-ha{min_replicas}",
            min_replicas=min_replicas,
        ),
        role="worker",
    )
    payload = {"to": "a@example.com", "template": "welcome", "context": {"name": "x"}}
    for _ in range(50):  # warm-up: connections, scripts
        add_job(JobType.EMAIL_NOTIFICATION, payload)
    times = []
    for _ in range(jobs):
        started = time.perf_counter()
        add_job(JobType.EMAIL_NOTIFICATION, payload)
        times.append((time.perf_counter() - started) * 1000)
    reset()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="gemsdash-ha-bench-"))
    (root / "p").mkdir()
    (root / "r").mkdir()
    primary_port, replica_port = _free_port(), _free_port()
    primary = _server(primary_port, root / "p")
    replica = _server(replica_port, root / "r", "--replicaof", "127.0.0.1", str(primary_port))
    try:
        while redis.Redis(port=primary_port).info("replication").get("slave0", {}).get("state") != "online":
            time.sleep(0.1)
        url = f"redis://127.0.0.1:{primary_port}/0"
        results: dict[int, list[float]] = {0: [], 1: []}
        for _ in range(args.rounds):  # alternate, so a noisy neighbour hits both sides
            for n in (0, 1):
                results[n] += measure(url, n, args.jobs)
        print("| GEMSDASH_MIN_REPLICAS | jobs | p50 ms | p99 ms | mean ms |")
        print("| --- | --- | --- | --- | --- |")
        for n, times in results.items():
            times.sort()
            p99 = times[int(len(times) * 0.99) - 1]
            print(
                f"| {n} | {len(times)} | {statistics.median(times):.3f} | {p99:.3f} | {statistics.fmean(times):.3f} |"
            )
    finally:
        for proc in (replica, primary):
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
