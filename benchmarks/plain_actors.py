"""The plain-Dramatiq side: one actor per kind of work on a plain RedisBroker with Dramatiq's
default middleware, declared on the broker it is given (the worker's, or the producer's)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from benchmarks.work import WORKS, perform

QUEUE = "bench"


def declare(broker: dramatiq.Broker) -> dict[str, dramatiq.Actor[..., None]]:
    """Work name -> actor; each actor takes the same payload dict as the gemsdash job."""
    return {
        name: dramatiq.actor(actor_name=f"bench_{name}", queue_name=QUEUE, broker=broker)(_job(seconds))
        for name, seconds in WORKS.items()
    }


def _job(seconds: float) -> Callable[[dict[str, Any]], None]:
    def run(payload: dict[str, Any]) -> None:
        perform(seconds)

    return run


def broker(url: str, namespace: str) -> RedisBroker:
    return RedisBroker(url=url, namespace=namespace)  # type: ignore[no-untyped-call]
