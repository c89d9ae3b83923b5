"""A clear is many short steps, each one script call: Redis restarting, or the operator's process
dying, can end it after any of them. Whatever step it ends after, no job may be left waiting with
its message gone (it would never run, and only `health` would notice): an outside attack once
killed Redis during clears and stranded up to 1,910 of 2,860 delayed jobs, because a step drained
messages in list order but cancelled records in index order, so it took different jobs."""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest
import redis
from dramatiq.common import dq_name

from gemsdash.queue import (
    BackendUnavailable,
    JobRequest,
    JobState,
    JobType,
    Runtime,
    add_jobs,
    clear,
    configure,
    current_runtime,
    get_job,
    run_now,
)
from gemsdash.queue import runtime as runtime_module
from gemsdash.queue.jobs import WAITING_STATES, Priority
from gemsdash.queue.keys import Keys
from gemsdash.queue.messages import physical_queues
from gemsdash.queue.producer import prepare
from gemsdash.queue.redis_store import store as redis_store_module
from tests.conftest import test_settings
from tests.core.redis_records import QUEUE, record_key, redis_store
from tests.core.workload import email, scripted
from tests.support import RedisServer, state_of, text, wait_for


def _has_message(client: redis.Redis, ns: str, rq: str, rmid: str) -> bool:
    """The message is in its list and its body in the list's hash: a worker will fetch it."""
    return bool(client.hexists(f"{ns}:{rq}.msgs", rmid)) and client.lpos(f"{ns}:{rq}", rmid) is not None


def _message_of(client: redis.Redis, rt: Runtime, job_id: str) -> tuple[str | None, str]:
    """The list (None: one of the queue's, unknown) and Redis id of a waiting job's message."""
    raw = client.get(record_key(rt, job_id))
    if raw is None:  # waiting as its message alone: its message id is its id
        return None, job_id
    head = json.loads(text(raw).split("\n", 1)[0])
    return str(head["rq"]), str(head["rmid"])


def _stranded(client: redis.Redis, rt: Runtime, job_ids: list[str]) -> list[str]:
    """Jobs that wait (queued, delayed, retrying) with no message of theirs left to run them."""
    ns = rt.settings.namespace
    stranded = []
    for job_id in job_ids:
        if state_of(job_id) not in WAITING_STATES:
            continue
        rq, rmid = _message_of(client, rt, job_id)
        if not any(_has_message(client, ns, q, rmid) for q in ([rq] if rq else physical_queues(QUEUE))):
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


def _every_shape(rt: Runtime) -> list[str]:
    """Jobs waiting in every way a queue holds them: retrying (the next attempt a copy on the
    delay queue under a Redis id of its own), as their message alone at every priority, recorded
    (a fixed backoff the message cannot tell), delayed, and delayed ones run now (a copy in the
    queue under its own Redis id), several from two producers whose stamps and arrival disagree."""
    levels = list(Priority)
    failing = add_jobs(
        [
            JobRequest(JobType.EMAIL_NOTIFICATION, email(f"fail-{i}"), backoff={"type": "fixed", "delay": 600_000})
            for i in range(12)
        ]
    )
    with scripted():
        rt.start_worker(threads=4)
        wait_for(
            lambda: all(state_of(j) is JobState.RETRYING for j in failing), timeout=30, what="the failing jobs retrying"
        )
        rt.stop_worker()
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
    return failing + fresh + recorded + delayed


def _step(rt: Runtime, lists: list[str], waiting: str, batch: int) -> list[int]:
    """One step of RedisJobStore.clear, over `lists` and the records in the `waiting` states."""
    store = redis_store(rt)
    lists_csv = ",".join(lists)
    reply = store._settling_call("clear", "clear", QUEUE, waiting, "0", lists_csv, batch, "test", store.largest_message)
    return [int(n) for n in reply]


def _lists() -> list[str]:
    return physical_queues(QUEUE) + [dq_name(n) for n in physical_queues(QUEUE)]


def test_a_clear_cut_short_after_any_step_leaves_every_job_cancelled_or_able_to_run(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    every = _every_shape(redis_runtime)
    assert _stranded(redis_client, redis_runtime, every) == []
    steps = 0
    while True:  # the steps RedisJobStore.clear takes, with a look after each where it could end
        reply = _step(redis_runtime, _lists(), "queued,delayed,retrying", redis_store_module._CLEAR_BATCH)
        steps += 1
        assert _stranded(redis_client, redis_runtime, every) == [], f"after step {steps}"
        if not reply[-1]:
            break
    assert steps > 5  # it did end part-way through, many times
    assert {state_of(j) for j in every} == {JobState.CANCELLED}
    record = get_job(every[-1])
    assert record is not None and record.timeline[-1].state is JobState.CANCELLED


def test_a_step_cancels_the_job_of_every_message_it_drains_whatever_its_redis_id(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """List by list, with the state indexes out of the walk's reach (as for records deeper in them
    than a step goes): a message under its job's id (a first delivery, a delayed job), under an id
    of its own (a retry's, a run-now's copy) or with no record (a job waiting as its message alone)
    takes its job with it in the step that drains it."""
    every = _every_shape(redis_runtime)
    keys = Keys(redis_runtime.settings.namespace)
    waiting = ["queued", "delayed", "retrying"]
    for state in waiting:  # hidden from the walk, back after
        if redis_client.exists(keys.idx(QUEUE, state)):
            redis_client.rename(keys.idx(QUEUE, state), keys.idx(QUEUE, state) + ":hidden")
    ns = redis_runtime.settings.namespace
    owner = {_message_of(redis_client, redis_runtime, j)[1]: j for j in every}
    for rq in _lists():
        owners = [owner[text(m)] for m in redis_client.lrange(f"{ns}:{rq}", 0, -1)]
        _step(redis_runtime, [rq], ",".join(waiting), 1000)
        assert redis_client.llen(f"{ns}:{rq}") == 0 and redis_client.hlen(f"{ns}:{rq}.msgs") == 0
        assert _stranded(redis_client, redis_runtime, every) == [], f"after draining {rq}"
        assert {state_of(j) for j in owners} <= {JobState.CANCELLED}, rq
    copies = sum(1 for rmid, job_id in owner.items() if rmid != job_id)
    assert copies == 12 + 9  # the retries' copies and the run-now ones, each under an id of its own
    assert {state_of(j) for j in every} == {JobState.CANCELLED}


@pytest.mark.slow
def test_redis_killed_during_a_clear_strands_loses_and_duplicates_nothing(
    own_redis: RedisServer, runtime: Runtime
) -> None:
    """Redis SIGKILLed (AOF, fsync always) at three points of a clear, restarted from its AOF each
    time: every job is cancelled or waits with its message, none is lost, no message is listed
    twice, and the clear run again finishes the queue."""
    client = redis.Redis.from_url(own_redis.url)
    levels = list(Priority)
    every = _two_producers(
        [JobRequest(JobType.EMAIL_NOTIFICATION, email(f"d-{i}"), delay=600_000) for i in range(2_400)]
    )
    every += _two_producers(
        [
            JobRequest(JobType.EMAIL_NOTIFICATION, email(f"r-{i}"), backoff={"type": "fixed", "delay": 7})
            for i in range(600)
        ]
    )
    every += add_jobs(
        [JobRequest(JobType.EMAIL_NOTIFICATION, email(f"q-{i}"), priority=levels[i % 4]) for i in range(1_000)]
    )
    for job_id in every[:2_400:7]:
        run_now(job_id)
    cancelled = Keys(runtime.settings.namespace).idx(QUEUE, JobState.CANCELLED.value)
    for share in (0.2, 0.5, 0.8):
        failed: list[BaseException] = []

        def clearing(failed: list[BaseException] = failed) -> None:
            try:
                clear(QUEUE)
            except BackendUnavailable as exc:
                failed.append(exc)

        thread = threading.Thread(target=clearing)
        thread.start()

        def far_enough(n: float = share * len(every)) -> bool:
            return int(client.zcard(cancelled)) >= n

        wait_for(far_enough, timeout=60, what=f"{share:.0%} cleared")
        own_redis.stop(signal.SIGKILL)
        thread.join(30)
        assert failed and not thread.is_alive(), "the clear reports the outage"
        own_redis.start()
        assert _stranded(client, runtime, every) == [], f"killed at {share:.0%}"
        assert all(state_of(j) is not None for j in every), "a job was lost"
        ns = runtime.settings.namespace
        listed = [text(m) for rq in _lists() for m in client.lrange(f"{ns}:{rq}", 0, -1)]
        assert len(listed) == len(set(listed)), "a message is listed twice"
    clear(QUEUE)
    assert {state_of(j) for j in every} == {JobState.CANCELLED}
    assert all(client.llen(f"{runtime.settings.namespace}:{rq}") == 0 for rq in _lists())


def test_a_step_cancels_the_job_of_a_message_as_large_as_the_deployment_allows(
    redis_url: str, namespace: str, redis_client: redis.Redis
) -> None:
    """A deployment that raised GEMSDASH_MAX_PAYLOAD_BYTES writes messages over 1 MiB: a clear
    reads them too (up to admission.message_limit), so a run-now copy of such a job, under an id of
    its own, is cancelled in the step that drains it."""
    runtime_module.reset()
    rt = configure(
        test_settings(redis_enabled=True, redis_url=redis_url, namespace=namespace, max_payload_bytes=3_000_000),
        role="oneshot",
    )
    try:
        (job_id,) = add_jobs([JobRequest(JobType.EMAIL_NOTIFICATION, email("x" * 1_500_000), delay=600_000)])
        run_now(job_id)
        rq, rmid = _message_of(redis_client, rt, job_id)
        assert rq == QUEUE and rmid != job_id and redis_client.hstrlen(f"{namespace}:{rq}.msgs", rmid) > 1 << 20
        keys = Keys(namespace)
        redis_client.rename(keys.idx(QUEUE, "queued"), keys.idx(QUEUE, "queued") + ":hidden")
        _step(rt, [QUEUE], "queued,delayed,retrying", 10)
        assert redis_client.llen(f"{namespace}:{QUEUE}") == 0
        assert state_of(job_id) is JobState.CANCELLED
    finally:
        runtime_module.reset()
