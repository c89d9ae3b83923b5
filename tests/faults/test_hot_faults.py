"""Faults around hot.lua (issue 19, round 3): Redis killed with SIGKILL between a job's start and
its succeed (scripts gone after the restart), a worker lost between the two (recovery must see the
record hot.lua wrote, and an old-layout one), a succeed batch resent after a lost reply. Every
job is counted: sent, terminal, lost, done twice."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from dramatiq import Message

from gemsdash.queue import JobRequest, JobState, JobType, Runtime, add_jobs, get_job, queue_stats
from gemsdash.queue.jobs import now_ms
from gemsdash.queue.middleware.persist import persist
from gemsdash.queue.redis_broker import GemsdashRedisBroker
from gemsdash.queue.redis_store import RedisJobStore
from gemsdash.queue.store import Delivery, Success, Verdict, parse_record
from tests.core.workload import email
from tests.faults.workers import WorkerProcess, worker_env
from tests.support import RedisServer, wait_for

QUEUE = JobType.EMAIL_NOTIFICATION.queue


def _store(rt: Runtime) -> RedisJobStore:
    store = rt.store
    assert isinstance(store, RedisJobStore)
    return store


def _fetch(rt: Runtime, count: int) -> dict[str, Message[Any]]:
    broker = rt.broker
    assert isinstance(broker, GemsdashRedisBroker)
    messages = [Message.decode(data) for data in broker.do_fetch(QUEUE, count)]
    assert len(messages) == count
    return {m.message_id: m for m in messages}


def _ack(rt: Runtime, message: Message[Any]) -> Delivery:
    return Delivery(rt.broker.broker_id, message.queue_name, message.options["redis_message_id"])  # type: ignore[attr-defined]


def _count(ids: list[str]) -> dict[str, int]:
    states = [getattr(get_job(i), "state", None) for i in ids]
    return {
        "sent": len(ids),
        "succeeded": sum(s is JobState.SUCCEEDED for s in states),
        "lost": sum(s is None for s in states),
        "other": sum(s not in (None, JobState.SUCCEEDED) for s in states),
    }


def test_redis_killed_between_start_and_succeed(runtime: Runtime, own_redis: RedisServer) -> None:
    ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"k{i}")) for i in range(20)])
    store = _store(runtime)
    messages = _fetch(runtime, 20)
    for job_id in ids:
        assert store.start(messages[job_id], "w", None).verdict is Verdict.RUN
    own_redis.stop(signal.SIGKILL)
    own_redis.start()  # AOF (appendfsync always): the running records are back, the scripts are not
    ended = now_ms()
    successes = [Success(i, '"ok"', 2, ended, _ack(runtime, messages[i])) for i in ids]
    # As the write-behind thread does: its dropped connection fails once, then NOSCRIPT loads again.
    assert persist(lambda: store.succeed_many(successes[:10]), 10) == 10
    assert persist(lambda: store.succeed_many([*successes, *successes[:10]]), 10) == 10  # resent: counted once
    assert _count(ids) == {"sent": 20, "succeeded": 20, "lost": 0, "other": 0}
    stats = queue_stats().queues[QUEUE]
    assert stats.finished_total["succeeded"] == 20 and stats.counts[JobState.RUNNING] == 0


def _lose_worker(rt: Runtime, client: redis.Redis) -> None:
    ns = rt.settings.namespace
    client.zadd(f"{ns}:__heartbeats__", {rt.broker.broker_id: 0})  # type: ignore[attr-defined]


def test_recovery_of_running_records_of_both_layouts_then_their_late_success(
    runtime: Runtime, own_redis: RedisServer
) -> None:
    """A worker lost between start and succeed: recovery requeues its messages and shows the jobs
    queued again (it decodes what hot.lua wrote, and an older version's record); the late success
    of the lost worker is then written once, and the requeued copy is skipped."""
    client = redis.Redis.from_url(own_redis.url)
    ids = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email(f"r{i}")) for i in range(4)])
    store = _store(runtime)
    messages = _fetch(runtime, 4)
    for job_id in ids:
        assert store.start(messages[job_id], "w", None).verdict is Verdict.RUN
    old_key = f"{runtime.settings.namespace}:gd:job:{ids[0]}"
    record = parse_record(client.get(old_key) or b"")
    record["timeline"] = [[*e, None] for e in record["timeline"]]
    client.set(old_key, json.dumps(record))
    _lose_worker(runtime, client)
    assert store.recover() == (1, 4)
    for job_id in ids:
        shown = get_job(job_id)
        assert shown is not None and shown.state is JobState.QUEUED
        assert "lost; requeued" in (shown.timeline[-1].note or "")
    ended = now_ms()
    assert store.succeed_many([Success(i, '"late"', 2, ended, _ack(runtime, messages[i])) for i in ids]) == 4
    again = _fetch(runtime, 4)
    for job_id in ids:
        assert str(store.start(again[job_id], "w2", None)) == "skip:succeeded"
    assert _count(ids) == {"sent": 4, "succeeded": 4, "lost": 0, "other": 0}
    stats = queue_stats().queues[QUEUE]
    assert stats.finished_total["succeeded"] == 4 and stats.attempts_total["succeeded"] == 4
    assert stats.counts[JobState.RUNNING] == 0 and stats.counts[JobState.QUEUED] == 0


HOSTILE_NAMES = ["line\nbreak", "sep\u2028x", "nul\x00", '"state":"queued"', '{"state":"running"', "back\\slash"]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_worker_through_redis_and_worker_sigkills_counts_every_job(
    runtime: Runtime, own_redis: RedisServer, tmp_path: Path
) -> None:
    """Real worker processes on hostile payloads; Redis SIGKILLed (AOF always) and restarted, then
    the worker's whole process group SIGKILLed and restarted, while jobs start and succeed through
    hot.lua. Counted: sent, succeeded, lost (no record or not terminal), run more than once."""
    count = 600
    requests = [JobRequest(JobType.EMAIL_NOTIFICATION, email(HOSTILE_NAMES[i % 6] + str(i))) for i in range(count)]
    ids: list[str] = []
    for at in range(0, count, 200):
        ids += add_jobs(requests[at : at + 200])
    env = worker_env(own_redis.url, runtime.settings.namespace, tmp_path)
    worker = WorkerProcess(env, tmp_path, threads=4)
    try:
        wait_for(lambda: queue_stats().queues[QUEUE].counts[JobState.SUCCEEDED] > 50, timeout=60, what="a start")
        own_redis.stop(signal.SIGKILL)
        time.sleep(1.0)
        own_redis.start()
        wait_for(lambda: queue_stats().queues[QUEUE].counts[JobState.SUCCEEDED] > 250, timeout=90, what="more")
        worker.kill()
        worker = WorkerProcess(env, tmp_path, threads=4)

        def finished() -> bool:
            counts = queue_stats().queues[QUEUE].counts
            return counts[JobState.SUCCEEDED] + counts[JobState.DEAD] == count

        wait_for(finished, timeout=180, interval=0.5, what=f"all {count} jobs to finish (logs in {tmp_path})")
    finally:
        worker.stop()
    records = [get_job(i) for i in ids]
    counts = {
        "sent": count,
        "succeeded": sum(r is not None and r.state is JobState.SUCCEEDED for r in records),
        "lost": sum(r is None or r.state not in (JobState.SUCCEEDED, JobState.DEAD) for r in records),
        "ran_again": sum(r is not None and r.attempts > 1 for r in records),
        "resent_mail": sum(
            r is not None and isinstance(r.result, dict) and r.result.get("already_sent") is True for r in records
        ),
    }
    print("counts", counts)
    assert counts["succeeded"] == count and counts["lost"] == 0, counts
    for request, record in zip(requests, records, strict=True):
        assert record is not None and record.payload["context"] == request.payload["context"]
    stats = queue_stats().queues[QUEUE]
    assert stats.finished_total["succeeded"] == count and stats.counts[JobState.RUNNING] == 0
