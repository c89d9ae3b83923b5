"""What listing 1,000 schedules (each with a last job) costs Redis: per `sched_list` script call
(a page of 100) from SLOWLOG, and the wall time of `list_schedules()`; plus one `sched_due` call.

    python -m benchmarks.schedule_list

Starts a redis-server of its own on a free port (so SLOWLOG sees only these calls) and stops it.
"""

from __future__ import annotations

import statistics
import time
import uuid

import redis

import gemsdash.queue as q
from gemsdash.queue import runtime as runtime_module
from tests.conftest import test_settings
from tests.support import RedisServer

SCHEDULES = 1000


def main() -> None:
    with RedisServer() as server:
        namespace = f"bench-{uuid.uuid4().hex[:6]}"
        rt = q.configure(test_settings(redis_enabled=True, redis_url=server.url, namespace=namespace), role="worker")
        payload = {"to": "a@example.com", "template": "welcome", "context": {"name": "x" * 500}}
        for i in range(SCHEDULES):
            q.add_schedule(f"s{i:04d}", "email-notification", payload, cron="0 8 * * *")
            q.run_schedule(f"s{i:04d}")
        client = redis.Redis.from_url(server.url)
        client.config_set("slowlog-max-len", 10_000)
        client.config_set("slowlog-log-slower-than", 0)
        client.slowlog_reset()
        walls = []
        for _ in range(10):
            began = time.perf_counter()
            assert len(q.list_schedules()) == SCHEDULES
            walls.append((time.perf_counter() - began) * 1000)
            rt.store.schedules_due(50)
        calls: dict[str, list[int]] = {}
        for entry in client.slowlog_get(10_000):
            words = (entry["command"] or b"").split(b" ")
            if words[0].upper() == b"EVALSHA" and len(words) > 4:
                calls.setdefault(words[4].decode(), []).append(int(entry["duration"]))
        print(f"{SCHEDULES} schedules; list_schedules() wall ms: median {statistics.median(walls):.0f}")
        for command, durations in sorted(calls.items()):
            print(
                f"{command}: {len(durations)} calls, Redis us per call: median {statistics.median(durations):.0f},"
                f" max {max(durations)}"
            )
        runtime_module.reset()


if __name__ == "__main__":
    main()
