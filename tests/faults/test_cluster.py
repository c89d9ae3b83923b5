"""Redis Cluster: three primaries and three replicas on loopback. One namespace lives in one hash
slot (`{namespace}`), so every script's keys, Dramatiq's included, sit on one primary: enqueue, run,
stats, retry and clear work there; then the primary that owns the slot is SIGKILLed mid-run, its
replica takes over, work resumes, and nothing acknowledged (GEMSDASH_MIN_REPLICAS=1) is lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from gemsdash.queue import (
    BackendUnavailable,
    JobRequest,
    JobState,
    JobType,
    add_job,
    add_jobs,
    clear,
    configure,
    get_job,
    queue_stats,
    retry,
)
from gemsdash.queue.runtime import reset
from tests.conftest import test_settings
from tests.support import ClusterGroup, wait_for

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
FINAL = (JobState.SUCCEEDED, JobState.DEAD)
#: A replica is elected within a few node timeouts (1 s here); then Dramatiq's 3 s consumer restart.
RESUME_BOUND_S = 20.0


def email(name: str) -> dict[str, object]:
    return {"to": f"{name}@example.com", "template": "welcome", "context": {"name": name}}


def emotion(n: int) -> dict[str, object]:
    """Job code that does not call Redis itself: a failed job's re-enqueue is Dramatiq's own write,
    outside what GEMSDASH_MIN_REPLICAS covers (see docs/high-availability.md)."""
    return {"analysis_type": "text", "text": f"a calm and wonderful day {n}", "user_id": f"u{n}"}


def declined(n: int) -> dict[str, object]:
    return {
        "payment_id": f"declined_{n}",
        "operation": "capture",
        "amount": 500,
        "currency": "USD",
        "payment_method": "pm_card_declined",
        "idempotency_key": f"declined-{n}-{uuid.uuid4().hex[:6]}",
    }


def start_worker(env: dict[str, str], log_dir: Path) -> subprocess.Popen[bytes]:
    with (log_dir / f"worker-{time.monotonic_ns()}.log").open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gemsdash", "worker", "--processes", "1", "--threads", "4"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def final(job_id: str) -> bool:
    record = get_job(job_id)
    return record is not None and record.state in FINAL


@pytest.mark.timeout(300)
def test_cluster_runs_jobs_and_survives_the_loss_of_the_namespace_primary(tmp_path: Path) -> None:
    namespace = f"hc-{uuid.uuid4().hex[:8]}"
    with ClusterGroup() as cluster:
        rt = configure(
            test_settings(
                redis_enabled=True, redis_cluster_nodes=cluster.addresses, namespace=namespace, min_replicas=1
            ),
            role="worker",
        )
        assert rt.settings.namespace == "{" + namespace + "}"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "REDIS_ENABLED": "true",
            "REDIS_CLUSTER_NODES": cluster.addresses,
            "GEMSDASH_NAMESPACE": namespace,
            "GEMSDASH_MIN_REPLICAS": "1",
            "GEMSDASH_WORKER_TIMEOUT": "2",
            "GEMSDASH_DATA_DIR": str(tmp_path),
        }
        # Enqueue, clear: waiting jobs are cleared before any worker runs.
        delayed = [add_job(JobType.EMAIL_NOTIFICATION, email(f"later{i}"), delay=600_000) for i in range(5)]
        assert clear(JobType.EMAIL_NOTIFICATION.value).total == 5
        assert all(get_job(j).state is JobState.CANCELLED for j in delayed)  # type: ignore[union-attr]
        # Run, stats, retry.
        ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"u{i}")) for i in range(40)])
        dead = add_job(JobType.PAYMENT_PROCESSING, declined(0))
        workers = [start_worker(env, tmp_path)]
        try:
            wait_for(lambda: all(final(j) for j in [*ids, dead]), timeout=60, interval=0.3, what="the first jobs")
            assert get_job(dead).state is JobState.DEAD  # type: ignore[union-attr]
            counts = queue_stats().queues[JobType.EMAIL_NOTIFICATION.value].counts
            assert counts[JobState.SUCCEEDED] == 40 and counts[JobState.CANCELLED] == 5
            before = get_job(dead).finished_at  # type: ignore[union-attr]
            retry(dead)

            def rerun() -> bool:
                record = get_job(dead)
                return record is not None and record.state is JobState.DEAD and record.finished_at != before

            wait_for(rerun, timeout=60, interval=0.2, what="the retried job to run again")

            # A steady producer; the primary owning the namespace's slot dies mid-run.
            acked: list[tuple[float, str]] = []
            refused = [0]
            stopping = threading.Event()

            def produce() -> None:
                n = 0
                while not stopping.is_set():
                    n += 1
                    try:
                        acked.append((time.monotonic(), add_job(JobType.EMOTION_ANALYSIS, emotion(n))))
                    except BackendUnavailable:
                        refused[0] += 1
                    time.sleep(0.025)

            producer = threading.Thread(target=produce, daemon=True)
            producer.start()
            time.sleep(3)
            victim = cluster.owner(rt.settings.namespace)
            killed_at = time.monotonic()
            victim.stop(signal.SIGKILL)
            wait_for(
                lambda: cluster.owner(rt.settings.namespace) is not victim, timeout=60, what="a replica to take over"
            )
            promoted_s = time.monotonic() - killed_at
            # It comes back (its cluster config kept) as the new primary's replica: with
            # GEMSDASH_MIN_REPLICAS=1 the slot accepts jobs again once a replica holds them.
            victim.start()

            def resumed() -> float | None:
                after = [j for at, j in acked if at > killed_at][:20]
                return time.monotonic() - killed_at if any(final(j) for j in after) else None

            resume_s = wait_for(resumed, timeout=90, interval=0.2, what="work to resume after the primary died")
            time.sleep(3)
            stopping.set()
            producer.join(30)
            sent = [j for _, j in acked]
            try:
                wait_for(lambda: all(final(j) for j in sent), timeout=120, interval=1, what="every acknowledged job")
            except AssertionError as exc:
                stuck = [(j[:8], r.state.value if (r := get_job(j)) else None) for j in sent if not final(j)]
                raise AssertionError(f"{exc}: {len(stuck)} unfinished, e.g. {stuck[:8]}; logs in {tmp_path}") from None
        finally:
            for proc in workers:
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGTERM)
            for proc in workers:
                proc.wait(timeout=60)
        records = [get_job(j) for j in sent]
        lost = sum(1 for r in records if r is None)
        succeeded = sum(1 for r in records if r is not None and r.state is JobState.SUCCEEDED)
        print(
            f"\ncluster: acknowledged {len(sent)}, refused {refused[0]}, lost {lost}, succeeded {succeeded}; "
            f"replica promoted after {promoted_s:.1f} s, work resumed after {resume_s:.1f} s"
        )
        reset()
        assert lost == 0
        assert succeeded == len(sent)
        assert resume_s < RESUME_BOUND_S
