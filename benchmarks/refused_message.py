"""What a worker and Redis pay for one refused 30 MB message: the admission check, the scrubbed
evidence (size, sha256, head) and the `reject` script call, which must not copy the message into Lua.

    python -m benchmarks.refused_message [REDIS_URL]

Uses a namespace of its own on the given Redis (default redis://127.0.0.1:6379/0) and deletes it.
"""

from __future__ import annotations

import sys
import time
import uuid

import redis

from gemsdash.queue.admission import inspect_fetched
from gemsdash.queue.jobs import now_ms
from gemsdash.queue.redaction import Redactor, raw_evidence
from gemsdash.queue.redis_store import RedisJobStore

QUEUE = "payment-processing"


def main(url: str) -> None:
    client = redis.Redis.from_url(url)
    ns = f"bench-refused-{uuid.uuid4().hex[:8]}"
    store = RedisJobStore(client, namespace=ns, finished_ttl=60, dead_ttl=60, worker_timeout_ms=10_000, display_url=url)
    data = b'{"password": "x", "blob": "' + b"A" * (30 * 1024 * 1024)
    try:
        for _ in range(3):
            rmid = str(uuid.uuid4())
            client.hset(f"{ns}:{QUEUE}.msgs", rmid, data)
            client.sadd(f"{ns}:__acks__.w1.{QUEUE}", rmid)
            t0 = time.perf_counter()
            refusal = inspect_fetched(data, QUEUE, now_ms())
            assert refusal is not None
            t1 = time.perf_counter()
            kept = raw_evidence(data, Redactor([]), refusal.parsed, was_parsed=refusal.was_parsed)
            t2 = time.perf_counter()
            store.reject(QUEUE, data, (refusal.kind, refusal.reason), kept, refusal.message_id, "w1")
            t3 = time.perf_counter()
            print(
                f"inspect {1000 * (t1 - t0):.1f} ms, evidence {1000 * (t2 - t1):.1f} ms, "
                f"reject call {1000 * (t3 - t2):.1f} ms"
            )
    finally:
        for key in client.scan_iter(match=f"{ns}:*"):
            client.delete(key)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/0")
