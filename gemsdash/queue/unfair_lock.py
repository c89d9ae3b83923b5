"""A reentrant lock that a waiting thread does not own until it runs again.

CPython's own lock hands itself to the waiter it wakes: the waiter's `sem_wait` returns owning it
and only then asks for the GIL, which the releasing thread still holds. That thread soon wants the
lock again (the next job's `start`), blocks, and gives the GIL up; and so on, one context switch per
acquisition for as long as any thread waits. Memory mode's worker threads share the job store's lock
on every start and finish, and some runs fall into that convoy and stay there: measured on two cores
with eight threads of no-op jobs, up to 3.2 voluntary context switches a job against 1.0 without
the lock, and a third fewer jobs a second (docs/benchmarks.md, issue 19 round 8).

Here a thread that finds the lock taken sleeps a moment and tries again, never blocking on the lock
itself: the lock is taken by a thread that is running, whoever that is. The price is fairness (a
waiter can lose the race more than once), which suits short critical sections, not long ones.

Only `__enter__` is Python. `__exit__` is the C lock's own, and `__enter__` undoes its acquire if
an exception lands just after it: Dramatiq's time limits and gemsdash's aborts raise exceptions
into a worker thread wherever it is, and one landing between an acquire and the `with` taking
charge of the release, or at the top of a Python `__exit__`, would leave the lock held for good.
"""

from __future__ import annotations

import _thread
import time

#: How long a thread that found the lock taken sleeps before it tries again.
RETRY_SECONDS = 0.0005


# typeshed marks RLock final; CPython 3.11-3.13 let it be subclassed (tests/core/test_unfair_lock.py).
class UnfairRLock(_thread.RLock):  # type: ignore[misc]
    """`threading.RLock` (reentrant; released by its owner only), with an unfair `with`."""

    def __enter__(self) -> bool:  # type: ignore[override]
        held = self._held()
        try:
            while not self.acquire(False):
                time.sleep(RETRY_SECONDS)
        except BaseException:
            # An asynchronous exception right after the acquire: the `with` never got the lock.
            while self._held() > held:
                self.release()
            raise
        return True

    def _held(self) -> int:
        """How many times the calling thread holds the lock (0: not at all)."""
        count: int = self._recursion_count()  # type: ignore[attr-defined]
        return count
