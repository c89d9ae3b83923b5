"""A worker killed with SIGKILL mid-job: its jobs run again elsewhere within the documented bound
(worker timeout + recovery interval), and nothing is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from gemsdash.queue import JobState, JobType, Runtime, add_job, get_job, queue_stats
from tests.support import state_of, text, wait_for

ROOT = Path(__file__).resolve().parents[2]


def worker_env(runtime: Runtime, redis_url: str) -> dict[str, str]:
    """The environment of a worker process on the test's Redis namespace, with a 2 s worker timeout."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "REDIS_ENABLED": "true",
        "REDIS_URL": redis_url,
        "GEMSDASH_NAMESPACE": runtime.settings.namespace,
        "GEMSDASH_WORKER_TIMEOUT": "2",
        "PYTHONPATH": str(ROOT),
    }


def start_worker(env: dict[str, str], threads: int = 2) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "dramatiq", "tests.core.slow_worker", "-p", "1", "-t", str(threads)],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def kill(proc: subprocess.Popen[bytes], sig: int) -> None:
    os.killpg(proc.pid, sig)
    proc.wait(timeout=30)


@pytest.mark.slow
def test_sigkilled_worker_jobs_run_again_within_the_bound(redis_runtime: Runtime, redis_url: str) -> None:
    ns = redis_runtime.settings.namespace
    env = worker_env(redis_runtime, redis_url)
    client = redis.Redis.from_url(redis_url)
    ids = [
        add_job(JobType.EMOTION_ANALYSIS, {"analysis_type": "text", "text": "sleep:1.5", "user_id": "u"})
        for _ in range(6)
    ]
    first = start_worker(env)
    second = None
    try:
        wait_for(
            lambda: queue_stats().queues["emotion-analysis"].counts[JobState.RUNNING] == 2,
            timeout=20,
            what="two jobs running on the first worker",
        )
        victims = [j for j in ids if state_of(j) is JobState.RUNNING]
        # A record says `running` a moment before the job's own code records its run: killed in
        # between, a victim would run once, not twice.
        wait_for(
            lambda: set(victims) <= {text(r) for r in client.lrange(f"{ns}:test:runs", 0, -1)},
            timeout=10,
            what="the running jobs' work to begin",
        )
        kill(first, signal.SIGKILL)
        killed_at = time.monotonic()
        second = start_worker(env)
        wait_for(
            lambda: all((r := get_job(j)) is not None and r.attempts == 2 for j in victims),
            timeout=20,
            what="killed jobs to start again",
        )
        recovered_after = time.monotonic() - killed_at
        print(f"\nkilled jobs running again {recovered_after:.2f} s after SIGKILL (worker timeout 2 s)")
        wait_for(
            lambda: all(state_of(j) is JobState.SUCCEEDED for j in ids),
            timeout=30,
            what="every job to succeed",
        )
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                kill(proc, signal.SIGTERM)
    # Bound: worker timeout (2 s) + recovery interval (0.67 s), plus a worker's boot time.
    assert recovered_after < 2 + 0.67 + 5, recovered_after
    runs = [text(r) for r in client.lrange(f"{ns}:test:runs", 0, -1)]
    assert sorted(set(runs)) == sorted(ids)
    assert all(runs.count(v) == 2 for v in victims)
    for victim in victims:
        notes = [e.note or "" for e in get_job(victim).timeline]  # type: ignore[union-attr]
        assert any("lost; requeued" in n for n in notes)
    counts = queue_stats().queues["emotion-analysis"].counts
    assert counts[JobState.SUCCEEDED] == 6 and counts[JobState.RUNNING] == counts[JobState.QUEUED] == 0
    # Metrics: the killed attempts count as aborted, each job's run as one success.
    stats = queue_stats().queues["emotion-analysis"]
    assert stats.attempts_total == {"succeeded": 6, "retried": 0, "failed": 0, "dead": 0, "aborted": len(victims)}
    assert stats.duration_count == 6
