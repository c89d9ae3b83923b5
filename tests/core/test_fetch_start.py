"""A job's `start` folded into its worker's fetch (hot.lua `fetch`, redis_broker.py,
middleware/early_start.py): the fetch starts only the messages its worker expects to begin at once,
and what a user sees of the others, and of a started job that waits anyway (a job far slower than
the queue's last ones: the estimate was wrong). Each test has a worker of one thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis

from gemsdash.queue import JobState, JobType, Runtime, abort, add_job, cancel, get_job, pause, resume
from gemsdash.queue.errors import InvalidTransition
from gemsdash.queue.middleware.abort import POLL_SECONDS
from gemsdash.queue.middleware.early_start import EARLY_START_S
from gemsdash.queue.pausing import CHECK_SECONDS
from gemsdash.queue.redis_broker import GemsdashRedisBroker
from gemsdash.queue.redis_store import RedisJobStore
from tests.core.workload import Scripted, email, scripted
from tests.support import raw, state_of, wait_for

EMAIL_QUEUE = "email-notification"


def waiting_in(runtime: Runtime) -> list[str]:
    """The jobs the worker's fetch started that have not begun."""
    broker = runtime.broker
    assert isinstance(broker, GemsdashRedisBroker)
    return broker.waiting_jobs()


def run_one(name: str) -> None:
    """One job through the running worker: the queue's run time is then known (that job's)."""
    job_id = add_job(JobType.EMAIL_NOTIFICATION, email(name))
    wait_for(lambda: state_of(job_id) is JobState.SUCCEEDED, what=f"{name} ran")


@pytest.fixture
def one_thread(redis_runtime: Runtime) -> Iterator[tuple[Runtime, Scripted, str, str]]:
    """A blocked job running and a second one its fetch started waiting behind it in the worker's
    memory, the queue's jobs having been quick until then: (runtime, work, blocked job's id,
    waiting job's id)."""
    with scripted() as work:
        blocked, waiting = blocked_and_waiting(redis_runtime, work, "ok-waiting")
        try:
            yield redis_runtime, work, blocked, waiting
        finally:
            work.release.set()


def blocked_and_waiting(runtime: Runtime, work: Scripted, name: str) -> tuple[str, str]:
    """One-thread worker: a quick job run, then a blocked one and `name` started by its fetch
    behind it: (blocked job's id, waiting job's id)."""
    runtime.start_worker(threads=1)
    run_one("ok-quick")
    blocked = add_job(JobType.EMAIL_NOTIFICATION, email("block-1"))
    assert work.blocking.wait(10), "the first job began"
    waiting = add_job(JobType.EMAIL_NOTIFICATION, email(name))
    wait_for(lambda: state_of(waiting) is JobState.RUNNING, what="the waiting job fetched as running")
    return blocked, waiting


def test_a_job_fetched_behind_a_slow_one_stays_queued_and_can_be_cancelled(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    queue = f"{redis_runtime.settings.namespace}:{EMAIL_QUEUE}"
    with scripted() as work:
        redis_runtime.start_worker(threads=1)
        # The queue's jobs take longer than EARLY_START_S: one that runs for twice that.
        threading.Timer(EARLY_START_S * 2, work.release.set).start()
        run_one("slow-warm")
        work.blocking.clear()
        work.release.clear()
        blocked = add_job(JobType.EMAIL_NOTIFICATION, email("block-1"))
        assert work.blocking.wait(10), "the first job began"
        victim = add_job(JobType.EMAIL_NOTIFICATION, email("ok-victim"))
        wait_for(lambda: redis_client.llen(queue) == 0, what="the victim fetched by the worker")
        assert waiting_in(redis_runtime) == []
        assert state_of(victim) is JobState.QUEUED, "not shown running while it waits"
        assert cancel(victim[:8]) == victim
        work.release.set()
        wait_for(lambda: state_of(blocked) is JobState.SUCCEEDED, what="the blocked job ended")
        time.sleep(0.3)
    assert "ok-victim" not in work.started, "a cancelled job never runs"
    assert state_of(victim) is JobState.CANCELLED


def test_a_message_refused_after_its_fetch_started_it_ends_dead(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    queue = f"{redis_runtime.settings.namespace}:{EMAIL_QUEUE}"
    with scripted(JobType.EMAIL_NOTIFICATION, JobType.PAYMENT_PROCESSING) as work:
        redis_runtime.start_worker(threads=1)
        run_one("ok-quick")  # the queue's jobs are quick: its fetches start what they take
        pause(EMAIL_QUEUE)
        time.sleep(CHECK_SECONDS * 2)  # the worker has seen the pause
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("ok-forged"))
        [rmid] = redis_client.lrange(queue, 0, -1)
        stored = redis_client.hget(f"{queue}.msgs", rmid)
        assert stored is not None
        data = raw(stored)
        forged = data.replace(b'"actor_name":"email_notification"', b'"actor_name":"payment_processing"')
        assert forged != data
        redis_client.hset(f"{queue}.msgs", rmid, forged)
        resume(EMAIL_QUEUE)
        record = wait_for(lambda: (r := get_job(job_id)) and r.state is JobState.DEAD and r, what="dead")
    assert JobState.RUNNING in [e.state for e in record.timeline], "its fetch had started it"
    assert work.started == ["ok-quick"], "neither an email nor a payment ran"
    assert record.error is not None and "does not belong on queue" in record.error.message
    assert waiting_in(redis_runtime) == [], "not held as a job waiting to begin"


def test_a_job_that_waited_in_memory_records_when_it_really_began(
    one_thread: tuple[Runtime, Scripted, str, str],
) -> None:
    _, work, blocked, waiting = one_thread
    time.sleep(0.5)
    work.release.set()
    record = wait_for(lambda: (r := get_job(waiting)) and r.state is JobState.SUCCEEDED and r, what="ran")
    before = get_job(blocked)
    assert before is not None and before.finished_at is not None and record.started_at is not None
    began = before.finished_at - timedelta(milliseconds=5)
    assert record.started_at >= began, "its start is when it began, not when it was fetched"
    assert record.timeline[-2].state is JobState.RUNNING and record.timeline[-2].at == record.started_at
    assert record.attempts == 1


def test_a_failed_job_that_waited_in_memory_records_when_it_really_began(redis_runtime: Runtime) -> None:
    with scripted() as work:
        blocked, waiting = blocked_and_waiting(redis_runtime, work, "fatal-waiting")
        time.sleep(0.5)
        work.release.set()
        record = wait_for(lambda: (r := get_job(waiting)) and r.state is JobState.DEAD and r, what="failed")
        # Its success is written behind, maybe after the failure.
        before = wait_for(lambda: (r := get_job(blocked)) and r.state is JobState.SUCCEEDED and r, what="blocked")
    assert before is not None and before.finished_at is not None and record.started_at is not None
    assert record.started_at >= before.finished_at - timedelta(milliseconds=5), "not when it was fetched"
    assert record.timeline[-2].state is JobState.RUNNING and record.timeline[-2].at == record.started_at


def test_a_cancel_of_a_job_its_fetch_started_points_to_abort(one_thread: tuple[Runtime, Scripted, str, str]) -> None:
    _, work, _, waiting = one_thread
    with pytest.raises(InvalidTransition, match=r"it is running \(abort stops a running job\)"):
        cancel(waiting)
    work.release.set()
    wait_for(lambda: state_of(waiting) is JobState.SUCCEEDED, what="it ran: the cancel was refused")


def test_a_job_aborted_while_it_waits_in_memory_never_begins(one_thread: tuple[Runtime, Scripted, str, str]) -> None:
    _, work, _, waiting = one_thread
    assert abort(waiting[:8]) == waiting, "it shows running: it can be aborted"
    time.sleep(POLL_SECONDS * 3)  # the worker's abort poll has seen the request
    work.release.set()
    wait_for(lambda: state_of(waiting) is JobState.CANCELLED, what="aborted")
    time.sleep(0.3)
    assert work.started == ["ok-quick", "block-1"], "the aborted job's code never ran"
    record = get_job(waiting)
    assert record is not None and (record.timeline[-1].note or "").startswith("aborted by ")


def test_a_shutdown_puts_a_job_waiting_in_memory_back_to_queued(one_thread: tuple[Runtime, Scripted, str, str]) -> None:
    runtime, work, blocked, waiting = one_thread
    stopping = threading.Thread(target=runtime.stop_worker)
    stopping.start()
    time.sleep(0.3)
    work.release.set()
    stopping.join(15)
    assert state_of(blocked) is JobState.SUCCEEDED
    record = get_job(waiting)
    assert record is not None and record.state is JobState.QUEUED, "back to queued, not left running"
    assert record.attempts == 0 and record.started_at is None and record.worker is None
    assert [e.state for e in record.timeline] == [JobState.QUEUED]
    assert runtime.store.page("email-notification", JobState.QUEUED, 0, 10).total == 1
    runtime.start_worker(threads=1)
    record = wait_for(lambda: (r := get_job(waiting)) and r.state is JobState.SUCCEEDED and r, what="ran")
    assert record.attempts == 1, "the attempt it never made is not counted"
    assert work.started == ["ok-quick", "block-1", "ok-waiting"]


def test_a_fetch_starts_a_record_only_for_the_message_it_names(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """The fetch finds a job's record by its message's redis id (a first delivery's is its job's
    id) and starts it only when the record names that message and the message names that job: a
    copy of a job's message under another id (pushed by hand, or left by a bug) and a message body
    put under another job's id are left to the worker's own `start`, which decides them. (Jobs with
    a record while they wait: their retries wait no time. One that waits as its message alone is
    its message, and a message body put under its id leaves it unreadable: the next test.)"""
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)
    ns = redis_runtime.settings.namespace
    other, own = (add_job(JobType.EMAIL_NOTIFICATION, email(f"ok-{i}"), backoff={"delay": 0}) for i in range(2))
    msgs, queue = f"{ns}:{EMAIL_QUEUE}.msgs", f"{ns}:{EMAIL_QUEUE}"
    body = redis_client.hget(msgs, own)
    assert body is not None
    redis_client.hset(msgs, "copy-1", body)  # a copy of `own`'s message under an id of its own
    redis_client.rpush(queue, "copy-1")
    redis_client.hset(msgs, other, body)  # `other`'s message (fetched first) replaced by `own`'s
    fetched, started = store.fetch(EMAIL_QUEUE, 3, "B1", "w", 3, "7")
    assert len(fetched) == 3
    assert started == {own: own}
    assert state_of(own) is JobState.RUNNING
    assert state_of(other) is JobState.QUEUED, "its message names another job"


def test_a_fetch_starts_no_job_that_waits_with_no_record_from_another_jobs_message(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """Jobs that wait as their message alone: a copy of one's message under another id, and one's
    message body put under another's id. The fetch starts only the job whose own message it took;
    the one whose message names another job is not guessed at (it reads as missing)."""
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)
    ns = redis_runtime.settings.namespace
    other, own = (add_job(JobType.EMAIL_NOTIFICATION, email(f"ok-{i}")) for i in range(2))
    msgs, queue = f"{ns}:{EMAIL_QUEUE}.msgs", f"{ns}:{EMAIL_QUEUE}"
    assert redis_client.get(f"{ns}:gd:job:{own}") is None  # no record while it waits
    body = redis_client.hget(msgs, own)
    assert body is not None
    redis_client.hset(msgs, "copy-1", body)
    redis_client.rpush(queue, "copy-1")
    redis_client.hset(msgs, other, body)
    fetched, started = store.fetch(EMAIL_QUEUE, 3, "B1", "w", 3, "7")
    assert len(fetched) == 3
    assert started == {own: own}
    assert state_of(own) is JobState.RUNNING
    assert state_of(other) is None, "its message names another job: not read as if it were its own"
    assert redis_client.get(f"{ns}:gd:job:copy-1") is None


def test_a_fetch_that_starts_a_job_whose_id_is_not_utf8_still_returns_what_it_took(
    redis_runtime: Runtime, redis_client: redis.Redis
) -> None:
    """Bytes written by hand (an id that is not UTF-8, its message and a record naming it): Redis has
    run the fetch, so the worker must get its messages back rather than an exception that leaves
    them in its ack set."""
    store = redis_runtime.store
    assert isinstance(store, RedisJobStore)
    ns = redis_runtime.settings.namespace
    rmid = b"\xed\xa0\x80lone"
    message = (
        b'{"queue_name":"email-notification","actor_name":"email_notification","args":[{}],"kwargs":{},'
        b'"options":{},"message_id":"' + rmid + b'","message_timestamp":1}'
    )
    redis_client.hset(f"{ns}:{EMAIL_QUEUE}.msgs", rmid, message)
    redis_client.rpush(f"{ns}:{EMAIL_QUEUE}", rmid)
    redis_client.set(
        f"{ns}:gd:job:".encode() + rmid,
        b'{"state":"queued","queue":"email-notification","attempts":0,"max_attempts":3,"rq":"email-notification",'
        b'"rmid":"' + rmid + b'"}\n["queued",1]\n{}',
    )
    fetched, started = store.fetch(EMAIL_QUEUE, 3, "B1", "w", 3, "7")
    assert fetched == [message]
    assert started == {rmid.decode(errors="surrogateescape"): rmid.decode(errors="surrogateescape")}
