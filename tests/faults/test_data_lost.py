"""Redis comes back without its data (restarted without persistence, flushed, or an unsynced replica
promoted): the jobs it held are gone, and nothing in what is left says so; the queues look empty and
healthy. A worker alive across the loss notices (the data set's epoch changed under its heartbeat)
and says it once, CRITICAL, and `health`, the dashboard and the metrics report `data_lost` for a day.
A restart that keeps the data (AOF) says nothing."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from gemsdash.http.metrics import build_registry
from gemsdash.queue import JobState, JobType, Runtime, add_job, get_job, health, queue_stats
from tests.faults.workers import ROOT, WorkerProcess, worker_env
from tests.support import RedisServer, wait_for

pytestmark = pytest.mark.slow


def mail(to: str) -> dict[str, object]:
    return {"to": to, "template": "welcome", "context": {"name": "A"}}


def succeeded(job_id: str) -> bool:
    record = get_job(job_id)
    return record is not None and record.state is JobState.SUCCEEDED


def lost_kinds() -> list[str]:
    return [p.kind for p in health().problems if p.kind == "data_lost"]


@pytest.mark.timeout(120)
def test_a_worker_reports_redis_coming_back_empty_and_not_a_restart_that_kept_the_data(
    own_redis: RedisServer, runtime: Runtime, tmp_path: Path
) -> None:
    # A data set in use for an hour: workers hold Redis to an epoch only once it is settled
    # (EPOCH_SETTLE_MS), since one written just before a failover may be lost with the old primary.
    store = runtime.store
    store.client.set(store.keys.epoch(), f"{int(time.time() * 1000) - 3_600_000}:seed")  # type: ignore[attr-defined]
    env = worker_env(own_redis.url, runtime.settings.namespace, tmp_path)
    worker = WorkerProcess(env, tmp_path, processes=2, threads=2)
    try:
        wait_for(lambda: queue_stats().workers >= 2, timeout=60, interval=0.2, what="both worker processes")
        kept = add_job(JobType.EMAIL_NOTIFICATION, mail("kept@example.com"))
        wait_for(lambda: succeeded(kept), timeout=30, what="the first job")

        # 1. Restarted with its data (AOF, fsync always): nothing to report.
        own_redis.stop(signal.SIGKILL)
        own_redis.start()
        beats = queue_stats().worker_list
        wait_for(
            lambda: all(w.last_heartbeat > b.last_heartbeat for w in queue_stats().worker_list for b in beats),
            timeout=30,
            interval=0.2,
            what="both workers to beat again",
        )
        assert succeeded(kept)
        assert lost_kinds() == []

        # 2. Restarted empty (its AOF gone, as a server without persistence comes back).
        own_redis.stop(signal.SIGKILL)
        shutil.rmtree(own_redis.dir / "appendonlydir")
        own_redis.start()
        wait_for(lambda: lost_kinds(), timeout=30, interval=0.2, what="health to report data_lost")
        assert get_job(kept) is None  # gone indeed
        problem = next(p for p in health().problems if p.kind == "data_lost")
        assert "every job accepted before then is gone" in problem.detail, problem.detail

        # What an operator sees: `gemsdash health` exits 1 naming it; the metric for the alert.
        cli = subprocess.run(
            [sys.executable, "-m", "gemsdash", "health", "--json"], cwd=ROOT, env=env, capture_output=True, timeout=60
        )
        assert cli.returncode == 1, cli.stderr
        assert "data_lost" in [p["kind"] for p in json.loads(cli.stdout)["problems"]]
        assert b"gemsdash_redis_data_lost 1.0" in generate_latest(build_registry())

        # The system keeps working on the new data set.
        after = add_job(JobType.EMAIL_NOTIFICATION, mail("after@example.com"))
        wait_for(lambda: succeeded(after), timeout=30, what="a job after the loss")
    finally:
        worker.stop()
    critical = [line for line in worker.lines() if "CRITICAL" in line and "lost the data" in line]
    print(f"\nCRITICAL lines: {len(critical)}\n" + "\n".join(critical))
    # One per worker process that was alive across it; none for the restart that kept the data.
    assert len(critical) == 2, worker.lines()[-40:]
