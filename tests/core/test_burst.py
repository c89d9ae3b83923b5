"""Counts stay right through a mixed burst of a few thousand jobs."""

from __future__ import annotations

import random

import pytest

from gemsdash.queue import JobState, JobType, Runtime, add_jobs, list_jobs, queue_stats
from gemsdash.queue.producer import JobRequest
from tests.core.workload import email, scripted
from tests.support import wait_for


@pytest.mark.slow
def test_counts_after_a_mixed_burst(redis_runtime: Runtime) -> None:
    rng = random.Random(7)
    kinds = rng.choices(["ok", "fatal"], weights=[8, 2], k=3000)
    requests = [
        JobRequest(
            JobType.EMAIL_NOTIFICATION if i % 2 else JobType.EMOTION_ANALYSIS,
            email(f"{kind}-{i}") if i % 2 else {"analysis_type": "text", "text": f"{kind}-{i}", "user_id": "u"},
            attempts=1,
            priority=rng.choice(["low", "normal", "high", "critical"]),
        )
        for i, kind in enumerate(kinds)
    ]
    expected = {JobState.SUCCEEDED: kinds.count("ok"), JobState.DEAD: kinds.count("fatal")}
    with scripted(JobType.EMAIL_NOTIFICATION, JobType.EMOTION_ANALYSIS):
        for start in range(0, len(requests), 500):
            add_jobs(requests[start : start + 500])
        redis_runtime.start_worker(threads=8)

        def finished() -> int:
            queues = queue_stats().queues.values()
            return sum(q.counts[JobState.SUCCEEDED] + q.counts[JobState.DEAD] for q in queues)

        wait_for(lambda: finished() == 3000, timeout=90, interval=0.25, what="3000 jobs to finish")
    snapshot = queue_stats()
    total = {state: sum(q.counts[state] for q in snapshot.queues.values()) for state in JobState}
    assert total[JobState.SUCCEEDED] == expected[JobState.SUCCEEDED]
    assert total[JobState.DEAD] == expected[JobState.DEAD]
    assert sum(total.values()) == 3000
    for queue in ("email-notification", "emotion-analysis"):
        for state in (JobState.SUCCEEDED, JobState.DEAD):
            assert list_jobs(queue, state, limit=1).total == snapshot.queues[queue].counts[state]
        assert snapshot.queues[queue].finished_total == {
            "succeeded": snapshot.queues[queue].counts[JobState.SUCCEEDED],
            "dead": snapshot.queues[queue].counts[JobState.DEAD],
        }
