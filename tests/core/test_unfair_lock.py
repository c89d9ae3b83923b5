"""The memory store's lock (unfair_lock.py): still a lock, reentrant, and never lost by a waiter.
Its speed is a benchmark's business (benchmarks/inprocess.py, docs/benchmarks.md)."""

from __future__ import annotations

import threading
import time

import pytest

from gemsdash.queue.unfair_lock import UnfairRLock


def test_threads_that_switch_inside_it_lose_no_update() -> None:
    lock = UnfairRLock()
    counter = [0]

    def add(times: int) -> None:
        for _ in range(times):
            with lock:
                seen = counter[0]
                time.sleep(0)  # hands the GIL to another thread in the middle of the update
                counter[0] = seen + 1

    threads = [threading.Thread(target=add, args=(300,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert counter[0] == 8 * 300


def test_its_owner_takes_it_again_and_others_wait_for_the_outer_release() -> None:
    lock = UnfairRLock()
    got = threading.Event()

    def other() -> None:
        with lock:
            got.set()

    with lock:
        with lock:  # reentrant: no deadlock
            pass
        t = threading.Thread(target=other)
        t.start()
        assert not got.wait(0.2), "another thread took the lock while its owner held it"
    assert got.wait(5), "the waiting thread never took the released lock"
    t.join(timeout=5)


def test_an_exception_inside_releases_it() -> None:
    lock = UnfairRLock()
    with pytest.raises(ValueError), lock:
        raise ValueError("boom")
    done = threading.Event()

    def other() -> None:
        with lock:
            done.set()

    threading.Thread(target=other).start()
    assert done.wait(5)


def test_many_waiters_all_get_their_turn() -> None:
    lock = UnfairRLock()
    turns: list[int] = []
    with lock:
        threads = [threading.Thread(target=lambda i=i: _take(lock, turns, i)) for i in range(16)]
        for t in threads:
            t.start()
        time.sleep(0.05)  # every waiter is asleep on the lock
        assert turns == []
    for t in threads:
        t.join(timeout=10)
    assert sorted(turns) == list(range(16))


def _take(lock: UnfairRLock, turns: list[int], i: int) -> None:
    with lock:
        turns.append(i)


class _Interrupted(Exception):
    """Stands for Dramatiq's TimeLimitExceeded or gemsdash's JobAborted, raised into a thread."""


class _InterruptedAfterAcquire(UnfairRLock):  # type: ignore[misc]
    """Raises, as an asynchronous exception can, right after an acquire that took the lock."""

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        got = super().acquire(blocking, timeout)
        if got:
            raise _Interrupted
        return got


def test_an_exception_landing_right_after_the_acquire_does_not_leave_it_held() -> None:
    lock = _InterruptedAfterAcquire()
    with pytest.raises(_Interrupted), lock:
        pytest.fail("the with body ran without the lock")
    assert _taken_by_another_thread(lock), "the lock stayed held after the interrupted acquire"


def test_an_interrupted_inner_acquire_leaves_the_outer_hold_in_place() -> None:
    lock = _InterruptedAfterAcquire()
    assert UnfairRLock.acquire(lock, True, -1)  # the outer hold, without the interruption
    with pytest.raises(_Interrupted), lock:
        pass
    assert not _taken_by_another_thread(lock, wait=0.3), "the interrupted inner acquire released the outer hold"
    lock.release()
    assert _taken_by_another_thread(lock)


def test_its_release_is_the_c_locks_own() -> None:
    """A Python `__exit__` could be interrupted at its first line, before it released anything."""
    import _thread

    assert UnfairRLock.__exit__ is _thread.RLock.__exit__


def _taken_by_another_thread(lock: UnfairRLock, wait: float = 2) -> bool:
    taken = threading.Event()

    def take() -> None:
        if UnfairRLock.acquire(lock, True, wait):
            taken.set()
            UnfairRLock.release(lock)

    t = threading.Thread(target=take)
    t.start()
    t.join(timeout=5)
    return taken.is_set()
