"""Time inside EVALSHA (INFO commandstats) of a 200-job `succeed_many` whose records hot.lua leaves
to jobs.lua (the old single-JSON layout), with two jobs.lua texts interleaved in one run on a
private redis-server: `--before FILE` (a jobs.lua of another commit) against this checkout's.

    git show 60ea0e3:gemsdash/queue/redis_store/jobs.lua > /tmp/jobs-before.lua
    .venv/bin/python -m benchmarks.succeed_slow_path --before /tmp/jobs-before.lua --rounds 16
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
from dramatiq import Message

import gemsdash.queue.redis_store.store as store_module
from gemsdash.queue import JobRequest, JobType, add_jobs, configure, load_settings
from gemsdash.queue import runtime as runtime_module
from gemsdash.queue.jobs import now_ms
from gemsdash.queue.keys import with_lua_keys
from gemsdash.queue.store import Delivery, Success, parse_record

QUEUE = JobType.EMAIL_NOTIFICATION.queue
JOBS = 200


def _redis() -> tuple[subprocess.Popen[bytes], str, Path]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    where = Path(tempfile.mkdtemp(prefix="succeed-slow-"))
    binary = shutil.which("redis-server") or "redis-server"
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(where), "--save", ""]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    return proc, url, where


def _one(url: str, namespace: str, client: redis.Redis) -> int:
    runtime_module.reset()
    settings = load_settings(_env_file=None, redis_enabled=True, redis_url=url, namespace=namespace)
    rt = configure(settings, role="worker")
    store = rt.store
    ids = add_jobs(
        [
            JobRequest(
                JobType.EMAIL_NOTIFICATION, {"to": "a@example.com", "template": "welcome", "context": {"name": "A"}}
            )
        ]
        * JOBS
    )
    fetched = rt.broker.do_fetch(QUEUE, JOBS)  # type: ignore[attr-defined]
    messages = {m.message_id: m for m in (Message.decode(d) for d in fetched)}
    for job_id in ids:
        store.start(messages[job_id], "bench", None)
        key = f"{namespace}:gd:job:{job_id}"
        record: dict[str, Any] = parse_record(client.get(key) or b"")
        record["timeline"] = [[*e, None] for e in record["timeline"]]
        client.set(key, json.dumps(record))  # the old layout: hot.lua leaves it to jobs.lua
    broker_id = rt.broker.broker_id  # type: ignore[attr-defined]
    ended = now_ms()
    rows = [
        Success(i, '"ok"', 1, ended, Delivery(broker_id, QUEUE, messages[i].options["redis_message_id"])) for i in ids
    ]
    client.config_resetstat()
    assert store.succeed_many(rows) == JOBS
    return int(client.info("commandstats")["cmdstat_evalsha"]["usec"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True, help="a jobs.lua to compare this checkout's with")
    parser.add_argument("--rounds", type=int, default=16)
    args = parser.parse_args()
    texts = {"before": with_lua_keys(Path(args.before).read_text()), "after": store_module._JOBS_LUA}
    proc, url, where = _redis()
    client = redis.Redis.from_url(url)
    usec: dict[str, list[int]] = {"before": [], "after": []}
    try:
        for n in range(args.rounds):
            for name in ("before", "after") if n % 2 == 0 else ("after", "before"):
                store_module._JOBS_LUA = texts[name]
                usec[name].append(_one(url, f"s{n}{name}", client))
    finally:
        runtime_module.reset()
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(where, ignore_errors=True)
    for name, values in usec.items():
        values.sort()
        median = values[len(values) // 2]
        print(
            f"{name}: EVALSHA usec per {JOBS}-job batch min {values[0]} median {median} ({median / JOBS:.1f} per job)"
        )


if __name__ == "__main__":
    main()
