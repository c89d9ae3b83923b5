"""Keeps a Redis outage to two log lines per worker process (see gemsdash.queue.outage): each of
Dramatiq's consumer threads gets a filter, on its own logger, for its connection-error notices."""

from __future__ import annotations

from typing import Any

from dramatiq import Broker, Middleware

from gemsdash.queue import outage


class QuietOutage(Middleware):
    def after_consumer_thread_boot(self, broker: Broker, thread: Any) -> None:
        thread.logger.addFilter(outage.QUIET)
