"""A worker's view of Redis being out of memory: one log line when it starts, one when it ends.

With `maxmemory-policy noeviction` (the only policy gemsdash accepts), a full Redis refuses every
command that may grow memory: fetches, heartbeats, job records. Every consumer thread, the
heartbeat, the recovery pass and every job's write would each log the same failure every few
seconds; instead they report here, and this process logs the change of state once each way. The
worker keeps its jobs and retries by itself; nothing needs restarting when memory is freed.
"""

from __future__ import annotations

import logging
import threading
import time

import redis

logger = logging.getLogger("gemsdash")


def is_out_of_memory(exc: BaseException) -> bool:
    """Redis's `OOM command not allowed when used memory > 'maxmemory'`, raw or translated (redis-py
    drops the `OOM` prefix)."""
    if isinstance(exc, redis.exceptions.OutOfMemoryError):
        return True
    return "command not allowed when used memory" in str(exc)


#: Writes must go through this long without a refusal before the worker says it resumed: at the
#: limit memory hovers (keys expire, buffers are freed) and writes pass and fail in turn.
SETTLE_S = 1.0


class OutOfMemoryLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        #: When the condition began (None: not out of memory).
        self._since: float | None = None
        #: When writes began to pass again, while not yet settled.
        self._ok_since: float | None = None

    @property
    def active(self) -> bool:
        return self._since is not None

    def refused(self) -> None:
        """A write was refused for lack of memory."""
        if self._since is not None and self._ok_since is None:
            return
        with self._lock:
            self._ok_since = None
            if self._since is None:
                self._since = time.monotonic()
                logger.warning(
                    "Redis is out of memory (maxmemory reached, noeviction): this worker stops fetching jobs "
                    "and retries its writes until memory is freed (raise maxmemory, or delete dead jobs: "
                    "`gemsdash clear QUEUE --include-dead`); it then resumes by itself."
                )

    def accepted(self) -> None:
        """A write went through: memory is available (again), for good once it settles."""
        if self._since is None:
            return
        with self._lock:
            if self._since is None:
                return
            now = time.monotonic()
            if self._ok_since is None:
                self._ok_since = now
                return
            if now - self._ok_since < SETTLE_S:
                return
            logger.info(
                "Redis accepts writes again after %.0f s out of memory; this worker resumed.",
                self._ok_since - self._since,
            )
            self._since = None
            self._ok_since = None


#: This process's one log of it.
OUT_OF_MEMORY = OutOfMemoryLog()
