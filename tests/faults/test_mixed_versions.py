"""A worker of the version before the split record layout (commit 0022238) meeting records this
version wrote, as happens during a rolling upgrade: its jobs.lua cannot decode them, so its
`start` fails with a script error, which the old worker takes for an outage and retries (persist)
for up to its PERSIST_DEADLINE_S, 600 s. Within that window the job is delayed, not lost: the
message stays in the old worker's ack set and runs once a new worker recovers it. Past it, Dramatiq
swallowed the middleware's error and ran the actor without gemsdash's tracking: so while an old
worker is alive this version writes new records in the old layout (expand/contract)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from gemsdash.queue import JobRequest, JobState, JobType, Runtime, add_jobs, get_job, queue_stats
from gemsdash.queue.redis_store import RedisJobStore
from tests.core.workload import email
from tests.faults.workers import ROOT, WorkerProcess, worker_env
from tests.support import RedisServer, wait_for

pytestmark = pytest.mark.slow

OLD = "0022238"


def _old_tree(out: Path, deadline_s: float | None = None) -> Path:
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", OLD], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"commit {OLD} is not in this checkout's history")
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
    if deadline_s is not None:  # the old worker's 600 s, shortened to see what follows it
        persist = out / "gemsdash/queue/middleware/persist.py"
        text = persist.read_text()
        assert "PERSIST_DEADLINE_S = 600.0" in text
        persist.write_text(text.replace("PERSIST_DEADLINE_S = 600.0", f"PERSIST_DEADLINE_S = {deadline_s}"))
    return out


class OldWorker:
    """`gemsdash worker` of the old tree (its own cwd first on sys.path), in its own session."""

    def __init__(self, tree: Path, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gemsdash", "worker", "--processes", "1", "--threads", "2"],
                cwd=tree,
                env={**env, "PYTHONPATH": str(tree)},
                start_new_session=True,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """SIGTERM, as an operator stops it, and wait for it."""
        os.kill(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


@pytest.fixture
def client(own_redis: RedisServer) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(own_redis.url)
    yield c
    c.close()


def _dead_letters(client: redis.Redis, ns: str) -> int:
    return sum(int(client.zcard(k)) for k in client.scan_iter(match=f"{ns}:*.XQ"))


def _succeeded(ids: list[str]) -> bool:
    return all(getattr(get_job(i), "state", None) is JobState.SUCCEEDED for i in ids)


def _held(client: redis.Redis, ns: str) -> int:
    return sum(int(client.scard(k)) for k in client.scan_iter(match=f"{ns}:__acks__.*"))


@pytest.mark.timeout(240)
def test_an_old_worker_delays_new_records_without_losing_them(
    runtime: Runtime, own_redis: RedisServer, client: redis.Redis, tmp_path: Path
) -> None:
    ns = runtime.settings.namespace
    # Jobs with a record while they wait (their retries wait no time, which a message cannot say):
    # one that waits as its message alone is the next test's.
    ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"m{i}"), backoff={"delay": 0}) for i in range(3)])
    before = {i: client.get(f"{ns}:gd:job:{i}") for i in ids}
    assert all(before.values())
    env = worker_env(own_redis.url, ns, tmp_path)
    old = OldWorker(_old_tree(tmp_path / "old"), env, tmp_path / "old-worker.log")
    try:
        # What the operator sees in the old worker's log: an "outage" that is not one, repeated.
        wait_for(lambda: "Expected the end but found" in old.text(), timeout=60, what="the old worker's refusal")
        time.sleep(3)
        assert "Lost the connection to Redis" in old.text()
        assert {i: client.get(f"{ns}:gd:job:{i}") for i in ids} == before  # untouched
        assert _dead_letters(client, ns) == 0 and _held(client, ns) == 3
        stats = queue_stats().queues[JobType.EMAIL_NOTIFICATION.queue]
        assert stats.counts[JobState.QUEUED] == 3 and stats.counts[JobState.RUNNING] == 0
        # SIGTERM does not stop it: its threads sit in persist() for up to 600 s.
        os.kill(old.proc.pid, signal.SIGTERM)
        time.sleep(5)
        assert old.proc.poll() is None
    finally:
        old.kill()
    new = WorkerProcess(env, tmp_path, threads=2)
    try:
        wait_for(lambda: _succeeded(ids), timeout=60, interval=0.5, what="the new worker to recover and run them")
    finally:
        new.stop()
    for job_id in ids:
        record = get_job(job_id)
        assert record is not None and record.attempts == 1  # the old worker never ran them
    assert _dead_letters(client, ns) == 0


@pytest.mark.timeout(180)
def test_new_records_are_written_old_while_an_old_worker_lives(
    runtime: Runtime, own_redis: RedisServer, client: redis.Redis, tmp_path: Path
) -> None:
    """Expand/contract: while an old worker beats on the namespace, this version's producers write
    records in the old layout, which the old worker runs and records as before (without it, past its
    persist deadline it ran them untracked and left them `queued` for good); once it has stopped,
    new records are written in the new layout again."""
    ns = runtime.settings.namespace
    store = runtime.store
    assert isinstance(store, RedisJobStore)
    env = worker_env(own_redis.url, ns, tmp_path)
    old = OldWorker(_old_tree(tmp_path / "old", deadline_s=2.0), env, tmp_path / "old-worker.log")
    try:
        wait_for(lambda: client.zcard(f"{ns}:gd:workers") > 0, timeout=60, what="the old worker's heartbeat")
        store._older_checked = 0.0  # as LAYOUT_CHECK_S after its first beat
        payload = {"analysis_type": "text", "text": "calm", "user_id": "u1"}
        ids = add_jobs([JobRequest(JobType.EMOTION_ANALYSIS, payload) for _ in range(3)])
        assert store._older_alive is True
        assert all(b"\n" not in (client.get(f"{ns}:gd:job:{i}") or b"\n") for i in ids)  # the old layout
        wait_for(lambda: _succeeded(ids), timeout=60, interval=0.5, what=f"the old worker to run them (log {old.log})")
        assert "Expected the end but found" not in old.text() and "Could not record" not in old.text()
        # A graceful stop: nothing holds its threads now, and it leaves the workers' set.
        old.stop()
    finally:
        old.kill()
    for job_id in ids:
        record = get_job(job_id)
        assert record is not None and record.attempts == 1 and record.result is not None
    store._older_checked = 0.0
    (after,) = add_jobs([JobRequest(JobType.EMOTION_ANALYSIS, payload)])
    assert store._older_alive is False
    assert client.get(f"{ns}:gd:job:{after}") is None  # this version's way again: its message alone
    assert client.zscore(f"{ns}:gd:fresh:{JobType.EMOTION_ANALYSIS.queue}", after) is not None
    assert _dead_letters(client, ns) == 0


@pytest.mark.timeout(180)
def test_an_old_worker_after_a_rollback_runs_jobs_that_wait_with_no_record_once(
    runtime: Runtime, own_redis: RedisServer, client: redis.Redis, tmp_path: Path
) -> None:
    """A rollback: this version's producer wrote jobs that wait as their message alone while no
    worker was alive, then a worker of an older version takes them. It finds no record and runs
    each as a job that came without gemsdash (a record built from its message): each runs once,
    none is lost. This version's housekeeping then drops their entries from the `fresh` index, so
    that the counts are right again."""
    ns = runtime.settings.namespace
    queue = JobType.EMAIL_NOTIFICATION.queue
    ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"r{i}")) for i in range(3)])
    assert all(client.get(f"{ns}:gd:job:{i}") is None for i in ids)
    env = worker_env(own_redis.url, ns, tmp_path)
    old = OldWorker(_old_tree(tmp_path / "old"), env, tmp_path / "old-worker.log")
    try:
        wait_for(lambda: _succeeded(ids), timeout=60, interval=0.5, what=f"the old worker to run them (log {old.log})")
        old.stop()
    finally:
        old.kill()
    for job_id in ids:
        record = get_job(job_id)
        assert record is not None and record.attempts == 1 and record.payload["context"]["name"].startswith("r")
    assert _dead_letters(client, ns) == 0
    assert client.zcard(f"{ns}:gd:fresh:{queue}") == 3  # left behind: the old version knows no such index
    new = WorkerProcess(env, tmp_path, threads=2)
    try:
        wait_for(lambda: client.zcard(f"{ns}:gd:fresh:{queue}") == 0, timeout=60, interval=0.5, what="housekeeping")
    finally:
        new.stop()
    stats = queue_stats().queues[queue]
    assert stats.counts[JobState.QUEUED] == 0 and stats.counts[JobState.SUCCEEDED] == 3


_OLD_PRODUCER = """
import json, sys
from gemsdash.queue import JobRequest, JobType, add_jobs, configure
configure(role="oneshot")
count = int(sys.argv[1])
jobs = [JobRequest(JobType.EMAIL_NOTIFICATION, {"to": "a@example.com", "template": "welcome",
        "context": {"name": "old\\n" + str(i)}}) for i in range(count)]
ids = []
for at in range(0, count, 100):
    ids += add_jobs(jobs[at:at + 100])
print(json.dumps(ids))
"""


@pytest.mark.timeout(240)
def test_the_upgrade_path_old_records_old_worker_killed_new_workers_finish(
    runtime: Runtime, own_redis: RedisServer, client: redis.Redis, tmp_path: Path
) -> None:
    """The rolling upgrade the CHANGELOG asks for, in real processes: an older producer's records
    (old layout), an older worker running them, SIGKILLed mid-run, then this version's workers:
    every job ends succeeded, once in the counts; the old layout's running and queued records are
    recovered and finished by hot.lua or jobs.lua."""
    ns = runtime.settings.namespace
    tree = _old_tree(tmp_path / "old")
    env = worker_env(own_redis.url, ns, tmp_path)
    made = subprocess.run(
        [sys.executable, "-c", _OLD_PRODUCER, "400"],
        cwd=tree,
        env={**env, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    ids: list[str] = json.loads(made.stdout.strip().splitlines()[-1])
    assert len(ids) == 400
    assert b"\n" not in (client.get(f"{ns}:gd:job:{ids[0]}") or b"\n")  # the old layout
    queue = JobType.EMAIL_NOTIFICATION.queue
    old = OldWorker(tree, env, tmp_path / "old-worker.log")
    try:
        wait_for(lambda: queue_stats().queues[queue].counts[JobState.SUCCEEDED] >= 100, timeout=90, what="old runs")
    finally:
        old.kill()
    new = WorkerProcess(env, tmp_path, threads=4)
    try:

        def done() -> bool:
            return queue_stats().queues[queue].counts[JobState.SUCCEEDED] == len(ids)

        wait_for(done, timeout=120, interval=0.5, what=f"all jobs to succeed (logs in {tmp_path})")
    finally:
        new.stop()
    records = [get_job(i) for i in ids]
    counts = {
        "sent": len(ids),
        "succeeded": sum(r is not None and r.state is JobState.SUCCEEDED for r in records),
        "lost": sum(r is None or r.state is not JobState.SUCCEEDED for r in records),
        "ran_again": sum(r is not None and r.attempts > 1 for r in records),
        "old_layout_left": sum(b"\n" not in (client.get(f"{ns}:gd:job:{i}") or b"") for i in ids),
    }
    print("upgrade path:", counts)
    assert counts["succeeded"] == len(ids) and counts["lost"] == 0, counts
    stats = queue_stats().queues[queue]
    assert stats.finished_total["succeeded"] == len(ids) and stats.counts[JobState.RUNNING] == 0
    assert _dead_letters(client, ns) == 0
