"""What each part of a waiting job costs Redis, alone: `used_memory` delta over N entries of each
kind a waiting gemsdash job can have, at the sizes `waiting.py` reports, on a private redis-server.
A new job waits as its message (a hash field), its id in the queue list and two sorted-set members
(the queue's `fresh` index, by time; the id index, at score 0); one with a record at submit (a
delay, say) has its record key and a third sorted-set member instead of the `fresh` one, plus the
all-states one. `python -m benchmarks.entry_sizes [N]` prints bytes per entry.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable

import redis

from benchmarks.harness import bench

#: (what, bytes of the value), as `waiting.py` measured them (docs/benchmarks.md, round 8).
RECORD_JSON_BYTES = 441
MESSAGE_BYTES = 381
PLAIN_MESSAGE_BYTES = 287


def _per_entry(client: redis.Redis, ids: list[str], add: Callable[[redis.client.Pipeline, int, str], object]) -> float:
    before = int(client.info("memory")["used_memory"])
    pipe = client.pipeline(transaction=False)
    for i, job_id in enumerate(ids):
        add(pipe, i, job_id)
    pipe.execute()
    return (int(client.info("memory")["used_memory"]) - before) / len(ids)


def main(n: int) -> None:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    now = 1_796_241_761_449
    record, message, plain = "r" * RECORD_JSON_BYTES, "m" * MESSAGE_BYTES, "p" * PLAIN_MESSAGE_BYTES
    parts: list[tuple[str, Callable[[redis.client.Pipeline, int, str], object]]] = [
        ("sorted-set member scored by time (state or all-states index)", lambda p, i, j: p.zadd("z1", {j: now + i})),
        ("sorted-set member at score 0 (id index)", lambda p, i, j: p.zadd("z2", {j: 0})),
        (f"record key ({RECORD_JSON_BYTES} B of JSON)", lambda p, i, j: p.set(f"ns:gd:job:{j}", record)),
        (f"message as a hash field ({MESSAGE_BYTES} B)", lambda p, i, j: p.hset("ns:q.msgs", j, message)),
        (f"plain Dramatiq's message ({PLAIN_MESSAGE_BYTES} B)", lambda p, i, j: p.hset("ns:p.msgs", j, plain)),
        ("id in the queue list", lambda p, i, j: p.rpush("ns:q", j)),
    ]
    with bench() as b:
        for what, add in parts:
            print(f"{_per_entry(b.client, ids, add):7,.0f} B  {what}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
