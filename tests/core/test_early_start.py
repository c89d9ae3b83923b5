"""How many of a fetch's messages a worker lets the fetch start (middleware/early_start.py): those
it expects to begin within EARLY_START_S, by its free threads, what waits in its memory and the
queue's recent run time per job."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dramatiq import Message, Worker
from dramatiq.broker import MessageProxy
from dramatiq.brokers.stub import StubBroker

from gemsdash.queue.middleware import early_start
from gemsdash.queue.middleware.early_start import EARLY_START_S, EarlyStarts


class _Clock:
    """The middleware's clock, moved by the tests: a job's run time is what the test says, not
    what a loaded machine makes of a sleep (a 0 s job once measured slow enough to fail)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Clock]:
    fake = _Clock()
    monkeypatch.setattr(early_start, "time", fake)
    yield fake


def proxy(queue: str, job_id: str) -> Any:
    return MessageProxy(Message(queue_name=queue, actor_name="a", args=(), kwargs={}, options={}, message_id=job_id))


def booted(threads: int) -> tuple[EarlyStarts, Worker]:
    broker = StubBroker()
    worker = Worker(broker, worker_threads=threads)
    early = EarlyStarts()
    early.before_worker_boot(broker, worker)
    return early, worker


def ran(early: EarlyStarts, queue: str, job_id: str, seconds: float) -> None:
    message = proxy(queue, job_id)
    early.before_process_message(StubBroker(), message)
    early_start.time.now += seconds  # type: ignore[attr-defined]
    early.after_process_message(StubBroker(), message)


def test_without_a_worker_nothing_is_started_early() -> None:
    assert EarlyStarts().room("q", 0) == 0


def test_a_queue_not_yet_seen_starts_only_what_free_threads_take() -> None:
    early, worker = booted(4)
    assert early.room("q", 0) == 4
    early.before_process_message(StubBroker(), proxy("q", "running-1"))
    worker.work_queue.put(object())  # type: ignore[arg-type]
    assert early.room("q", 0) == 2, "one thread busy, one message already waiting for a thread"
    assert early.room("q", 3) == 0, "three started messages not begun yet take the rest"


def test_quick_jobs_are_all_started_slow_ones_only_for_free_threads() -> None:
    early, _ = booted(2)
    ran(early, "quick", "j1", 0)
    ran(early, "slow", "j2", EARLY_START_S * 2 * 1.2)  # two threads free one each 0.3 s
    for job in ("a", "b"):  # both threads busy
        early.before_process_message(StubBroker(), proxy("other", job))
    assert early.room("quick", 8) > 100, "a busy worker still starts quick jobs: they begin within ms"
    assert early.room("slow", 0) == 0, "a slow queue's message would wait: it stays queued"
    early.after_skip_message(StubBroker(), proxy("other", "a"))
    assert early.room("slow", 0) == 1, "a free thread takes one at once"
