"""Plain `dramatiq gemsdash.actors` serves what `gemsdash worker` serves, or refuses to start; a
queue (or priority level) that no live worker consumes is reported by health."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from gemsdash.queue import JobState, JobType, Priority, Runtime, add_job, get_job, health, workers
from tests.core.workload import email
from tests.support import wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def dramatiq_env(runtime: Runtime | None, redis_url: str, data_dir: Path) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GEMSDASH_DATA_DIR": str(data_dir)}
    if runtime is not None:
        env |= {
            "REDIS_ENABLED": "true",
            "REDIS_URL": redis_url,
            "GEMSDASH_NAMESPACE": runtime.settings.namespace,
            "GEMSDASH_WORKER_TIMEOUT": "2",
        }
    return env


@contextmanager
def plain_dramatiq(env: dict[str, str], *queues: str) -> Iterator[subprocess.Popen[bytes]]:
    argv = [sys.executable, "-m", "dramatiq", "gemsdash.actors", "--processes", "1", "--threads", "2"]
    if queues:
        argv += ["--queues", *queues]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=60)


def test_a_job_type_named_in_queues_is_served_at_every_priority(
    redis_runtime: Runtime, redis_url: str, tmp_path: Path
) -> None:
    ids = {p: add_job(JobType.EMAIL_NOTIFICATION, email(f"p-{p.value}"), priority=p) for p in Priority}
    with plain_dramatiq(dramatiq_env(redis_runtime, redis_url, tmp_path), "email-notification"):
        wait_for(
            lambda: all(get_job(j).state is JobState.SUCCEEDED for j in ids.values()),  # type: ignore[union-attr]
            timeout=90,
            interval=0.2,
            what=f"every priority's email to be sent: {[(p.value, get_job(j).state.value) for p, j in ids.items()]}",  # type: ignore[union-attr]
        )
        (live,) = workers()
        assert sorted(live.consumes) == sorted(p.queue_for("email-notification") for p in Priority)
    assert health().healthy


def test_a_dramatiq_worker_in_memory_mode_refuses_to_start(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "dramatiq", "gemsdash.actors", "--processes", "1", "--threads", "1"],
        cwd=tmp_path,
        env=dramatiq_env(None, "", tmp_path),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert run.returncode == 2, run.stderr
    ours = [line for line in run.stderr.splitlines() if line.startswith("gemsdash: ")]
    assert len(ours) == 1 and "needs Redis" in ours[0] and "REDIS_ENABLED=true" in ours[0], run.stderr


def test_an_unknown_queue_name_is_refused(redis_runtime: Runtime, redis_url: str, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "dramatiq", "gemsdash.actors", "-p", "1", "-t", "1", "--queues", "emails"],
        cwd=ROOT,
        env=dramatiq_env(redis_runtime, redis_url, tmp_path),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert run.returncode == 2, run.stderr
    assert "gemsdash: unknown queue(s) emails" in run.stderr


def test_a_priority_level_nobody_consumes_is_an_unserved_queue(
    redis_runtime: Runtime, redis_url: str, tmp_path: Path
) -> None:
    """A worker started for the critical level only (deliberately): low emails are reported."""
    low = add_job(JobType.EMAIL_NOTIFICATION, email("low"), priority=Priority.LOW)
    with plain_dramatiq(dramatiq_env(redis_runtime, redis_url, tmp_path), "email-notification.critical"):
        wait_for(lambda: workers(), timeout=60, interval=0.2, what="the worker's first heartbeat")
        report = health()
        unserved = [p for p in report.problems if p.kind == "unserved_queue"]
        assert [p.queue for p in unserved] == ["email-notification"], report.problems
        assert "1 job waiting in email-notification at priority low" in unserved[0].detail
        assert "consume only critical" in unserved[0].detail
        assert "no_workers" not in [p.kind for p in report.problems]
        assert get_job(low).state is JobState.QUEUED  # type: ignore[union-attr]
