"""A reentrant lock that a waiting thread does not own until it runs again.

CPython's own lock hands itself to the waiter it wakes: the waiter's `sem_wait` returns owning it
and only then asks for the GIL, which the releasing thread still holds. That thread soon wants the
lock again (the next job's `start`), blocks, and gives the GIL up; and so on, one context switch per
acquisition for as long as any thread waits. Memory mode's worker threads share the job store's lock
on every start and finish, so once a GIL switch lands inside it they stay in that convoy: measured
on two cores with eight threads of no-op jobs, 2.2 voluntary context switches per job against 1.0
without the lock, and a third fewer jobs a second (docs/benchmarks.md, issue 19 round 8).

Here a waiter sleeps on a condition and, woken, competes for the lock again: whoever holds the GIL
when the lock is free takes it, so a thread that is running is never stopped by one that is not.
The price is fairness: a waiter can lose the race more than once (it retries at every release and
at least every RETRY_SECONDS), which suits short critical sections, not long ones.
"""

from __future__ import annotations

import threading
from types import TracebackType

#: How long a waiter sleeps before it looks again without being woken (a release it missed).
RETRY_SECONDS = 0.002


class UnfairRLock:
    """`threading.RLock`'s `with` semantics (reentrant; released by its owner only)."""

    __slots__ = ("_lock", "_waiting", "_wake")

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._wake = threading.Condition(threading.Lock())
        self._waiting = 0

    def __enter__(self) -> UnfairRLock:
        if not self._lock.acquire(blocking=False):
            self._wait()
        return self

    def _wait(self) -> None:
        with self._wake:
            self._waiting += 1
            try:
                # Counted before trying: a release after the failed try below sees the count and
                # notifies, and the notify waits for `wait` to release `_wake`, so none is lost.
                while not self._lock.acquire(blocking=False):
                    self._wake.wait(RETRY_SECONDS)
            finally:
                self._waiting -= 1

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._lock.release()
        if self._waiting:
            with self._wake:
                self._wake.notify()
