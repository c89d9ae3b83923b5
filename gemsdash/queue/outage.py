"""One log line when this process loses Redis and one when it is back, instead of one per thread
per retry.

Left alone, every Dramatiq consumer thread (32 in a worker: four job types, four priority levels,
each with its delay queue) logs CRITICAL and "Restarting consumer" every few seconds while Redis is
away, and nothing when it returns: a 26 s outage gave about a thousand lines and no sign of the
recovery. Everything that notices the outage (a consumer, a state write, the heartbeat) reports it
here; only the first report logs, a WARNING, and the first success afterwards logs one INFO with
how long it lasted.
"""

from __future__ import annotations

import logging
import threading
import time

from gemsdash.queue.out_of_memory import OUT_OF_MEMORY, is_out_of_memory

logger = logging.getLogger("gemsdash.outage")

_lock = threading.Lock()
_down_since: float | None = None
_back_at: float | None = None


def lost(reason: object) -> None:
    """Redis did not answer; logs only when it is the first sign of this outage."""
    global _down_since
    with _lock:
        if _down_since is not None:
            return
        _down_since = time.monotonic()
    logger.warning("Lost the connection to Redis (%s); waiting for it to come back.", reason)


def back() -> None:
    """Redis answered; logs only when it was lost."""
    global _down_since, _back_at
    if _down_since is None:  # the common case, without the lock
        return
    with _lock:
        since, _down_since = _down_since, None
        _back_at = time.monotonic()
    if since is not None:
        logger.info("Reconnected to Redis after %.1f s.", time.monotonic() - since)


def report(error: BaseException) -> None:
    """A call to Redis failed: one more sign of an outage, or of Redis being out of memory (each
    logs once when it starts; see out_of_memory)."""
    if is_out_of_memory(error):
        OUT_OF_MEMORY.refused()
    else:
        lost(error)


def ok() -> None:
    """A call to Redis went through: ends an outage, and counts towards leaving out-of-memory."""
    back()
    OUT_OF_MEMORY.accepted()


def is_down() -> bool:
    return _down_since is not None


def seconds_since_back() -> float | None:
    """How long ago this process last saw Redis come back (None: it never lost it)."""
    return None if _back_at is None else time.monotonic() - _back_at


class QuietDuringOutage(logging.Filter):
    """For Dramatiq's consumer-thread loggers: connection errors become one `lost()` report, and
    the restart and retry notices that follow them are dropped while Redis is away."""

    _LOST = ("Consumer encountered a connection error", "Failed to post_process_message")

    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.msg)
        if text.startswith(self._LOST):
            args = record.args if isinstance(record.args, tuple) else ()
            lost(next((a for a in args if isinstance(a, BaseException)), "connection error"))
            return False
        if text.startswith("Consumer encountered an unexpected error") and record.exc_info:
            error = record.exc_info[1]
            if _is_connection_error(error):
                lost(error)
                return False
        if text.startswith("Restarting consumer"):
            return not is_down()
        return True


def _is_connection_error(error: BaseException | None) -> bool:
    import redis

    return isinstance(error, redis.ConnectionError | redis.TimeoutError)


QUIET = QuietDuringOutage()
