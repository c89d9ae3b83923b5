"""Stopping workers: SIGTERM lets running jobs finish and returns prefetched ones; memory mode
says what it loses."""

from __future__ import annotations

import logging
import os
import signal

import pytest
import redis

from gemsdash.queue import JobState, JobType, Runtime, add_job, get_job, queue_stats
from tests.core.test_recovery import kill, start_worker, worker_env
from tests.core.workload import email, scripted
from tests.support import state_of, text, wait_for


@pytest.mark.slow
def test_sigterm_finishes_running_jobs_and_requeues_prefetched_ones(redis_runtime: Runtime, redis_url: str) -> None:
    ns = redis_runtime.settings.namespace
    env = worker_env(redis_runtime, redis_url)
    ids = [
        add_job(JobType.EMOTION_ANALYSIS, {"analysis_type": "text", "text": "sleep:1.5", "user_id": "u"})
        for _ in range(6)
    ]
    first = start_worker(env, threads=2)
    second = None
    client = redis.Redis.from_url(redis_url)
    try:
        wait_for(
            lambda: queue_stats().queues["emotion-analysis"].counts[JobState.RUNNING] == 2,
            timeout=20,
            what="two running",
        )
        # 2 threads prefetch 4: two more wait in the worker's memory, two in Redis.
        wait_for(lambda: client.llen(f"{ns}:emotion-analysis") == 2, what="prefetch")
        running = [j for j in ids if get_job(j).state is JobState.RUNNING]  # type: ignore[union-attr]
        # To the main process only, as an operator would: it forwards one SIGTERM to each worker
        # process (Dramatiq treats a second SIGTERM as "kill now").
        os.kill(first.pid, signal.SIGTERM)
        first.wait(timeout=30)
        assert {get_job(j).state for j in running} == {JobState.SUCCEEDED}  # type: ignore[union-attr]
        assert client.llen(f"{ns}:emotion-analysis") == 4  # the prefetched two are back
        assert queue_stats().queues["emotion-analysis"].counts[JobState.QUEUED] == 4
        second = start_worker(env, threads=2)
        wait_for(
            lambda: all(state_of(j) is JobState.SUCCEEDED for j in ids),
            timeout=30,
            what="all done",
        )
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                kill(proc, signal.SIGTERM)
    runs = [text(r) for r in client.lrange(f"{ns}:test:runs", 0, -1)]
    assert sorted(runs) == sorted(ids)  # each ran exactly once
    assert all(get_job(j).attempts == 1 for j in ids)  # type: ignore[union-attr]


def test_memory_mode_stop_warns_about_jobs_it_loses(memory_runtime: Runtime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="gemsdash")
    with scripted() as work:
        add_job(JobType.EMAIL_NOTIFICATION, email("block"))
        assert work.blocking.wait(10)
        for i in range(3):
            add_job(JobType.EMAIL_NOTIFICATION, email(f"later-{i}"), delay=60_000)
        work.release.set()
        lost = memory_runtime.stop_worker()
    assert lost == 3
    assert memory_runtime.worker is None
    assert "3 job(s) were still waiting in memory mode and are lost" in caplog.text
