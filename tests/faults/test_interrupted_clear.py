"""A clear is many short steps, each one script call: Redis restarting, or the operator's process
dying, can end it after any of them. Whatever step it ends after, no job may be left waiting with
its message gone (it would never run, and only `health` would notice): an outside attack once
killed Redis during clears and stranded up to 1,910 of 2,860 delayed jobs, because a step drained
messages in list order but cancelled records in index order, so it took different jobs."""

from __future__ import annotations

import json
import time

import redis
from dramatiq.common import dq_name

from gemsdash.queue import JobRequest, JobState, JobType, Runtime, add_jobs, current_runtime, get_job, run_now
from gemsdash.queue.jobs import WAITING_STATES, Priority
from gemsdash.queue.messages import physical_queues
from gemsdash.queue.producer import prepare
from gemsdash.queue.redis_store import store as redis_store_module
from tests.core.redis_records import QUEUE, record_key, redis_store
from tests.core.workload import email, scripted
from tests.support import state_of, text, wait_for


def _has_message(client: redis.Redis, ns: str, rq: str, rmid: str) -> bool:
    """The message is in its list and its body in the list's hash: a worker will fetch it."""
    return bool(client.hexists(f"{ns}:{rq}.msgs", rmid)) and client.lpos(f"{ns}:{rq}", rmid) is not None


def _stranded(client: redis.Redis, rt: Runtime, job_ids: list[str]) -> list[str]:
    """Jobs that wait (queued, delayed, retrying) with no message of theirs left to run them."""
    ns = rt.settings.namespace
    lists = physical_queues(QUEUE)
    stranded = []
    for job_id in job_ids:
        if state_of(job_id) not in WAITING_STATES:
            continue
        raw = client.get(record_key(rt, job_id))
        if raw is None:  # waiting as its message alone: its message id is its id
            if not any(_has_message(client, ns, rq, job_id) for rq in lists):
                stranded.append(job_id)
            continue
        head = json.loads(text(raw).split("\n", 1)[0])
        if not _has_message(client, ns, head["rq"], head["rmid"]):
            stranded.append(job_id)
    return stranded


def _two_producers(requests: list[JobRequest]) -> list[str]:
    """Jobs of two producers, the first made (stamped) first but arriving last: their Redis lists
    then hold them in another order than their state's index, as under concurrent producers."""
    runtime = current_runtime()
    half = len(requests) // 2
    first = [prepare(r, runtime.settings.max_payload_bytes) for r in requests[:half]]
    time.sleep(0.005)
    second = [prepare(r, runtime.settings.max_payload_bytes) for r in requests[half:]]
    runtime.store.submit(second)
    runtime.store.submit(first)
    return [str(s.record["id"]) for s in first + second]


def test_a_clear_cut_short_after_any_step_leaves_every_job_cancelled_or_able_to_run(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    levels = list(Priority)
    # Retrying jobs: their next attempt is a copy on the delay queue under a Redis id of its own.
    failing = add_jobs(
        [
            JobRequest(JobType.EMAIL_NOTIFICATION, email(f"fail-{i}"), backoff={"type": "fixed", "delay": 600_000})
            for i in range(12)
        ]
    )
    with scripted():
        redis_runtime.start_worker(threads=4)
        wait_for(
            lambda: all(state_of(j) is JobState.RETRYING for j in failing), timeout=30, what="the failing jobs retrying"
        )
        redis_runtime.stop_worker()
    # Jobs that wait as their message alone (at every priority), recorded ones (a fixed backoff
    # the message cannot tell), delayed ones, and delayed ones run now (a copy in the queue, the
    # delayed message left behind, stale).
    fresh = add_jobs(
        [JobRequest(JobType.EMAIL_NOTIFICATION, email(f"q-{i}"), priority=levels[i % 4]) for i in range(31)]
    )
    recorded = _two_producers(
        [
            JobRequest(JobType.EMAIL_NOTIFICATION, email(f"r-{i}"), backoff={"type": "fixed", "delay": 7})
            for i in range(34)
        ]
    )
    delayed = _two_producers(
        [JobRequest(JobType.EMAIL_NOTIFICATION, email(f"d-{i}"), delay=600_000) for i in range(43)]
    )
    for job_id in delayed[::5]:
        run_now(job_id)
    every = failing + fresh + recorded + delayed
    assert _stranded(redis_client, redis_runtime, every) == []

    store = redis_store(redis_runtime)
    lists = physical_queues(QUEUE)
    steps = 0
    while True:  # the steps RedisJobStore.clear takes, with a look after each where it could end
        reply = store._settling_call(
            "clear",
            "clear",
            QUEUE,
            "queued,delayed,retrying",
            "0",
            ",".join(lists + [dq_name(n) for n in lists]),
            redis_store_module._CLEAR_BATCH,
            "test",
        )
        steps += 1
        assert _stranded(redis_client, redis_runtime, every) == [], f"after step {steps}"
        if not int(reply[-1]):
            break
    assert steps > 5  # it did end part-way through, many times
    assert {state_of(j) for j in every} == {JobState.CANCELLED}
    record = get_job(delayed[0])
    assert record is not None and record.timeline[-1].state is JobState.CANCELLED
