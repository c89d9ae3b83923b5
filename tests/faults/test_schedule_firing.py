"""Schedules fired by real worker processes: one job per tick with two worker groups racing, and a
schedule that outlives a Redis restart and a worker restart."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gemsdash.queue import JobRecord, Runtime, add_schedule, configure, get_schedule, list_jobs, workers
from gemsdash.queue import runtime as runtime_module
from tests.conftest import test_settings
from tests.core.workload import email
from tests.support import RedisServer, wait_for

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
QUEUE = "email-notification"


def worker_env(redis_url: str, namespace: str, data_dir: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "REDIS_ENABLED": "true",
        "REDIS_URL": redis_url,
        "GEMSDASH_NAMESPACE": namespace,
        "GEMSDASH_WORKER_TIMEOUT": "2",
        "GEMSDASH_DATA_DIR": str(data_dir),
    }


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    """A worker group (its own process group) that consumes only sketches: the scheduled email jobs
    stay queued, so the test counts what was enqueued, not what ran."""
    log = Path(env["GEMSDASH_DATA_DIR"]) / f"worker-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gemsdash",
                "worker",
                "--processes",
                "1",
                "--threads",
                "1",
                "--queues",
                "sketch-generation",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        stop(proc, signal.SIGKILL)


def fired(name: str) -> list[JobRecord]:
    return [j for j in list_jobs(QUEUE, limit=500).jobs if j.schedule == name]


def tick_ms(job: JobRecord) -> int:
    assert job.schedule_tick is not None
    return int(job.schedule_tick.timestamp() * 1000)


def assert_one_job_per_tick(jobs: list[JobRecord], every_ms: int = 1000) -> list[int]:
    ticks = sorted(tick_ms(j) for j in jobs)
    assert len(ticks) == len(set(ticks)), f"duplicate ticks: {ticks}"
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert gaps == [every_ms] * len(gaps), f"a tick missed or doubled between the first and the last: {gaps}"
    return ticks


@pytest.mark.timeout(120)
def test_two_worker_groups_enqueue_one_job_per_tick(
    redis_runtime: Runtime, redis_url: str, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    env = worker_env(redis_url, redis_runtime.settings.namespace, tmp_path)
    add_schedule("every-second", QUEUE, email("tick"), every="1s")
    procs += [start_worker(env), start_worker(env)]
    wait_for(lambda: len(workers()) == 2, timeout=60, what="both worker groups up")
    wait_for(lambda: fired("every-second"), timeout=30, what="the first tick")
    time.sleep(6)
    assert len(workers()) == 2, "a worker group died while firing"
    for proc in procs:
        stop(proc)
    jobs = fired("every-second")
    ticks = assert_one_job_per_tick(jobs)
    assert len(ticks) >= 6
    schedule = get_schedule("every-second")
    assert schedule.fired == len(jobs)
    assert schedule.last_tick_at is not None
    assert int(schedule.last_tick_at.timestamp() * 1000) == ticks[-1]


@pytest.fixture
def runtime_on_own_redis(own_redis: RedisServer) -> Iterator[Runtime]:
    rt = configure(
        test_settings(redis_enabled=True, redis_url=own_redis.url, namespace="sched", worker_timeout_seconds=2),
        role="worker",
    )
    yield rt
    runtime_module.reset()


@pytest.mark.timeout(180)
def test_a_schedule_survives_a_redis_restart_and_a_worker_restart(
    own_redis: RedisServer, runtime_on_own_redis: Runtime, tmp_path: Path, procs: list[subprocess.Popen[bytes]]
) -> None:
    env = worker_env(own_redis.url, "sched", tmp_path)
    add_schedule("survivor", QUEUE, email("tick"), every="1s")
    procs.append(start_worker(env))
    wait_for(lambda: len(fired("survivor")) >= 2, timeout=60, what="two ticks before the restart")

    own_redis.restart()  # reloads its append-only file: the schedule and its jobs come back
    after_redis = wait_for(lambda: get_schedule("survivor"), timeout=20, what="the schedule after the restart")
    seen = after_redis.fired
    wait_for(lambda: get_schedule("survivor").fired >= seen + 2, timeout=60, what="ticks after the Redis restart")

    stop(procs[0], signal.SIGKILL)
    before_worker = get_schedule("survivor").fired
    time.sleep(2)
    procs.append(start_worker(env))
    wait_for(
        lambda: get_schedule("survivor").fired >= before_worker + 2, timeout=60, what="ticks after the worker restart"
    )
    stop(procs[-1])
    jobs = fired("survivor")
    ticks = sorted(tick_ms(j) for j in jobs)
    assert len(ticks) == len(set(ticks)), f"duplicate ticks: {ticks}"
    schedule = get_schedule("survivor")
    assert schedule.fired == len(jobs)
    # The ~2 s without a worker were missed ticks, fired once when the new worker came up.
    assert schedule.missed >= 1
