"""What a job's two per-job store calls, `start` and `succeed` (batches of 20, acks included), cost
Redis, measured outside any worker so that other processes' load moves the figures little:

    .venv/bin/python -m benchmarks.hot_calls [--jobs 5000]
        redis-server CPU (its rusage) and time inside EVALSHA (INFO commandstats) per job
    .venv/bin/python -m benchmarks.hot_calls --callgrind [--jobs 1000]
        instructions redis-server executes per job (valgrind's callgrind, user space only): the
        same on every run, whatever else the machine does; needs valgrind

Jobs are submitted with `add_jobs`' store call, fetched as a worker's consumer fetches them (so
their messages sit in an ack set), each started, then succeeded 20 a call with their acks. To
measure another tree (a `git archive` copy), run this file from it, by path, so that both gemsdash
and the harness come from that tree:

    (cd /tmp/before && PYTHONPATH=/tmp/before $REPO/.venv/bin/python $REPO/benchmarks/hot_calls.py)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import dramatiq
import redis

from benchmarks.harness import bench, gemsdash_runtime
from benchmarks.work import PAYLOAD
from gemsdash.queue import JOB_SPECS, JobRequest, JobType, add_jobs
from gemsdash.queue.messages import submission
from gemsdash.queue.redis_store import RedisJobStore
from gemsdash.queue.store import Delivery, Success

_BATCH = 20
_WORKER = "w1"


def _cpu(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _succeed_all(store: RedisJobStore, messages: list[dramatiq.Message[Any]], worker: str) -> None:
    for at in range(0, len(messages), _BATCH):
        batch = messages[at : at + _BATCH]
        ended = int(time.time() * 1000)
        successes = [
            Success(m.message_id, '{"ok":1}', 3, ended, Delivery(worker, m.queue_name, m.options["redis_message_id"]))
            for m in batch
        ]
        assert store.succeed_many(successes) == len(batch)


def rusage(jobs: int) -> None:
    with bench() as b:
        rt = gemsdash_runtime(b, "m")
        for at in range(0, jobs, 1000):
            add_jobs([JobRequest(JobType.EMOTION_ANALYSIS, PAYLOAD)] * min(1000, jobs - at))
        store, client, broker = rt.store, b.client, rt.broker
        assert isinstance(store, RedisJobStore)
        queue = JobType.EMOTION_ANALYSIS.queue
        messages: list[dramatiq.Message[Any]] = []
        while len(messages) < jobs:
            fetched = broker.do_fetch(queue, 1000)  # type: ignore[attr-defined]
            if not fetched:
                break
            messages += [dramatiq.Message.decode(data) for data in fetched]
        client.config_resetstat()
        before = _cpu(client)
        for message in messages:
            assert store.start(message, _WORKER, None).verdict.value == "run"
        start_cpu = (_cpu(client) - before) / len(messages) * 1e6
        start_in = client.info("commandstats")["cmdstat_evalsha"]["usec"] / len(messages)
        client.config_resetstat()
        before = _cpu(client)
        _succeed_all(store, messages, broker.broker_id)  # type: ignore[attr-defined]
        succeed_cpu = (_cpu(client) - before) / len(messages) * 1e6
        succeed_in = client.info("commandstats")["cmdstat_evalsha"]["usec"] / len(messages)
        print(
            f"{len(messages)} jobs; per job: start {start_cpu:.1f} us Redis CPU ({start_in:.1f} in EVALSHA), "
            f"succeed {succeed_cpu:.1f} us ({succeed_in:.1f} in EVALSHA)"
        )


def _totals(path: Path) -> int:
    for line in path.read_text().splitlines():
        if line.startswith("totals:"):
            return int(line.split()[1])
    raise ValueError(f"no totals in {path}")


def callgrind(jobs: int, port: int) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="hot-calls-"))
    out = scratch / "callgrind.out"
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
        spec = JOB_SPECS[JobType.EMOTION_ANALYSIS]
        data = spec.validate_payload(PAYLOAD).model_dump(mode="json")
        subs = [submission(spec, data, json.dumps(data, separators=(",", ":")), spec.options()) for _ in range(jobs)]
        for at in range(0, jobs, 50):
            store.submit(subs[at : at + 50])
        messages = [s.message for s in subs]
        for m in messages:  # as a worker's fetch leaves them: in its ack set
            client.sadd(f"m:__acks__.{_WORKER}.{m.queue_name}", m.options["redis_message_id"])
        store.start(messages[0], _WORKER, None)  # scripts loaded, connection made
        control("-i", "on")
        for m in messages[1:]:
            assert store.start(m, _WORKER, None).verdict.value == "run"
        control("-i", "off")
        control("-d", "start")
        control("-i", "on")
        _succeed_all(store, messages, _WORKER)
        control("-i", "off")
        control("-d", "succeed")
        assert client.scard(f"m:__acks__.{_WORKER}.{messages[0].queue_name}") == 0
        client.shutdown(nosave=True)
    finally:
        server.wait(timeout=60)
    start, succeed = _totals(Path(f"{out}.1")) / (jobs - 1), _totals(Path(f"{out}.2")) / jobs
    print(f"{jobs} jobs; redis-server instructions per job: start {start:,.0f}, succeed {succeed:,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=0, help="jobs (default 5000, with --callgrind 1000)")
    parser.add_argument("--callgrind", action="store_true", help="count instructions under valgrind")
    parser.add_argument("--port", type=int, default=6489, help="the valgrind redis-server's port")
    args = parser.parse_args()
    if args.callgrind:
        callgrind(args.jobs or 1000, args.port)
    else:
        rusage(args.jobs or 5000)


if __name__ == "__main__":
    main()
