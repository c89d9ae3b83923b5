"""Retry, cancel and clear through the real broker: atomic, exactly once, and leaving alone what
they must not touch."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import redis

from gemsdash.queue import (
    InvalidTransition,
    JobNotFound,
    JobState,
    JobType,
    ReadOnlyMode,
    Runtime,
    add_job,
    audit_log,
    cancel,
    cancel_jobs,
    clear,
    get_job,
    queue_stats,
    retry,
    retry_all,
)
from gemsdash.queue.redis_store import RedisJobStore
from tests.core.workload import email, scripted
from tests.support import JobOptions, another_store, round_trips, state_of, wait_for

ONE_TRY: JobOptions = {"attempts": 1}


def test_retry_puts_a_dead_job_back_with_attempts_reset(any_runtime: Runtime) -> None:
    with scripted() as work:
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("fatal"), **ONE_TRY)
        wait_for(lambda: state_of(job_id) is JobState.DEAD, what="dead")
        retry(job_id)
        wait_for(lambda: work.started.count("fatal") == 2, what="second run")
        wait_for(lambda: state_of(job_id) is JobState.DEAD, what="dead again")
    record = get_job(job_id)
    assert record is not None and record.attempts == 1
    notes = [e.note or "" for e in record.timeline]
    assert any(n.startswith("retried by ") for n in notes)
    assert audit_log(5)[0]["action"] == "retry" and audit_log(5)[0]["target"] == job_id


def test_retry_refuses_jobs_that_are_not_dead_or_cancelled(any_runtime: Runtime) -> None:
    with scripted():
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("ok"))
        wait_for(lambda: state_of(job_id) is JobState.SUCCEEDED, what="success")
    with pytest.raises(InvalidTransition, match="it has already succeeded"):
        retry(job_id)
    with pytest.raises(JobNotFound):
        retry("00000000-0000-0000-0000-000000000000")


def test_retry_all_requeues_every_dead_job_of_the_queue(any_runtime: Runtime) -> None:
    with scripted() as work:
        dead = [add_job(JobType.EMAIL_NOTIFICATION, email(f"fatal-{i}"), **ONE_TRY) for i in range(5)]
        wait_for(lambda: queue_stats().queues["email-notification"].counts[JobState.DEAD] == 5, what="5 dead")
        assert retry_all("email-notification") == 5
        wait_for(lambda: len(work.started) == 10, what="5 re-runs")
        wait_for(lambda: queue_stats().queues["email-notification"].counts[JobState.DEAD] == 5, what="dead again")
    assert sorted(work.started) == sorted([f"fatal-{i}" for i in range(5)] * 2)
    assert {state_of(j) for j in dead} == {JobState.DEAD}


def test_two_operators_retrying_one_dead_job_requeue_it_exactly_once(redis_runtime: Runtime, redis_url: str) -> None:
    with scripted():
        redis_runtime.start_worker(threads=1)
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("fatal"), **ONE_TRY)
        wait_for(lambda: state_of(job_id) is JobState.DEAD, what="dead")
        redis_runtime.stop_worker()
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)
    record = get_job(job_id)
    assert record is not None
    from gemsdash.queue.messages import job_message
    from gemsdash.queue.registry import spec_for

    spec = spec_for(record.type)
    message = job_message(spec, record.payload, spec.options(priority=record.priority), job_id)
    stores = [another_store(store, redis_url) for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    verdicts: list[str] = []

    def race(s: RedisJobStore) -> None:
        barrier.wait()
        verdicts.append(str(s.retry(job_id, message, "racer", "")))

    threads = [threading.Thread(target=race, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(verdicts) == ["ok"] + ["state:queued"] * 7
    client = redis.Redis.from_url(redis_url)
    queue_key = f"{store.namespace}:email-notification"
    assert client.llen(queue_key) == 1
    assert client.zcard(f"{store.namespace}:email-notification.XQ") == 0


def test_concurrent_cli_retries_have_one_effect(redis_runtime: Runtime, redis_url: str) -> None:
    with scripted():
        redis_runtime.start_worker(threads=1)
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("fatal"), **ONE_TRY)
        wait_for(lambda: state_of(job_id) is JobState.DEAD, what="dead")
        redis_runtime.stop_worker()
    env = {
        "REDIS_ENABLED": "true",
        "REDIS_URL": redis_url,
        "GEMSDASH_NAMESPACE": redis_runtime.settings.namespace,
        "PATH": "/usr/bin:/bin",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gemsdash", "retry", job_id],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [
        (p.wait(timeout=30), p.stdout.read() if p.stdout else "", p.stderr.read() if p.stderr else "") for p in procs
    ]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    loser = next(err for code, _, err in results if code == 1)
    assert f"cannot retry job {job_id}: it is queued" in loser
    assert redis.Redis.from_url(redis_url).llen(f"{redis_runtime.settings.namespace}:email-notification") == 1


def test_cancel_stops_a_job_a_worker_already_prefetched(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    ns = redis_runtime.settings.namespace
    with scripted() as work:
        redis_runtime.start_worker(threads=1)
        add_job(JobType.EMAIL_NOTIFICATION, email("block"))
        assert work.blocking.wait(10)
        victim = add_job(JobType.EMAIL_NOTIFICATION, email("victim"))
        survivor = add_job(JobType.EMAIL_NOTIFICATION, email("survivor"))
        # One thread, prefetch 2: the victim now sits in the worker's memory, the survivor in Redis.
        wait_for(lambda: redis_client.llen(f"{ns}:email-notification") == 1, what="prefetch")
        cancel(victim)
        assert state_of(victim) is JobState.CANCELLED
        work.release.set()
        wait_for(lambda: state_of(survivor) is JobState.SUCCEEDED, what="survivor ran")
    assert "victim" not in work.started
    assert state_of(victim) is JobState.CANCELLED
    with pytest.raises(InvalidTransition, match="it is cancelled"):
        cancel(victim)


def test_cancel_of_a_waiting_job_takes_it_out_of_redis(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    ns = redis_runtime.settings.namespace
    job_id = add_job(JobType.EMAIL_NOTIFICATION, email("never"))
    delayed = add_job(JobType.EMAIL_NOTIFICATION, email("never-delayed"), delay=60_000)
    cancel(job_id)
    cancel(delayed)
    assert redis_client.llen(f"{ns}:email-notification") == 0
    assert redis_client.hlen(f"{ns}:email-notification.msgs") == 0
    assert redis_client.llen(f"{ns}:email-notification.DQ") == 0
    counts = queue_stats().queues["email-notification"].counts
    assert counts[JobState.CANCELLED] == 2 and counts[JobState.QUEUED] == counts[JobState.DELAYED] == 0
    # A cancelled job can be retried: the undo of a mistaken cancel or clear.
    with scripted() as work:
        retry(job_id)
        redis_runtime.start_worker(threads=1)
        wait_for(lambda: state_of(job_id) is JobState.SUCCEEDED, what="retried job ran")
    assert work.started == ["never"]


def test_clear_removes_waiting_work_only_of_that_queue(redis_runtime: Runtime, redis_client: redis.Redis) -> None:
    ns = redis_runtime.settings.namespace
    with scripted(JobType.EMAIL_NOTIFICATION, JobType.EMOTION_ANALYSIS) as work:
        redis_runtime.start_worker(threads=1)
        running = add_job(JobType.EMAIL_NOTIFICATION, email("block"))
        assert work.blocking.wait(10)
        waiting = [add_job(JobType.EMAIL_NOTIFICATION, email(f"cleared-{i}")) for i in range(6)]
        delayed = [add_job(JobType.EMAIL_NOTIFICATION, email(f"cleared-d{i}"), delay=60_000) for i in range(2)]
        other = [
            add_job(JobType.EMOTION_ANALYSIS, {"analysis_type": "text", "text": "fine", "user_id": "u"})
            for _ in range(3)
        ]
        result = clear("email-notification")
        assert result.removed == {"queued": 6, "delayed": 2, "retrying": 0}
        counts = queue_stats().queues
        assert counts["email-notification"].counts[JobState.RUNNING] == 1
        assert counts["email-notification"].counts[JobState.QUEUED] == 0
        assert counts["emotion-analysis"].counts[JobState.QUEUED] == 3
        work.release.set()
        wait_for(lambda: state_of(running) is JobState.SUCCEEDED, what="running job finished")
        wait_for(lambda: all(state_of(j) is JobState.SUCCEEDED for j in other), what="other queue ran")
    assert {state_of(j) for j in waiting + delayed} == {JobState.CANCELLED}
    assert not any(name.startswith("cleared") for name in work.started)
    assert redis_client.llen(f"{ns}:email-notification") == 0
    assert audit_log(1)[0]["action"] == "clear" and audit_log(1)[0]["count"] == 8


def test_clear_with_include_dead_deletes_dead_jobs_and_their_dead_letters(
    any_runtime: Runtime,
) -> None:
    with scripted():
        dead = add_job(JobType.EMAIL_NOTIFICATION, email("fatal"), **ONE_TRY)
        wait_for(lambda: state_of(dead) is JobState.DEAD, what="dead")
    assert clear("email-notification").removed.get("dead") is None
    assert state_of(dead) is JobState.DEAD
    assert clear("email-notification", include_dead=True).removed["dead"] == 1
    assert get_job(dead) is None
    if any_runtime.client is not None:
        assert any_runtime.client.zcard(f"{any_runtime.settings.namespace}:email-notification.XQ") == 0


def test_read_only_mode_refuses_every_change(any_runtime: Runtime) -> None:
    any_runtime.settings.read_only = True
    try:
        for action in (
            lambda: retry("x"),
            lambda: retry_all("email-notification"),
            lambda: cancel("x"),
            lambda: clear("email-notification"),
            lambda: add_job(JobType.EMAIL_NOTIFICATION, email("ok")),
        ):
            with pytest.raises(ReadOnlyMode):
                action()
    finally:
        any_runtime.settings.read_only = False


def test_retry_all_costs_round_trips_per_batch_not_per_job(redis_runtime: Runtime) -> None:
    from tests.support import round_trips

    with scripted():
        redis_runtime.start_worker(threads=4)
        ids = [add_job(JobType.EMAIL_NOTIFICATION, email(f"fatal-{i}"), **ONE_TRY) for i in range(60)]
        wait_for(lambda: all(state_of(j) is JobState.DEAD for j in ids), what="60 dead")
        redis_runtime.stop_worker()
    with round_trips() as trips:
        assert retry_all("email-notification") == 60
    assert trips[0] <= 8, trips[0]  # dead ids, records, requeue, the empty next batch, the audit entry
    assert {state_of(j) for j in ids} == {JobState.QUEUED}


@pytest.mark.parametrize("mode", ["memory", "redis"])
def test_cancel_jobs_cancels_the_waiting_ones_in_one_round_trip_and_names_the_rest(
    request: pytest.FixtureRequest, mode: str
) -> None:
    request.getfixturevalue(f"{mode}_runtime")  # no worker: nothing else talks to Redis meanwhile
    waiting = [add_job(JobType.EMAIL_NOTIFICATION, email(f"ok-later-{i}"), delay=60_000) for i in range(2)]
    already = add_job(JobType.EMAIL_NOTIFICATION, email("ok-later"), delay=60_000)
    cancel(already)
    audited = len(audit_log())
    with round_trips() as trips:
        cancelled, skipped = cancel_jobs([*waiting, already, "no-such-job"])
    assert (cancelled, skipped) == (2, [already, "no-such-job"])
    if mode == "redis":
        assert trips[0] == 2  # every cancel in one pipeline, then one audit entry for the batch
    assert [state_of(i) for i in waiting] == [JobState.CANCELLED, JobState.CANCELLED]
    entries = audit_log()
    assert len(entries) == audited + 1
    assert entries[0]["action"] == "cancel" and entries[0]["count"] == 2
