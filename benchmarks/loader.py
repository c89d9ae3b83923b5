"""Writes many finished job records fast, through the store's own code.

Each job goes through the same three store calls a worker makes it go through: `submit` (the
producer's MULTI, exactly what `add_jobs` sends), `start` and `finish` (the Lua commands the
tracking middleware calls), so every record is a real one in its final form. Only the transport
differs: `start` and `finish` of a whole chunk are queued on one pipeline, and the Dramatiq
messages are then dropped as the workers' acknowledgements would have dropped them.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import uuid
from typing import Any

import redis

from benchmarks.harness import gemsdash_runtime_settings
from benchmarks.work import PAYLOAD
from gemsdash.queue import JOB_SPECS, JobState, JobType
from gemsdash.queue.messages import fallback_record, submission
from gemsdash.queue.redis_store import RedisJobStore
from gemsdash.queue.store import worker_label

JOB_TYPE = JobType.EMOTION_ANALYSIS
_CHUNK = 1000


def load(url: str, namespace: str, count: int) -> None:
    """`count` succeeded emotion-analysis records with the benchmark's small payload."""
    settings = gemsdash_runtime_settings(url, namespace)
    client = redis.Redis.from_url(url)

    def store_on(target: Any) -> RedisJobStore:
        return RedisJobStore(
            target,
            namespace=namespace,
            finished_ttl=settings.redis_ttl,
            dead_ttl=settings.redis_ttl,
            worker_timeout_ms=settings.worker_timeout_ms,
            display_url=url,
        )

    store = store_on(client)
    pipe = client.pipeline(transaction=False)
    # The same store on a pipeline (a client whose calls are queued): its commands, batched.
    on_pipe = store_on(pipe)
    spec = JOB_SPECS[JOB_TYPE]
    options = spec.options()
    data = spec.validate_payload(PAYLOAD).model_dump(mode="json")
    encoded = json.dumps(data, separators=(",", ":"))
    worker = worker_label()
    queue_keys = [f"{namespace}:{JOB_TYPE.queue}", f"{namespace}:{JOB_TYPE.queue}.msgs"]
    left = count
    while left:
        subs = [submission(spec, data, encoded, options) for _ in range(min(left, _CHUNK))]
        store.submit(subs)
        for sub in subs:
            message = sub.message.copy(options={"redis_message_id": str(uuid.uuid4())})
            # On a pipeline the call is queued and its "reply" is the pipeline itself, which the
            # store's typed result (Transition, Verdict) refuses to parse: expected, and harmless.
            with contextlib.suppress(ValueError):
                on_pipe.start(message, worker, fallback_record(message))
            with contextlib.suppress(ValueError):
                on_pipe.finish(sub.record["id"], JobState.SUCCEEDED, "null", duration_ms=0)
        pipe.delete(*queue_keys)
        pipe.execute()
        left -= len(subs)
    client.close()


def load_parallel(url: str, namespace: str, count: int, processes: int) -> None:
    """Python is the bottleneck of one loader; a few share the work (Redis is single-threaded)."""
    if processes <= 1:
        load(url, namespace, count)
        return
    shares = [count // processes + (1 if i < count % processes else 0) for i in range(processes)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(processes) as pool:
        pool.starmap(load, [(url, namespace, n) for n in shares if n])
