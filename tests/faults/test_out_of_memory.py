"""Redis full with `noeviction`: enqueue is refused cleanly, every read keeps working, health says
`out_of_memory`, and a worker waits with one log line and resumes by itself once memory is freed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from gemsdash.queue import (
    BackendUnavailable,
    JobRequest,
    JobState,
    JobType,
    Runtime,
    add_jobs,
    clear,
    configure,
    dashboard_view,
    get_job,
    health,
    queue_stats,
    workers,
)
from gemsdash.queue import runtime as runtime_module
from tests.conftest import test_settings
from tests.http.conftest import http_settings, live_server
from tests.support import RedisServer, wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def small_redis() -> Iterator[RedisServer]:
    with RedisServer("--maxmemory", "4mb", "--maxmemory-policy", "noeviction") as server:
        yield server


@pytest.fixture
def runtime(small_redis: RedisServer) -> Iterator[Runtime]:
    rt = configure(
        test_settings(redis_enabled=True, redis_url=small_redis.url, namespace="oom", worker_timeout_seconds=2),
        role="worker",
    )
    yield rt
    runtime_module.reset()


def big_email(i: int) -> JobRequest:
    return JobRequest(
        JobType.EMAIL_NOTIFICATION,
        {"to": "someone@example.com", "template": "welcome", "context": {"name": f"n{i}", "pad": "x" * 9000}},
    )


def fill(server: RedisServer, limit: int = 2000, margin: int = 256 * 1024) -> int:
    """Enqueue big emails until Redis refuses for lack of memory; returns how many were accepted.

    Then lowers `maxmemory` `margin` below what is used: without that, memory hovers at the limit
    (keys expiring, client buffers freed) and some writes pass; the test wants Redis full until it frees
    memory the way an operator would, by raising the limit."""
    accepted = 0
    for i in range(limit):
        try:
            add_jobs([big_email(i * 10 + k) for k in range(10)])
        except BackendUnavailable as exc:
            assert "maxmemory" in str(exc), exc
            admin = redis.Redis.from_url(server.url)
            used = int(admin.info("memory")["used_memory"])
            admin.config_set("maxmemory", used - margin)
            admin.close()
            return accepted
        accepted += 10
    raise AssertionError(f"Redis never ran out of memory after {accepted} jobs")


def test_reads_work_and_a_worker_waits_quietly_then_resumes(
    runtime: Runtime, small_redis: RedisServer, tmp_path: Path
) -> None:
    small = add_jobs(
        [
            JobRequest(JobType.EMOTION_ANALYSIS, {"analysis_type": "text", "text": f"Lovely day {i}", "user_id": "u"})
            for i in range(3)
        ]
    )
    accepted = fill(small_redis)
    assert accepted > 0

    # Every read still answers, in one piece.
    counts = queue_stats().queues
    assert counts["email-notification"].counts[JobState.QUEUED] == accepted
    assert counts["emotion-analysis"].counts[JobState.QUEUED] == 3
    _, page = dashboard_view("email-notification", "queued", limit=5)
    assert page.total == accepted and len(page.jobs) == 5
    report = health()
    assert not report.healthy
    assert "out_of_memory" in [p.kind for p in report.problems]
    with live_server(http_settings()) as api:
        stats = api.get("/queue/stats")
        assert stats.status_code == 200, stats.text
        assert stats.json()["queues"]["email-notification"]["queued"] == accepted
        body = api.get("/queue/health").json()
        assert "out_of_memory" in [p["kind"] for p in body["problems"]]

    log = tmp_path / "worker.log"
    worker = start_worker(small_redis, tmp_path, log)
    try:
        wait_for(lambda: "out of memory" in log.read_text(), timeout=60, interval=0.2, what="the worker to see OOM")
        # Long enough for consumers, heartbeats and recovery passes to have retried many times.
        time.sleep(8)
        assert all(get_job(j).state is JobState.QUEUED for j in small)  # type: ignore[union-attr]

        # The operator raises the limit (`clear` would cancel the waiting jobs but keep their
        # records, with their payloads, for an undo: it frees little; docs/operations.md).
        admin = redis.Redis.from_url(small_redis.url)
        admin.config_set("maxmemory", 0)
        admin.close()
        clear("email-notification", include_dead=False)  # the backlog nobody will run
        wait_for(
            lambda: all(get_job(j).state is JobState.SUCCEEDED for j in small),  # type: ignore[union-attr]
            timeout=60,
            interval=0.2,
            what="the worker to resume by itself",
        )
        wait_for(lambda: "resumed" in log.read_text(), timeout=10, what="the resumed line")
    finally:
        os.kill(worker.pid, signal.SIGTERM)  # the main process, which stops its child
        worker.wait(timeout=60)
    assert_one_line_each_way(log)
    assert health().healthy


def test_a_delayed_job_due_while_redis_is_full_runs_once_memory_is_freed(
    runtime: Runtime, small_redis: RedisServer, tmp_path: Path
) -> None:
    """The worker holds the delayed message in memory; when it is due, moving it to its queue is a
    write Redis refuses. It must wait for memory, not drop the message (stranded in the worker's
    ack set until a restart) with a traceback."""
    log = tmp_path / "worker.log"
    worker = start_worker(small_redis, tmp_path, log, "--queues", "emotion-analysis")
    try:
        wait_for(workers, timeout=60, interval=0.2, what="the worker's first heartbeat")
        (delayed,) = add_jobs(
            [
                JobRequest(
                    JobType.EMOTION_ANALYSIS, {"analysis_type": "text", "text": "Later", "user_id": "u"}, delay=20_000
                )
            ]
        )
        due = time.monotonic() + 20
        assert runtime.client is not None
        wait_for(lambda: runtime.client.llen("oom:emotion-analysis.DQ") == 0, what="the worker to hold it")  # type: ignore[union-attr]
        fill(small_redis, margin=1024 * 1024)  # 256 KiB was seen freed by client buffers alone
        # A generous delay: on a loaded machine filling Redis can take seconds, and the job must
        # come due only once Redis is full.
        assert time.monotonic() < due, "Redis took too long to fill: the job was due before it was full"
        time.sleep(due - time.monotonic() + 3)  # past its due time, with Redis full
        assert get_job(delayed).state is JobState.DELAYED  # type: ignore[union-attr]
        admin = redis.Redis.from_url(small_redis.url)
        # The operator gives Redis room: back to 4 MB alone would leave it at its limit again (it
        # filled up to there), and the job's own writes could meet OOM a second time, rightly.
        admin.config_set("maxmemory", "8mb")
        admin.close()
        wait_for(
            lambda: get_job(delayed).state is JobState.SUCCEEDED,  # type: ignore[union-attr]
            timeout=60,
            interval=0.2,
            what="the delayed job to run once memory is freed",
        )
    finally:
        os.kill(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)
    assert get_job(delayed).attempts == 1  # type: ignore[union-attr]
    assert_one_line_each_way(log)


def start_worker(server: RedisServer, data_dir: Path, log: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "REDIS_ENABLED": "true",
        "REDIS_URL": server.url,
        "GEMSDASH_NAMESPACE": "oom",
        "GEMSDASH_WORKER_TIMEOUT": "2",
        "GEMSDASH_DATA_DIR": str(data_dir),
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gemsdash", "worker", "--processes", "1", "--threads", "2", *args],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def assert_one_line_each_way(log: Path) -> None:
    text = log.read_text()
    lines = [line for line in text.splitlines() if "memory" in line.lower()]
    print(f"\nworker log: {len(text.splitlines())} lines; about memory: {lines}")
    assert len([line for line in lines if "Redis is out of memory" in line]) == 1, text
    assert len([line for line in lines if "accepts writes again" in line]) == 1, text
    assert len(lines) == 2, text
    assert "Traceback" not in text, text
