"""Two operators at once, and clear while the system is busy."""

from __future__ import annotations

import random
import threading
import time

from gemsdash.queue import JobState, JobType, Runtime, add_job, add_jobs, get_job, list_jobs, queue_stats
from gemsdash.queue.producer import JobRequest
from gemsdash.queue.redis_store import RedisJobStore
from tests.core.workload import email, scripted
from tests.support import another_store, wait_for


def test_two_processes_clearing_one_queue_remove_each_job_once(redis_runtime: Runtime, redis_url: str) -> None:
    add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"j{i}")) for i in range(2000)])
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)
    stores = [another_store(store, redis_url) for _ in range(2)]
    barrier = threading.Barrier(2)
    removed: list[int] = []

    def clear(s: RedisJobStore) -> None:
        barrier.wait()
        removed.append(s.clear("email-notification", False, "racer").total)

    threads = [threading.Thread(target=clear, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(removed) == 2000
    counts = queue_stats().queues["email-notification"].counts
    assert counts[JobState.CANCELLED] == 2000 and counts[JobState.QUEUED] == 0
    assert redis_runtime.client is not None and redis_runtime.client.llen(f"{store.namespace}:email-notification") == 0


def test_clear_under_load_touches_only_the_target_queues_waiting_jobs(redis_runtime: Runtime) -> None:
    stop = threading.Event()
    produced: dict[str, list[str]] = {"email-notification": [], "emotion-analysis": []}

    def produce() -> None:
        rng = random.Random(1)
        while not stop.is_set():
            if rng.random() < 0.5:
                produced["email-notification"].append(add_job(JobType.EMAIL_NOTIFICATION, email("ok")))
            else:
                produced["emotion-analysis"].append(
                    add_job(JobType.EMOTION_ANALYSIS, {"analysis_type": "text", "text": "ok", "user_id": "u"})
                )

    with scripted(JobType.EMAIL_NOTIFICATION, JobType.EMOTION_ANALYSIS):
        redis_runtime.start_worker(threads=2)
        producer = threading.Thread(target=produce)
        producer.start()
        time.sleep(1.0)
        result = None
        try:
            result = redis_runtime.store.clear("email-notification", False, "test")
        finally:
            time.sleep(0.5)
            stop.set()
            producer.join()
        assert result is not None

        def settled() -> bool:
            c = queue_stats().queues
            return all(c[q].counts[s] == 0 for q in produced for s in (JobState.QUEUED, JobState.RUNNING))

        wait_for(settled, timeout=60, interval=0.2, what="everything to finish")
    states = {q: [get_job(j).state for j in ids] for q, ids in produced.items()}  # type: ignore[union-attr]
    assert set(states["emotion-analysis"]) == {JobState.SUCCEEDED}
    assert set(states["email-notification"]) <= {JobState.SUCCEEDED, JobState.CANCELLED}
    cancelled = [j for j in produced["email-notification"] if get_job(j).state is JobState.CANCELLED]  # type: ignore[union-attr]
    assert len(cancelled) == result.total
    for job_id in cancelled:  # none ran: cleared while waiting
        record = get_job(job_id)
        assert record is not None and JobState.RUNNING not in [e.state for e in record.timeline]
    assert list_jobs("email-notification", "cancelled").total == result.total
