"""Payload models this process's producer validated, handed to the job's handler in memory mode.

The worker validates every payload again, because on Redis a message may have been written by
anyone. In memory mode a message never leaves the process, and the producer has just built the
model: validating the message's copy again was 7% of a no-op job there (32k of 429k instructions,
docs/benchmarks.md). The handler gets the producer's model, frozen, when the message's payload is
still equal to it field for field; otherwise (a message sent straight to the actor, a retry, a run-now
copy, a model with nested models) the payload is validated as before.

Bounded: a job that never reaches its handler (skipped, aborted before it began) leaves its entry
until `MAX_VOUCHED` newer ones push it out, oldest first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from gemsdash.queue.payloads import Payload

#: Models kept at most: a backlog longer than this is validated at the worker, as on Redis. About
#: 0.6 KB each (a model of a few short fields), on top of the ~3 KB a waiting job costs in memory mode.
MAX_VOUCHED = 50_000


class VouchedPayloads:
    def __init__(self, limit: int = MAX_VOUCHED) -> None:
        self.limit = limit
        # OrderedDict: its popitem(last=False), the eviction, is one C call, safe beside a worker
        # thread's `take` without a lock (a dict's oldest key needs an iterator that a concurrent
        # pop invalidates).
        self._models: OrderedDict[str, Payload] = OrderedDict()

    def add(self, job_id: str, model: Payload) -> None:
        models = self._models
        while len(models) >= self.limit:
            try:
                models.popitem(last=False)
            except KeyError:  # emptied meanwhile by the workers' takes
                break
        models[job_id] = model

    def take(self, job_id: str | None, data: Any) -> Payload | None:
        """The model vouched for `job_id` if `data`, the payload its message holds, is what it says."""
        model = self._models.pop(job_id, None) if job_id is not None else None
        if model is not None and model.__dict__ == data:
            return model
        return None

    def discard(self, job_id: str) -> None:
        self._models.pop(job_id, None)

    def __len__(self) -> int:
        return len(self._models)
