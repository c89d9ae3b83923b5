"""Retry delays that are what the job's backoff says: Dramatiq's own Retries always adds up to
100 % jitter (a "fixed 4 s" came out 3.2-3.3 s apart as seen by the user, an exponential 1 s as
2.1/3.8/5.6 s), so the delay is computed here and handed to Retries as an explicit one.

  fixed         every retry waits `delay`
  exponential   retry n (1 for the first) waits delay x 2^(n-1), capped at the backoff's maximum
  jitter j      only when asked (0 < j <= 1): the wait is drawn from [(1 - j) x wait, wait], as
                BullMQ does, so that many jobs failing together do not all come back together
"""

from __future__ import annotations

import random
from typing import Any

from dramatiq import Broker
from dramatiq.errors import Retry as RetryRequest

from gemsdash.queue.dramatiq_internals import DEFAULT_MAX_BACKOFF, RetriesBase
from gemsdash.queue.middleware.abort import JobAborted

#: The exponent stops growing here (2^32 x 1 ms is already beyond any cap).
MAX_EXPONENT = 32


def retry_delay(
    retry: int, *, delay_ms: int, max_ms: int, jitter: float = 0.0, rng: random.Random | None = None
) -> int:
    """Milliseconds before retry number `retry` (1 for the first). A fixed backoff is the one whose
    cap equals its delay (see `Backoff.max_ms`), so one formula serves both."""
    exponent = min(max(retry - 1, 0), MAX_EXPONENT)
    wait = min(delay_ms * 2**exponent, max_ms, DEFAULT_MAX_BACKOFF)
    if jitter > 0:
        low = wait * (1 - min(jitter, 1.0))
        wait = (rng or random).uniform(low, wait)
    return int(wait)


class BackoffRetries(RetriesBase):
    """Dramatiq's Retries (attempt counting, `throws`, dead-lettering unchanged), with the delay
    computed by `retry_delay` from the message's `min_backoff`, `max_backoff` and `jitter`."""

    def after_process_message(
        self, broker: Broker, message: Any, *, result: Any | None = None, exception: BaseException | None = None
    ) -> None:
        if isinstance(exception, JobAborted):
            return  # an operator stopped it: neither retried nor dead-lettered (JobTracking records it)
        if exception is not None and not isinstance(exception, RetryRequest):
            actor = broker.get_actor(message.actor_name)
            throws = message.options.get("throws") or actor.options.get("throws")
            if not (throws and isinstance(exception, throws)):
                options = message.options
                min_backoff = int(options.get("min_backoff", actor.options.get("min_backoff", self.min_backoff)))
                max_backoff = int(options.get("max_backoff", actor.options.get("max_backoff", self.max_backoff)))
                delay = retry_delay(
                    int(options.get("retries", 0)) + 1,
                    delay_ms=min_backoff,
                    max_ms=max_backoff,
                    jitter=float(options.get("jitter", 0.0)),
                )
                exception = RetryRequest(delay=delay)
        super().after_process_message(  # type: ignore[no-untyped-call]
            broker, message, result=result, exception=exception
        )
