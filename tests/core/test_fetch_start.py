"""A job's `start` folded into its worker's fetch (hot.lua `fetch`, redis_broker.py; a prototype,
on with GEMSDASH_FOLD_START=1): what a user sees of a job that waits in a worker's memory with its
record already `running`. Each test has a worker of one thread run a blocking job while a second
one waits, fetched with it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest

from gemsdash.queue import JobState, JobType, Runtime, abort, add_job, get_job
from gemsdash.queue.middleware.abort import POLL_SECONDS
from tests.core.workload import Scripted, email, scripted
from tests.support import state_of, wait_for


@pytest.fixture
def fold_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fold turned on (a prototype, off by default) for the runtime configured after it."""
    monkeypatch.setenv("GEMSDASH_FOLD_START", "1")


@pytest.fixture
def one_thread(fold_on: None, redis_runtime: Runtime) -> Iterator[tuple[Runtime, Scripted, str, str]]:
    """A blocked job running and a second one waiting behind it in the worker's memory, both
    fetched in one call: (runtime, work, blocked job's id, waiting job's id)."""
    with scripted() as work:
        blocked = add_job(JobType.EMAIL_NOTIFICATION, email("block-1"))
        waiting = add_job(JobType.EMAIL_NOTIFICATION, email("ok-waiting"))
        redis_runtime.start_worker(threads=1)
        assert work.blocking.wait(10), "the first job began"
        wait_for(lambda: state_of(waiting) is JobState.RUNNING, what="the waiting job fetched as running")
        try:
            yield redis_runtime, work, blocked, waiting
        finally:
            work.release.set()


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


def test_a_job_aborted_while_it_waits_in_memory_never_begins(one_thread: tuple[Runtime, Scripted, str, str]) -> None:
    _, work, _, waiting = one_thread
    assert abort(waiting[:8]) == waiting, "it shows running: it can be aborted"
    time.sleep(POLL_SECONDS * 3)  # the worker's abort poll has seen the request
    work.release.set()
    wait_for(lambda: state_of(waiting) is JobState.CANCELLED, what="aborted")
    time.sleep(0.3)
    assert work.started == ["block-1"], "the aborted job's code never ran"
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
    assert work.started == ["block-1", "ok-waiting"]
