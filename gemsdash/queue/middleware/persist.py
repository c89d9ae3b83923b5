"""Waiting out a Redis outage in a worker, rather than losing a job's state change."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from gemsdash.queue import outage
from gemsdash.queue.errors import BackendUnavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a worker keeps trying to record a state change while Redis is away. Dramatiq itself
#: retries acknowledgements without limit; a record written late is better than a record lost.
PERSIST_DEADLINE_S = 600.0


def persist(write: Callable[[], T], deadline_s: float = PERSIST_DEADLINE_S) -> T:
    """Run a store write, retrying with backoff while Redis is unavailable, up to the deadline.
    The write that succeeds at once (every write in memory mode, nearly all on Redis) pays one
    clock reading and a call: the retry loop's set-up was a share of a no-op job in memory mode."""
    started = time.monotonic()
    try:
        return write()
    except BackendUnavailable as exc:
        return _retry(write, started + deadline_s, exc)


def _retry(write: Callable[[], T], deadline: float, failure: BackendUnavailable) -> T:
    delay = 0.1
    while True:
        if time.monotonic() + delay > deadline:
            raise failure
        outage.report(failure)  # logs once per outage (or spell out of memory), not once per job
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
        try:
            result = write()
        except BackendUnavailable as exc:
            failure = exc
            continue
        outage.ok()
        return result
