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
