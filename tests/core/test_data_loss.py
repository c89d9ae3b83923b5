"""What makes a worker report `data_lost`: the data set's epoch, which its heartbeats read, changed
after the worker had held Redis to it. An epoch is held to only once settled (EPOCH_SETTLE_MS old by
its Redis time): one written in a failover's first seconds can be lost with the old primary while
every job survives, and must not raise a false alarm. (The fault tests do this with real restarts
and failovers: tests/faults/test_data_lost.py, test_sentinel_failover.py.)"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from gemsdash.queue import Runtime, WorkerInfo, health
from gemsdash.queue.redis_store.store import EPOCH_SETTLE_MS


def beat(runtime: Runtime) -> None:
    now = datetime.now(UTC)
    info = WorkerInfo(
        id="w1", host="h", pid=1, threads=1, started_at=now, last_heartbeat=now, in_flight=0, queues=[], consumes=[]
    )
    runtime.store.heartbeat(info)


def reported(runtime: Runtime) -> bool:
    return "data_lost" in [p.kind for p in health().problems]


def set_epoch(runtime: Runtime, age_ms: int, who: str) -> None:
    store = runtime.store
    store.client.set(store.keys.epoch(), f"{int(time.time() * 1000) - age_ms}:{who}")  # type: ignore[attr-defined]


def test_a_settled_epoch_that_changes_is_reported(redis_runtime: Runtime) -> None:
    set_epoch(redis_runtime, EPOCH_SETTLE_MS + 60_000, "old")
    beat(redis_runtime)
    beat(redis_runtime)
    assert not reported(redis_runtime)
    redis_runtime.store.client.delete(redis_runtime.store.keys.epoch())  # type: ignore[attr-defined]
    beat(redis_runtime)  # finds none: a new data set begins
    assert reported(redis_runtime)


def test_a_young_epoch_replaced_is_not_a_loss(redis_runtime: Runtime) -> None:
    """The planned-failover case: the first beats wrote an epoch on the old primary, which lost it;
    the new primary's beat writes another. Nothing else was lost, and nothing is reported."""
    set_epoch(redis_runtime, 2_000, "on-the-old-primary")
    beat(redis_runtime)
    set_epoch(redis_runtime, 1_000, "on-the-new-primary")
    beat(redis_runtime)
    beat(redis_runtime)
    assert not reported(redis_runtime)
