"""Redis lost between two chunks of a large `add_jobs`: the caller is told which jobs may exist,
and exactly the chunks written before the loss are there (and whole) once Redis is back."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from gemsdash.queue import JobRequest, JobState, JobType, Runtime, add_jobs, queue_stats
from gemsdash.queue.errors import PartlySubmitted
from gemsdash.queue.redis_store.store import SUBMIT_CHUNK, RedisJobStore
from tests.core.workload import email
from tests.support import RedisServer


@pytest.mark.slow
def test_redis_lost_between_chunks(runtime: Runtime, own_redis: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    store = runtime.store
    assert isinstance(store, RedisJobStore)
    real = store._submit_chunk
    calls: list[int] = []

    def submit_chunk(flat: list[Any]) -> None:
        calls.append(1)
        if len(calls) == 3:
            own_redis.stop(signal.SIGKILL)
        real(flat)

    monkeypatch.setattr(store, "_submit_chunk", submit_chunk)
    requests = [JobRequest(JobType.EMAIL_NOTIFICATION, email(f"lost{i}")) for i in range(SUBMIT_CHUNK * 4)]
    with pytest.raises(PartlySubmitted) as caught:
        add_jobs(requests)
    assert "may have been enqueued" in str(caught.value)
    written = caught.value.written
    assert len(written) == SUBMIT_CHUNK * 3  # the chunks sent, the one in flight included
    own_redis.start()
    existing = [i for i in written if store.get(i) is not None]
    assert existing == written[: SUBMIT_CHUNK * 2]
    assert queue_stats().queues["email-notification"].counts[JobState.QUEUED] == SUBMIT_CHUNK * 2
